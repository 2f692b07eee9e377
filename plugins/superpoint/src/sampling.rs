//! Random homographies like the training augmentation of SuperPoint: a patch of the source image
//! is perturbed in perspective, scaled, rotated and translated, always staying inside the source,
//! and the result is the homography that maps source pixels onto the output image.
//! Shared by training, `superpoint eval --synthetic` and `homographicwarp mode=random`
//! ([`HomographySequence`]).

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

use crate::Error;
use crate::geometry::Homography;
use crate::tracking::{ParamsInUse, ParamsUpdate};

/// Amplitudes of the random homography (all relative to the image size unless noted).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct HomographyParams {
    /// Maximum perspective displacement of the patch corners, fraction of the side (0 = none).
    pub perspective: f64,
    /// Maximum relative scale change: the patch is scaled by a factor in [1 - scale, 1 + scale].
    pub scale: f64,
    /// Maximum rotation in radians, either way.
    pub rotation: f64,
    /// Fraction of the free room around the patch used for random translation (0..=1).
    pub translation: f64,
    /// Side of the source patch relative to the image before the other perturbations (0..=1].
    pub patch_ratio: f64,
}

impl Default for HomographyParams {
    /// Values of the SuperPoint reference implementation's Homographic Adaptation.
    fn default() -> Self {
        HomographyParams {
            perspective: 0.2,
            scale: 0.2,
            rotation: std::f64::consts::FRAC_PI_6,
            translation: 1.0,
            patch_ratio: 0.85,
        }
    }
}

impl HomographyParams {
    /// Checks value ranges; the message names the bad field.
    pub fn validate(&self) -> Result<(), Error> {
        let checks = [
            ("perspective", self.perspective, 0.0, 0.5),
            ("scale", self.scale, 0.0, 0.9),
            ("rotation", self.rotation, 0.0, std::f64::consts::PI),
            ("translation", self.translation, 0.0, 1.0),
            ("patch-ratio", self.patch_ratio, 0.05, 1.0),
        ];
        for (name, v, lo, hi) in checks {
            if !(v.is_finite() && v >= lo && v <= hi) {
                return Err(Error::Config(format!(
                    "{name} must be within [{lo}, {hi}], got {v}"
                )));
            }
        }
        Ok(())
    }
}

/// Applies the perturbation `f` to `q`, keeping the result only when the patch stays inside the
/// image (a few tries, else `q` unchanged).
fn attempt<R: Rng>(
    q: [(f64, f64); 4],
    rng: &mut R,
    mut f: impl FnMut(&[(f64, f64); 4], &mut R) -> [(f64, f64); 4],
) -> [(f64, f64); 4] {
    for _ in 0..20 {
        let cand = f(&q, rng);
        if inside(&cand) {
            return cand;
        }
    }
    q
}

fn inside(q: &[(f64, f64); 4]) -> bool {
    q.iter()
        .all(|&(x, y)| (0.0..=1.0).contains(&x) && (0.0..=1.0).contains(&y))
}

/// Samples a homography mapping pixels of a `width` x `height` source image to an output image of
/// the same size that shows a perturbed patch of the source (the whole output is covered by
/// source pixels).
pub fn sample_homography(
    width: usize,
    height: usize,
    params: &HomographyParams,
    rng: &mut impl Rng,
) -> Homography {
    let m = (1.0 - params.patch_ratio.clamp(0.05, 1.0)) / 2.0;
    // Patch corners in normalised source coordinates: top-left, top-right, bottom-left, bottom-right.
    let base = [(m, m), (1.0 - m, m), (m, 1.0 - m), (1.0 - m, 1.0 - m)];
    let mut q = base;
    // A perturbation is kept only when the patch stays inside the image; a few tries each.
    if params.perspective > 0.0 {
        let a = params.perspective;
        q = attempt(q, rng, |q, r| {
            let p = r.random_range(-a..=a) / 2.0;
            let l = r.random_range(-a..=a) / 2.0;
            let rr = r.random_range(-a..=a) / 2.0;
            [
                (q[0].0 + l, q[0].1 + p),
                (q[1].0 + rr, q[1].1 - p),
                (q[2].0 + l, q[2].1 - p),
                (q[3].0 + rr, q[3].1 + p),
            ]
        });
    }
    let centre = |q: &[(f64, f64); 4]| {
        (
            q.iter().map(|p| p.0).sum::<f64>() / 4.0,
            q.iter().map(|p| p.1).sum::<f64>() / 4.0,
        )
    };
    if params.scale > 0.0 {
        let s = params.scale;
        q = attempt(q, rng, |q, r| {
            let f = r.random_range(1.0 - s..=1.0 + s);
            let (cx, cy) = centre(q);
            q.map(|(x, y)| (cx + (x - cx) * f, cy + (y - cy) * f))
        });
    }
    if params.rotation > 0.0 {
        let amax = params.rotation;
        // Rotation in pixel space (not normalised space) so the angle is a true angle.
        let (w, h) = (width as f64, height as f64);
        q = attempt(q, rng, |q, r| {
            let a = r.random_range(-amax..=amax);
            let (cx, cy) = centre(q);
            let (s, c) = a.sin_cos();
            q.map(|(x, y)| {
                let (dx, dy) = ((x - cx) * w, (y - cy) * h);
                (cx + (c * dx - s * dy) / w, cy + (s * dx + c * dy) / h)
            })
        });
    }
    if params.translation > 0.0 {
        let min_x = q.iter().map(|p| p.0).fold(f64::MAX, f64::min);
        let max_x = q.iter().map(|p| p.0).fold(f64::MIN, f64::max);
        let min_y = q.iter().map(|p| p.1).fold(f64::MAX, f64::min);
        let max_y = q.iter().map(|p| p.1).fold(f64::MIN, f64::max);
        let t = params.translation.clamp(0.0, 1.0);
        let tx = rng.random_range(-min_x * t..=(1.0 - max_x) * t + f64::EPSILON);
        let ty = rng.random_range(-min_y * t..=(1.0 - max_y) * t + f64::EPSILON);
        let moved = q.map(|(x, y)| (x + tx, y + ty));
        if inside(&moved) {
            q = moved;
        }
    }
    let (w1, h1) = ((width.max(2) - 1) as f64, (height.max(2) - 1) as f64);
    let src = q.map(|(x, y)| (x * w1, y * h1));
    let dst = [(0.0, 0.0), (w1, 0.0), (0.0, h1), (w1, h1)];
    Homography::from_4_points(&src, &dst).unwrap_or(Homography::IDENTITY)
}

/// A reproducible stream of random homographies, one per frame (`homographicwarp mode=random`):
/// the same seed and amplitudes give the same sequence; the amplitudes may change between frames
/// ([`offer_params`](Self::offer_params)).
#[derive(Debug, Clone)]
pub struct HomographySequence {
    rng: Pcg64,
    params: ParamsInUse<HomographyParams>,
}

impl HomographySequence {
    /// The sequence of `seed` with the amplitudes `params`; errors when they are out of range.
    pub fn new(seed: u64, params: HomographyParams) -> Result<Self, Error> {
        params.validate()?;
        Ok(HomographySequence {
            rng: Pcg64::seed_from_u64(seed),
            params: ParamsInUse::new(params),
        })
    }

    /// The amplitudes in use.
    pub fn params(&self) -> &HomographyParams {
        self.params.get()
    }

    /// Offers new amplitudes: valid ones are used from the next frame on; invalid ones leave the
    /// last valid ones in use and are reported once.
    pub fn offer_params(&mut self, wanted: HomographyParams) -> ParamsUpdate {
        self.params.offer(wanted, HomographyParams::validate)
    }

    /// The next homography, for a `width` x `height` frame ([`sample_homography`]).
    pub fn next_homography(&mut self, width: usize, height: usize) -> Homography {
        sample_homography(width, height, self.params.get(), &mut self.rng)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_image_only_sees_source_pixels() {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(7);
        let (w, h) = (320usize, 240usize);
        for _ in 0..500 {
            let hm = sample_homography(w, h, &HomographyParams::default(), &mut rng);
            let inv = hm.inverse().unwrap();
            for (x, y) in [
                (0.0, 0.0),
                (319.0, 0.0),
                (0.0, 239.0),
                (319.0, 239.0),
                (160.0, 120.0),
            ] {
                let (sx, sy) = inv.apply(x, y).unwrap();
                assert!(
                    (-1e-6..=319.0 + 1e-6).contains(&sx) && (-1e-6..=239.0 + 1e-6).contains(&sy),
                    "{sx},{sy}"
                );
            }
        }
    }

    #[test]
    fn zero_amplitudes_give_a_centred_zoom() {
        let p = HomographyParams {
            perspective: 0.0,
            scale: 0.0,
            rotation: 0.0,
            translation: 0.0,
            patch_ratio: 1.0,
        };
        let mut rng = rand_pcg::Pcg64::seed_from_u64(1);
        let hm = sample_homography(100, 50, &p, &mut rng);
        for (a, b) in hm.0.iter().zip(Homography::IDENTITY.0.iter()) {
            assert!((a - b).abs() < 1e-9);
        }
    }

    #[test]
    fn bad_amplitudes_are_rejected() {
        let p = HomographyParams {
            rotation: -1.0,
            ..Default::default()
        };
        assert!(p.validate().unwrap_err().to_string().contains("rotation"));
        assert!(HomographySequence::new(0, p).is_err());
    }

    #[test]
    fn sequences_repeat_per_seed_and_keep_valid_amplitudes() {
        let run = |seed| {
            let mut s = HomographySequence::new(seed, HomographyParams::default()).unwrap();
            (0..3)
                .map(|_| s.next_homography(64, 48))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(5), run(5));
        assert_ne!(run(5), run(6));
        // The sequence draws from one generator seeded once, like sample_homography.
        let mut rng = Pcg64::seed_from_u64(5);
        assert_eq!(
            run(5)[0],
            sample_homography(64, 48, &HomographyParams::default(), &mut rng)
        );

        let mut s = HomographySequence::new(1, HomographyParams::default()).unwrap();
        let bad = HomographyParams {
            scale: 2.0,
            ..Default::default()
        };
        assert!(matches!(s.offer_params(bad), ParamsUpdate::Rejected(_)));
        assert_eq!(s.offer_params(bad), ParamsUpdate::StillRejected);
        assert_eq!(s.params(), &HomographyParams::default());
        let none = HomographyParams {
            perspective: 0.0,
            scale: 0.0,
            rotation: 0.0,
            translation: 0.0,
            patch_ratio: 1.0,
        };
        assert_eq!(s.offer_params(none), ParamsUpdate::Applied);
        assert_eq!(s.offer_params(none), ParamsUpdate::Unchanged);
        let hm = s.next_homography(100, 50);
        assert!(hm.corner_error(&Homography::IDENTITY, 100.0, 50.0).unwrap() < 1e-9);
    }
}
