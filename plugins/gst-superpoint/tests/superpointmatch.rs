//! `superpointmatch` with gstreamer-check's Harness: homography recovery on synthetic keypoints
//! with known motion (previous and reference modes, set-reference), properties, messages with
//! ground truth, the reference image path, and bad input (no keypoint meta, no descriptors,
//! missing/unreadable reference image, too few matches, caps changes).

mod common;

use std::sync::Arc;

use common::{bus_for, error_text};
use gst::prelude::*;
use gstsuperpoint::messages::MatchMessage;
use gstsuperpoint::meta::{
    HomographyData, HomographyMeta, KeypointsData, MatchStatus, MatchTarget,
    SuperPointKeypointsMeta, SuperPointMatchesMeta, WarpKind,
};
use superpoint::{Homography, Keypoint};

/// Small deterministic generator (xorshift64*), so the tests need no extra crates.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.next()
    }
}

fn normalize(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= n);
}

/// `n` random keypoints in a `w` x `h` frame with random unit descriptors.
fn scene(n: usize, w: u32, h: u32, seed: u64) -> KeypointsData {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut keypoints = Vec::new();
    let mut descriptors = Vec::new();
    for _ in 0..n {
        keypoints.push(Keypoint {
            x: rng.range(0.0, w as f64 - 1.0) as f32,
            y: rng.range(0.0, h as f64 - 1.0) as f32,
            score: 0.5,
        });
        let mut d: Vec<f32> = (0..256).map(|_| rng.range(-1.0, 1.0) as f32).collect();
        normalize(&mut d);
        descriptors.extend(d);
    }
    KeypointsData {
        width: w,
        height: h,
        keypoints,
        descriptors,
        model_id: "synthetic".into(),
        scales: Vec::new(),
    }
}

/// The scene seen after the motion `hm`: positions mapped (reversed order, so indices differ),
/// descriptors perturbed slightly, and `outliers` unrelated keypoints added.
fn moved(base: &KeypointsData, hm: &Homography, outliers: usize, seed: u64) -> KeypointsData {
    let mut rng = Rng(seed.wrapping_mul(0xD1B5_4A32_D192_ED03) | 1);
    let mut out = scene(outliers, base.width, base.height, seed + 1000);
    for (i, k) in base.keypoints.iter().enumerate().rev() {
        let (x, y) = hm.apply(k.x as f64, k.y as f64).unwrap();
        out.keypoints.push(Keypoint {
            x: (x + rng.range(-0.2, 0.2)) as f32,
            y: (y + rng.range(-0.2, 0.2)) as f32,
            score: k.score,
        });
        let mut d: Vec<f32> = base.descriptors[i * 256..(i + 1) * 256]
            .iter()
            .map(|v| v + rng.range(-0.01, 0.01) as f32)
            .collect();
        normalize(&mut d);
        out.descriptors.extend(d);
    }
    out
}

fn harness(props: &[(&str, &str)], w: u32, h: u32) -> gst_check::Harness {
    common::harness("superpointmatch", props, &common::caps("GRAY8", w, h))
}

fn buffer(kp: Option<&KeypointsData>, truth: Option<Homography>) -> gst::Buffer {
    let (w, h) = kp.map_or((64, 48), |k| (k.width, k.height));
    let mut buf = gst::Buffer::with_size((w * h) as usize).unwrap();
    {
        let b = buf.get_mut().unwrap();
        b.set_pts(gst::ClockTime::from_mseconds(40));
        if let Some(kp) = kp {
            SuperPointKeypointsMeta::add(b, Arc::new(kp.clone()));
        }
        if let Some(t) = truth {
            HomographyMeta::add(
                b,
                Arc::new(HomographyData {
                    homography: t,
                    applied: t,
                    width: w,
                    height: h,
                    frame: 0,
                    kind: WarpKind::Random,
                }),
            );
        }
    }
    buf
}

fn push(hs: &mut gst_check::Harness, kp: &KeypointsData) -> gstsuperpoint::meta::MatchesData {
    let out = hs
        .push_and_pull(buffer(Some(kp), None))
        .expect("buffer out");
    let meta = out.meta::<SuperPointMatchesMeta>().expect("matches meta");
    assert!(
        out.meta::<SuperPointKeypointsMeta>().is_some(),
        "keypoints stay"
    );
    (**meta.data()).clone()
}

fn corner_error(a: &Homography, b: &Homography) -> f64 {
    a.corner_error(b, 640.0, 480.0).unwrap()
}

fn shift_rot(dx: f64, dy: f64, angle: f64) -> Homography {
    let (s, c) = angle.sin_cos();
    Homography([c, -s, dx, s, c, dy, 1e-5, -2e-5, 1.0])
}

#[test]
fn previous_mode_recovers_motion_and_composes_to_the_first_frame() {
    let mut hs = harness(&[], 640, 480);
    let f0 = scene(300, 640, 480, 1);
    let m01 = shift_rot(5.0, -3.0, 0.02);
    let f1 = moved(&f0, &m01, 60, 2);
    let m12 = shift_rot(-4.0, 2.0, -0.01);
    let f2 = moved(&f1, &m12, 60, 3);

    let r0 = push(&mut hs, &f0);
    assert_eq!(r0.status, MatchStatus::Reference);
    assert_eq!(r0.target, MatchTarget::Previous);
    assert_eq!(r0.homography, Some(Homography::IDENTITY));
    assert!(r0.pairs.is_empty());

    let r1 = push(&mut hs, &f1);
    assert_eq!(r1.status, MatchStatus::Ok);
    assert!(r1.pairs.len() >= 300, "{} matches", r1.pairs.len());
    assert!(
        (300..=310).contains(&r1.num_inliers),
        "{} inliers",
        r1.num_inliers
    );
    assert_eq!(
        r1.inliers.iter().filter(|&&b| b).count(),
        r1.num_inliers as usize
    );
    let e = corner_error(&r1.homography.unwrap(), &m01);
    assert!(e < 0.2, "corner error {e}");
    // Inlier pairs are true correspondences: current = m01(matched).
    for p in r1.inlier_pairs() {
        let (x, y) = m01
            .apply(p.matched_point[0] as f64, p.matched_point[1] as f64)
            .unwrap();
        assert!((x - p.current_point[0] as f64).abs() < 1.0);
        assert!((y - p.current_point[1] as f64).abs() < 1.0);
        let kp = f1.keypoints[p.current as usize];
        assert_eq!([kp.x, kp.y], p.current_point);
    }

    let r2 = push(&mut hs, &f2);
    assert_eq!(r2.status, MatchStatus::Ok);
    let composed = m12.compose(&m01);
    let e = corner_error(&r2.from_reference().unwrap(), &composed);
    assert!(e < 0.4, "composed corner error {e}");
    assert_eq!(r2.reference_size, (640, 480));
}

#[test]
fn reference_mode_and_set_reference_signal() {
    let mut hs = harness(&[("mode", "reference")], 640, 480);
    let f0 = scene(200, 640, 480, 10);
    let m1 = shift_rot(10.0, 4.0, 0.05);
    let m2 = shift_rot(-8.0, 6.0, -0.04);
    assert_eq!(push(&mut hs, &f0).status, MatchStatus::Reference);
    for m in [&m1, &m2] {
        let r = push(&mut hs, &moved(&f0, m, 30, 11));
        assert_eq!(r.status, MatchStatus::Ok);
        assert_eq!(r.target, MatchTarget::Reference);
        assert!(corner_error(&r.homography.unwrap(), m) < 0.2);
        assert!(corner_error(&r.to_reference.unwrap(), &m.inverse().unwrap()) < 0.2);
    }
    // The next frame after set-reference becomes the reference.
    let f_new = moved(&f0, &m2, 0, 12);
    hs.element()
        .unwrap()
        .emit_by_name::<()>("set-reference", &[]);
    assert_eq!(push(&mut hs, &f_new).status, MatchStatus::Reference);
    let m3 = shift_rot(3.0, 3.0, 0.01);
    let r = push(&mut hs, &moved(&f_new, &m3, 20, 13));
    assert_eq!(r.status, MatchStatus::Ok);
    assert!(corner_error(&r.homography.unwrap(), &m3) < 0.2);
}

#[test]
fn too_few_matches_mark_the_frame_lost_and_the_stream_continues() {
    let mut hs = harness(&[("min-inliers", "20")], 640, 480);
    let el = hs.element().unwrap();
    let f0 = scene(100, 640, 480, 20);
    push(&mut hs, &f0);
    // Unrelated keypoints: random matches, no consistent homography.
    let r = push(&mut hs, &scene(100, 640, 480, 21));
    assert_eq!(r.status, MatchStatus::Lost);
    assert_eq!(r.homography, None);
    assert_eq!(r.to_reference, None);
    // Only 10 keypoints: fewer than min-inliers even before RANSAC.
    let few = scene(10, 640, 480, 22);
    let r = push(&mut hs, &few);
    assert_eq!(r.status, MatchStatus::Lost);
    assert!(r.inliers.iter().all(|&b| !b));
    // No keypoints at all.
    let empty = scene(0, 640, 480, 23);
    assert_eq!(push(&mut hs, &empty).status, MatchStatus::Lost);
    assert_eq!(el.property::<u64>("lost-frames"), 3);
    // The chain continues: the next good pair is ok again.
    let g0 = scene(100, 640, 480, 24);
    push(&mut hs, &g0);
    let r = push(&mut hs, &moved(&g0, &shift_rot(1.0, 1.0, 0.0), 0, 25));
    assert_eq!(r.status, MatchStatus::Ok);
}

#[test]
fn ratio_and_max_distance_filter_matches() {
    let f0 = scene(100, 640, 480, 30);
    let f1 = moved(&f0, &shift_rot(2.0, 2.0, 0.0), 0, 31);
    // Descriptor noise gives distances ~0.1: a limit of 0.01 removes every match.
    let mut hs = harness(&[("max-distance", "0.01")], 640, 480);
    push(&mut hs, &f0);
    let r = push(&mut hs, &f1);
    assert!(r.pairs.is_empty());
    assert_eq!(r.status, MatchStatus::Lost);
    let el = hs.element().unwrap();
    el.set_property("max-distance", 0.5f32);
    let r = push(&mut hs, &moved(&f1, &Homography::IDENTITY, 0, 32));
    assert_eq!(r.pairs.len(), 100);
    assert!(r.pairs.iter().all(|p| p.distance <= 0.5));

    // Duplicated descriptors in the current frame are ambiguous: the ratio test drops the
    // reference keypoints whose two nearest neighbours tie, plain nearest neighbour keeps them.
    let mut dup = moved(&f0, &Homography::IDENTITY, 0, 33);
    for i in 0..10 {
        let d: Vec<f32> = dup.descriptors[i * 256..(i + 1) * 256].to_vec();
        dup.keypoints.push(dup.keypoints[i]);
        dup.descriptors.extend(d);
    }
    let mut hs = harness(&[("mutual", "false"), ("mode", "reference")], 640, 480);
    push(&mut hs, &f0);
    let all = push(&mut hs, &dup);
    let mut hs = harness(
        &[("mutual", "false"), ("mode", "reference"), ("ratio", "0.8")],
        640,
        480,
    );
    push(&mut hs, &f0);
    let ratio = push(&mut hs, &dup);
    assert_eq!(all.pairs.len(), 100);
    assert_eq!(ratio.pairs.len(), 90, "the 10 ambiguous ones are dropped");
}

#[test]
fn properties_have_documented_defaults_and_ranges() {
    common::init();
    let el = gst::ElementFactory::make("superpointmatch")
        .build()
        .unwrap();
    assert_eq!(el.property_value("mode").serialize().unwrap(), "previous");
    assert_eq!(el.property::<f32>("ratio"), 1.0);
    assert_eq!(el.property::<f32>("max-distance"), 0.0);
    assert_eq!(el.property::<f64>("ransac-threshold"), 3.0);
    assert_eq!(el.property::<f64>("confidence"), 0.999);
    assert_eq!(el.property::<u32>("max-iterations"), 2000);
    assert_eq!(el.property::<u32>("min-inliers"), 15);
    assert!(el.property::<bool>("mutual"));
    assert!(!el.property::<bool>("post-messages"));
    assert_eq!(el.property::<Option<String>>("reference-location"), None);
    assert!(el.property::<String>("reference-model").ends_with(".onnx"));
    assert_eq!(el.property::<f32>("reference-threshold"), 0.015);
    assert_eq!(el.property::<u32>("reference-max-keypoints"), 1000);
    for (name, value) in [
        ("ransac-threshold", "1.5"),
        ("confidence", "0.99"),
        ("max-iterations", "500"),
        ("min-inliers", "8"),
        ("ratio", "0.7"),
        ("max-distance", "0.9"),
        ("reference-nms-radius", "2"),
        ("reference-border", "8"),
    ] {
        el.set_property_from_str(name, value);
        let got: f64 = el
            .property_value(name)
            .serialize()
            .unwrap()
            .parse()
            .unwrap();
        let want: f64 = value.parse().unwrap();
        assert!((got - want).abs() < 1e-6, "{name}: {got} != {want}");
    }
    let pspec = el.find_property("min-inliers").unwrap();
    let p = pspec.downcast_ref::<glib::ParamSpecUInt>().unwrap();
    assert_eq!((p.minimum(), p.maximum()), (4, 100_000));
    assert!(!pspec.blurb().unwrap_or_default().is_empty());
    common::assert_blurbs(&el);
}

#[test]
fn missing_keypoint_meta_is_a_clear_error_naming_superpointdetect() {
    let mut hs = harness(&[], 64, 48);
    let bus = bus_for(&hs.element().unwrap());
    assert_eq!(hs.push(buffer(None, None)), Err(gst::FlowError::Error));
    let text = error_text(&bus);
    assert!(
        text.contains("insert superpointdetect before superpointmatch"),
        "{text}"
    );
}

#[test]
fn keypoints_without_descriptors_are_a_clear_error() {
    let mut hs = harness(&[], 64, 48);
    let bus = bus_for(&hs.element().unwrap());
    let mut kp = scene(5, 64, 48, 40);
    kp.descriptors.clear();
    assert_eq!(hs.push(buffer(Some(&kp), None)), Err(gst::FlowError::Error));
    assert!(error_text(&bus).contains("descriptors=true"));
}

fn start_error(props: &[(&str, &str)]) -> String {
    common::start_error("superpointmatch", props)
}

#[test]
fn missing_or_unreadable_reference_image_fails_the_state_change() {
    let text = start_error(&[
        ("mode", "reference"),
        ("reference-location", "/nonexistent/ref.png"),
    ]);
    assert!(
        text.contains("/nonexistent/ref.png") && text.contains("reference-location"),
        "{text}"
    );
    let garbage = std::env::temp_dir().join(format!("garbage-{}.png", std::process::id()));
    std::fs::write(&garbage, b"not an image at all").unwrap();
    let text = start_error(&[
        ("mode", "reference"),
        ("reference-location", garbage.to_str().unwrap()),
    ]);
    assert!(
        text.contains(garbage.to_str().unwrap()) && text.contains("PNG, JPEG or PNM"),
        "{text}"
    );
    // A readable image with a missing model names the model property.
    let pgm = write_pgm(&vec![128u8; 32 * 32], 32, 32, "flat");
    let text = start_error(&[
        ("mode", "reference"),
        ("reference-location", pgm.to_str().unwrap()),
        ("reference-model", "/nonexistent/model.onnx"),
    ]);
    assert!(text.contains("reference-model"), "{text}");
    std::fs::remove_file(garbage).ok();
}

fn write_pgm(data: &[u8], w: usize, h: usize, name: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("{name}-{}.pgm", std::process::id()));
    let mut bytes = format!("P5\n{w} {h}\n255\n").into_bytes();
    bytes.extend_from_slice(data);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn reference_image_is_detected_with_the_reference_model() {
    common::init();
    let (w, h) = (160usize, 120usize);
    let gray = common::luma_of(&common::graf_rgb(w, h));
    let pgm = write_pgm(&gray, w, h, "graf-crop");
    let model = common::random_model();
    let mut hs = gst_check::Harness::new_parse(&format!(
        "superpointdetect model={m} ! superpointmatch mode=reference reference-location={r} reference-model={m} post-messages=true",
        m = model.display(),
        r = pgm.display()
    ));
    let bus = bus_for(&hs.element().unwrap());
    hs.play();
    hs.set_src_caps_str(&format!(
        "video/x-raw,format=GRAY8,width={w},height={h},framerate=30/1"
    ));
    for _ in 0..2 {
        let buf = hs
            .push_and_pull(gst::Buffer::from_slice(gray.clone()))
            .unwrap();
        let m = buf.meta::<SuperPointMatchesMeta>().unwrap();
        let d = m.data();
        // Same pixels, same model: every keypoint matches itself.
        assert_eq!(d.status, MatchStatus::Ok, "{d:?}");
        assert_eq!(d.target, MatchTarget::Reference);
        assert_eq!(d.reference_size, (w as u32, h as u32));
        let kp = buf.meta::<SuperPointKeypointsMeta>().unwrap();
        assert_eq!(d.pairs.len(), kp.keypoints().len());
        assert!(corner_error(&d.homography.unwrap(), &Homography::IDENTITY) < 1e-3);
    }
    let mut statuses = Vec::new();
    while let Some(msg) = bus.pop_filtered(&[gst::MessageType::Element]) {
        if let Some(m) = MatchMessage::from_message(&msg) {
            let m = m.unwrap();
            statuses.push(m.status.as_str());
            assert!(m.homography.is_some());
        }
    }
    assert_eq!(statuses, ["ok", "ok"]);
    std::fs::remove_file(pgm).ok();
}

#[test]
fn model_mismatch_between_reference_and_stream_is_a_warning() {
    common::init();
    let (w, h) = (64usize, 48usize);
    let gray = common::luma_of(&common::graf_rgb(w, h));
    let pgm = write_pgm(&gray, w, h, "graf-small");
    let mut hs = harness(
        &[
            ("mode", "reference"),
            ("reference-location", pgm.to_str().unwrap()),
            ("reference-model", common::random_model().to_str().unwrap()),
            ("min-inliers", "4"),
        ],
        w as u32,
        h as u32,
    );
    let bus = bus_for(&hs.element().unwrap());
    // Synthetic keypoints claim model "synthetic"; the reference was detected by "random-test".
    let r = push(&mut hs, &scene(20, w as u32, h as u32, 50));
    assert_eq!(r.target, MatchTarget::Reference);
    let warning = bus
        .pop_filtered(&[gst::MessageType::Warning])
        .expect("warning");
    let gst::MessageView::Warning(wm) = warning.view() else {
        unreachable!()
    };
    let text = format!("{} {:?}", wm.error(), wm.debug());
    assert!(text.contains("reference-model"), "{text}");
    std::fs::remove_file(pgm).ok();
}

#[test]
fn messages_carry_the_homography_and_the_ground_truth_error() {
    let mut hs = harness(&[("post-messages", "true")], 640, 480);
    let bus = bus_for(&hs.element().unwrap());
    let f0 = scene(150, 640, 480, 60);
    let truth0 = shift_rot(1.0, 2.0, 0.01);
    let m = shift_rot(6.0, -2.0, 0.03);
    let truth1 = m.compose(&truth0);
    hs.push_and_pull(buffer(Some(&f0), Some(truth0))).unwrap();
    let f1 = moved(&f0, &m, 10, 61);
    hs.push_and_pull(buffer(Some(&f1), Some(truth1))).unwrap();
    let msgs: Vec<MatchMessage> =
        std::iter::from_fn(|| bus.pop_filtered(&[gst::MessageType::Element]))
            .filter_map(|m| MatchMessage::from_message(&m))
            .map(|m| m.expect("a well-formed superpoint-match message"))
            .collect();
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0].status, MatchStatus::Reference);
    let s = &msgs[1];
    assert_eq!(s.status, MatchStatus::Ok);
    assert_eq!(s.mode, MatchTarget::Previous);
    assert_eq!(s.frame, 1);
    assert_eq!(s.pts, Some(gst::ClockTime::from_mseconds(40)));
    assert!(s.matches >= 150);
    assert!(s.inliers >= 150);
    let hm = s.homography.expect("homography");
    assert!(corner_error(&hm, &m) < 0.2);
    let truth = s.true_homography.expect("true-homography");
    assert!(corner_error(&truth, &m) < 1e-9);
    let e = s.corner_error.expect("corner-error");
    assert!((e - corner_error(&hm, &m)).abs() < 1e-9, "{e}");
    assert!(s.to_reference.is_some());
}

#[test]
fn caps_changes_mid_stream_keep_matching() {
    let mut hs = harness(&[], 640, 480);
    let f0 = scene(120, 640, 480, 70);
    push(&mut hs, &f0);
    // Half-size frames: the same scene scaled by 0.5 (pixel centres kept).
    let half = Homography([0.5, 0.0, -0.25, 0.0, 0.5, -0.25, 0.0, 0.0, 1.0]);
    hs.set_src_caps_str("video/x-raw,format=GRAY8,width=320,height=240,framerate=30/1");
    let mut f1 = moved(&f0, &half, 0, 71);
    f1.width = 320;
    f1.height = 240;
    let r = push(&mut hs, &f1);
    assert_eq!((r.width, r.height), (320, 240));
    assert_eq!(r.target_size, (640, 480));
    assert_eq!(r.status, MatchStatus::Ok);
    assert!(corner_error(&r.homography.unwrap(), &half) < 0.2);
    hs.set_src_caps_str("video/x-raw,format=GRAY8,width=320,height=240,framerate=15/1");
    let r = push(&mut hs, &moved(&f1, &Homography::IDENTITY, 0, 72));
    assert_eq!(r.status, MatchStatus::Ok);
    assert_eq!(r.target_size, (320, 240));
}

/// Matching + RANSAC time for 1000 x 1000 keypoints through the element, and the detector's time
/// per 640x480 frame (random weights: speed only). Run with
/// `cargo test --release -p gst-plugin-superpoint --test superpointmatch -- --ignored --nocapture`.
#[test]
#[ignore]
fn bench_matching_1000x1000_vs_detector() {
    let mut hs = harness(&[("mode", "reference")], 640, 480);
    let f0 = scene(1000, 640, 480, 80);
    let frames: Vec<KeypointsData> = (0..20)
        .map(|i| {
            moved(
                &f0,
                &shift_rot(i as f64, 0.5 * i as f64, 0.001 * i as f64),
                200,
                81 + i,
            )
        })
        .map(|mut k| {
            k.keypoints.truncate(1000);
            k.descriptors.truncate(1000 * 256);
            k
        })
        .collect();
    push(&mut hs, &f0);
    push(&mut hs, &frames[0]);
    let n = frames.len() as f64;
    let (t, c) = (std::time::Instant::now(), common::thread_cpu_seconds());
    for f in &frames {
        let r = push(&mut hs, f);
        assert_eq!(r.status, MatchStatus::Ok);
    }
    let element_ms = t.elapsed().as_secs_f64() * 1000.0 / n;
    let element_cpu_ms = (common::thread_cpu_seconds() - c) * 1000.0 / n;

    let mut matcher = superpoint::matching::Matcher::new();
    let mut out = Vec::new();
    let params = superpoint::matching::MatchParams::default();
    let (t, c) = (std::time::Instant::now(), common::thread_cpu_seconds());
    for f in &frames {
        matcher
            .match_descriptors(&f0.descriptors, &f.descriptors, 256, &params, &mut out)
            .unwrap();
    }
    let match_ms = t.elapsed().as_secs_f64() * 1000.0 / n;
    let match_cpu_ms = (common::thread_cpu_seconds() - c) * 1000.0 / n;

    let gray = common::luma_of(&common::graf_rgb(640, 480));
    let mut det = superpoint::Detector::new(
        &common::random_model(),
        &superpoint::EngineOptions::default(),
        superpoint::DetectorConfig {
            descriptors: true,
            ..Default::default()
        },
    )
    .unwrap();
    let frame =
        superpoint::Frame::new(&gray, 640, 480, 640, superpoint::PixelLayout::Gray).unwrap();
    let mut d = superpoint::Detections::default();
    det.detect(&frame, &mut d).unwrap();
    let (t, c) = (std::time::Instant::now(), common::process_cpu_seconds());
    for _ in 0..5 {
        det.detect(&frame, &mut d).unwrap();
    }
    let detect_ms = t.elapsed().as_secs_f64() * 1000.0 / 5.0;
    let detect_cpu_ms = (common::process_cpu_seconds() - c) * 1000.0 / 5.0;
    println!(
        "1000x1000 descriptors: matching {match_ms:.2} ms wall ({match_cpu_ms:.2} ms thread CPU); \
         superpointmatch element (matching + RANSAC + meta) {element_ms:.2} ms wall ({element_cpu_ms:.2} ms CPU) per frame; \
         detector 640x480 {detect_ms:.1} ms wall ({detect_cpu_ms:.1} ms CPU, all threads) per frame ({} keypoints, random weights: speed only)",
        d.keypoints.len()
    );
}

#[test]
fn ransac_threshold_and_iterations_shape_the_inliers() {
    // Correspondences with +-1.5 px of position noise.
    let f0 = scene(200, 640, 480, 90);
    let mut f1 = moved(&f0, &shift_rot(3.0, 1.0, 0.01), 0, 91);
    let mut rng = Rng(92);
    for k in &mut f1.keypoints {
        k.x += rng.range(-1.5, 1.5) as f32;
        k.y += rng.range(-1.5, 1.5) as f32;
    }
    let inliers = |props: &[(&str, &str)]| {
        let mut hs = harness(props, 640, 480);
        push(&mut hs, &f0);
        push(&mut hs, &f1)
    };
    let wide = inliers(&[("ransac-threshold", "4.0")]);
    let tight = inliers(&[("ransac-threshold", "0.5")]);
    assert_eq!(wide.status, MatchStatus::Ok);
    assert!(wide.num_inliers >= 195, "{}", wide.num_inliers);
    assert!(
        tight.num_inliers < wide.num_inliers / 2,
        "{} vs {}",
        tight.num_inliers,
        wide.num_inliers
    );
    // One RANSAC sample still gives a homography on clean data (refined on its inliers).
    let one = inliers(&[("max-iterations", "1"), ("ransac-threshold", "4.0")]);
    assert!(one.num_inliers > 0);
    // Confidence is accepted across its range.
    let low = inliers(&[("confidence", "0.5"), ("ransac-threshold", "4.0")]);
    assert_eq!(low.status, MatchStatus::Ok);
}

#[test]
fn reference_detection_settings_apply_to_the_reference_image() {
    common::init();
    let (w, h) = (160usize, 120usize);
    let gray = common::luma_of(&common::graf_rgb(w, h));
    let pgm = write_pgm(&gray, w, h, "graf-settings");
    let model = common::random_model();
    let pairs = |extra: &str| {
        let mut hs = gst_check::Harness::new_parse(&format!(
            "superpointdetect model={m} ! superpointmatch mode=reference reference-location={r} reference-model={m} min-inliers=4 {extra}",
            m = model.display(),
            r = pgm.display()
        ));
        hs.play();
        hs.set_src_caps_str(&format!(
            "video/x-raw,format=GRAY8,width={w},height={h},framerate=30/1"
        ));
        let buf = hs
            .push_and_pull(gst::Buffer::from_slice(gray.clone()))
            .unwrap();
        buf.meta::<SuperPointMatchesMeta>().unwrap().pairs().len()
    };
    let all = pairs("");
    assert!(all > 20, "{all}");
    assert!(pairs("reference-max-keypoints=20") <= 20);
    assert!(
        pairs("reference-threshold=1.0") == 0,
        "no reference keypoint reaches 1.0"
    );
    std::fs::remove_file(pgm).ok();
}

/// What a flushing seek sends through an element.
fn flush(hs: &mut gst_check::Harness) {
    assert!(hs.push_event(gst::event::FlushStart::new()));
    assert!(hs.push_event(gst::event::FlushStop::new(true)));
    assert!(
        hs.push_event(gst::event::Segment::new(&gst::FormattedSegment::<
            gst::ClockTime,
        >::new()))
    );
}

#[test]
fn flush_and_stream_start_restart_the_previous_frame_chain() {
    for new_stream in [false, true] {
        let mut hs = harness(&[], 640, 480);
        let f0 = scene(300, 640, 480, 1);
        let m = shift_rot(5.0, -3.0, 0.02);
        let f1 = moved(&f0, &m, 60, 2);
        assert_eq!(push(&mut hs, &f0).status, MatchStatus::Reference);
        assert_eq!(push(&mut hs, &f1).status, MatchStatus::Ok);
        if new_stream {
            assert!(hs.push_event(gst::event::StreamStart::new("second")));
        } else {
            flush(&mut hs);
        }
        // The frame after it is not matched against f1 (it would be, with ~360 matches): it
        // starts a new chain, and the one after it is matched against it.
        let f2 = moved(&f1, &m, 60, 3);
        let r2 = push(&mut hs, &f2);
        assert_eq!(r2.status, MatchStatus::Reference, "new stream {new_stream}");
        assert!(r2.pairs.is_empty());
        assert_eq!(r2.to_reference, Some(Homography::IDENTITY));
        let r3 = push(&mut hs, &moved(&f2, &m, 60, 4));
        assert_eq!(r3.status, MatchStatus::Ok);
        assert!(corner_error(&r3.from_reference().unwrap(), &m) < 0.2);
    }
}

#[test]
fn reference_survives_a_seek_but_not_a_new_stream() {
    let mut hs = harness(&[("mode", "reference")], 640, 480);
    let f0 = scene(200, 640, 480, 10);
    let m1 = shift_rot(10.0, 4.0, 0.05);
    assert_eq!(push(&mut hs, &f0).status, MatchStatus::Reference);
    flush(&mut hs);
    // A seek stays in the stream: still matched against its first frame.
    let r = push(&mut hs, &moved(&f0, &m1, 30, 11));
    assert_eq!(r.status, MatchStatus::Ok);
    assert_eq!(r.target, MatchTarget::Reference);
    assert!(corner_error(&r.homography.unwrap(), &m1) < 0.2);
    // A new stream's first frame is its reference.
    assert!(hs.push_event(gst::event::StreamStart::new("second")));
    let g0 = scene(200, 640, 480, 20);
    assert_eq!(push(&mut hs, &g0).status, MatchStatus::Reference);
    let r = push(&mut hs, &moved(&g0, &m1, 30, 21));
    assert_eq!(r.status, MatchStatus::Ok);
    assert!(corner_error(&r.homography.unwrap(), &m1) < 0.2);
}

#[test]
fn previous_mode_does_not_match_across_a_seek() {
    // A still picture: consecutive frames match perfectly, so a frame after the seek matched
    // against the last one before it would be "ok" with many inliers.
    let pipeline = common::pipeline(&format!(
        "videotestsrc pattern=smpte ! video/x-raw,format=GRAY8,width=160,height=120,framerate=30/1 ! superpointdetect model={} ! superpointmatch mode=previous min-inliers=8 ! fakesink name=sink sync=true",
        common::random_model().display()
    ));
    type Seen = (u64, MatchStatus, usize, u32);
    let seen = common::probe_buffers(&pipeline, "sink", |buf| -> Seen {
        let n = (buf.pts().unwrap().nseconds() * 30 + 500_000_000) / 1_000_000_000;
        let m = buf.meta::<SuperPointMatchesMeta>().unwrap();
        (n, m.status(), m.pairs().len(), m.data().num_inliers)
    });
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    common::wait_for(&bus, &seen, 60, |_| {}, |s| s.len() >= 4);
    common::seek(&pipeline, 10);
    common::wait_for(
        &bus,
        &seen,
        60,
        |_| {},
        |s| s.iter().filter(|f| f.0 >= 300).count() >= 3,
    );
    pipeline.set_state(gst::State::Null).unwrap();
    let seen = seen.lock().unwrap();
    let (before, after): (Vec<&Seen>, Vec<&Seen>) = seen.iter().partition(|f| f.0 < 300);
    assert_eq!(before[0].1, MatchStatus::Reference);
    for f in &before[1..] {
        assert_eq!(f.1, MatchStatus::Ok, "{f:?}");
        assert!(f.3 >= 8, "{f:?}");
    }
    assert_eq!(after[0].0, 300, "the seek lands on frame 300");
    assert_eq!(after[0].1, MatchStatus::Reference, "{:?}", after[0]);
    assert_eq!(after[0].2, 0, "matched across the seek: {:?}", after[0]);
    for f in &after[1..] {
        assert_eq!(f.1, MatchStatus::Ok, "{f:?}");
    }
}

#[test]
fn a_reference_image_in_previous_mode_is_a_warning() {
    common::init();
    let el = gst::ElementFactory::make("superpointmatch")
        .property_from_str("mode", "previous")
        .property("reference-location", common::GRAF1)
        .build()
        .unwrap();
    let bus = common::bus_for(&el);
    el.set_state(gst::State::Paused).unwrap();
    let warning = bus
        .pop_filtered(&[gst::MessageType::Warning])
        .expect("a warning");
    el.set_state(gst::State::Null).unwrap();
    let gst::MessageView::Warning(w) = warning.view() else {
        unreachable!()
    };
    assert!(
        w.error().to_string().contains("ignored in mode=previous"),
        "{}",
        w.error()
    );
}
