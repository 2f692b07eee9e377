//! Tracking a planar scene or the camera motion through a stream of keypoint sets (no GStreamer):
//! each frame's descriptors are matched against the previous frame or a reference, the homography
//! is estimated with RANSAC, and in `previous` mode the frame-to-frame homographies are composed
//! into one from the current frame to the first frame of the chain, and each keypoint gets a
//! persistent track id ([`TrackIds`]). The `superpointmatch` element
//! maps buffers, metas and messages around a [`Tracker`]; `superpointoverlay` draws the keypoint
//! paths a [`TrackBook`] follows through the matches.
//!
//! Book-keeping rules:
//! - `previous`: the first frame, a frame after [`Tracker::reset_stream`], and a frame with
//!   `restart` start a new chain (status [`MatchStatus::Reference`], identity homographies).
//! - `reference`: the first frame becomes the reference unless one was set with
//!   [`Tracker::set_reference_image`]; a frame with `restart` replaces it. A first-frame reference
//!   is kept across `reset_stream(false)` (a seek in the same stream) and dropped at
//!   `reset_stream(true)` (a new stream); a reference image is always kept.
//! - Fewer matches or RANSAC inliers than `min_inliers` (at least 4), or a homography that
//!   cannot be inverted, mark the frame [`MatchStatus::Lost`]: no homography, the chain is left as
//!   it was, and tracking goes on with the next frame.

mod data;
mod ids;
mod tracks;

use std::sync::Arc;

pub use data::{KeypointTrack, KeypointsData, MatchPair, MatchStatus, MatchTarget, MatchesData};
pub use ids::TrackIds;
pub use tracks::{Track, TrackBook};

use crate::Error;
use crate::geometry::Homography;
use crate::matching::{Match, MatchParams, Matcher};
use crate::onnx::DESCRIPTOR_DIM;
use crate::ransac::{RansacParams, find_homography};

/// Matching and RANSAC settings of a [`Tracker`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TrackParams {
    /// Descriptor matching.
    pub matching: MatchParams,
    /// Homography estimation.
    pub ransac: RansacParams,
}

impl TrackParams {
    /// Checks both parts; the error says which value is out of range.
    pub fn validate(&self) -> Result<(), Error> {
        self.matching.validate()?;
        self.ransac
            .validate()
            .map_err(|e| Error::Config(e.to_string()))
    }
}

/// What [`Tracker::offer_params`] did with new settings.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamsUpdate {
    /// The settings are the ones in use.
    Unchanged,
    /// The settings were valid and are now in use.
    Applied,
    /// The settings are invalid (reported once): the last valid ones stay in use.
    Rejected(Error),
    /// The same invalid settings as last time: still ignored, not reported again.
    StillRejected,
}

/// Settings of a running stream that may be changed while it plays: the valid ones in use and
/// the last invalid ones offered, so that each invalid change is reported once. Used by the
/// [`Tracker`] and by [`HomographySequence`](crate::sampling::HomographySequence).
#[derive(Debug, Clone)]
pub struct ParamsInUse<T> {
    in_use: T,
    rejected: Option<T>,
}

impl<T: Copy + PartialEq> ParamsInUse<T> {
    /// `in_use` as the settings in use (the caller has checked them).
    pub fn new(in_use: T) -> Self {
        ParamsInUse {
            in_use,
            rejected: None,
        }
    }

    /// The settings in use.
    pub fn get(&self) -> &T {
        &self.in_use
    }

    /// Offers `wanted`: used when `validate` accepts them; otherwise the settings in use stay
    /// and the error is returned once ([`ParamsUpdate::StillRejected`] for the same settings
    /// offered again).
    pub fn offer(
        &mut self,
        wanted: T,
        validate: impl FnOnce(&T) -> Result<(), Error>,
    ) -> ParamsUpdate {
        if wanted == self.in_use {
            return ParamsUpdate::Unchanged;
        }
        if self.rejected == Some(wanted) {
            return ParamsUpdate::StillRejected;
        }
        match validate(&wanted) {
            Ok(()) => {
                self.in_use = wanted;
                self.rejected = None;
                ParamsUpdate::Applied
            }
            Err(e) => {
                self.rejected = Some(wanted);
                ParamsUpdate::Rejected(e)
            }
        }
    }
}

/// The result of one frame.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackedFrame {
    /// Matches, status and homographies of the frame.
    pub data: MatchesData,
    /// Matched frame -> current frame from the ground truth of both frames (when both had one).
    pub expected: Option<Homography>,
    /// Why the frame is lost, when it was lost for too few matches or inliers or by RANSAC.
    pub lost_reason: Option<String>,
    /// The model id of the reference image, reported once when it differs from the stream's
    /// (the reference was detected with another model: matches are meaningless).
    pub model_mismatch: Option<String>,
}

/// One frame's keypoints as tracked: the keypoints and their ground truth (source -> frame), if
/// known.
type Tracked = (Arc<KeypointsData>, Option<Homography>);

/// Matching state of one stream. See the [module documentation](self) for the rules.
#[derive(Debug)]
pub struct Tracker {
    matcher: Matcher,
    matches: Vec<Match>,
    src: Vec<(f64, f64)>,
    dst: Vec<(f64, f64)>,
    /// Previous frame (mode previous).
    previous: Option<Tracked>,
    /// Reference (mode reference); no ground truth for an image.
    reference: Option<Tracked>,
    /// Views of a reference image (rotated, shrunk; keypoints in reference pixels), each matched
    /// on its own; empty for a single reference.
    views: Vec<Arc<KeypointsData>>,
    /// The view that matched the last frame: tried first.
    view: usize,
    /// Whether `reference` is an image set with `set_reference_image`.
    reference_from_file: bool,
    /// Mode previous: current frame -> first frame of the chain, and that frame's size.
    chain: Homography,
    chain_size: (u32, u32),
    frame: u64,
    model_checked: bool,
    /// Track ids of `previous` mode.
    ids: TrackIds,
    /// The settings in use (the last valid ones offered).
    params: ParamsInUse<TrackParams>,
}

impl Tracker {
    /// A tracker with `params`; errors when they are invalid.
    pub fn new(params: TrackParams) -> Result<Self, Error> {
        params.validate()?;
        Ok(Tracker {
            matcher: Matcher::new(),
            matches: Vec::new(),
            src: Vec::new(),
            dst: Vec::new(),
            previous: None,
            reference: None,
            views: Vec::new(),
            view: 0,
            reference_from_file: false,
            chain: Homography::IDENTITY,
            chain_size: (0, 0),
            frame: 0,
            model_checked: false,
            ids: TrackIds::new(),
            params: ParamsInUse::new(params),
        })
    }

    /// The settings in use.
    pub fn params(&self) -> &TrackParams {
        self.params.get()
    }

    /// Offers new settings (e.g. changed while playing): valid ones are used from the next
    /// frame on; invalid ones leave the last valid ones in use and are reported once.
    pub fn offer_params(&mut self, wanted: TrackParams) -> ParamsUpdate {
        self.params.offer(wanted, TrackParams::validate)
    }

    /// Uses the keypoints of an image as the reference of `reference` mode, kept across seeks and
    /// new streams until a frame restarts the reference.
    pub fn set_reference_image(&mut self, reference: Arc<KeypointsData>) {
        self.set_reference_views(vec![reference]);
    }

    /// Uses views of a reference image ([`crate::views`]: rotated and shrunk copies, keypoints
    /// in the reference's pixels, the upright full-size view first) as the reference of
    /// `reference` mode. Each frame is matched against the view that matched the previous frame;
    /// when that gives fewer than twice `min_inliers` inliers, against every view, and the one
    /// with the most inliers wins. Kept like [`Tracker::set_reference_image`].
    ///
    /// # Panics
    /// When `views` is empty.
    pub fn set_reference_views(&mut self, views: Vec<Arc<KeypointsData>>) {
        self.reference = Some((views[0].clone(), None));
        self.views = if views.len() > 1 { views } else { Vec::new() };
        self.view = 0;
        self.reference_from_file = true;
    }

    /// Forgets what belongs to the frames before a flushing seek or, with `new_stream`, a new
    /// stream: the previous frame and the composed chain, so the next frame starts a new chain; a
    /// first-frame reference only at a new stream; never a reference image. Track ids start
    /// again from 0.
    pub fn reset_stream(&mut self, new_stream: bool) {
        self.previous = None;
        self.ids.reset();
        self.chain = Homography::IDENTITY;
        self.chain_size = (0, 0);
        if new_stream && !self.reference_from_file {
            self.reference = None;
        }
    }

    /// Matches `current` (with its ground truth `truth`, source -> frame, if known) against the
    /// previous frame or the reference (`mode`) and estimates the homography. With `restart` the
    /// frame starts a new chain or becomes the reference. Fewer than `min_inliers` (at least 4)
    /// matches or inliers make the frame lost.
    ///
    /// Errors only when matching itself fails (descriptors of different lengths); lost frames
    /// are results, not errors.
    pub fn track(
        &mut self,
        mode: MatchTarget,
        current: &Arc<KeypointsData>,
        truth: Option<Homography>,
        restart: bool,
        min_inliers: usize,
    ) -> Result<TrackedFrame, Error> {
        let frame = self.frame;
        self.frame += 1;
        let size = (current.width, current.height);
        let target = match mode {
            MatchTarget::Previous => {
                let prev = self.previous.replace((current.clone(), truth));
                if restart { None } else { prev }
            }
            MatchTarget::Reference => {
                if restart || self.reference.is_none() {
                    self.reference = Some((current.clone(), truth));
                    self.views.clear();
                    self.reference_from_file = false;
                    None
                } else {
                    self.reference.clone()
                }
            }
        };
        let mut model_mismatch = None;
        if self.reference_from_file
            && !self.model_checked
            && let Some((reference, _)) = &self.reference
        {
            self.model_checked = true;
            if reference.model_id != current.model_id {
                model_mismatch = Some(reference.model_id.clone());
            }
        }

        let Some((target, target_truth)) = target else {
            // This frame starts the chain or becomes the reference.
            if mode == MatchTarget::Previous {
                self.chain = Homography::IDENTITY;
                self.chain_size = size;
            }
            let mut data = MatchesData::reference(frame, mode, size);
            data.tracks = self.ids.assign(&data, current.keypoints.len());
            return Ok(TrackedFrame {
                data,
                expected: None,
                lost_reason: None,
                model_mismatch,
            });
        };
        let needed = min_inliers.max(4);
        let est = if mode == MatchTarget::Reference && !self.views.is_empty() {
            self.estimate_views(current, needed)?
        } else {
            self.estimate(&target, current, needed)?
        };
        let expected = match (truth, target_truth) {
            (Some(t), Some(tt)) => tt.inverse().map(|tt_inv| t.compose(&tt_inv)),
            _ => None,
        };
        let to_reference = est.homography.and_then(|h| match mode {
            MatchTarget::Previous => {
                let inv = h.inverse()?;
                self.chain = self.chain.compose(&inv);
                Some(self.chain)
            }
            MatchTarget::Reference => h.inverse(),
        });
        let reference_size = match mode {
            MatchTarget::Previous => self.chain_size,
            MatchTarget::Reference => (target.width, target.height),
        };
        let ok = est.homography.is_some() && to_reference.is_some();
        let mut data = MatchesData {
            frame,
            width: size.0,
            height: size.1,
            target: mode,
            target_size: (target.width, target.height),
            reference_size,
            pairs: est.pairs,
            inliers: est.inliers,
            num_inliers: est.num_inliers,
            rms_error: est.rms_error,
            homography: est.homography.filter(|_| ok),
            to_reference: to_reference.filter(|_| ok),
            status: if ok {
                MatchStatus::Ok
            } else {
                MatchStatus::Lost
            },
            tracks: Vec::new(),
        };
        data.tracks = self.ids.assign(&data, current.keypoints.len());
        Ok(TrackedFrame {
            data,
            expected,
            lost_reason: est.lost_reason,
            model_mismatch,
        })
    }

    /// [`Tracker::estimate`] against the reference views: the last winner first, every view when
    /// it gives fewer than `2 * needed` inliers; the estimate with the most inliers.
    fn estimate_views(
        &mut self,
        current: &KeypointsData,
        needed: usize,
    ) -> Result<Estimate, Error> {
        let first = self.views[self.view].clone();
        let est = self.estimate(&first, current, needed)?;
        if est.homography.is_some() && est.num_inliers as usize >= 2 * needed {
            return Ok(est);
        }
        let tried = self.view;
        let mut best = (tried, est);
        for i in (0..self.views.len()).filter(|&i| i != tried) {
            let view = self.views[i].clone();
            let est = self.estimate(&view, current, needed)?;
            let better = match (&est.homography, &best.1.homography) {
                (Some(_), None) => true,
                (None, _) => false,
                (Some(_), Some(_)) => est.num_inliers > best.1.num_inliers,
            };
            if better {
                best = (i, est);
            }
        }
        self.view = best.0;
        Ok(best.1)
    }

    /// Matches `target` against `current` and estimates the homography target -> current.
    fn estimate(
        &mut self,
        target: &KeypointsData,
        current: &KeypointsData,
        needed: usize,
    ) -> Result<Estimate, Error> {
        let TrackParams { matching, ransac } = *self.params.get();
        self.matcher.match_descriptors(
            &target.descriptors,
            &current.descriptors,
            DESCRIPTOR_DIM,
            &matching,
            &mut self.matches,
        )?;
        let pairs: Vec<MatchPair> = self
            .matches
            .iter()
            .map(|m| {
                let a = target.keypoints[m.a as usize];
                let b = current.keypoints[m.b as usize];
                MatchPair {
                    matched: m.a,
                    current: m.b,
                    distance: m.distance,
                    matched_point: [a.x, a.y],
                    current_point: [b.x, b.y],
                }
            })
            .collect();
        let mut est = Estimate {
            inliers: vec![false; pairs.len()],
            pairs,
            num_inliers: 0,
            rms_error: 0.0,
            homography: None,
            lost_reason: None,
        };
        if est.pairs.len() < needed {
            est.lost_reason = Some(format!(
                "{} matches, fewer than min-inliers={}",
                est.pairs.len(),
                needed
            ));
            return Ok(est);
        }
        self.src.clear();
        self.dst.clear();
        for p in &est.pairs {
            self.src
                .push((p.matched_point[0] as f64, p.matched_point[1] as f64));
            self.dst
                .push((p.current_point[0] as f64, p.current_point[1] as f64));
        }
        match find_homography(&self.src, &self.dst, &ransac) {
            Ok(h) => {
                est.inliers = h.inliers;
                est.num_inliers = h.num_inliers as u32;
                est.rms_error = h.rms_error;
                if h.num_inliers < needed {
                    est.lost_reason = Some(format!(
                        "{} RANSAC inliers of {} matches, fewer than min-inliers={}",
                        h.num_inliers,
                        est.pairs.len(),
                        needed
                    ));
                } else {
                    est.homography = Some(h.homography);
                }
            }
            Err(e) => est.lost_reason = Some(format!("RANSAC: {e}")),
        }
        Ok(est)
    }
}

/// What matching one frame against its target produced.
struct Estimate {
    pairs: Vec<MatchPair>,
    inliers: Vec<bool>,
    num_inliers: u32,
    rms_error: f64,
    homography: Option<Homography>,
    lost_reason: Option<String>,
}

#[cfg(test)]
mod tests;
