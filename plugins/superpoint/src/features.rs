//! The keypoints and descriptors of one image as the metrics, the evaluation and the reference
//! views take them, from any detector: [`Features`] (re-exported as `metrics::Features`).

use crate::Error;
use crate::detection::Detections;
use crate::json::DetectionFile;
use crate::postprocess::Keypoint;

/// Keypoints (sorted by descending score) and optional descriptors of one image.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Features {
    /// Image width.
    pub width: u32,
    /// Image height.
    pub height: u32,
    /// Keypoints, best first.
    pub keypoints: Vec<Keypoint>,
    /// `keypoints.len() x dim` values, row-major, unit norm (empty when there are none).
    pub descriptors: Vec<f32>,
    /// Descriptor length (0 without descriptors).
    pub dim: usize,
}

impl Features {
    /// Checks the data, sorts keypoints (and their descriptors) by descending score (stable, so
    /// equal scores keep their order) and L2-normalises the descriptors.
    pub fn new(
        width: u32,
        height: u32,
        keypoints: Vec<Keypoint>,
        descriptors: Vec<f32>,
        dim: usize,
    ) -> Result<Self, Error> {
        if width == 0 || height == 0 {
            return Err(Error::Input(format!(
                "image size must be positive, got {width}x{height}"
            )));
        }
        if let Some((i, k)) = keypoints
            .iter()
            .enumerate()
            .find(|(_, k)| !(k.x.is_finite() && k.y.is_finite() && k.score.is_finite()))
        {
            return Err(Error::Input(format!(
                "keypoint {i} has a non-finite value ({}, {}, score {})",
                k.x, k.y, k.score
            )));
        }
        let has_desc = !descriptors.is_empty();
        if has_desc && (dim == 0 || descriptors.len() != keypoints.len() * dim) {
            return Err(Error::Input(format!(
                "{} descriptor values do not match {} keypoints of dimension {dim}",
                descriptors.len(),
                keypoints.len()
            )));
        }
        let mut order: Vec<usize> = (0..keypoints.len()).collect();
        order.sort_by(|&i, &j| keypoints[j].score.total_cmp(&keypoints[i].score));
        let sorted_kp = order.iter().map(|&i| keypoints[i]).collect();
        let mut sorted_desc = Vec::with_capacity(descriptors.len());
        if has_desc {
            for &i in &order {
                let start = sorted_desc.len();
                sorted_desc.extend_from_slice(&descriptors[i * dim..(i + 1) * dim]);
                crate::postprocess::normalize(&mut sorted_desc[start..]);
            }
        }
        Ok(Features {
            width,
            height,
            keypoints: sorted_kp,
            descriptors: sorted_desc,
            dim: if has_desc { dim } else { 0 },
        })
    }

    /// From the detector's output.
    pub fn from_detections(d: &Detections) -> Result<Self, Error> {
        let dim = if d.keypoints.is_empty() {
            0
        } else {
            d.descriptors.len() / d.keypoints.len()
        };
        Features::new(
            d.width,
            d.height,
            d.keypoints.clone(),
            d.descriptors.clone(),
            dim,
        )
    }

    /// From a `superpoint detect --json` file (or a baseline's file in the same format).
    pub fn from_file(f: &DetectionFile) -> Result<Self, Error> {
        let dim = f.descriptors.first().map_or(0, Vec::len);
        if !f.descriptors.is_empty() {
            if f.descriptors.len() != f.keypoints.len() {
                return Err(Error::Input(format!(
                    "{} descriptors for {} keypoints: there must be one descriptor per keypoint (or none)",
                    f.descriptors.len(),
                    f.keypoints.len()
                )));
            }
            if let Some(i) = f.descriptors.iter().position(|d| d.len() != dim) {
                return Err(Error::Input(format!(
                    "descriptor {i} has {} values, the first has {dim}: all must have the same length",
                    f.descriptors[i].len()
                )));
            }
        }
        let descriptors: Vec<f32> = f.descriptors.iter().flatten().copied().collect();
        if descriptors.iter().any(|v| !v.is_finite()) {
            return Err(Error::Input("a descriptor has a non-finite value".into()));
        }
        Features::new(f.width, f.height, f.keypoints(), descriptors, dim)
    }

    /// Number of keypoints.
    pub fn len(&self) -> usize {
        self.keypoints.len()
    }

    /// Whether there are no keypoints.
    pub fn is_empty(&self) -> bool {
        self.keypoints.is_empty()
    }

    /// The `n` best keypoints (all when `n` is 0 or larger than the count) and their descriptors.
    pub fn top(&self, n: usize) -> (&[Keypoint], &[f32]) {
        let n = if n == 0 {
            self.len()
        } else {
            n.min(self.len())
        };
        let desc = if self.dim > 0 {
            &self.descriptors[..n * self.dim]
        } else {
            &[][..]
        };
        (&self.keypoints[..n], desc)
    }
}
