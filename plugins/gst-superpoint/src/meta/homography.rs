//! [`HomographyMeta`]: the homography `homographicwarp` applied to a buffer.

use std::sync::Arc;

use superpoint::Homography;
use superpoint::geometry::PixelScale;

use super::define_arc_meta;

/// Why a `homographicwarp` warped a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WarpKind {
    /// The `matrix` property.
    Fixed,
    /// Camera-path smoothing correction.
    Stabilize,
    /// Mapping onto the reference.
    Rectify,
    /// A random homography (`mode=random`).
    Random,
}

/// The homography a `homographicwarp` applied, attached to its output buffers.
#[derive(Debug, Clone, PartialEq)]
pub struct HomographyData {
    /// Maps pixels of the original source into this buffer's frame: the warp of this element
    /// composed with any `HomographyMeta` already on the input (chained warps).
    pub homography: Homography,
    /// The warp of this element alone (input frame -> output frame).
    pub applied: Homography,
    /// Frame width.
    pub width: u32,
    /// Frame height.
    pub height: u32,
    /// Frame number since the element started.
    pub frame: u64,
    /// Mode of the element that warped.
    pub kind: WarpKind,
}

impl HomographyData {
    /// The same data for the frame scaled to `width` x `height`.
    pub fn scaled(&self, width: u32, height: u32) -> HomographyData {
        let s = PixelScale::between((self.width, self.height), (width, height)).homography();
        HomographyData {
            homography: s.compose(&self.homography),
            applied: s.compose(&self.applied),
            width,
            height,
            ..self.clone()
        }
    }
}

define_arc_meta!(
    /// `HomographyMeta`: the homography `homographicwarp` applied (e.g. the ground truth of
    /// `mode=random`, which `superpointmatch` compares its estimate with).
    HomographyMeta,
    HomographyData,
    "SuperPointHomographyMetaAPI",
    "SuperPointHomographyMeta",
    ["video", "size", "orientation"],
    Some(|data: &HomographyData, w: u32, h: u32| Some(data.scaled(w, h)))
);

impl HomographyMeta {
    /// Original source -> this frame.
    pub fn homography(&self) -> Homography {
        self.data().homography
    }
}
