//! The tracker on synthetic keypoints with known motion.

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

use super::*;
use crate::postprocess::Keypoint;

fn unit(rng: &mut Pcg64) -> Vec<f32> {
    let mut d: Vec<f32> = (0..DESCRIPTOR_DIM)
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let n = d.iter().map(|x| x * x).sum::<f32>().sqrt();
    d.iter_mut().for_each(|x| *x /= n);
    d
}

/// `n` random keypoints with random unit descriptors in a 640x480 frame.
fn scene(n: usize, seed: u64, model: &str) -> KeypointsData {
    let mut rng = Pcg64::seed_from_u64(seed);
    let mut k = KeypointsData {
        width: 640,
        height: 480,
        model_id: model.into(),
        scales: Vec::new(),
        ..Default::default()
    };
    for _ in 0..n {
        k.keypoints.push(Keypoint {
            x: rng.random_range(0.0..639.0),
            y: rng.random_range(0.0..479.0),
            score: 0.5,
        });
        k.descriptors.extend(unit(&mut rng));
    }
    k
}

/// The scene after the motion `hm` (same descriptors, reversed order).
fn moved(base: &KeypointsData, hm: &Homography) -> Arc<KeypointsData> {
    let mut out = KeypointsData {
        model_id: base.model_id.clone(),
        scales: Vec::new(),
        ..base.clone()
    };
    out.keypoints.clear();
    out.descriptors.clear();
    for (i, k) in base.keypoints.iter().enumerate().rev() {
        let (x, y) = hm.apply(k.x as f64, k.y as f64).unwrap();
        out.keypoints.push(Keypoint {
            x: x as f32,
            y: y as f32,
            score: k.score,
        });
        out.descriptors
            .extend_from_slice(&base.descriptors[i * DESCRIPTOR_DIM..(i + 1) * DESCRIPTOR_DIM]);
    }
    Arc::new(out)
}

fn shift(dx: f64, dy: f64) -> Homography {
    Homography([1.0, 0.0, dx, 0.0, 1.0, dy, 0.0, 0.0, 1.0])
}

fn close(a: &Homography, b: &Homography) -> bool {
    a.corner_error(b, 640.0, 480.0).unwrap() < 1e-3
}

fn tracker() -> Tracker {
    Tracker::new(TrackParams::default()).unwrap()
}

/// One frame without ground truth or restart, with min-inliers 15.
fn step(t: &mut Tracker, mode: MatchTarget, k: &Arc<KeypointsData>) -> TrackedFrame {
    t.track(mode, k, None, false, 15).unwrap()
}

#[test]
fn previous_mode_composes_the_chain_to_the_first_frame() {
    let base = scene(100, 1, "m");
    let mut t = tracker();
    let f0 = step(&mut t, MatchTarget::Previous, &Arc::new(base.clone()));
    assert_eq!(f0.data.status, MatchStatus::Reference);
    assert_eq!(f0.data.homography, Some(Homography::IDENTITY));
    let f1 = step(
        &mut t,
        MatchTarget::Previous,
        &moved(&base, &shift(5.0, 0.0)),
    );
    assert_eq!(f1.data.status, MatchStatus::Ok);
    assert_eq!(f1.data.pairs.len(), 100);
    assert_eq!(f1.data.num_inliers, 100);
    assert!(close(&f1.data.homography.unwrap(), &shift(5.0, 0.0)));
    let f2 = step(
        &mut t,
        MatchTarget::Previous,
        &moved(&base, &shift(12.0, 3.0)),
    );
    // Frame to frame: (7, 3); composed to the first frame: (-12, -3).
    assert!(close(&f2.data.homography.unwrap(), &shift(7.0, 3.0)));
    assert!(close(&f2.data.to_reference.unwrap(), &shift(-12.0, -3.0)));
    assert_eq!(f2.data.frame, 2);
    assert_eq!(f2.data.reference_size, (640, 480));
}

#[test]
fn reference_mode_matches_the_first_frame_until_restarted() {
    let base = scene(80, 2, "m");
    let mut t = tracker();
    let r = step(&mut t, MatchTarget::Reference, &Arc::new(base.clone()));
    assert_eq!(r.data.status, MatchStatus::Reference);
    for dx in [3.0, 9.0] {
        let f = step(
            &mut t,
            MatchTarget::Reference,
            &moved(&base, &shift(dx, 0.0)),
        );
        assert!(close(&f.data.homography.unwrap(), &shift(dx, 0.0)));
        assert!(close(&f.data.to_reference.unwrap(), &shift(-dx, 0.0)));
    }
    // Restart: the frame becomes the reference, the next one is matched against it.
    let r = t
        .track(
            MatchTarget::Reference,
            &moved(&base, &shift(9.0, 0.0)),
            None,
            true,
            15,
        )
        .unwrap();
    assert_eq!(r.data.status, MatchStatus::Reference);
    let f = step(
        &mut t,
        MatchTarget::Reference,
        &moved(&base, &shift(10.0, 0.0)),
    );
    assert!(close(&f.data.homography.unwrap(), &shift(1.0, 0.0)));
}

#[test]
fn too_few_matches_are_lost_and_the_chain_survives() {
    let base = scene(30, 3, "m");
    let mut t = tracker();
    step(&mut t, MatchTarget::Previous, &Arc::new(base.clone()));
    let few = Arc::new(scene(5, 4, "m"));
    let lost = step(&mut t, MatchTarget::Previous, &few);
    assert_eq!(lost.data.status, MatchStatus::Lost);
    assert_eq!(lost.data.homography, None);
    assert_eq!(lost.data.to_reference, None);
    assert!(
        lost.lost_reason
            .as_deref()
            .unwrap()
            .contains("min-inliers=15"),
        "{:?}",
        lost.lost_reason
    );
    // min_inliers below 4 counts as 4.
    let lost = t
        .track(
            MatchTarget::Previous,
            &Arc::new(scene(3, 5, "m")),
            None,
            false,
            1,
        )
        .unwrap();
    assert!(lost.lost_reason.unwrap().contains("min-inliers=4"));
}

#[test]
fn seeks_restart_the_chain_new_streams_the_reference() {
    let base = Arc::new(scene(50, 6, "m"));
    let mut t = tracker();
    step(&mut t, MatchTarget::Previous, &base);
    t.reset_stream(false);
    let f = step(&mut t, MatchTarget::Previous, &base);
    assert_eq!(f.data.status, MatchStatus::Reference);

    let mut t = tracker();
    step(&mut t, MatchTarget::Reference, &base);
    t.reset_stream(false);
    let f = step(&mut t, MatchTarget::Reference, &base);
    assert_eq!(f.data.status, MatchStatus::Ok, "kept across a seek");
    t.reset_stream(true);
    let f = step(&mut t, MatchTarget::Reference, &base);
    assert_eq!(
        f.data.status,
        MatchStatus::Reference,
        "dropped at a new stream"
    );
}

#[test]
fn a_reference_image_survives_new_streams_and_reports_a_model_mismatch_once() {
    let image = scene(60, 7, "image-model");
    let mut t = tracker();
    t.set_reference_image(Arc::new(image.clone()));
    t.reset_stream(true);
    let stream = moved(
        &KeypointsData {
            model_id: "stream-model".into(),
            scales: Vec::new(),
            ..image.clone()
        },
        &shift(2.0, 2.0),
    );
    let f = step(&mut t, MatchTarget::Reference, &stream);
    assert_eq!(f.data.status, MatchStatus::Ok);
    assert_eq!(f.model_mismatch.as_deref(), Some("image-model"));
    let f = step(&mut t, MatchTarget::Reference, &stream);
    assert_eq!(f.model_mismatch, None, "reported once");
}

#[test]
fn ground_truth_of_both_frames_gives_the_expected_homography() {
    let base = scene(60, 8, "m");
    let (t0, m) = (shift(1.0, 2.0), shift(6.0, -2.0));
    let mut t = tracker();
    let f0 = t
        .track(
            MatchTarget::Previous,
            &Arc::new(base.clone()),
            Some(t0),
            false,
            15,
        )
        .unwrap();
    assert_eq!(f0.expected, None);
    let f1 = t
        .track(
            MatchTarget::Previous,
            &moved(&base, &m),
            Some(m.compose(&t0)),
            false,
            15,
        )
        .unwrap();
    assert!(close(&f1.expected.unwrap(), &m));
    let f2 = step(&mut t, MatchTarget::Previous, &moved(&base, &m));
    assert_eq!(f2.expected, None);
}

#[test]
fn invalid_params_are_refused_at_creation_and_reported_once_later() {
    let bad = TrackParams {
        matching: MatchParams {
            ratio: 0.0,
            ..MatchParams::default()
        },
        ..TrackParams::default()
    };
    assert!(Tracker::new(bad).unwrap_err().to_string().contains("ratio"));
    let mut t = tracker();
    assert_eq!(
        t.offer_params(TrackParams::default()),
        ParamsUpdate::Unchanged
    );
    assert!(matches!(t.offer_params(bad), ParamsUpdate::Rejected(_)));
    assert_eq!(t.offer_params(bad), ParamsUpdate::StillRejected);
    assert_eq!(*t.params(), TrackParams::default());
    let good = TrackParams {
        ransac: RansacParams {
            threshold: 1.0,
            ..RansacParams::default()
        },
        ..TrackParams::default()
    };
    assert_eq!(t.offer_params(good), ParamsUpdate::Applied);
    assert_eq!(t.params().ransac.threshold, 1.0);
    let bad_ransac = TrackParams {
        ransac: RansacParams {
            confidence: 2.0,
            ..RansacParams::default()
        },
        ..TrackParams::default()
    };
    assert!(matches!(
        t.offer_params(bad_ransac),
        ParamsUpdate::Rejected(Error::Config(_))
    ));
}

#[test]
fn descriptors_of_another_length_are_an_error() {
    let mut t = tracker();
    let base = Arc::new(scene(10, 9, "m"));
    t.track(MatchTarget::Previous, &base, None, false, 4)
        .unwrap();
    let mut broken = (*base).clone();
    broken.descriptors.truncate(100);
    assert!(
        t.track(MatchTarget::Previous, &Arc::new(broken), None, false, 4)
            .is_err()
    );
}
