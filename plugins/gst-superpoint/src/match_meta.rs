//! Metas written by `superpointmatch` ([`SuperPointMatchesMeta`]) and `homographicwarp`
//! ([`HomographyMeta`]), with a Rust API for applications.
//!
//! Reading the estimated motion in an application (pad probe or appsink):
//! ```no_run
//! use gstsuperpoint::match_meta::{MatchStatus, SuperPointMatchesMeta};
//! # fn probe(buffer: &gst::BufferRef) {
//! if let Some(meta) = buffer.meta::<SuperPointMatchesMeta>() {
//!     let m = meta.data();
//!     if m.status == MatchStatus::Ok {
//!         let h = m.homography.expect("ok frames have a homography");
//!         println!("{} inliers of {} matches, H = {:?}", m.num_inliers, m.pairs.len(), h.0);
//!     }
//! }
//! # }
//! ```
//!
//! Conventions: pixel coordinates with (0,0) the centre of the top-left pixel, x right, y down;
//! every [`Homography`] maps `(x, y, 1)` of the frame named first to the frame named second.

use std::sync::Arc;

use superpoint::Homography;
pub use superpoint::tracking::{MatchPair, MatchStatus, MatchTarget, MatchesData};

use crate::meta::{define_arc_meta, imp_meta};

define_arc_meta!(
    /// `SuperPointMatchesMeta`: matches, inliers and homographies attached by `superpointmatch`.
    SuperPointMatchesMeta,
    MatchesData,
    "SuperPointMatchesMetaAPI",
    "SuperPointMatchesMeta",
    ["video", "size", "orientation"],
    Some(|data: &MatchesData, w: u32, h: u32| Some(data.scaled(w, h)))
);

impl SuperPointMatchesMeta {
    /// Match status of the frame.
    pub fn status(&self) -> MatchStatus {
        self.data().status
    }
    /// Matched frame -> current frame; `None` when lost.
    pub fn homography(&self) -> Option<Homography> {
        self.data().homography
    }
    /// Current frame -> reference; `None` when lost.
    pub fn to_reference(&self) -> Option<Homography> {
        self.data().to_reference
    }
    /// The matches.
    pub fn pairs(&self) -> &[MatchPair] {
        &self.data().pairs
    }
    /// Inlier flag per match.
    pub fn inliers(&self) -> &[bool] {
        &self.data().inliers
    }
}

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
        let s = Homography::scaling(
            width as f64 / self.width.max(1) as f64,
            height as f64 / self.height.max(1) as f64,
        );
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> MatchesData {
        MatchesData {
            frame: 3,
            width: 100,
            height: 50,
            target: MatchTarget::Previous,
            target_size: (100, 50),
            reference_size: (100, 50),
            pairs: vec![MatchPair {
                matched: 0,
                current: 1,
                distance: 0.1,
                matched_point: [10.0, 10.0],
                current_point: [13.0, 14.0],
            }],
            inliers: vec![true],
            num_inliers: 1,
            rms_error: 0.0,
            homography: Some(Homography([1.0, 0.0, 3.0, 0.0, 1.0, 4.0, 0.0, 0.0, 1.0])),
            to_reference: Some(Homography([1.0, 0.0, -3.0, 0.0, 1.0, -4.0, 0.0, 0.0, 1.0])),
            status: MatchStatus::Ok,
        }
    }

    #[test]
    fn metas_round_trip_through_buffers() {
        gst::init().unwrap();
        let mut buffer = gst::Buffer::with_size(16).unwrap();
        {
            let b = buffer.get_mut().unwrap();
            SuperPointMatchesMeta::add(b, Arc::new(sample()));
            HomographyMeta::add(
                b,
                Arc::new(HomographyData {
                    homography: Homography::IDENTITY,
                    applied: Homography::IDENTITY,
                    width: 100,
                    height: 50,
                    frame: 0,
                    kind: WarpKind::Random,
                }),
            );
        }
        let copy = buffer.copy();
        let m = copy.meta::<SuperPointMatchesMeta>().unwrap();
        assert_eq!(m.status(), MatchStatus::Ok);
        assert_eq!(m.pairs().len(), 1);
        assert_eq!(m.data().inlier_pairs().count(), 1);
        let h = copy.meta::<HomographyMeta>().unwrap();
        assert_eq!(h.data().kind, WarpKind::Random);
    }
}
