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
            "fakesink",
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
    assert_eq!(records.len(), frames);
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
