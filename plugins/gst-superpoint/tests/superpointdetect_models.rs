//! `superpointdetect` with models users export or break, made at test time from the shipped model
//! by `scripts/onnx_variant.py`: an input fixed to `1x1x240x320` is resized to and said once;
//! sizes or batching that conflict with it are refused at start naming the property.

mod common;

use common::onnx_variant::{model_variant, shipped_model};
use gst::prelude::*;
use gstsuperpoint::meta::SuperPointKeypointsMeta;

fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("gst-sp-models-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Keypoints of `model` with `props` on a 640x480 GRAY8 frame of graf1, and the texts of the
/// info messages the element posted.
fn keypoints(
    model: &std::path::Path,
    props: &[(&str, &str)],
) -> (Vec<superpoint::Keypoint>, Vec<String>) {
    common::init();
    let el = gst::ElementFactory::make("superpointdetect")
        .build()
        .unwrap();
    el.set_property("model", model.to_str().unwrap());
    for (k, v) in props {
        el.set_property_from_str(k, v);
    }
    let bus = common::bus_for(&el);
    let mut hs = gst_check::Harness::with_element(&el, Some("sink"), Some("src"));
    hs.play();
    hs.set_src_caps_str(&common::caps("GRAY8", 640, 480));
    let gray = common::luma_of(&common::graf_rgb(640, 480));
    let mut kps = Vec::new();
    for _ in 0..2 {
        let out = hs
            .push_and_pull(gst::Buffer::from_mut_slice(gray.clone()))
            .unwrap();
        kps = out
            .meta::<SuperPointKeypointsMeta>()
            .unwrap()
            .keypoints()
            .to_vec();
    }
    let infos = std::iter::from_fn(|| bus.pop_filtered(&[gst::MessageType::Info]))
        .map(|m| match m.view() {
            gst::MessageView::Info(i) => i.error().to_string(),
            _ => unreachable!(),
        })
        .collect();
    (kps, infos)
}

#[test]
fn fixed_input_model_is_resized_to_and_said_once() {
    let dir = temp_dir("fixed");
    let Some(fixed) = model_variant(&dir.join("fixed.onnx"), &["--fix-input", "1x1x240x320"])
    else {
        return;
    };
    let (got, infos) = keypoints(&fixed, &[]);
    assert_eq!(
        infos,
        [format!(
            "{} has a fixed input of 320x240: frames are resized to 320x240 for the network (as inference-width=320 inference-height=240); keypoints stay in frame pixels",
            fixed.display()
        )]
    );
    let shipped = shipped_model();
    let sized = [("inference-width", "320"), ("inference-height", "240")];
    let (want, infos) = keypoints(&shipped, &sized);
    assert!(infos.is_empty(), "{infos:?}");
    assert!(want.len() > 50);
    assert_eq!(got, want);
    // Batch groups run it at batch-size 1.
    let (batched, _) = keypoints(&fixed, &[("batch-group", "fixed-b1"), ("batch-size", "1")]);
    assert_eq!(batched, want);
}

#[test]
fn sizes_and_batches_that_conflict_with_a_fixed_input_are_refused_at_start() {
    let dir = temp_dir("conflict");
    let Some(fixed) = model_variant(&dir.join("fixed.onnx"), &["--fix-input", "1x1x240x320"])
    else {
        return;
    };
    let model = fixed.to_str().unwrap();
    let err = common::start_error(
        "superpointdetect",
        &[
            ("model", model),
            ("inference-width", "640"),
            ("inference-height", "480"),
        ],
    );
    assert!(
        err.starts_with(&format!(
            "superpointdetect cannot start: {model} has a fixed input of 1x1x240x320 (NxCxHxW) but 640x480 is requested: set inference-width=320 and inference-height=240 (or both 0 to resize to it) "
        )),
        "{err}"
    );
    let err = common::start_error(
        "superpointdetect",
        &[
            ("model", model),
            ("batch-group", "fixed-b2"),
            ("batch-size", "2"),
        ],
    );
    assert!(
        err.starts_with(&format!(
            "superpointdetect cannot start: {model} has a fixed batch size of 1 and cannot run batches of batch-size=2: set batch-size=1, or leave batch-group unset, or export the model with a dynamic batch "
        )),
        "{err}"
    );
}

#[test]
fn non_finite_outputs_stop_the_stream_with_one_error_naming_the_model_and_the_output() {
    let dir = temp_dir("nan");
    let Some(nan_desc) = model_variant(&dir.join("nan-db.onnx"), &["--nan-bias", "convDb.bias"])
    else {
        return;
    };
    let nan_scores =
        model_variant(&dir.join("nan-4b.onnx"), &["--nan-bias", "conv4b.bias"]).unwrap();
    common::init();
    for (model, output) in [(&nan_desc, "descriptors"), (&nan_scores, "scores")] {
        let pipeline = common::pipeline(&format!(
            "videotestsrc num-buffers=5 pattern=checkers-8 ! video/x-raw,format=GRAY8,width=64,height=48 ! superpointdetect model={} ! fakesink",
            model.display()
        ));
        pipeline.set_state(gst::State::Playing).unwrap();
        let bus = pipeline.bus().unwrap();
        let msg = bus
            .timed_pop_filtered(
                gst::ClockTime::from_seconds(30),
                &[gst::MessageType::Eos, gst::MessageType::Error],
            )
            .expect("EOS or an error");
        let gst::MessageView::Error(e) = msg.view() else {
            panic!("{output}: the stream ended without an error");
        };
        assert_eq!(
            e.error().to_string(),
            format!(
                "detection failed: {}: the network output `{output}` holds NaN or infinite values, so its keypoints and descriptors would be garbage: the model is broken (non-finite weights from a failed export or a diverged training run); re-export or retrain it",
                model.display()
            )
        );
        pipeline.set_state(gst::State::Null).unwrap();
        let more = std::iter::from_fn(|| bus.pop_filtered(&[gst::MessageType::Error])).count();
        assert_eq!(more, 0, "{output}: more than one error");
    }
}

#[test]
fn a_too_small_frame_is_one_error_per_run() {
    common::init();
    let el = gst::ElementFactory::make("superpointdetect")
        .build()
        .unwrap();
    el.set_property("model", common::random_model().to_str().unwrap());
    let bus = common::bus_for(&el);
    let mut hs = gst_check::Harness::with_element(&el, Some("sink"), Some("src"));
    let want = "frame 8x8 is too small: SuperPoint needs at least 16x16 pixels; scale it up before superpointdetect (videoscale ! video/x-raw,width=W,height=H)";
    for run in 0..2 {
        hs.play();
        hs.set_src_caps_str(&common::caps("GRAY8", 8, 8));
        // Each buffer retries the negotiation; the refusal is posted once.
        for _ in 0..3 {
            assert_eq!(
                hs.push(gst::Buffer::from_mut_slice(vec![0u8; 64])),
                Err(gst::FlowError::NotNegotiated)
            );
        }
        let errors: Vec<String> =
            std::iter::from_fn(|| bus.pop_filtered(&[gst::MessageType::Error]))
                .map(|m| match m.view() {
                    gst::MessageView::Error(e) => e.error().to_string(),
                    _ => unreachable!(),
                })
                .collect();
        assert_eq!(errors, [want], "run {run}");
        el.set_state(gst::State::Null).unwrap();
    }
}
