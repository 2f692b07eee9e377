//! Models users export or break: the shipped model with its input fixed to `1x1x240x320` (as for
//! TensorRT and NPUs) is resized to automatically and says so once; sizes that conflict with it
//! are refused naming the setting. Made at test time by `scripts/onnx_variant.py`.

use std::path::{Path, PathBuf};
use std::process::Output;

use superpoint::batching::BatchPolicy;
use superpoint::image_io::OwnedImage;
use superpoint::{Detections, Detector, DetectorConfig, EngineOptions, Error};

mod common;

use common::onnx_variant::{model_variant, shipped_model};

const GRAF1: &str = "/usr/share/doc/opencv-doc/examples/data/graf1.png";

fn temp_dir(name: &str) -> PathBuf {
    common::temp_dir("faults", name)
}

fn superpoint(args: &[&str]) -> Output {
    common::superpoint_command()
        .args(args)
        .output()
        .expect("run the superpoint binary")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn detect(model: &Path, config: DetectorConfig, image: &OwnedImage) -> Result<Detections, Error> {
    let mut detector = Detector::new(model, &EngineOptions::default(), config)?;
    let mut out = Detections::default();
    detector.detect(&image.frame()?, &mut out)?;
    Ok(out)
}

fn sized(w: usize, h: usize) -> DetectorConfig {
    DetectorConfig {
        inference_width: w,
        inference_height: h,
        descriptors: true,
        ..Default::default()
    }
}

#[test]
fn fixed_input_model_is_resized_to_in_the_library() {
    let dir = temp_dir("fixed-lib");
    let Some(fixed) = model_variant(&dir.join("fixed.onnx"), &["--fix-input", "1x1x240x320"])
    else {
        return;
    };
    let image = OwnedImage::load(Path::new(GRAF1)).unwrap();
    assert_eq!((image.width, image.height), (800, 640));
    // No inference size: the frame is resized to the model's 320x240, as if it were set.
    let got = detect(&fixed, sized(0, 0), &image).unwrap();
    let want = detect(&shipped_model(), sized(320, 240), &image).unwrap();
    assert!(got.keypoints.len() > 50, "{}", got.keypoints.len());
    assert_eq!(got, want);
    // The same size set explicitly is fine and says nothing.
    assert_eq!(detect(&fixed, sized(320, 240), &image).unwrap(), want);
    let detector = Detector::new(&fixed, &EngineOptions::default(), sized(0, 0)).unwrap();
    assert_eq!(
        detector.input_note().unwrap(),
        format!(
            "{} has a fixed input of 320x240: frames are resized to 320x240 for the network (as inference-width=320 inference-height=240); keypoints stay in frame pixels",
            fixed.display()
        )
    );
    let detector = Detector::new(&fixed, &EngineOptions::default(), sized(320, 240)).unwrap();
    assert_eq!(detector.input_note(), None);
    // A conflicting size is refused at load, and when changed later.
    let err = detect(&fixed, sized(640, 480), &image).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{} has a fixed input of 1x1x240x320 (NxCxHxW) but 640x480 is requested: set inference-width=320 and inference-height=240 (or both 0 to resize to it)",
            fixed.display()
        )
    );
    let mut detector = Detector::new(&fixed, &EngineOptions::default(), sized(0, 0)).unwrap();
    assert!(detector.set_config(sized(160, 120)).is_err());
    let multi = DetectorConfig {
        scales: superpoint::scales::Scales::new(&[1.0, 0.5]).unwrap(),
        ..sized(0, 0)
    };
    assert_eq!(
        detector.set_config(multi).unwrap_err().to_string(),
        format!(
            "{} has a fixed input size, but scales 1,0.5 run the network at other sizes: set scales to 1",
            fixed.display()
        )
    );
    assert_eq!(*detector.config(), sized(0, 0));
}

#[test]
fn fixed_batch_sizes_are_checked() {
    let dir = temp_dir("fixed-batch");
    let Some(three) = model_variant(&dir.join("b3.onnx"), &["--fix-input", "3x1x240x320"]) else {
        return;
    };
    let err = Detector::new(&three, &EngineOptions::default(), sized(0, 0)).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{} has a fixed batch size of 3; frames run one at a time (or in batches of up to batch-size): export the model with a batch of 1 or a dynamic batch",
            three.display()
        )
    );
    // A fixed batch of 1 runs single frames, and batch groups of batch-size 1 only.
    let one = model_variant(&dir.join("b1.onnx"), &["--fix-input", "1x1x240x320"]).unwrap();
    let image = OwnedImage::load(Path::new(GRAF1)).unwrap();
    let policy = |batch_size| BatchPolicy {
        batch_size,
        ..Default::default()
    };
    let err = Detector::join_batch_group(
        "fixed-b1-2",
        &one,
        &EngineOptions::default(),
        policy(2),
        sized(0, 0),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{} has a fixed batch size of 1 and cannot run batches of batch-size=2: set batch-size=1, or leave batch-group unset, or export the model with a dynamic batch",
            one.display()
        )
    );
    let mut batched = Detector::join_batch_group(
        "fixed-b1-1",
        &one,
        &EngineOptions::default(),
        policy(1),
        sized(0, 0),
    )
    .unwrap();
    assert!(batched.input_note().is_some());
    let mut got = Detections::default();
    batched.detect(&image.frame().unwrap(), &mut got).unwrap();
    assert_eq!(
        got,
        detect(&shipped_model(), sized(320, 240), &image).unwrap()
    );
}

#[test]
fn cli_detect_resizes_to_a_fixed_input_and_refuses_a_conflicting_size() {
    let dir = temp_dir("fixed-cli");
    let Some(fixed) = model_variant(&dir.join("fixed.onnx"), &["--fix-input", "1x1x240x320"])
    else {
        return;
    };
    let fixed = fixed.to_str().unwrap();
    let (a, b) = (dir.join("a.json"), dir.join("b.json"));
    let out = superpoint(&[
        "detect",
        "--model",
        fixed,
        GRAF1,
        "--json",
        a.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let notes: Vec<_> = stderr(&out)
        .lines()
        .filter(|l| l.starts_with("note: "))
        .map(str::to_string)
        .collect();
    assert_eq!(
        notes,
        [format!(
            "note: {fixed} has a fixed input of 320x240: frames are resized to 320x240 for the network (as inference-width=320 inference-height=240); keypoints stay in frame pixels"
        )]
    );
    let shipped = shipped_model();
    let out = superpoint(&[
        "detect",
        "--model",
        shipped.to_str().unwrap(),
        "--inference-width",
        "320",
        "--inference-height",
        "240",
        GRAF1,
        "--json",
        b.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(&a).unwrap(),
        std::fs::read_to_string(&b).unwrap()
    );
    let c = dir.join("c.json");
    let out = superpoint(&[
        "detect",
        "--model",
        fixed,
        "--inference-width",
        "640",
        "--inference-height",
        "480",
        GRAF1,
        "--json",
        c.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out).trim(),
        format!(
            "superpoint: error: {fixed} has a fixed input of 1x1x240x320 (NxCxHxW) but 640x480 is requested: set inference-width=320 and inference-height=240 (or both 0 to resize to it)"
        )
    );
    assert!(!c.exists());
}

#[test]
fn non_finite_outputs_are_an_error_naming_the_model_and_the_output() {
    let dir = temp_dir("nan");
    let Some(nan_desc) = model_variant(&dir.join("nan-db.onnx"), &["--nan-bias", "convDb.bias"])
    else {
        return;
    };
    let nan_scores =
        model_variant(&dir.join("nan-4b.onnx"), &["--nan-bias", "conv4b.bias"]).unwrap();
    let image = OwnedImage::load(Path::new(GRAF1)).unwrap();
    let message = |model: &Path, output: &str| {
        format!(
            "{}: the network output `{output}` holds NaN or infinite values, so its keypoints and descriptors would be garbage: the model is broken (non-finite weights from a failed export or a diverged training run); re-export or retrain it",
            model.display()
        )
    };
    // Library.
    let err = detect(&nan_desc, sized(0, 0), &image).unwrap_err();
    assert_eq!(err.to_string(), message(&nan_desc, "descriptors"));
    let err = detect(&nan_scores, sized(0, 0), &image).unwrap_err();
    assert_eq!(err.to_string(), message(&nan_scores, "scores"));
    // Without descriptors the broken descriptor head is not used.
    let no_desc = DetectorConfig {
        descriptors: false,
        ..Default::default()
    };
    assert!(
        !detect(&nan_desc, no_desc, &image)
            .unwrap()
            .keypoints
            .is_empty()
    );
    // A batch group's worker answers its member with the same error.
    let mut grouped = Detector::join_batch_group(
        "nan-scores",
        &nan_scores,
        &EngineOptions::default(),
        BatchPolicy {
            batch_size: 1,
            ..Default::default()
        },
        sized(0, 0),
    )
    .unwrap();
    let mut got = Detections::default();
    let err = grouped
        .detect(&image.frame().unwrap(), &mut got)
        .unwrap_err();
    assert_eq!(err.to_string(), message(&nan_scores, "scores"));
    // CLI: exit 1, the message, no JSON file (never `null` descriptors, never a silent zero).
    for (model, output) in [(&nan_desc, "descriptors"), (&nan_scores, "scores")] {
        let json = dir.join(format!("{output}.json"));
        let out = superpoint(&[
            "detect",
            "--model",
            model.to_str().unwrap(),
            GRAF1,
            "--json",
            json.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert_eq!(
            stderr(&out).trim(),
            format!("superpoint: error: {GRAF1}: {}", message(model, output))
        );
        assert!(!json.exists());
    }
}
