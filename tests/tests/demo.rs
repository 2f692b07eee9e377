//! The README's first command: `scripts/demo.sh` runs the shipped model on `vtest.avi` and writes
//! `keypoints.jsonl` (one line per frame) and `overlay.avi`, with a summary line; bad options fail
//! with a message.

use std::path::Path;
use std::process::Command;

use superpoint::json::FrameRecord;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

#[test]
fn demo_writes_keypoints_and_overlay_with_the_shipped_model() {
    assert!(
        root().join(".deps/env.sh").is_file(),
        "run scripts/setup.sh first (the demo sources .deps/env.sh)"
    );
    let out = std::env::temp_dir().join(format!("sp-demo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let frames = 8;
    let run = Command::new("bash")
        .arg(root().join("scripts/demo.sh"))
        .args(["--frames", &frames.to_string()])
        .arg("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
        .arg(&out)
        .env_remove("SUPERPOINT_MODEL")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let text = std::fs::read_to_string(out.join("keypoints.jsonl")).unwrap();
    let records: Vec<FrameRecord> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        stdout.contains(&format!("demo: {} frames", records.len())),
        "{stdout}"
    );
    // The frame limit is GStreamer's `identity eos-after`, which after decodebin on this file
    // sometimes passes one buffer fewer, or misses the limit (measured: 8 frames in most runs, 7
    // in 2 of 8; once the whole video); every frame that reached superpointdetect must be in the
    // file either way, numbered without gaps.
    assert!(records.len() + 1 >= frames, "{} frames", records.len());
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.frame, i as u64);
    }
    for r in &records {
        assert_eq!((r.width, r.height), (768, 576));
        // The shipped model finds structure in every frame of this street scene, in frame pixels.
        assert!(r.keypoints.len() > 50, "{} keypoints", r.keypoints.len());
        assert!(
            r.keypoints
                .iter()
                .all(|k| k[0] >= 0.0 && k[0] < 768.0 && k[1] >= 0.0 && k[1] < 576.0)
        );
    }
    assert!(
        records[0].model.starts_with("superpoint-cpu"),
        "{}",
        records[0].model
    );
    // The overlay video plays at the source's 10 frames/s with one frame per record (OpenCV of
    // the test venv reads it as a player would).
    let video = out.join("overlay.avi");
    let probe = Command::new(root().join(".deps/venv/bin/python"))
        .args([
            "-c",
            "import cv2, sys; c = cv2.VideoCapture(sys.argv[1]); print(c.get(cv2.CAP_PROP_FPS), int(c.get(cv2.CAP_PROP_FRAME_COUNT)))",
        ])
        .arg(&video)
        .output()
        .unwrap();
    let probed = String::from_utf8_lossy(&probe.stdout);
    assert_eq!(
        probed.trim(),
        format!("10.0 {}", records.len()),
        "{}: {}",
        video.display(),
        String::from_utf8_lossy(&probe.stderr)
    );
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn demo_rejects_a_bad_frame_count() {
    let run = Command::new("bash")
        .arg(root().join("scripts/demo.sh"))
        .args(["--frames", "ten"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&run.stderr).contains("--frames needs a number"));
}
