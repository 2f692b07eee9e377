//! `superpointdetect scales`: multi-scale detection gives the library's keypoints, with a scale
//! per keypoint in the meta and the messages, NMS across scales in frame pixels, and clear
//! refusals of unreadable values and of batching.

mod common;

use gst::prelude::*;
use gstsuperpoint::messages::KeypointsMessage;
use gstsuperpoint::meta::SuperPointKeypointsMeta;
use superpoint::{Detections, Detector, DetectorConfig, EngineOptions, Frame, PixelLayout};

const W: usize = 320;
const H: usize = 240;

fn run(scales: &str) -> (gst::Buffer, Option<KeypointsMessage>) {
    let model = common::random_model();
    let mut hs = common::harness(
        "superpointdetect",
        &[
            ("model", model.to_str().unwrap()),
            ("scales", scales),
            ("post-messages", "true"),
        ],
        &common::caps("GRAY8", W as u32, H as u32),
    );
    let bus = common::bus_for(&hs.element().unwrap());
    let mut buf = gst::Buffer::from_mut_slice(common::luma_of(&common::graf_rgb(W, H)));
    buf.get_mut()
        .unwrap()
        .set_pts(gst::ClockTime::from_mseconds(40));
    let out = hs.push_and_pull(buf).expect("buffer out");
    let msg = std::iter::from_fn(|| bus.pop())
        .find_map(|m| KeypointsMessage::from_message(&m))
        .map(|m| m.unwrap());
    (out, msg)
}

#[test]
fn scales_give_the_librarys_keypoints_with_a_scale_each() {
    let (out, msg) = run("1,0.5");
    let meta = out.meta::<SuperPointKeypointsMeta>().unwrap();
    let kps = meta.keypoints();
    let scales = &meta.data().scales;
    assert_eq!(scales.len(), kps.len());
    // 320x240 at 0.5 is a 160x120 input: scale 0.5 exactly; both passes contribute.
    assert!(scales.iter().all(|&s| s == 1.0 || s == 0.5), "{scales:?}");
    assert!(scales.contains(&1.0) && scales.contains(&0.5), "{scales:?}");
    assert_eq!(meta.data().scale(0), scales[0]);
    // NMS across scales: no two keypoints within nms-radius (4) frame pixels on both axes.
    for (i, a) in kps.iter().enumerate() {
        for b in &kps[i + 1..] {
            assert!(
                (a.x - b.x).abs().max((a.y - b.y).abs()) > 4.0,
                "{a:?} {b:?}"
            );
        }
    }
    // The library's result on the same pixels.
    let gray = common::luma_of(&common::graf_rgb(W, H));
    let mut det = Detector::new(
        &common::random_model(),
        &EngineOptions::default(),
        DetectorConfig {
            descriptors: true,
            scales: "1,0.5".parse().unwrap(),
            ..Default::default()
        },
    )
    .unwrap();
    let mut lib = Detections::default();
    det.detect(
        &Frame::new(&gray, W, H, W, PixelLayout::Gray).unwrap(),
        &mut lib,
    )
    .unwrap();
    assert_eq!(kps, lib.keypoints);
    assert_eq!(scales, &lib.scales);
    assert_eq!(meta.descriptors(), lib.descriptors);
    // The message carries the same scales.
    let msg = msg.expect("a superpoint-keypoints message");
    assert_eq!(msg.scales, lib.scales);

    // One scale: no scales in the meta or the message.
    let (out, msg) = run("1");
    assert!(
        out.meta::<SuperPointKeypointsMeta>()
            .unwrap()
            .data()
            .scales
            .is_empty()
    );
    assert!(msg.unwrap().scales.is_empty());
}

#[test]
fn unreadable_scales_keep_the_last_value_and_batching_refuses_several() {
    common::init();
    let el = gst::ElementFactory::make("superpointdetect")
        .build()
        .unwrap();
    assert_eq!(el.property::<String>("scales"), "1");
    el.set_property("scales", "1,0.71");
    assert_eq!(el.property::<String>("scales"), "1,0.71");
    for bad in ["1,x", "3", "1,1", "0"] {
        el.set_property("scales", bad);
        assert_eq!(el.property::<String>("scales"), "1,0.71", "{bad}");
    }
    let model = common::random_model();
    let e = common::start_error(
        "superpointdetect",
        &[
            ("model", model.to_str().unwrap()),
            ("scales", "1,0.5"),
            ("batch-group", "scales-test"),
        ],
    );
    assert!(
        e.contains("scales 1,0.5 cannot be used with a batch group") && e.contains("batch-group"),
        "{e}"
    );
}
