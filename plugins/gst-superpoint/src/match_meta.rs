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

use crate::meta::{define_arc_meta, imp_meta};

/// How a frame relates to the frame it was matched against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchStatus {
    /// The frame is (or restarts) the reference: nothing was matched, homographies are identity.
    Reference,
    /// At least `min-inliers` RANSAC inliers: the homographies are valid.
    Ok,
    /// Too few matches or inliers (or degenerate geometry): no homography for this frame. The
    /// stream continues.
    Lost,
}

impl MatchStatus {
    /// `"reference"`, `"ok"` or `"lost"` (the `status` field of the `superpoint-match` message).
    pub fn as_str(&self) -> &'static str {
        match self {
            MatchStatus::Reference => "reference",
            MatchStatus::Ok => "ok",
            MatchStatus::Lost => "lost",
        }
    }

    /// The status named by [`as_str`](Self::as_str), if any.
    pub fn from_name(name: &str) -> Option<Self> {
        [MatchStatus::Reference, MatchStatus::Ok, MatchStatus::Lost]
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}

/// Which frame the current one was matched against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchTarget {
    /// The previous frame (`mode=previous`).
    Previous,
    /// The reference frame or image (`mode=reference`).
    Reference,
}

impl MatchTarget {
    /// `"previous"` or `"reference"` (the `mode` field of the `superpoint-match` message).
    pub fn as_str(&self) -> &'static str {
        match self {
            MatchTarget::Previous => "previous",
            MatchTarget::Reference => "reference",
        }
    }

    /// The target named by [`as_str`](Self::as_str), if any.
    pub fn from_name(name: &str) -> Option<Self> {
        [MatchTarget::Previous, MatchTarget::Reference]
            .into_iter()
            .find(|t| t.as_str() == name)
    }
}

/// One descriptor match between the matched frame (previous frame or reference) and the current
/// frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MatchPair {
    /// Keypoint index in the matched frame.
    pub matched: u32,
    /// Keypoint index in the current frame (index into the buffer's `SuperPointKeypointsMeta`).
    pub current: u32,
    /// Euclidean descriptor distance (0..2 for unit descriptors).
    pub distance: f32,
    /// Keypoint position in the matched frame, pixels.
    pub matched_point: [f32; 2],
    /// Keypoint position in the current frame, pixels.
    pub current_point: [f32; 2],
}

/// Matches and motion of one frame, attached by `superpointmatch`.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchesData {
    /// Frame number since the element started.
    pub frame: u64,
    /// Current frame width (the keypoint meta's).
    pub width: u32,
    /// Current frame height.
    pub height: u32,
    /// What was matched.
    pub target: MatchTarget,
    /// Size of the matched frame (previous frame or reference), pixels.
    pub target_size: (u32, u32),
    /// Size of the reference (first frame of the chain in `previous` mode, reference frame or
    /// image in `reference` mode), pixels.
    pub reference_size: (u32, u32),
    /// Descriptor matches, sorted by `matched`.
    pub pairs: Vec<MatchPair>,
    /// Per pair: RANSAC inlier of `homography` (all `false` when lost before RANSAC).
    pub inliers: Vec<bool>,
    /// Number of `true` entries in `inliers`.
    pub num_inliers: u32,
    /// Root mean square reprojection error of the inliers, pixels (0 when lost).
    pub rms_error: f64,
    /// Maps the matched frame into the current frame; `None` when lost, identity for
    /// [`MatchStatus::Reference`].
    pub homography: Option<Homography>,
    /// Maps the current frame into the reference (composed over the chain of frames in
    /// `previous` mode); `None` when lost.
    pub to_reference: Option<Homography>,
    /// Ok, lost, or reference.
    pub status: MatchStatus,
}

impl MatchesData {
    /// Whether the homographies are valid (`Ok` or `Reference`).
    pub fn is_ok(&self) -> bool {
        self.status != MatchStatus::Lost
    }

    /// Inlier pairs only.
    pub fn inlier_pairs(&self) -> impl Iterator<Item = &MatchPair> {
        self.pairs
            .iter()
            .zip(&self.inliers)
            .filter(|(_, inlier)| **inlier)
            .map(|(p, _)| p)
    }

    /// Maps the reference into the current frame (the inverse of `to_reference`).
    pub fn from_reference(&self) -> Option<Homography> {
        self.to_reference.and_then(|h| h.inverse())
    }

    /// The same data for the current frame scaled to `width` x `height`: current-frame points
    /// and the homographies' current-frame side are rescaled.
    pub fn scaled(&self, width: u32, height: u32) -> MatchesData {
        let sx = width as f64 / self.width.max(1) as f64;
        let sy = height as f64 / self.height.max(1) as f64;
        let s = Homography::scaling(sx, sy);
        let s_inv = s.inverse().unwrap_or(Homography::IDENTITY);
        let mut out = self.clone();
        out.width = width;
        out.height = height;
        for p in &mut out.pairs {
            p.current_point = [
                ((p.current_point[0] as f64 + 0.5) * sx - 0.5) as f32,
                ((p.current_point[1] as f64 + 0.5) * sy - 0.5) as f32,
            ];
        }
        out.homography = self.homography.map(|h| s.compose(&h));
        out.to_reference = self.to_reference.map(|h| h.compose(&s_inv));
        out
    }
}

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
    fn scaling_keeps_points_consistent_with_homographies() {
        let d = sample();
        let s = d.scaled(200, 100);
        let p = s.pairs[0];
        let (x, y) = s
            .homography
            .unwrap()
            .apply(p.matched_point[0] as f64, p.matched_point[1] as f64)
            .unwrap();
        assert!((x - p.current_point[0] as f64).abs() < 1e-4, "{x} {p:?}");
        assert!((y - p.current_point[1] as f64).abs() < 1e-4, "{y} {p:?}");
        let (rx, ry) = s
            .to_reference
            .unwrap()
            .apply(p.current_point[0] as f64, p.current_point[1] as f64)
            .unwrap();
        assert!((rx - 10.0).abs() < 1e-4 && (ry - 10.0).abs() < 1e-4);
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
