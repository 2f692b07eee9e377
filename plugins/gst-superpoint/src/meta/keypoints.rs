//! [`SuperPointKeypointsMeta`]: the keypoints and descriptors `superpointdetect` attaches.

use std::sync::Arc;

pub use superpoint::Keypoint;
use superpoint::onnx::DESCRIPTOR_DIM;
pub use superpoint::tracking::KeypointsData;

use super::define_arc_meta;

define_arc_meta!(
    /// `SuperPointKeypointsMeta`: keypoints and descriptors attached by `superpointdetect`.
    SuperPointKeypointsMeta,
    KeypointsData,
    "SuperPointKeypointsMetaAPI",
    "SuperPointKeypointsMeta",
    ["video", "size", "orientation"],
    Some(|data: &KeypointsData, w: u32, h: u32| Some(data.scaled(w, h)))
);

impl SuperPointKeypointsMeta {
    /// Frame width the coordinates refer to.
    pub fn width(&self) -> u32 {
        self.data().width
    }
    /// Frame height.
    pub fn height(&self) -> u32 {
        self.data().height
    }
    /// Keypoints, best first.
    pub fn keypoints(&self) -> &[Keypoint] {
        &self.data().keypoints
    }
    /// All descriptors, `keypoints().len()` x 256 row-major (empty when disabled).
    pub fn descriptors(&self) -> &[f32] {
        &self.data().descriptors
    }
    /// Descriptor of keypoint `i` (unit norm), if descriptors were computed.
    pub fn descriptor(&self, i: usize) -> Option<&[f32]> {
        self.data()
            .descriptors
            .get(i * DESCRIPTOR_DIM..(i + 1) * DESCRIPTOR_DIM)
    }
    /// Model identifier.
    pub fn model_id(&self) -> &str {
        &self.data().model_id
    }
}
