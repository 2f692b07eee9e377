//! `superpointdetect provider=cuda` with the libtorch engine (feature `torch`), on libtorch's CPU
//! through `SUPERPOINT_TORCH_DEVICE=cpu` so it runs where there is no GPU: frames of vtest.avi in a
//! pipeline give the same keypoints and descriptors as `provider=cpu` (ONNX Runtime), with no
//! fallback warning, for one element and for two elements sharing a batch group. (Without that variable and without a GPU, provider=cuda warns and falls back,
//! or fails with provider-fallback=false: superpointdetect.rs's fallback test covers that with
//! this feature on too.)
#![cfg(feature = "torch")]

mod common;

use gst::prelude::*;
use gstsuperpoint::meta::SuperPointKeypointsMeta;
use superpoint::Keypoint;

const VTEST: &str = "/usr/share/doc/opencv-doc/examples/data/vtest.avi";
const FRAMES: usize = 3;

fn model() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/superpoint.onnx").into()
}

/// Keypoints and descriptors (`keypoints.len()` x 256) per frame.
type PerFrame = Vec<(Vec<Keypoint>, Vec<f32>)>;

/// Keypoints and descriptors of the first [`FRAMES`] frames of vtest.avi through
/// `superpointdetect provider=PROVIDER` (with `extra` properties), and the warnings posted. With
/// `pair`, two elements of one batch group see the same frames (results of the first).
fn detect(provider: &str, pair: bool) -> (PerFrame, Vec<String>) {
    let element = format!(
        "superpointdetect provider={provider} model={} inference-width=384 inference-height=288",
        model()
    );
    let tail = if pair {
        format!(
            "tee name=t t. ! queue ! {element} batch-group=torch-test batch-size=2 max-latency=200000 \
             ! fakesink name=sink sync=false t. ! queue ! {element} batch-group=torch-test \
             batch-size=2 max-latency=200000 ! fakesink sync=false"
        )
    } else {
        format!("{element} ! fakesink name=sink sync=false")
    };
    let pipeline = common::pipeline(&format!(
        "filesrc location={VTEST} ! decodebin ! videoconvert name=conv ! video/x-raw,format=GRAY8 ! {tail}"
    ));
    common::limit_frames(&pipeline, "conv", FRAMES);
    let bus = pipeline.bus().unwrap();
    let seen = common::run_pipeline_to_eos(&pipeline, "sink", 300, |buf| {
        let meta = buf
            .meta::<SuperPointKeypointsMeta>()
            .expect("keypoints meta");
        (meta.keypoints().to_vec(), meta.descriptors().to_vec())
    });
    let warnings = std::iter::from_fn(|| bus.pop())
        .filter_map(|m| match m.view() {
            gst::MessageView::Warning(w) => Some(w.error().to_string()),
            _ => None,
        })
        .collect();
    (seen, warnings)
}

#[test]
fn libtorch_engine_runs_in_a_pipeline_and_equals_onnxruntime() {
    // SAFETY: set before GStreamer or any other thread of this test binary starts.
    unsafe { std::env::set_var("SUPERPOINT_TORCH_DEVICE", "cpu") };
    let (ort, _) = detect("cpu", false);
    assert_eq!(ort.len(), FRAMES);
    // One element, then two sharing a batch group (the group's worker runs the libtorch engine).
    for pair in [false, true] {
        let (torch, warnings) = detect("cuda", pair);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(torch.len(), FRAMES);
        compare(&torch, &ort, pair);
    }
}

/// Asserts that the libtorch results `torch` equal the ONNX Runtime results `ort`: positions
/// within 1e-3 px (the default sub-pixel refinement reads heatmap scores that differ between the
/// engines by float rounding), scores within 1e-4, descriptors at dot > 0.9999.
fn compare(torch: &PerFrame, ort: &PerFrame, pair: bool) {
    for (i, ((kt, dt), (ko, d_o))) in torch.iter().zip(ort).enumerate() {
        assert!(!ko.is_empty(), "frame {i}: no keypoints");
        let mut same = 0;
        for (a, ka) in kt.iter().enumerate() {
            let Some(b) = ko
                .iter()
                .position(|kb| (kb.x - ka.x).abs() <= 1e-3 && (kb.y - ka.y).abs() <= 1e-3)
            else {
                continue;
            };
            same += 1;
            assert!((ka.score - ko[b].score).abs() < 1e-4, "frame {i}");
            let (da, db) = (&dt[a * 256..(a + 1) * 256], &d_o[b * 256..(b + 1) * 256]);
            let dot: f32 = da.iter().zip(db).map(|(x, y)| x * y).sum();
            assert!(dot > 0.9999, "frame {i}: descriptor dot {dot}");
        }
        let n = kt.len().max(ko.len());
        println!(
            "frame {i} (batch group: {pair}): libtorch {} keypoints, onnxruntime {}, {same} at the same position",
            kt.len(),
            ko.len()
        );
        assert!(
            same as f64 >= 0.99 * n as f64,
            "frame {i}: {same} of {n} at the same position"
        );
    }
}
