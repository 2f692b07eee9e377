//! Homography estimation: the normalised direct linear transform (Hartley normalisation, least
//! squares through the smallest eigenvector of `AᵀA` from nalgebra's `SymmetricEigen`) and RANSAC
//! around it. The minimal four-point solves use [`Homography::from_4_points`] (nalgebra's LU).
//!
//! RANSAC draws minimal samples of four correspondences with a seeded generator (so results are
//! reproducible), rejects degenerate samples (three collinear points, or an orientation flip of some
//! but not all of the four triangles, which no homography seen by a camera produces), and scores
//! each hypothesis MSAC-style by truncated quadratic losses of the forward reprojection errors `e`
//! in pixels of the second image, averaged over the truncation scales t/3, 2t/3 and t (inliers:
//! `e <= t`). Counting inliers, or a single truncation at t, lets a hypothesis that is 2-3 px off
//! everywhere win over an accurate one (on OpenCV's graf 1→3 pair with SIFT matches the corner
//! error drops from about 5 px to about 1.3 px). The number of iterations shrinks as the ratio `w`
//! of accurate inliers (within t/3) of the best model grows (`N = log(1 - confidence) /
//! log(1 - w⁴)`), and every sample model that beats the best sample so far is locally optimised
//! (LO-RANSAC: least-squares fits on random subsets of its inliers and iteratively reweighted
//! least-squares refits consistent with the loss, kept while they lower it); the best optimised
//! model is returned. Degenerate inputs are errors, never panics.

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

use crate::geometry::Homography;

/// Why no homography could be estimated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RansacError {
    /// Fewer correspondences than the four a homography needs.
    #[error("a homography needs at least 4 correspondences, got {0}")]
    TooFewPoints(usize),
    /// The two point lists differ in length.
    #[error("point lists differ in length ({0} source, {1} destination points)")]
    LengthMismatch(usize, usize),
    /// A coordinate is NaN or infinite.
    #[error("correspondence {0} has a non-finite coordinate")]
    NonFinite(usize),
    /// All samples were degenerate (collinear or coincident points) or no model was found.
    #[error("the correspondences are degenerate (collinear or coincident points): no homography")]
    Degenerate,
    /// A parameter is out of range.
    #[error("{0}")]
    InvalidParams(String),
}

/// Default [`RansacParams::threshold`], pixels (`superpointmatch`, `superpoint eval`).
pub const DEFAULT_THRESHOLD: f64 = 3.0;
/// Default [`RansacParams::confidence`].
pub const DEFAULT_CONFIDENCE: f64 = 0.999;
/// Default [`RansacParams::max_iterations`].
pub const DEFAULT_MAX_ITERATIONS: usize = 2000;

/// RANSAC options.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct RansacParams {
    /// Inlier threshold: maximum reprojection error in pixels of the second image.
    pub threshold: f64,
    /// Probability of having drawn at least one all-inlier sample when stopping, in (0, 1).
    pub confidence: f64,
    /// Upper bound on the number of samples drawn.
    pub max_iterations: usize,
    /// Seed of the sample generator.
    pub seed: u64,
    /// Local optimisation of each new best model (least-squares refits on its inliers, LO-RANSAC).
    pub refine: bool,
}

impl Default for RansacParams {
    /// 3 px, 99.9 %, 2000 iterations, seed 0, refinement on.
    fn default() -> Self {
        RansacParams {
            threshold: DEFAULT_THRESHOLD,
            confidence: DEFAULT_CONFIDENCE,
            max_iterations: DEFAULT_MAX_ITERATIONS,
            seed: 0,
            refine: true,
        }
    }
}

impl RansacParams {
    /// Checks value ranges.
    pub fn validate(&self) -> Result<(), RansacError> {
        if !(self.threshold.is_finite() && self.threshold > 0.0) {
            return Err(RansacError::InvalidParams(format!(
                "ransac threshold must be a positive number of pixels, got {}",
                self.threshold
            )));
        }
        if !(self.confidence > 0.0 && self.confidence < 1.0) {
            return Err(RansacError::InvalidParams(format!(
                "ransac confidence must be within (0, 1), got {}",
                self.confidence
            )));
        }
        if self.max_iterations == 0 {
            return Err(RansacError::InvalidParams(
                "ransac max-iterations must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// A homography estimated by RANSAC.
#[derive(Debug, Clone, PartialEq)]
pub struct HomographyEstimate {
    /// Maps source points to destination points.
    pub homography: Homography,
    /// Per correspondence: whether it is an inlier of `homography`.
    pub inliers: Vec<bool>,
    /// Number of inliers.
    pub num_inliers: usize,
    /// Samples drawn.
    pub iterations: usize,
    /// Root mean square reprojection error of the inliers, pixels.
    pub rms_error: f64,
}

/// Hartley normalisation: translate the centroid to the origin and scale so the mean distance
/// to it is √2. Returns the transform `T` (so normalised = T * p), or `None` when all points
/// coincide.
fn normalization(points: impl Iterator<Item = (f64, f64)> + Clone) -> Option<Homography> {
    let (mut n, mut cx, mut cy) = (0.0, 0.0, 0.0);
    for p in points.clone() {
        n += 1.0;
        cx += p.0;
        cy += p.1;
    }
    if n == 0.0 {
        return None;
    }
    cx /= n;
    cy /= n;
    let mean = points
        .map(|p| ((p.0 - cx).powi(2) + (p.1 - cy).powi(2)).sqrt())
        .sum::<f64>()
        / n;
    if !(mean.is_finite() && mean > 1e-9 * (1.0 + cx.abs() + cy.abs())) {
        return None;
    }
    let s = std::f64::consts::SQRT_2 / mean;
    Some(Homography([
        s,
        0.0,
        -s * cx,
        0.0,
        s,
        -s * cy,
        0.0,
        0.0,
        1.0,
    ]))
}

fn transform(t: &Homography, p: (f64, f64)) -> (f64, f64) {
    // Only used with affine normalisations, which never map to infinity.
    let m = &t.0;
    (
        m[0] * p.0 + m[1] * p.1 + m[2],
        m[3] * p.0 + m[4] * p.1 + m[5],
    )
}

fn check_input(src: &[(f64, f64)], dst: &[(f64, f64)]) -> Result<(), RansacError> {
    if src.len() != dst.len() {
        return Err(RansacError::LengthMismatch(src.len(), dst.len()));
    }
    if src.len() < 4 {
        return Err(RansacError::TooFewPoints(src.len()));
    }
    if let Some(i) = src.iter().zip(dst).position(|(a, b)| {
        !(a.0.is_finite() && a.1.is_finite() && b.0.is_finite() && b.1.is_finite())
    }) {
        return Err(RansacError::NonFinite(i));
    }
    Ok(())
}

/// Least-squares homography (normalised DLT) mapping `src[i]` to `dst[i]` for all `i`.
pub fn fit_homography(src: &[(f64, f64)], dst: &[(f64, f64)]) -> Result<Homography, RansacError> {
    check_input(src, dst)?;
    let idx: Vec<usize> = (0..src.len()).collect();
    dlt(src, dst, &idx, None).ok_or(RansacError::Degenerate)
}

/// Normalised DLT on the correspondences `idx`, optionally weighted (`weights[k]` for `idx[k]`).
#[allow(clippy::needless_range_loop)]
fn dlt(
    src: &[(f64, f64)],
    dst: &[(f64, f64)],
    idx: &[usize],
    weights: Option<&[f64]>,
) -> Option<Homography> {
    if idx.len() < 4 {
        return None;
    }
    let ts = normalization(idx.iter().map(|&i| src[i]))?;
    let td = normalization(idx.iter().map(|&i| dst[i]))?;
    // AᵀA (9x9) from its block structure: with a = (x, y, 1) the two rows of a correspondence are
    // (-a, 0, u a) and (0, -a, v a), so AᵀA = [[S, 0, -Su], [0, S, -Sv], [-Su, -Sv, Suv]] with
    // S = Σ a aᵀ, Su = Σ u a aᵀ, Sv = Σ v a aᵀ, Suv = Σ (u² + v²) a aᵀ (symmetric 3x3 blocks).
    let mut acc = [[0.0f64; 6]; 4];
    for (k, &i) in idx.iter().enumerate() {
        let (x, y) = transform(&ts, src[i]);
        let (u, v) = transform(&td, dst[i]);
        let c = weights.map_or(1.0, |w| w[k]);
        let m = [x * x, x * y, x, y * y, y, 1.0];
        let w = [c, c * u, c * v, c * (u * u + v * v)];
        for (a, wk) in acc.iter_mut().zip(w) {
            for (s, mk) in a.iter_mut().zip(m) {
                *s += wk * mk;
            }
        }
    }
    let block = |a: &[f64; 6]| [[a[0], a[1], a[2]], [a[1], a[3], a[4]], [a[2], a[4], a[5]]];
    let (s0, su, sv, suv) = (
        block(&acc[0]),
        block(&acc[1]),
        block(&acc[2]),
        block(&acc[3]),
    );
    let mut ata = [[0.0f64; 9]; 9];
    for r in 0..3 {
        for c in 0..3 {
            ata[r][c] = s0[r][c];
            ata[3 + r][3 + c] = s0[r][c];
            ata[r][6 + c] = -su[r][c];
            ata[6 + c][r] = -su[r][c];
            ata[3 + r][6 + c] = -sv[r][c];
            ata[6 + c][3 + r] = -sv[r][c];
            ata[6 + r][6 + c] = suv[r][c];
        }
    }
    if ata.iter().flatten().any(|x| !x.is_finite()) {
        return None;
    }
    let eigen = nalgebra::SymmetricEigen::try_new(
        nalgebra::SMatrix::<f64, 9, 9>::from_fn(|r, c| ata[r][c]),
        f64::EPSILON,
        1000,
    )?;
    let values: [f64; 9] = std::array::from_fn(|i| eigen.eigenvalues[i]);
    if values.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let (k, _) = values
        .iter()
        .enumerate()
        .min_by(|a, b| a.1.total_cmp(b.1))?;
    // Rank check: the second smallest eigenvalue must be clearly non-zero, otherwise the
    // solution is not unique (collinear or coincident points).
    let mut sorted = values;
    sorted.sort_by(f64::total_cmp);
    let largest = sorted[8].abs().max(1e-300);
    if sorted[1].abs() < 1e-10 * largest {
        return None;
    }
    let h: [f64; 9] = std::array::from_fn(|i| eigen.eigenvectors[(i, k)]);
    let hn = Homography(h);
    let td_inv = td.inverse()?;
    let hh = td_inv.compose(&hn).compose(&ts);
    (hh.0.iter().all(|v| v.is_finite()) && hh.is_valid()).then_some(hh)
}

fn cross(o: (f64, f64), a: (f64, f64), b: (f64, f64)) -> f64 {
    (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0)
}

/// Whether a 4-point sample can define a homography: no three points collinear (relative to the
/// sample's spread) in either image, and triangle orientations consistent between the images.
fn good_sample(p: &[(f64, f64); 4], q: &[(f64, f64); 4]) -> bool {
    const TRIPLES: [(usize, usize, usize); 4] = [(0, 1, 2), (0, 1, 3), (0, 2, 3), (1, 2, 3)];
    let spread = |s: &[(f64, f64); 4]| {
        let mut m = 0.0f64;
        for i in 0..4 {
            for j in i + 1..4 {
                m = m.max((s[i].0 - s[j].0).powi(2) + (s[i].1 - s[j].1).powi(2));
            }
        }
        m
    };
    let (sp, sq) = (spread(p), spread(q));
    if sp <= 0.0 || sq <= 0.0 {
        return false;
    }
    let mut flipped = 0;
    for (i, j, k) in TRIPLES {
        let a = cross(p[i], p[j], p[k]);
        let b = cross(q[i], q[j], q[k]);
        // Twice the triangle area against the squared diameter: ~ the sine of the angle.
        if a.abs() < 1e-3 * sp || b.abs() < 1e-3 * sq {
            return false;
        }
        if (a < 0.0) != (b < 0.0) {
            flipped += 1;
        }
    }
    flipped == 0 || flipped == 4
}

/// Squared forward reprojection error of one correspondence (+inf when it maps to infinity).
fn error2(h: &Homography, p: (f64, f64), q: (f64, f64)) -> f64 {
    match h.apply(p.0, p.1) {
        Some((x, y)) => (x - q.0).powi(2) + (y - q.1).powi(2),
        None => f64::INFINITY,
    }
}

/// Inlier count (`e² <= thr²`) and the scale-marginalised MSAC loss
/// `Σ_k Σ_i min(e_i², t_k²) / t_k²` over the thresholds `t_k = thr·k/3`, k = 1, 2, 3.
///
/// A single truncation at `thr` cannot tell an accurate model from one that is 2-3 px off
/// everywhere but has a few more points under `thr` (it happens with SIFT on OpenCV's graf 1→3
/// pair); averaging over smaller scales, in the spirit of MAGSAC's σ-consensus, rewards the
/// accurate one.
fn score(h: &Homography, src: &[(f64, f64)], dst: &[(f64, f64)], thr2: f64) -> (usize, f64) {
    let t1 = thr2 / 9.0;
    let t2 = thr2 * 4.0 / 9.0;
    let mut count = 0;
    let mut loss = 0.0;
    for (p, q) in src.iter().zip(dst) {
        let e = error2(h, *p, *q);
        if e <= thr2 {
            count += 1;
        }
        loss += e.min(t1) / t1 + e.min(t2) / t2 + e.min(thr2) / thr2;
    }
    (count, loss)
}

/// Correspondences with squared error at most `t2`.
fn count_within(h: &Homography, src: &[(f64, f64)], dst: &[(f64, f64)], t2: f64) -> usize {
    src.iter()
        .zip(dst)
        .filter(|(p, q)| error2(h, **p, **q) <= t2)
        .count()
}

/// Lower loss wins; equal losses go to more inliers.
fn better(a: (usize, f64), b: (usize, f64)) -> bool {
    a.1 < b.1 || (a.1 == b.1 && a.0 > b.0)
}

/// Samples needed to draw an all-inlier minimal sample with probability `confidence` when a
/// fraction `w` of the correspondences are inliers.
fn needed_iterations(w: f64, confidence: f64, max: usize) -> usize {
    let w4 = w.clamp(0.0, 1.0).powi(4);
    if w4 >= 1.0 - 1e-12 {
        return 1;
    }
    if w4 <= 0.0 {
        return max;
    }
    let n = (1.0 - confidence).ln() / (1.0 - w4).ln();
    if !n.is_finite() || n >= max as f64 {
        max
    } else {
        (n.ceil() as usize).max(1)
    }
}

/// Weighted least-squares refits on the inliers, repeated while the loss drops. The weights are
/// those of an iteratively reweighted least-squares step on the loss of [`score`]: an inlier within
/// t/3 counts 9 + 9/4 + 1, within 2t/3 counts 9/4 + 1, within t counts 1.
fn iterative_refit(
    mut h: Homography,
    mut s: (usize, f64),
    src: &[(f64, f64)],
    dst: &[(f64, f64)],
    thr2: f64,
) -> (Homography, (usize, f64)) {
    let mut inl = Vec::new();
    let mut weights = Vec::new();
    for _ in 0..4 {
        inl.clear();
        weights.clear();
        for i in 0..src.len() {
            let e = error2(&h, src[i], dst[i]);
            if e <= thr2 {
                inl.push(i);
                let w = 1.0
                    + if e <= thr2 * 4.0 / 9.0 { 2.25 } else { 0.0 }
                    + if e <= thr2 / 9.0 { 9.0 } else { 0.0 };
                weights.push(w);
            }
        }
        let Some(r) = dlt(src, dst, &inl, Some(&weights)) else {
            break;
        };
        let rs = score(&r, src, dst, thr2);
        if !better(rs, s) {
            break;
        }
        h = r;
        s = rs;
    }
    (h, s)
}

/// LO-RANSAC (Chum et al. 2003, as in Lebeda et al.'s LO+): for a new best model, refit on its
/// inliers, and try least-squares fits on random subsets of the inliers, each refitted, keeping the
/// lowest loss. Minimal samples of noisy inliers are rarely accurate; this makes the result
/// accurate even when the adaptive stopping rule ends the loop after a few dozen samples.
fn local_optimization(
    h: Homography,
    s: (usize, f64),
    src: &[(f64, f64)],
    dst: &[(f64, f64)],
    thr2: f64,
    rng: &mut Pcg64,
) -> (Homography, (usize, f64)) {
    const INNER_SAMPLES: usize = 5;
    const INNER_SIZE: usize = 12;
    let (mut best_h, mut best_s) = iterative_refit(h, s, src, dst, thr2);
    let inl: Vec<usize> = (0..src.len())
        .filter(|&i| error2(&best_h, src[i], dst[i]) <= thr2)
        .collect();
    if inl.len() <= INNER_SIZE {
        return (best_h, best_s);
    }
    let mut subset = Vec::with_capacity(INNER_SIZE);
    for _ in 0..INNER_SAMPLES {
        subset.clear();
        while subset.len() < INNER_SIZE {
            let c = inl[rng.random_range(0..inl.len())];
            if !subset.contains(&c) {
                subset.push(c);
            }
        }
        let Some(r) = dlt(src, dst, &subset, None) else {
            continue;
        };
        let rs = score(&r, src, dst, thr2);
        let (r, rs) = iterative_refit(r, rs, src, dst, thr2);
        if better(rs, best_s) {
            best_h = r;
            best_s = rs;
        }
    }
    (best_h, best_s)
}

/// Estimates the homography mapping `src[i]` to `dst[i]` with RANSAC, then refines it on the
/// inliers. Errors (never panics) on fewer than four correspondences, different lengths,
/// non-finite coordinates, bad parameters or degenerate configurations.
pub fn find_homography(
    src: &[(f64, f64)],
    dst: &[(f64, f64)],
    params: &RansacParams,
) -> Result<HomographyEstimate, RansacError> {
    params.validate()?;
    check_input(src, dst)?;
    let n = src.len();
    let thr2 = params.threshold * params.threshold;
    let mut rng = Pcg64::seed_from_u64(params.seed);

    // Minimal solves in globally normalised coordinates for conditioning.
    let ts = normalization(src.iter().copied()).ok_or(RansacError::Degenerate)?;
    let td = normalization(dst.iter().copied()).ok_or(RansacError::Degenerate)?;
    let td_inv = td.inverse().ok_or(RansacError::Degenerate)?;

    let mut best: Option<(Homography, (usize, f64))> = None;
    let mut best_sample: Option<(usize, f64)> = None;
    let mut limit = params.max_iterations;
    let mut iterations = 0;
    while iterations < limit {
        iterations += 1;
        let mut idx = [0usize; 4];
        for k in 0..4 {
            loop {
                let c = rng.random_range(0..n);
                if !idx[..k].contains(&c) {
                    idx[k] = c;
                    break;
                }
            }
        }
        let p = idx.map(|i| src[i]);
        let q = idx.map(|i| dst[i]);
        if !good_sample(&p, &q) {
            continue;
        }
        let pn = p.map(|x| transform(&ts, x));
        let qn = q.map(|x| transform(&td, x));
        let Some(hn) = Homography::from_4_points(&pn, &qn) else {
            continue;
        };
        let h = td_inv.compose(&hn).compose(&ts);
        if !h.is_valid() {
            continue;
        }
        let s = score(&h, src, dst, thr2);
        // Local optimisation runs when a sample model beats the best *sample* model so far; its
        // result then competes with the best optimised model (comparing raw samples against
        // optimised models would almost never trigger it again).
        if s.0 < 4 || best_sample.is_some_and(|b| !better(s, b)) {
            continue;
        }
        best_sample = Some(s);
        let (h, s) = if params.refine {
            local_optimization(h, s, src, dst, thr2, &mut rng)
        } else {
            (h, s)
        };
        if best.as_ref().is_none_or(|(_, b)| better(s, *b)) {
            best = Some((h, s));
            // The stopping rule counts the accurate inliers (within t/3): a sample of inliers
            // that are merely within t rarely leads to the accurate model.
            let w = count_within(&h, src, dst, thr2 / 9.0) as f64 / n as f64;
            limit = needed_iterations(w, params.confidence, params.max_iterations);
        }
    }
    let (h, _) = best.ok_or(RansacError::Degenerate)?;
    let inliers: Vec<bool> = (0..n).map(|i| error2(&h, src[i], dst[i]) <= thr2).collect();
    let num_inliers = inliers.iter().filter(|&&b| b).count();
    let sse: f64 = (0..n)
        .filter(|&i| inliers[i])
        .map(|i| error2(&h, src[i], dst[i]))
        .sum();
    Ok(HomographyEstimate {
        homography: h,
        rms_error: if num_inliers > 0 {
            (sse / num_inliers as f64).sqrt()
        } else {
            0.0
        },
        inliers,
        num_inliers,
        iterations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(n: usize) -> Vec<(f64, f64)> {
        let mut rng = Pcg64::seed_from_u64(7);
        (0..n)
            .map(|_| (rng.random_range(0.0..640.0), rng.random_range(0.0..480.0)))
            .collect()
    }

    fn max_corner_error(a: &Homography, b: &Homography) -> f64 {
        a.corner_error(b, 640.0, 480.0).unwrap()
    }

    #[test]
    fn identity_from_clean_points() {
        let p = grid(50);
        let e = find_homography(&p, &p, &RansacParams::default()).unwrap();
        assert_eq!(e.num_inliers, 50);
        assert!(max_corner_error(&e.homography, &Homography::IDENTITY) < 1e-6);
        let f = fit_homography(&p, &p).unwrap();
        assert!(max_corner_error(&f, &Homography::IDENTITY) < 1e-6);
    }

    #[test]
    fn known_homography_with_outliers() {
        let truth = Homography([0.9, 0.12, 20.0, -0.08, 1.05, -15.0, 2e-4, -1e-4, 1.0]);
        let p = grid(200);
        let mut rng = Pcg64::seed_from_u64(11);
        let mut q: Vec<(f64, f64)> = p
            .iter()
            .map(|&(x, y)| {
                let (u, v) = truth.apply(x, y).unwrap();
                (
                    u + rng.random_range(-0.5..0.5),
                    v + rng.random_range(-0.5..0.5),
                )
            })
            .collect();
        // 40 % outliers.
        for qi in q.iter_mut().take(80) {
            *qi = (rng.random_range(0.0..640.0), rng.random_range(0.0..480.0));
        }
        let params = RansacParams::default();
        let e = find_homography(&p, &q, &params).unwrap();
        let err = max_corner_error(&e.homography, &truth);
        assert!(err < 1.0, "corner error {err}");
        assert!(
            e.num_inliers >= 120 && e.num_inliers < 130,
            "{}",
            e.num_inliers
        );
        assert!(e.inliers[80..].iter().all(|&b| b));
        assert!(e.iterations < params.max_iterations);
        // Deterministic for a seed.
        let again = find_homography(&p, &q, &params).unwrap();
        assert_eq!(e, again);
    }

    #[test]
    fn accurate_for_every_seed_with_noise_and_half_outliers() {
        let truth = Homography([0.8, -0.3, 220.0, 0.33, 1.0, -77.0, 3.5e-4, -1.4e-5, 1.0]);
        let mut rng = Pcg64::seed_from_u64(21);
        let p: Vec<(f64, f64)> = (0..400)
            .map(|_| {
                (
                    rng.random_range(100.0..540.0),
                    rng.random_range(80.0..400.0),
                )
            })
            .collect();
        let mut q: Vec<(f64, f64)> = p
            .iter()
            .map(|&(x, y)| {
                let (u, v) = truth.apply(x, y).unwrap();
                // Roughly Gaussian noise, sigma ~ 0.6 px.
                let nx: f64 = (0..4).map(|_| rng.random_range(-0.6..0.6)).sum();
                let ny: f64 = (0..4).map(|_| rng.random_range(-0.6..0.6)).sum();
                (u + nx, v + ny)
            })
            .collect();
        for qi in q.iter_mut().step_by(2) {
            *qi = (rng.random_range(0.0..640.0), rng.random_range(0.0..480.0));
        }
        for seed in 0..10 {
            let params = RansacParams {
                seed,
                ..RansacParams::default()
            };
            let e = find_homography(&p, &q, &params).unwrap();
            let err = max_corner_error(&e.homography, &truth);
            assert!(err < 1.0, "seed {seed}: corner error {err}");
        }
    }

    #[test]
    fn degenerate_inputs_fail_cleanly() {
        let p = RansacParams::default();
        assert_eq!(
            find_homography(&[], &[], &p),
            Err(RansacError::TooFewPoints(0))
        );
        let three = [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0)];
        assert_eq!(
            find_homography(&three, &three, &p),
            Err(RansacError::TooFewPoints(3))
        );
        let four = [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0)];
        assert!(matches!(
            find_homography(&four, &three, &p),
            Err(RansacError::LengthMismatch(4, 3))
        ));
        let collinear: Vec<(f64, f64)> =
            (0..30).map(|i| (i as f64, 2.0 * i as f64 + 1.0)).collect();
        assert_eq!(
            find_homography(&collinear, &collinear, &p),
            Err(RansacError::Degenerate)
        );
        assert_eq!(
            fit_homography(&collinear, &collinear),
            Err(RansacError::Degenerate)
        );
        let same = vec![(5.0, 5.0); 10];
        assert_eq!(
            find_homography(&same, &same, &p),
            Err(RansacError::Degenerate)
        );
        let mut nan = grid(10);
        nan[3].1 = f64::NAN;
        assert_eq!(
            find_homography(&nan, &grid(10), &p),
            Err(RansacError::NonFinite(3))
        );
        let bad = RansacParams {
            confidence: 1.0,
            ..p
        };
        assert!(matches!(
            find_homography(&grid(10), &grid(10), &bad),
            Err(RansacError::InvalidParams(_))
        ));
        // Random, unrelated points: any result must be a valid matrix, and nothing panics.
        let mut rng = Pcg64::seed_from_u64(5);
        let noise: Vec<(f64, f64)> = (0..50)
            .map(|_| (rng.random_range(0.0..640.0), rng.random_range(0.0..480.0)))
            .collect();
        if let Ok(e) = find_homography(&grid(50), &noise, &p) {
            assert!(e.homography.is_valid());
        }
    }

    #[test]
    fn exact_four_points() {
        let truth = Homography([1.2, 0.1, 5.0, 0.05, 0.9, 3.0, 1e-4, 2e-4, 1.0]);
        let p = [(10.0, 10.0), (600.0, 20.0), (30.0, 450.0), (620.0, 470.0)];
        let q: Vec<(f64, f64)> = p.iter().map(|&(x, y)| truth.apply(x, y).unwrap()).collect();
        let e = find_homography(&p, &q, &RansacParams::default()).unwrap();
        assert_eq!(e.num_inliers, 4);
        assert!(max_corner_error(&e.homography, &truth) < 1e-6);
    }
}
