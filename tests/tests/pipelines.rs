//! `gst-launch-1.0` on a real video (Debian's opencv-doc `vtest.avi`), JSON Lines parsed and
//! checked, and the error a user sees for a missing model.

use integration_tests::{gst_tool, random_model};
use superpoint::json::FrameRecord;

const VTEST: &str = "/usr/share/doc/opencv-doc/examples/data/vtest.avi";

#[test]
fn vtest_pipeline_writes_json_lines() {
    assert!(
        std::path::Path::new(VTEST).exists(),
        "{VTEST} missing: install opencv-doc and gstreamer1.0-libav (scripts/setup.sh)"
    );
    let model = random_model("pipeline-test");
    let json = std::env::temp_dir().join(format!("vtest-{}.jsonl", std::process::id()));
    let frames = 12;
    let out = gst_tool(
        "gst-launch-1.0",
        &[
            "filesrc",
            &format!("location={VTEST}"),
            "!",
            "decodebin",
            "!",
            "identity",
            &format!("eos-after={frames}"),
            "!",
            "videoconvert",
            "!",
            "videoscale",
            "!",
            "video/x-raw,width=384,height=288",
            "!",
            "superpointdetect",
            &format!("model={}", model.display()),
            &format!("json-location={}", json.display()),
            "!",
            // As fast as the detector goes, not in real time.
            "fakesink",
            "sync=false",
        ],
    );
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "gst-launch failed: {all}");
    // The random model must be announced as such, never passed off as a trained one.
    assert!(all.contains("RANDOM, untrained weights"), "{all}");
    let text = std::fs::read_to_string(&json).unwrap();
    let records: Vec<FrameRecord> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l}: {e}")))
        .collect();
    // identity eos-after=N passes N-1 buffers on GStreamer 1.22, then sometimes frames the
    // decoder still had in flight; every frame that reached the detector must be in the file.
    assert!(records.len() + 1 >= frames, "{} records", records.len());
    let mut last_pts = None;
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.frame, i as u64);
        assert_eq!((r.width, r.height), (384, 288));
        assert_eq!(r.model, "pipeline-test");
        assert!(!r.keypoints.is_empty() && r.keypoints.len() <= 1000);
        for k in &r.keypoints {
            assert!(
                k[0] >= 4.0 && k[0] <= 379.0 && k[1] >= 4.0 && k[1] <= 283.0,
                "{k:?}"
            );
        }
        // vtest.avi is 10 frames/s: timestamps increase in steps of 100 ms.
        let pts = r.pts.expect("pts");
        assert_eq!(pts % 100_000_000, 0, "{pts}");
        if let Some(prev) = last_pts {
            assert!(pts > prev);
        }
        last_pts = Some(pts);
    }
}

#[test]
fn missing_model_error_tells_the_user_what_to_do() {
    let out = gst_tool(
        "gst-launch-1.0",
        &[
            "videotestsrc",
            "num-buffers=1",
            "!",
            "superpointdetect",
            "model=/no/such/model.onnx",
            "!",
            "fakesink",
        ],
    );
    assert!(!out.status.success());
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("/no/such/model.onnx does not exist"), "{all}");
    assert!(all.contains("set the `model` property"), "{all}");
}

/// `superpoint detect` next to the plugin (both built into the same target folder).
fn cli() -> std::path::PathBuf {
    let path = integration_tests::plugin_dir().join("superpoint");
    assert!(
        path.exists(),
        "{} not found: build the CLI too (cargo build --release -p superpoint)",
        path.display()
    );
    path
}

#[test]
fn rawvideoparse_strides_give_the_keypoints_of_superpoint_detect() {
    // GRAY8 161x120: GStreamer's caps layout pads rows to 164 bytes; rawvideoparse describes the
    // real rows (161 or 192 bytes) in a GstVideoMeta, which the element must follow.
    let graf = "/usr/share/doc/opencv-doc/examples/data/graf1.png";
    let img = superpoint::image_io::OwnedImage::load(std::path::Path::new(graf))
        .unwrap_or_else(|e| panic!("{e}: install opencv-doc (scripts/setup.sh)"));
    let luma = img.to_luma();
    let (w, h) = (161usize, 120usize);
    let gray: Vec<u8> = (0..h)
        .flat_map(|y| luma[y * img.width..y * img.width + w].to_vec())
        .collect();
    let dir = std::env::temp_dir().join(format!("sp-strides-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model = random_model("strides-test");
    // The CLI on the image file.
    let image = dir.join("g.pgm");
    let mut pgm = format!("P5\n{w} {h}\n255\n").into_bytes();
    pgm.extend_from_slice(&gray);
    std::fs::write(&image, pgm).unwrap();
    let want_json = dir.join("g.json");
    let out = std::process::Command::new(cli())
        .arg("detect")
        .arg(&image)
        .arg("--model")
        .arg(&model)
        .arg("--json")
        .arg(&want_json)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want: superpoint::json::DetectionFile =
        serde_json::from_str(&std::fs::read_to_string(&want_json).unwrap()).unwrap();
    assert!(want.keypoints.len() > 20);
    for stride in [161usize, 192] {
        let mut raw = vec![0xA5u8; stride * h];
        for y in 0..h {
            raw[y * stride..y * stride + w].copy_from_slice(&gray[y * w..(y + 1) * w]);
        }
        let raw_path = dir.join(format!("g{stride}.raw"));
        std::fs::write(&raw_path, &raw).unwrap();
        let json = dir.join(format!("g{stride}.jsonl"));
        let out = gst_tool(
            "gst-launch-1.0",
            &[
                "filesrc",
                &format!("location={}", raw_path.display()),
                "!",
                "rawvideoparse",
                "format=gray8",
                &format!("width={w}"),
                &format!("height={h}"),
                &format!("plane-strides=<{stride}>"),
                "!",
                "superpointdetect",
                &format!("model={}", model.display()),
                &format!("json-location={}", json.display()),
                "!",
                "fakesink",
            ],
        );
        assert!(
            out.status.success(),
            "stride {stride}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(&json).unwrap();
        let records: Vec<FrameRecord> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(records.len(), 1, "stride {stride}");
        assert_eq!(records[0].keypoints, want.keypoints, "stride {stride}");
    }
    std::fs::remove_dir_all(dir).ok();
}
