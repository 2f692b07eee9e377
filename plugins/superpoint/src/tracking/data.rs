//! The per-frame results of keypoint tracking: keypoints of a frame ([`KeypointsData`]) and what
//! matching them produced ([`MatchesData`]). These are the payloads of the GStreamer plugin's
//! `SuperPointKeypointsMeta` and `SuperPointMatchesMeta`.
//!
//! Conventions: pixel coordinates with (0,0) the centre of the top-left pixel, x right, y down;
//! every [`Homography`] maps `(x, y, 1)` of the frame named first to the frame named second.

use crate::geometry::{Homography, PixelScale};
use crate::onnx::DESCRIPTOR_DIM;
use crate::postprocess::Keypoint;

/// Keypoints and descriptors of one frame.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeypointsData {
    /// Frame width the coordinates refer to, pixels.
    pub width: u32,
    /// Frame height, pixels.
    pub height: u32,
    /// Keypoints in frame pixels, best first.
    pub keypoints: Vec<Keypoint>,
    /// `keypoints.len()` x 256 unit-norm descriptors, row-major; empty when disabled.
    pub descriptors: Vec<f32>,
    /// Identifier of the model that produced them.
    pub model_id: String,
    /// Per keypoint, the factor the frame was resized by for the network pass that found it
    /// (multi-scale detection, `superpointdetect scales`; e.g. 0.5 for the half-size pass);
    /// empty when the frame was run at one scale.
    pub scales: Vec<f32>,
}

impl KeypointsData {
    /// The same keypoints for a frame scaled to `width` x `height` (descriptors unchanged).
    pub fn scaled(&self, width: u32, height: u32) -> KeypointsData {
        let scale = PixelScale::between((self.width, self.height), (width, height));
        KeypointsData {
            width,
            height,
            keypoints: self
                .keypoints
                .iter()
                .map(|k| {
                    let (x, y) = scale.apply_f32(k.x, k.y);
                    Keypoint {
                        x,
                        y,
                        score: k.score,
                    }
                })
                .collect(),
            descriptors: self.descriptors.clone(),
            model_id: self.model_id.clone(),
            scales: self.scales.clone(),
        }
    }

    /// The scale keypoint `i` was detected at (1 when the frame was run at one scale).
    pub fn scale(&self, i: usize) -> f32 {
        self.scales.get(i).copied().unwrap_or(1.0)
    }

    /// Whether there is one [`DESCRIPTOR_DIM`]-dimensional descriptor per keypoint.
    pub fn has_descriptors(&self) -> bool {
        self.descriptors.len() == self.keypoints.len() * DESCRIPTOR_DIM
    }
}

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

/// Which frame the current one is matched against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchTarget {
    /// The previous frame (`mode=previous`); the homography to the first frame of the chain is
    /// composed along the frames.
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
    /// Keypoint index in the current frame (index into its [`KeypointsData::keypoints`]).
    pub current: u32,
    /// Euclidean descriptor distance (0..2 for unit descriptors).
    pub distance: f32,
    /// Keypoint position in the matched frame, pixels.
    pub matched_point: [f32; 2],
    /// Keypoint position in the current frame, pixels.
    pub current_point: [f32; 2],
}

/// Matches and motion of one frame.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchesData {
    /// Frame number since tracking started.
    pub frame: u64,
    /// Current frame width (the keypoints'), pixels.
    pub width: u32,
    /// Current frame height, pixels.
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
    /// `previous` mode: one entry per keypoint of the current frame (index = keypoint index),
    /// its track id and age ([`TrackIds`](super::TrackIds)); empty in `reference` mode.
    pub tracks: Vec<KeypointTrack>,
}

/// The track of one keypoint: a stable id over the frames it was followed through and its age.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeypointTrack {
    /// Track id: unique in the stream, increasing in the order tracks start (from 0 at each
    /// stream start and flush).
    pub id: u64,
    /// Number of earlier consecutive frames the track was followed through (0 = starts here).
    pub age: u32,
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
        let scale = PixelScale::between((self.width, self.height), (width, height));
        let s = scale.homography();
        let s_inv = s.inverse().unwrap_or(Homography::IDENTITY);
        let mut out = self.clone();
        out.width = width;
        out.height = height;
        for p in &mut out.pairs {
            let (x, y) = scale.apply(p.current_point[0] as f64, p.current_point[1] as f64);
            p.current_point = [x as f32, y as f32];
        }
        out.homography = self.homography.map(|h| s.compose(&h));
        out.to_reference = self.to_reference.map(|h| h.compose(&s_inv));
        out
    }

    /// The data of a frame that starts a chain or becomes the reference: nothing matched,
    /// identity homographies.
    pub fn reference(frame: u64, target: MatchTarget, size: (u32, u32)) -> MatchesData {
        MatchesData {
            frame,
            width: size.0,
            height: size.1,
            target,
            target_size: size,
            reference_size: size,
            pairs: Vec::new(),
            inliers: Vec::new(),
            num_inliers: 0,
            rms_error: 0.0,
            homography: Some(Homography::IDENTITY),
            to_reference: Some(Homography::IDENTITY),
            status: MatchStatus::Reference,
            tracks: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> MatchesData {
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
            tracks: Vec::new(),
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
    fn scaled_keypoints_keep_pixel_centres() {
        let k = KeypointsData {
            width: 10,
            height: 10,
            keypoints: vec![Keypoint {
                x: 0.0,
                y: 9.0,
                score: 0.5,
            }],
            descriptors: Vec::new(),
            model_id: "m".into(),
            scales: Vec::new(),
        };
        let s = k.scaled(20, 5);
        assert_eq!((s.width, s.height), (20, 5));
        assert_eq!((s.keypoints[0].x, s.keypoints[0].y), (0.5, 4.25));
        assert!(!s.has_descriptors());
    }

    #[test]
    fn names_round_trip() {
        for s in [MatchStatus::Reference, MatchStatus::Ok, MatchStatus::Lost] {
            assert_eq!(MatchStatus::from_name(s.as_str()), Some(s));
        }
        for t in [MatchTarget::Previous, MatchTarget::Reference] {
            assert_eq!(MatchTarget::from_name(t.as_str()), Some(t));
        }
        assert_eq!(MatchStatus::from_name("fine"), None);
    }
}
