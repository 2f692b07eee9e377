//! Camera-path smoothing for video stabilisation.
//!
//! The camera path is a sequence of homographies `C_t` mapping a reference frame into frame `t`
//! (the inverse of `superpointmatch`'s composed homography to the reference). Averaging 3x3
//! matrices is ill-defined, so the path is represented by where the four frame corners land,
//! `C_t(corners)`; the smoothed pose `S_t` is the homography taking the corners to their mean
//! positions over the last `window` frames (a causal moving average: no latency, but the view
//! lags behind deliberate pans by about `window / 2` frames). The frame is then warped by the
//! correction `S_t * C_t^-1` (current frame -> reference -> smoothed view).
//!
//! [`CameraPath`] follows the path of a tracked stream frame by frame, as `homographicwarp`
//! does in `mode=stabilize` (the correction) and `mode=rectify` (onto the reference).

use std::collections::VecDeque;

use crate::geometry::Homography;
use crate::tracking::{MatchStatus, MatchesData};

type Corners = [(f64, f64); 4];

/// Causal moving-average smoother of a camera path; see the module documentation.
#[derive(Debug, Clone)]
pub struct PathSmoother {
    window: usize,
    size: (usize, usize),
    history: VecDeque<Corners>,
}

fn corners(width: usize, height: usize) -> Corners {
    let (w, h) = ((width.max(2) - 1) as f64, (height.max(2) - 1) as f64);
    [(0.0, 0.0), (w, 0.0), (0.0, h), (w, h)]
}

impl PathSmoother {
    /// A smoother averaging over `window` frames (at least 1; 1 = no smoothing) of
    /// `width` x `height` frames.
    pub fn new(window: usize, width: usize, height: usize) -> Self {
        PathSmoother {
            window: window.max(1),
            size: (width, height),
            history: VecDeque::new(),
        }
    }

    /// Window length in frames.
    pub fn window(&self) -> usize {
        self.window
    }

    /// Changes the window (older frames beyond it are dropped).
    pub fn set_window(&mut self, window: usize) {
        self.window = window.max(1);
        while self.history.len() > self.window {
            self.history.pop_front();
        }
    }

    /// Forgets the path (e.g. after a scene cut or a new reference) and sets the frame size.
    pub fn reset(&mut self, width: usize, height: usize) {
        self.size = (width, height);
        self.history.clear();
    }

    /// Frames in the window so far.
    pub fn len(&self) -> usize {
        self.history.len()
    }

    /// Whether no frame has been pushed since the last reset.
    pub fn is_empty(&self) -> bool {
        self.history.is_empty()
    }

    /// Adds the pose `camera` (reference -> current frame) and returns the correction that warps
    /// the current frame into the smoothed view; `None` (and the path unchanged) when `camera`
    /// maps a corner to infinity or is not invertible.
    pub fn push(&mut self, camera: &Homography) -> Option<Homography> {
        let base = corners(self.size.0, self.size.1);
        let inv = camera.inverse()?;
        let mut mapped = [(0.0, 0.0); 4];
        for (m, &(x, y)) in mapped.iter_mut().zip(&base) {
            *m = camera.apply(x, y)?;
            if !(m.0.is_finite() && m.1.is_finite()) {
                return None;
            }
        }
        if self.history.len() == self.window {
            self.history.pop_front();
        }
        self.history.push_back(mapped);
        // Summed afresh each frame (4 x window additions) so no rounding error accumulates.
        let n = self.history.len() as f64;
        let mut mean = [(0.0, 0.0); 4];
        for c in &self.history {
            for (m, p) in mean.iter_mut().zip(c) {
                m.0 += p.0 / n;
                m.1 += p.1 / n;
            }
        }
        let smoothed = Homography::from_4_points(&base, &mean)?;
        let correction = smoothed.compose(&inv);
        correction.is_valid().then_some(correction)
    }
}

/// The camera path of one tracked stream, fed each frame's [`MatchesData`]: the stabilising
/// correction ([`stabilize`](Self::stabilize)) and the homography onto the reference
/// ([`rectify`](Self::rectify)). Lost frames keep the last valid homography.
#[derive(Debug, Clone)]
pub struct CameraPath {
    smoother: PathSmoother,
    /// Last camera pose (reference -> frame); lost frames keep it (no motion assumed).
    last_camera: Option<Homography>,
    /// Last valid correction (stabilize).
    correction: Homography,
    /// Last valid homography from the frame onto the reference (rectify).
    to_reference: Homography,
}

impl CameraPath {
    /// A path smoothed over `window` frames (at least 1), of frames of unknown size until
    /// [`set_frame_size`](Self::set_frame_size).
    pub fn new(window: usize) -> Self {
        CameraPath {
            smoother: PathSmoother::new(window, 0, 0),
            last_camera: None,
            correction: Homography::IDENTITY,
            to_reference: Homography::IDENTITY,
        }
    }

    /// Frames are now `width` x `height`: the smoothed path starts afresh (the homography onto
    /// the reference is kept).
    pub fn set_frame_size(&mut self, width: usize, height: usize) {
        self.smoother.reset(width, height);
        self.last_camera = None;
        self.correction = Homography::IDENTITY;
    }

    /// Forgets what belongs to one stream position (after a flushing seek or at a new stream):
    /// the smoothed path and the homography onto the reference.
    pub fn reset_stream(&mut self) {
        let (w, h) = self.smoother.size;
        self.set_frame_size(w, h);
        self.to_reference = Homography::IDENTITY;
    }

    /// The correction that warps the frame of `matches` into the view smoothed over the last
    /// `window` frames (a new window applies from this frame on). A reference frame (a new
    /// reference or chain) starts the path afresh; a frame whose pose is unusable keeps the last
    /// correction.
    pub fn stabilize(&mut self, matches: &MatchesData, window: usize) -> Homography {
        if self.smoother.window() != window.max(1) {
            self.smoother.set_window(window);
        }
        if matches.status == MatchStatus::Reference {
            let (w, h) = self.smoother.size;
            self.smoother.reset(w, h);
        }
        let camera = matches
            .from_reference()
            .or(self.last_camera)
            .unwrap_or(Homography::IDENTITY);
        self.last_camera = Some(camera);
        if let Some(c) = self.smoother.push(&camera) {
            self.correction = c;
        }
        self.correction
    }

    /// The homography from the frame of `matches` onto the reference; on a lost frame, the last
    /// valid one (identity before the first).
    pub fn rectify(&mut self, matches: &MatchesData) -> Homography {
        if let Some(t) = matches.to_reference.filter(|t| t.is_valid()) {
            self.to_reference = t;
        }
        self.to_reference
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shift(dx: f64, dy: f64) -> Homography {
        Homography([1.0, 0.0, dx, 0.0, 1.0, dy, 0.0, 0.0, 1.0])
    }

    fn close(a: &Homography, b: &Homography, tol: f64) -> bool {
        a.corner_error(b, 100.0, 80.0).is_some_and(|e| e < tol)
    }

    #[test]
    fn window_of_one_corrects_nothing() {
        let mut s = PathSmoother::new(1, 100, 80);
        for i in 0..5 {
            let c = s.push(&shift(i as f64 * 3.0, -(i as f64))).unwrap();
            assert!(close(&c, &Homography::IDENTITY, 1e-9), "{c:?}");
        }
    }

    #[test]
    fn jitter_is_removed_and_steady_motion_lags_by_half_a_window() {
        // Camera shaking +-4 px horizontally around a fixed position.
        let mut s = PathSmoother::new(4, 100, 80);
        let mut last = Homography::IDENTITY;
        for i in 0..12 {
            let dx = if i % 2 == 0 { 4.0 } else { -4.0 };
            last = s.push(&shift(dx, 0.0)).unwrap();
            if i >= 3 {
                // Smoothed path is the mean (0): the correction undoes the shake.
                assert!(close(&last, &shift(-dx, 0.0), 1e-9), "{i}: {last:?}");
            }
        }
        assert!(close(&last, &shift(4.0, 0.0), 1e-9));
        // Steady pan of 2 px per frame: the mean of the last 5 positions lags by 2 frames.
        let mut s = PathSmoother::new(5, 100, 80);
        for i in 0..10 {
            let c = s.push(&shift(2.0 * i as f64, 0.0)).unwrap();
            if i >= 4 {
                assert!(close(&c, &shift(-4.0, 0.0), 1e-9), "{i}: {c:?}");
            }
        }
    }

    #[test]
    fn projective_poses_and_reset() {
        let mut s = PathSmoother::new(3, 100, 80);
        let p = Homography([1.01, 0.02, 3.0, -0.01, 0.99, 1.0, 1e-4, -5e-5, 1.0]);
        let c = s.push(&p).unwrap();
        assert!(close(&c, &Homography::IDENTITY, 1e-6));
        assert_eq!(s.len(), 1);
        s.reset(50, 40);
        assert!(s.is_empty());
        let singular = Homography([1.0, 2.0, 0.0, 2.0, 4.0, 0.0, 0.0, 0.0, 1.0]);
        assert!(s.push(&singular).is_none());
        assert!(s.is_empty());
        s.set_window(0);
        assert_eq!(s.window(), 1);
    }

    /// Matches of a 100x80 frame: `to_reference` given (ok), `None` (lost), or a reference frame.
    fn frame(to_reference: Option<Option<Homography>>) -> MatchesData {
        let mut m = MatchesData::reference(0, crate::tracking::MatchTarget::Reference, (100, 80));
        if let Some(t) = to_reference {
            m.to_reference = t;
            m.homography = t;
            m.status = if t.is_some() {
                MatchStatus::Ok
            } else {
                MatchStatus::Lost
            };
        }
        m
    }

    #[test]
    fn rectify_holds_the_last_valid_homography_until_the_stream_resets() {
        let mut p = CameraPath::new(5);
        p.set_frame_size(100, 80);
        assert_eq!(p.rectify(&frame(None)), Homography::IDENTITY);
        assert_eq!(
            p.rectify(&frame(Some(Some(shift(5.0, 0.0))))),
            shift(5.0, 0.0)
        );
        assert_eq!(p.rectify(&frame(Some(None))), shift(5.0, 0.0));
        let singular = Homography([1.0, 2.0, 0.0, 2.0, 4.0, 0.0, 0.0, 0.0, 1.0]);
        assert_eq!(p.rectify(&frame(Some(Some(singular)))), shift(5.0, 0.0));
        // A new frame size keeps it; a seek or a new stream does not.
        p.set_frame_size(50, 40);
        assert_eq!(p.rectify(&frame(Some(None))), shift(5.0, 0.0));
        p.reset_stream();
        assert_eq!(p.rectify(&frame(Some(None))), Homography::IDENTITY);
    }

    #[test]
    fn stabilize_smooths_holds_lost_poses_and_restarts_at_a_reference() {
        let mut p = CameraPath::new(4);
        p.set_frame_size(100, 80);
        assert!(close(
            &p.stabilize(&frame(None), 4),
            &Homography::IDENTITY,
            1e-9
        ));
        // Camera shaking +-4 px (to_reference is the inverse pose): the correction undoes it.
        let mut last = Homography::IDENTITY;
        for i in 0..8 {
            let dx = if i % 2 == 0 { 4.0 } else { -4.0 };
            last = p.stabilize(&frame(Some(Some(shift(-dx, 0.0)))), 4);
        }
        assert!(close(&last, &shift(4.0, 0.0), 1e-9), "{last:?}");
        // A lost frame repeats the last pose (-4): the window holds -4, 4, -4, -4 (mean -2), so the
        // correction is +2.
        let lost = p.stabilize(&frame(Some(None)), 4);
        assert!(close(&lost, &shift(2.0, 0.0), 1e-9), "{lost:?}");
        // A new reference starts the path: nothing to correct.
        let restart = p.stabilize(&frame(None), 4);
        assert!(close(&restart, &Homography::IDENTITY, 1e-9), "{restart:?}");
        // A window of one corrects nothing; a new window applies at once.
        let one = p.stabilize(&frame(Some(Some(shift(7.0, 2.0)))), 1);
        assert!(close(&one, &Homography::IDENTITY, 1e-9), "{one:?}");
        // After a seek the old poses are gone: a lost first frame holds the identity pose (without
        // the reset it would repeat shift(1, 0) and be pulled towards the earlier shift(7, 2)).
        p.stabilize(&frame(Some(Some(shift(7.0, 2.0)))), 3);
        p.stabilize(&frame(Some(Some(shift(-1.0, 0.0)))), 3);
        p.reset_stream();
        let after = p.stabilize(&frame(Some(None)), 3);
        assert!(close(&after, &Homography::IDENTITY, 1e-9), "{after:?}");
    }
}
