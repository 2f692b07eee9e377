//! JSON formats: `superpoint detect --json` files and the element's JSON Lines records.

use serde::{Deserialize, Serialize};

use crate::detection::Detections;
use crate::onnx::DESCRIPTOR_DIM;
use crate::postprocess::Keypoint;

/// One image's detections: `{"width","height","keypoints":[[x,y,score],...],"descriptors":[[f32;256],...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectionFile {
    /// Image width.
    pub width: u32,
    /// Image height.
    pub height: u32,
    /// `[x, y, score]` per keypoint, pixels, (0,0) = centre of the top-left pixel.
    pub keypoints: Vec<[f32; 3]>,
    /// One descriptor per keypoint (any length, the same for all; empty when not computed).
    #[serde(default)]
    pub descriptors: Vec<Vec<f32>>,
    /// Per keypoint, the scale it was detected at (multi-scale detection, `--scales`); absent
    /// when the image was run at one scale.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scales: Vec<f32>,
}

impl From<&Detections> for DetectionFile {
    fn from(d: &Detections) -> Self {
        DetectionFile {
            width: d.width,
            height: d.height,
            keypoints: d.keypoints.iter().map(|k| [k.x, k.y, k.score]).collect(),
            descriptors: d
                .descriptors
                .chunks_exact(DESCRIPTOR_DIM)
                .map(|c| c.to_vec())
                .collect(),
            scales: d.scales.clone(),
        }
    }
}

impl DetectionFile {
    /// Keypoints as structs.
    pub fn keypoints(&self) -> Vec<Keypoint> {
        self.keypoints
            .iter()
            .map(|k| Keypoint {
                x: k[0],
                y: k[1],
                score: k[2],
            })
            .collect()
    }
}

/// One line of the element's `json-location` file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameRecord {
    /// Frame number since the element started (0-based).
    pub frame: u64,
    /// Presentation timestamp in nanoseconds, if the buffer had one.
    pub pts: Option<u64>,
    /// Frame width.
    pub width: u32,
    /// Frame height.
    pub height: u32,
    /// Model identifier.
    pub model: String,
    /// `[x, y, score]` per keypoint.
    pub keypoints: Vec<[f32; 3]>,
    /// Per keypoint, the scale it was detected at (multi-scale detection, `scales`); absent when
    /// the frame was run at one scale.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scales: Vec<f32>,
}
