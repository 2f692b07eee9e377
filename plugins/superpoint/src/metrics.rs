//! Detector and descriptor metrics of the HPatches protocol (SuperPoint paper, section 6), computed
//! for one image pair `(A, B)` with a known homography `H` mapping pixels of A to pixels of B.
//!
//! Definitions (pixels, (0,0) = centre of the top-left pixel; a point is *inside* an image of size
//! `w x h` when `0 <= x <= w - 1` and `0 <= y <= h - 1`):
//! - **Repeatability at ε with top k** (as the SuperPoint reference evaluation): keep the keypoints of
//!   A whose warp `H a` lands inside B and the keypoints of B whose warp `H⁻¹ b` lands inside A, then
//!   the `k` best-scored of each. In B's coordinates, a warped A point is repeated when a kept B
//!   point lies within ε of it, and a kept B point is repeated when a warped A point lies within ε.
//!   Repeatability = (repeated A + repeated B) / (kept A + kept B).
//! - **Localisation error**: mean of those nearest distances that are within ε (both directions).
//! - **Matches**: mutual nearest neighbours of the descriptors of the top-N keypoints (see
//!   [`crate::matching`]). A match `(a, b)` has reprojection error `|H a - b|`.
//! - **Mean matching accuracy MMA(t)**: fraction of the matches with error ≤ t, for t = 1..10 px;
//!   a pair without matches scores 0.
//! - **Matching score** at ε: correct matches (error ≤ ε) over the number of top-N keypoints in the
//!   shared view, averaged over the two images.
//! - **Homography accuracy** at ε: H estimated by RANSAC from the matches; the four corners of A
//!   mapped by the estimate and by the true H are on average within ε pixels. A failed estimate is
//!   incorrect at every ε.

use serde::{Deserialize, Serialize};

pub use crate::features::Features;

use crate::Error;
use crate::geometry::Homography;
use crate::matching::{Match, MatchParams, Matcher};
use crate::postprocess::Keypoint;
use crate::ransac::{RansacParams, find_homography};

/// Thresholds of the mean matching accuracy curve, pixels.
pub const MMA_THRESHOLDS: [f64; 10] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];

/// Whether `(x, y)` is inside a `w x h` image (pixel centres span `0..=w-1`).
pub fn inside(x: f64, y: f64, w: u32, h: u32) -> bool {
    x >= 0.0 && y >= 0.0 && x <= (w as f64 - 1.0) && y <= (h as f64 - 1.0)
}

/// Repeatability of one pair at one `k`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Repeatability {
    /// The `k` it was computed with.
    pub keypoints: usize,
    /// (repeated_a + repeated_b) / (shared_a + shared_b); `None` when no keypoint is in the
    /// shared view.
    pub value: Option<f64>,
    /// Mean distance of the repeated points to their nearest neighbour, pixels.
    pub localization_error: Option<f64>,
    /// Keypoints of A (at most k) that land inside B.
    pub shared_a: usize,
    /// Keypoints of B (at most k) that land inside A.
    pub shared_b: usize,
    /// Of those of A, how many have a B keypoint within ε.
    pub repeated_a: usize,
    /// Of those of B, how many have a warped A keypoint within ε.
    pub repeated_b: usize,
}

/// The best `k` keypoints (from `kps`, sorted best first) that `h` maps inside a `w x h` image,
/// returned as (original, warped) coordinates.
fn shared(kps: &[Keypoint], h: &Homography, w: u32, ht: u32, k: usize) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    for kp in kps {
        if k > 0 && out.len() == k {
            break;
        }
        if let Some((x, y)) = h.apply(kp.x as f64, kp.y as f64)
            && inside(x, y, w, ht)
        {
            out.push((x, y));
        }
    }
    out
}

/// Repeatability at `epsilon` pixels with the `k` best keypoints (0 = all); see the module docs.
/// `a` and `b` must be sorted best first.
pub fn repeatability(
    a: &[Keypoint],
    size_a: (u32, u32),
    b: &[Keypoint],
    size_b: (u32, u32),
    h: &Homography,
    k: usize,
    epsilon: f64,
) -> Repeatability {
    let mut r = Repeatability {
        keypoints: k,
        ..Default::default()
    };
    let Some(h_inv) = h.inverse() else {
        return r;
    };
    // A points warped into B.
    let wa = shared(a, h, size_b.0, size_b.1, k);
    // B points (kept in B coordinates) whose inverse warp lands inside A.
    let mut kb = Vec::new();
    for kp in b {
        if k > 0 && kb.len() == k {
            break;
        }
        if let Some((x, y)) = h_inv.apply(kp.x as f64, kp.y as f64)
            && inside(x, y, size_a.0, size_a.1)
        {
            kb.push((kp.x as f64, kp.y as f64));
        }
    }
    r.shared_a = wa.len();
    r.shared_b = kb.len();
    if wa.is_empty() && kb.is_empty() {
        return r;
    }
    let eps2 = epsilon * epsilon;
    let mut col_min = vec![f64::INFINITY; kb.len()];
    let mut loc_sum = 0.0;
    let mut loc_count = 0usize;
    for p in &wa {
        let mut row_min = f64::INFINITY;
        for (q, cm) in kb.iter().zip(col_min.iter_mut()) {
            let d2 = (p.0 - q.0).powi(2) + (p.1 - q.1).powi(2);
            row_min = row_min.min(d2);
            *cm = cm.min(d2);
        }
        if row_min <= eps2 {
            r.repeated_a += 1;
            loc_sum += row_min.sqrt();
            loc_count += 1;
        }
    }
    for &cm in &col_min {
        if cm <= eps2 {
            r.repeated_b += 1;
            loc_sum += cm.sqrt();
            loc_count += 1;
        }
    }
    r.value = Some((r.repeated_a + r.repeated_b) as f64 / (r.shared_a + r.shared_b) as f64);
    r.localization_error = (loc_count > 0).then(|| loc_sum / loc_count as f64);
    r
}

/// Reprojection error `|H a - b|` of each match (+inf when `H a` is at infinity).
pub fn match_errors(a: &[Keypoint], b: &[Keypoint], h: &Homography, matches: &[Match]) -> Vec<f64> {
    matches
        .iter()
        .map(|m| {
            let (pa, pb) = (a[m.a as usize], b[m.b as usize]);
            match h.apply(pa.x as f64, pa.y as f64) {
                Some((x, y)) => ((x - pb.x as f64).powi(2) + (y - pb.y as f64).powi(2)).sqrt(),
                None => f64::INFINITY,
            }
        })
        .collect()
}

/// MMA(t) of one pair for every `t` in [`MMA_THRESHOLDS`] (0 without matches).
pub fn mma(errors: &[f64]) -> Vec<f64> {
    MMA_THRESHOLDS
        .iter()
        .map(|&t| {
            if errors.is_empty() {
                0.0
            } else {
                errors.iter().filter(|&&e| e <= t).count() as f64 / errors.len() as f64
            }
        })
        .collect()
}

/// Matching score at `epsilon`; `None` when neither image has a keypoint in the shared view.
#[allow(clippy::too_many_arguments)]
pub fn matching_score(
    a: &[Keypoint],
    size_a: (u32, u32),
    b: &[Keypoint],
    size_b: (u32, u32),
    h: &Homography,
    matches: &[Match],
    errors: &[f64],
    epsilon: f64,
) -> Option<f64> {
    let h_inv = h.inverse()?;
    let in_b = |p: &Keypoint| {
        h.apply(p.x as f64, p.y as f64)
            .is_some_and(|(x, y)| inside(x, y, size_b.0, size_b.1))
    };
    let in_a = |p: &Keypoint| {
        h_inv
            .apply(p.x as f64, p.y as f64)
            .is_some_and(|(x, y)| inside(x, y, size_a.0, size_a.1))
    };
    let shared_a = a.iter().filter(|p| in_b(p)).count();
    let shared_b = b.iter().filter(|p| in_a(p)).count();
    let correct = |side_a: bool| {
        matches
            .iter()
            .zip(errors)
            .filter(|(m, e)| {
                **e <= epsilon
                    && if side_a {
                        in_b(&a[m.a as usize])
                    } else {
                        in_a(&b[m.b as usize])
                    }
            })
            .count()
    };
    let mut terms = Vec::new();
    if shared_a > 0 {
        terms.push(correct(true) as f64 / shared_a as f64);
    }
    if shared_b > 0 {
        terms.push(correct(false) as f64 / shared_b as f64);
    }
    (!terms.is_empty()).then(|| terms.iter().sum::<f64>() / terms.len() as f64)
}

/// Parameters of the pair metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MetricParams {
    /// Keypoints per image used for matching and homography estimation (best first; 0 = all).
    pub num_keypoints: usize,
    /// Values of `k` for repeatability (the first also gives the localisation error).
    pub repeatability_keypoints: Vec<usize>,
    /// Distance threshold of repeatability and of the matching score, pixels.
    pub epsilon: f64,
    /// Corner-error thresholds of homography accuracy, pixels.
    pub homography_epsilons: Vec<f64>,
    /// Descriptor matching.
    pub matching: MatchParams,
    /// Homography estimation.
    pub ransac: RansacParams,
    /// Views of image 1 (rotations, scales) each matched against image k on its own, the one with
    /// the most RANSAC inliers kept ([`crate::views`]); the default is image 1 alone.
    pub reference_views: crate::views::ViewParams,
}

impl Default for MetricParams {
    /// The SuperPoint paper's protocol: 1000 keypoints, repeatability with 300 (and 1000),
    /// ε = 3 px, homography accuracy at 1, 3, 5 px, mutual nearest neighbours, RANSAC at 3 px.
    fn default() -> Self {
        MetricParams {
            num_keypoints: 1000,
            repeatability_keypoints: vec![300, 1000],
            epsilon: 3.0,
            homography_epsilons: vec![1.0, 3.0, 5.0],
            matching: MatchParams::default(),
            ransac: RansacParams {
                max_iterations: 5000,
                ..RansacParams::default()
            },
            reference_views: crate::views::ViewParams::single(),
        }
    }
}

impl MetricParams {
    /// Checks value ranges.
    pub fn validate(&self) -> Result<(), Error> {
        self.matching.validate()?;
        self.reference_views.validate()?;
        self.ransac
            .validate()
            .map_err(|e| Error::Config(e.to_string()))?;
        if !(self.epsilon.is_finite() && self.epsilon > 0.0) {
            return Err(Error::Config(format!(
                "epsilon must be a positive number of pixels, got {}",
                self.epsilon
            )));
        }
        if let Some(e) = self
            .homography_epsilons
            .iter()
            .find(|e| !(e.is_finite() && **e > 0.0))
        {
            return Err(Error::Config(format!(
                "homography accuracy thresholds must be positive, got {e}"
            )));
        }
        Ok(())
    }
}

/// All metrics of one pair (1, k) of a sequence.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PairMetrics {
    /// Sequence name.
    pub sequence: String,
    /// Image number of B (A is image 1).
    pub image: usize,
    /// Keypoints of A used (top N).
    pub keypoints_a: usize,
    /// Keypoints of B used (top N).
    pub keypoints_b: usize,
    /// Repeatability for each `k` of [`MetricParams::repeatability_keypoints`].
    pub repeatability: Vec<Repeatability>,
    /// Mutual nearest-neighbour matches (0 without descriptors).
    pub matches: usize,
    /// MMA at [`MMA_THRESHOLDS`].
    pub mma: Vec<f64>,
    /// Matching score at ε.
    pub matching_score: Option<f64>,
    /// Homography estimated from the matches (`None` when RANSAC failed).
    pub homography: Option<Homography>,
    /// Why the estimate failed.
    pub homography_failure: Option<String>,
    /// RANSAC inliers.
    pub inliers: usize,
    /// Mean corner error of the estimate against the truth, pixels.
    pub corner_error: Option<f64>,
    /// Whether the corner error is within each of [`MetricParams::homography_epsilons`].
    pub homography_correct: Vec<bool>,
    /// Detection time of image B, milliseconds (when measured).
    pub detect_ms: Option<f64>,
    /// Matching plus homography estimation time, milliseconds.
    pub match_ms: f64,
}

/// Computes all metrics of a pair; `h` maps pixels of `a` to pixels of `b`. The matcher's buffers
/// are reused. Errors only on bad parameters or descriptors of different lengths.
pub fn evaluate_pair(
    a: &Features,
    b: &Features,
    h: &Homography,
    params: &MetricParams,
    matcher: &mut Matcher,
) -> Result<PairMetrics, Error> {
    params.validate()?;
    if !h.is_valid() {
        return Err(Error::Input(
            "the ground-truth homography is singular or not finite".into(),
        ));
    }
    let size_a = (a.width, a.height);
    let size_b = (b.width, b.height);
    let repeatability = params
        .repeatability_keypoints
        .iter()
        .map(|&k| {
            repeatability(
                &a.keypoints,
                size_a,
                &b.keypoints,
                size_b,
                h,
                k,
                params.epsilon,
            )
        })
        .collect();
    let (ka, da) = a.top(params.num_keypoints);
    let (kb, db) = b.top(params.num_keypoints);
    let mut out = PairMetrics {
        keypoints_a: ka.len(),
        keypoints_b: kb.len(),
        repeatability,
        mma: vec![0.0; MMA_THRESHOLDS.len()],
        homography_correct: vec![false; params.homography_epsilons.len()],
        ..Default::default()
    };
    if a.dim == 0 || b.dim == 0 {
        out.homography_failure = Some("no descriptors".into());
        return Ok(out);
    }
    if a.dim != b.dim {
        return Err(Error::Input(format!(
            "descriptor lengths differ between the images ({} and {})",
            a.dim, b.dim
        )));
    }
    let t0 = std::time::Instant::now();
    let mut matches = Vec::new();
    matcher.match_descriptors(da, db, a.dim, &params.matching, &mut matches)?;
    let src: Vec<(f64, f64)> = matches
        .iter()
        .map(|m| (ka[m.a as usize].x as f64, ka[m.a as usize].y as f64))
        .collect();
    let dst: Vec<(f64, f64)> = matches
        .iter()
        .map(|m| (kb[m.b as usize].x as f64, kb[m.b as usize].y as f64))
        .collect();
    let estimate = find_homography(&src, &dst, &params.ransac);
    out.match_ms = t0.elapsed().as_secs_f64() * 1e3;

    let errors = match_errors(ka, kb, h, &matches);
    out.matches = matches.len();
    out.mma = mma(&errors);
    out.matching_score =
        matching_score(ka, size_a, kb, size_b, h, &matches, &errors, params.epsilon);
    match estimate {
        Ok(e) => {
            out.inliers = e.num_inliers;
            out.corner_error = e
                .homography
                .corner_error(h, a.width as f64, a.height as f64);
            if let Some(ce) = out.corner_error {
                out.homography_correct = params
                    .homography_epsilons
                    .iter()
                    .map(|&t| ce <= t)
                    .collect();
            } else {
                out.homography_failure = Some("the estimate maps a corner to infinity".into());
            }
            out.homography = Some(e.homography);
        }
        Err(e) => out.homography_failure = Some(e.to_string()),
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_pcg::Pcg64;

    fn kp(x: f32, y: f32, score: f32) -> Keypoint {
        Keypoint { x, y, score }
    }

    /// Keypoints on a 640x480 image and random unit descriptors; B = the same points under `h`,
    /// kept when inside B, with the same descriptors.
    fn perfect_pair(h: &Homography, n: usize) -> (Features, Features) {
        let mut rng = Pcg64::seed_from_u64(3);
        let (w, ht) = (640u32, 480u32);
        let mut ka = Vec::new();
        let mut kb = Vec::new();
        let mut da = Vec::new();
        let mut db = Vec::new();
        for i in 0..n {
            let (x, y) = (
                rng.random_range(5.0..634.0f32),
                rng.random_range(5.0..474.0f32),
            );
            let score = 1.0 - i as f32 / n as f32;
            let d: Vec<f32> = (0..64).map(|_| rng.random_range(-1.0..1.0f32)).collect();
            ka.push(kp(x, y, score));
            da.extend_from_slice(&d);
            let (u, v) = h.apply(x as f64, y as f64).unwrap();
            if inside(u, v, w, ht) {
                kb.push(kp(u as f32, v as f32, score));
                db.extend_from_slice(&d);
            }
        }
        (
            Features::new(w, ht, ka, da, 64).unwrap(),
            Features::new(w, ht, kb, db, 64).unwrap(),
        )
    }

    #[test]
    fn perfect_detector_under_known_homography() {
        let h = Homography([0.95, 0.05, 12.0, -0.03, 1.02, 8.0, 1e-4, -5e-5, 1.0]);
        let (a, b) = perfect_pair(&h, 800);
        let m = evaluate_pair(&a, &b, &h, &MetricParams::default(), &mut Matcher::new()).unwrap();
        for r in &m.repeatability {
            assert!((r.value.unwrap() - 1.0).abs() < 1e-12, "{r:?}");
            assert!(r.localization_error.unwrap() < 1e-3);
        }
        assert_eq!(m.repeatability[0].shared_a, 300);
        assert_eq!(m.matches, b.len());
        assert!(m.mma.iter().all(|&v| (v - 1.0).abs() < 1e-12));
        assert!(m.corner_error.unwrap() < 0.01, "{:?}", m.corner_error);
        assert_eq!(m.homography_correct, vec![true, true, true]);
        // All of B's points are correct matches; A has a few outside B.
        let ms = m.matching_score.unwrap();
        assert!(ms > 0.9 && ms <= 1.0, "{ms}");
    }

    #[test]
    fn shuffled_descriptors_give_mma_near_zero() {
        let h = Homography([1.0, 0.0, 20.0, 0.0, 1.0, -10.0, 0.0, 0.0, 1.0]);
        let (a, mut b) = perfect_pair(&h, 500);
        // Rotate B's descriptors by one keypoint: every match is now wrong.
        let dim = b.dim;
        b.descriptors.rotate_left(dim * 7);
        let m = evaluate_pair(&a, &b, &h, &MetricParams::default(), &mut Matcher::new()).unwrap();
        assert!(m.matches > 100);
        // Only accidental neighbours can be within 10 px.
        assert!(m.mma[9] < 0.05, "{:?}", m.mma);
        assert!(m.mma[0] < 0.01);
        assert!(m.matching_score.unwrap() < 0.01);
        assert!(!m.homography_correct[2]);
        // Repeatability does not depend on descriptors.
        assert!((m.repeatability[0].value.unwrap() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn hand_checked_repeatability() {
        // Shift by +10 px in x on 100x100 images.
        let h = Homography([1.0, 0.0, 10.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]);
        let a = [
            kp(10.0, 10.0, 0.9), // -> (20, 10): B has (21, 10), repeated (1 px)
            kp(50.0, 50.0, 0.8), // -> (60, 50): B has nothing within 3 px
            kp(95.0, 50.0, 0.7), // -> (105, 50): outside B, not counted
        ];
        let b = [
            kp(21.0, 10.0, 0.9), // <- (11, 10): inside A, repeated
            kp(80.0, 80.0, 0.8), // <- (70, 80): inside A, not repeated
            kp(5.0, 5.0, 0.7),   // <- (-5, 5): outside A, not counted
        ];
        let r = repeatability(&a, (100, 100), &b, (100, 100), &h, 0, 3.0);
        assert_eq!((r.shared_a, r.shared_b), (2, 2));
        assert_eq!((r.repeated_a, r.repeated_b), (1, 1));
        assert_eq!(r.value, Some(0.5));
        assert_eq!(r.localization_error, Some(1.0));
        // Top 1 of each: both repeated.
        let r1 = repeatability(&a, (100, 100), &b, (100, 100), &h, 1, 3.0);
        assert_eq!(r1.value, Some(1.0));
        // Nothing in the shared view.
        let far = Homography([1.0, 0.0, 500.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]);
        assert_eq!(
            repeatability(&a, (100, 100), &b, (100, 100), &far, 0, 3.0).value,
            None
        );
    }

    #[test]
    fn mma_curve_is_hand_checkable() {
        let e = [0.5, 1.5, 2.5, 20.0];
        let c = mma(&e);
        assert_eq!(&c[..3], &[0.25, 0.5, 0.75]);
        assert_eq!(c[9], 0.75);
        assert_eq!(mma(&[]), vec![0.0; 10]);
    }

    #[test]
    fn degenerate_pairs_do_not_panic() {
        let h = Homography::IDENTITY;
        let empty = Features::new(64, 64, vec![], vec![], 0).unwrap();
        let m = evaluate_pair(
            &empty,
            &empty,
            &h,
            &MetricParams::default(),
            &mut Matcher::new(),
        )
        .unwrap();
        assert_eq!(m.matches, 0);
        assert_eq!(m.repeatability[0].value, None);
        assert!(m.homography_failure.is_some());
        // Three collinear matches: RANSAC fails, metrics still computed.
        let pts = vec![
            kp(10.0, 10.0, 1.0),
            kp(20.0, 20.0, 0.9),
            kp(30.0, 30.0, 0.8),
        ];
        let d = vec![1.0, 0.0, 0.0, 1.0, 0.6, 0.8];
        let f = Features::new(64, 64, pts, d, 2).unwrap();
        let m = evaluate_pair(&f, &f, &h, &MetricParams::default(), &mut Matcher::new()).unwrap();
        assert_eq!(m.matches, 3);
        assert_eq!(m.mma[0], 1.0);
        assert!(m.homography.is_none() && m.homography_failure.is_some());
        assert_eq!(m.homography_correct, vec![false, false, false]);
        // Bad inputs are errors.
        assert!(Features::new(64, 64, vec![kp(f32::NAN, 0.0, 1.0)], vec![], 0).is_err());
        assert!(Features::new(64, 64, vec![kp(1.0, 0.0, 1.0)], vec![1.0, 2.0, 3.0], 2).is_err());
        let singular = Homography([0.0; 9]);
        assert!(
            evaluate_pair(
                &f,
                &f,
                &singular,
                &MetricParams::default(),
                &mut Matcher::new()
            )
            .is_err()
        );
    }

    #[test]
    fn features_are_sorted_and_normalised() {
        let f = Features::new(
            32,
            32,
            vec![kp(1.0, 1.0, 0.1), kp(2.0, 2.0, 0.9)],
            vec![3.0, 4.0, 0.0, 2.0],
            2,
        )
        .unwrap();
        assert_eq!(f.keypoints[0].score, 0.9);
        assert_eq!(&f.descriptors, &[0.0, 1.0, 0.6, 0.8]);
        assert_eq!(f.top(1).0.len(), 1);
        assert_eq!(f.top(0).0.len(), 2);
    }
}
