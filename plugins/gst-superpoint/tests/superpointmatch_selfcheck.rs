//! The self-checking pipeline `homographicwarp mode=random ! superpointdetect ! superpointmatch
//! mode=reference` on synthetic textured frames: the recovered homography is compared with the
//! sampled one (the warp's `HomographyMeta`).
//!
//! With the random-weights test model this checks plumbing only (metas, messages and the
//! ground-truth arithmetic agree); its corner errors say nothing about quality. With the shipped
//! model `models/superpoint.onnx` (or `$SUPERPOINT_MODEL`) the accuracy is asserted: mean corner
//! error < 3 px on >= 90 % of frames.

mod common;

use gst::prelude::*;
use gstsuperpoint::messages::MatchMessage;
use gstsuperpoint::meta::{HomographyMeta, MatchStatus, SuperPointMatchesMeta};
use superpoint::Homography;

const W: usize = 320;
const H: usize = 240;

/// A synthetic textured grey frame: a shaded background with random rectangles, discs and
/// stripes (deterministic), so that corners and blobs exist at many scales.
fn textured_frame(seed: u64) -> Vec<u8> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut rnd = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut img: Vec<f64> = (0..W * H)
        .map(|i| 60.0 + 80.0 * ((i % W) as f64 / W as f64) + 40.0 * ((i / W) as f64 / H as f64))
        .collect();
    for _ in 0..60 {
        let (cx, cy) = (rnd() * W as f64, rnd() * H as f64);
        let (rw, rh) = (6.0 + rnd() * 30.0, 6.0 + rnd() * 30.0);
        let v = rnd() * 255.0;
        let kind = (rnd() * 3.0) as u32;
        for y in 0..H {
            for x in 0..W {
                let (dx, dy) = (x as f64 - cx, y as f64 - cy);
                let inside = match kind {
                    0 => dx.abs() < rw && dy.abs() < rh,
                    1 => (dx / rw).powi(2) + (dy / rh).powi(2) < 1.0,
                    _ => {
                        dx.abs() < rw && dy.abs() < rh && ((dx + dy) / 4.0).floor() as i64 % 2 == 0
                    }
                };
                if inside {
                    img[y * W + x] = v;
                }
            }
        }
    }
    img.iter()
        .map(|v| v.round().clamp(0.0, 255.0) as u8)
        .collect()
}

struct FrameResult {
    status: MatchStatus,
    corner_error: Option<f64>,
    message_error: Option<f64>,
}

/// Runs `frames` warped copies of one textured frame through the self-check pipeline with
/// `model`; returns per-frame results (the first frame is the reference).
fn run_selfcheck(model: &std::path::Path, frames: usize) -> Vec<FrameResult> {
    common::init();
    let mut hs = gst_check::Harness::new_parse(&format!(
        "homographicwarp mode=random seed=11 perspective=0.1 scale=0.1 rotation=10 translation=0.5 patch-ratio=0.8 \
         ! superpointdetect model={m} ! superpointmatch mode=reference post-messages=true",
        m = model.display()
    ));
    let bus = gst::Bus::new();
    hs.element().unwrap().set_bus(Some(&bus));
    hs.play();
    hs.set_src_caps_str(&format!(
        "video/x-raw,format=GRAY8,width={W},height={H},framerate=30/1"
    ));
    let image = textured_frame(3);
    let mut reference_truth: Option<Homography> = None;
    let mut results = Vec::new();
    for i in 0..frames {
        let mut buf = gst::Buffer::from_slice(image.clone());
        buf.get_mut()
            .unwrap()
            .set_pts(gst::ClockTime::from_mseconds(40 * i as u64));
        let out = hs.push_and_pull(buf).expect("buffer out");
        let truth = out
            .meta::<HomographyMeta>()
            .expect("HomographyMeta from homographicwarp mode=random")
            .homography();
        let m = out.meta::<SuperPointMatchesMeta>().expect("matches meta");
        let d = m.data();
        if i == 0 {
            assert_eq!(d.status, MatchStatus::Reference);
            reference_truth = Some(truth);
        }
        // Reference frame -> this frame, for a still source under the warp.
        let expected = truth.compose(&reference_truth.unwrap().inverse().unwrap());
        let corner_error = d
            .homography
            .filter(|_| d.status == MatchStatus::Ok)
            .and_then(|h| h.corner_error(&expected, W as f64, H as f64));
        let msg = std::iter::from_fn(|| bus.pop_filtered(&[gst::MessageType::Element]))
            .find_map(|m| MatchMessage::from_message(&m))
            .expect("superpoint-match message")
            .expect("a well-formed superpoint-match message");
        assert_eq!(msg.frame, i as u64);
        assert_eq!(msg.status, d.status);
        if i > 0 {
            let t = msg.true_homography.expect("true-homography in the message");
            assert!(t.corner_error(&expected, W as f64, H as f64).unwrap() < 1e-6);
        }
        let message_error = msg.corner_error;
        results.push(FrameResult {
            status: d.status,
            corner_error,
            message_error,
        });
    }
    results
}

fn summary(results: &[FrameResult]) -> (usize, usize, f64, f64) {
    let checked = &results[1..];
    let ok: Vec<f64> = checked.iter().filter_map(|r| r.corner_error).collect();
    let under3 = ok.iter().filter(|&&e| e < 3.0).count();
    let mut sorted = ok.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN);
    let mean = ok.iter().sum::<f64>() / ok.len().max(1) as f64;
    (ok.len(), under3, median, mean)
}

#[test]
fn selfcheck_plumbing_with_the_random_model() {
    let results = run_selfcheck(&common::random_model(), 24);
    for r in &results[1..] {
        // The element's own ground-truth error equals the one computed here from the metas.
        match (r.corner_error, r.message_error) {
            (Some(a), Some(b)) => assert!((a - b).abs() < 1e-9, "{a} vs {b}"),
            (None, None) => assert_eq!(r.status, MatchStatus::Lost),
            other => panic!("meta and message disagree: {other:?}"),
        }
    }
    let (ok, under3, median, mean) = summary(&results);
    println!(
        "self-check, RANDOM-WEIGHTS model (plumbing only, not a quality figure): {} frames, {} with a homography, {} under 3 px, median corner error {:.2} px, mean {:.2} px",
        results.len() - 1,
        ok,
        under3,
        median,
        mean
    );
}

#[test]
fn selfcheck_accuracy_with_the_trained_model() {
    let model = common::trained_model();
    let results = run_selfcheck(&model, 40);
    let (ok, under3, median, mean) = summary(&results);
    let frames = results.len() - 1;
    println!(
        "self-check, trained model {}: {frames} frames, {ok} with a homography, {under3} under 3 px, median {median:.2} px, mean {mean:.2} px",
        model.display()
    );
    assert!(
        under3 * 10 >= frames * 9,
        "only {under3} of {frames} frames have a mean corner error < 3 px"
    );
}
