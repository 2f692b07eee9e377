//! Multi-scale detection: the scales a frame is run at, and the merge of their keypoints.
//!
//! SuperPoint's heatmap responds to corners of a limited size range (its receptive field is
//! fixed), so a zoomed image pair shares fewer repeatable keypoints than a pair at one scale.
//! Running the network on the frame resized by several factors and keeping the best keypoints
//! of all, with non-maximum suppression across scales in frame pixels, is the image-pyramid
//! detection of SIFT (Lowe, IJCV 2004) and of SuperPoint's multi-scale evaluation (DeTone et
//! al., CVPR-W 2018, section 7.2; the "multi-scale" variant of the HPatches benchmarks).

use std::fmt;
use std::str::FromStr;

use crate::Error;
use crate::postprocess::Keypoint;

/// At most this many scales per frame (each costs a network run).
pub const MAX_SCALES: usize = 4;

/// The factors a frame is resized by before the network (network pixels per frame pixel, or per
/// `inference-width` x `inference-height` pixel when that is set), best-first order irrelevant.
/// `Default` is the single scale 1 (no pyramid). `Copy`, so it lives in
/// [`crate::DetectorConfig`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scales {
    values: [f32; MAX_SCALES],
    len: u8,
}

impl Default for Scales {
    fn default() -> Self {
        Scales::single(1.0)
    }
}

impl Scales {
    /// One scale.
    pub fn single(scale: f32) -> Self {
        let mut values = [0.0; MAX_SCALES];
        values[0] = scale;
        Scales { values, len: 1 }
    }

    /// The scales, in the order given.
    pub fn as_slice(&self) -> &[f32] {
        &self.values[..self.len as usize]
    }

    /// True for the single scale 1 (plain detection).
    pub fn is_identity(&self) -> bool {
        self.as_slice() == [1.0]
    }

    /// Builds and checks a set: 1 to [`MAX_SCALES`] distinct factors in (0, 2].
    ///
    /// # Errors
    /// [`Error::Config`] naming the bad value.
    pub fn new(scales: &[f32]) -> Result<Self, Error> {
        if scales.is_empty() || scales.len() > MAX_SCALES {
            return Err(Error::Config(format!(
                "give 1 to {MAX_SCALES} scales, got {}",
                scales.len()
            )));
        }
        for (i, &s) in scales.iter().enumerate() {
            if !(s.is_finite() && s > 0.0 && s <= 2.0) {
                return Err(Error::Config(format!(
                    "scale {s} is out of range: each scale must be in (0, 2] (1 = the frame's size)"
                )));
            }
            if scales[..i].contains(&s) {
                return Err(Error::Config(format!("scale {s} is given twice")));
            }
        }
        let mut values = [0.0; MAX_SCALES];
        values[..scales.len()].copy_from_slice(scales);
        Ok(Scales {
            values,
            len: scales.len() as u8,
        })
    }
}

impl fmt::Display for Scales {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.as_slice().iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{s}")?;
        }
        Ok(())
    }
}

impl FromStr for Scales {
    type Err = Error;

    /// Parses comma-separated factors, e.g. `1,0.71,0.5`.
    fn from_str(s: &str) -> Result<Self, Error> {
        let values = s
            .split(',')
            .map(|v| {
                v.trim().parse::<f32>().map_err(|_| {
                    Error::Config(format!(
                        "cannot read scales {s:?}: give comma-separated factors such as 1,0.71,0.5"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Scales::new(&values)
    }
}

/// Keypoints of several scales, each with its descriptor row (or none) and its scale.
#[derive(Debug, Default)]
pub struct ScaleCandidates {
    keypoints: Vec<Keypoint>,
    descriptors: Vec<f32>,
    scales: Vec<f32>,
    order: Vec<u32>,
    grid: std::collections::HashMap<(i32, i32), Vec<u32>>,
}

impl ScaleCandidates {
    /// Empties the set, keeping its buffers.
    pub fn clear(&mut self) {
        self.keypoints.clear();
        self.descriptors.clear();
        self.scales.clear();
    }

    /// Adds the keypoints of one scale (frame pixels) with their `dim`-wide descriptor rows
    /// (`descriptors` empty when not computed).
    pub fn push(&mut self, keypoints: &[Keypoint], descriptors: &[f32], scale: f32) {
        self.keypoints.extend_from_slice(keypoints);
        self.descriptors.extend_from_slice(descriptors);
        self.scales
            .extend(std::iter::repeat_n(scale, keypoints.len()));
    }

    /// Non-maximum suppression across scales, in frame pixels: best score first, a kept
    /// keypoint suppresses every weaker one at most `nms_radius` away along both axes (the rule
    /// of single-scale NMS, [`crate::postprocess::PostParams::nms_radius`]); then the best
    /// `max_keypoints` (0 = all). Writes the kept keypoints, their descriptor rows (`dim` floats
    /// each, when descriptors were pushed) and their scales, sorted by descending score.
    pub fn merge(
        &mut self,
        nms_radius: usize,
        max_keypoints: usize,
        dim: usize,
        keypoints: &mut Vec<Keypoint>,
        descriptors: &mut Vec<f32>,
        scales: &mut Vec<f32>,
    ) {
        keypoints.clear();
        descriptors.clear();
        scales.clear();
        let n = self.keypoints.len();
        let with_descriptors = !self.descriptors.is_empty();
        debug_assert!(!with_descriptors || self.descriptors.len() == n * dim);
        self.order.clear();
        self.order.extend(0..n as u32);
        let kps = &self.keypoints;
        // Best first; ties by position so that the result is deterministic.
        self.order.sort_unstable_by(|&a, &b| {
            let (a, b) = (&kps[a as usize], &kps[b as usize]);
            b.score
                .total_cmp(&a.score)
                .then(a.y.total_cmp(&b.y))
                .then(a.x.total_cmp(&b.x))
        });
        let limit = if max_keypoints == 0 {
            usize::MAX
        } else {
            max_keypoints
        };
        let r = nms_radius as f32;
        // Kept keypoints bucketed in cells of side r + 1: a suppressor lies in a neighbouring cell.
        let cell = r + 1.0;
        let key = |k: &Keypoint| ((k.x / cell).floor() as i32, (k.y / cell).floor() as i32);
        self.grid.clear();
        for &i in &self.order {
            if keypoints.len() >= limit {
                break;
            }
            let k = kps[i as usize];
            if nms_radius > 0 {
                let (cx, cy) = key(&k);
                let suppressed = (cy - 1..=cy + 1).any(|y| {
                    (cx - 1..=cx + 1).any(|x| {
                        self.grid.get(&(x, y)).is_some_and(|kept| {
                            kept.iter().any(|&j| {
                                let q = &keypoints[j as usize];
                                (q.x - k.x).abs() <= r && (q.y - k.y).abs() <= r
                            })
                        })
                    })
                });
                if suppressed {
                    continue;
                }
                self.grid
                    .entry((cx, cy))
                    .or_default()
                    .push(keypoints.len() as u32);
            }
            keypoints.push(k);
            scales.push(self.scales[i as usize]);
            if with_descriptors {
                let i = i as usize;
                descriptors.extend_from_slice(&self.descriptors[i * dim..(i + 1) * dim]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kp(x: f32, y: f32, score: f32) -> Keypoint {
        Keypoint { x, y, score }
    }

    #[test]
    fn parses_prints_and_refuses() {
        let s: Scales = "1, 0.71,0.5".parse().unwrap();
        assert_eq!(s.as_slice(), [1.0, 0.71, 0.5]);
        assert_eq!(s.to_string(), "1,0.71,0.5");
        assert!(!s.is_identity());
        assert!(Scales::default().is_identity());
        for bad in [
            "",
            "1,x",
            "0",
            "-1",
            "2.5",
            "1,1",
            "1,0.9,0.8,0.7,0.6",
            "nan",
        ] {
            let e = bad.parse::<Scales>().unwrap_err().to_string();
            assert!(e.contains("scale"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn merge_suppresses_across_scales_and_keeps_rows_aligned() {
        let mut c = ScaleCandidates::default();
        // Scale 1: two keypoints; scale 0.5: one near the first (suppressed by it, weaker) and
        // one stronger near the second (suppresses it).
        c.push(
            &[kp(10.0, 10.0, 0.9), kp(50.0, 50.0, 0.3)],
            &[1.0, 1.0, 2.0, 2.0],
            1.0,
        );
        c.push(
            &[kp(12.0, 13.0, 0.5), kp(53.5, 50.0, 0.8)],
            &[3.0, 3.0, 4.0, 4.0],
            0.5,
        );
        let (mut k, mut d, mut s) = (Vec::new(), Vec::new(), Vec::new());
        c.merge(4, 0, 2, &mut k, &mut d, &mut s);
        assert_eq!(k, [kp(10.0, 10.0, 0.9), kp(53.5, 50.0, 0.8)]);
        assert_eq!(d, [1.0, 1.0, 4.0, 4.0]);
        assert_eq!(s, [1.0, 0.5]);
        // Radius 3: (12, 13) is 3 px away on y, still suppressed; (50, 50) is 3.5 px away: kept.
        c.merge(3, 0, 2, &mut k, &mut d, &mut s);
        assert_eq!(k.len(), 3);
        assert_eq!(s, [1.0, 0.5, 1.0]);
        // No NMS, top 2.
        c.merge(0, 2, 2, &mut k, &mut d, &mut s);
        assert_eq!(k, [kp(10.0, 10.0, 0.9), kp(53.5, 50.0, 0.8)]);
    }

    #[test]
    fn merge_equals_brute_force_nms() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_pcg::Pcg64::seed_from_u64(7);
        let mut c = ScaleCandidates::default();
        let mut all = Vec::new();
        for scale in [1.0, 0.7, 0.5] {
            let kps: Vec<_> = (0..300)
                .map(|_| {
                    kp(
                        rng.random_range(0.0..200.0f32),
                        rng.random_range(0.0..150.0f32),
                        rng.random(),
                    )
                })
                .collect();
            c.push(&kps, &[], scale);
            all.extend(kps);
        }
        all.sort_by(|a, b| b.score.total_cmp(&a.score));
        let mut expected: Vec<Keypoint> = Vec::new();
        for k in all {
            if !expected
                .iter()
                .any(|q| (q.x - k.x).abs() <= 4.0 && (q.y - k.y).abs() <= 4.0)
            {
                expected.push(k);
            }
        }
        let (mut k, mut d, mut s) = (Vec::new(), Vec::new(), Vec::new());
        c.merge(4, 0, 256, &mut k, &mut d, &mut s);
        assert_eq!(k, expected);
        assert!(d.is_empty());
        assert_eq!(s.len(), k.len());
    }
}
