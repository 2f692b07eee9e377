//! Keypoint tracks of `previous` mode: the path of each keypoint through consecutive frames,
//! extended frame by frame through the RANSAC inliers of [`MatchesData`]. Drawn by
//! `superpointoverlay`.

use std::collections::VecDeque;

use super::data::{MatchStatus, MatchTarget, MatchesData};

/// The path of one keypoint over consecutive frames, oldest position first, in the pixel
/// coordinates of each frame's matches.
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    points: VecDeque<[f32; 2]>,
}

impl Track {
    /// Positions, oldest first (at least two: a track starts with one match).
    pub fn points(&self) -> impl ExactSizeIterator<Item = [f32; 2]> + '_ {
        self.points.iter().copied()
    }
}

/// The tracks that reach the keypoints of the latest frame, indexed by keypoint.
///
/// Rules: a frame whose matches are `previous`-mode and [`MatchStatus::Ok`] extends, through each
/// RANSAC inlier pair, the track of the matched keypoint (or starts one at the matched position)
/// to the current keypoint; tracks not continued end. Any other frame (lost, a new chain, a
/// reference-mode match, no matches) ends every track, as does [`clear`](Self::clear).
#[derive(Debug, Clone, Default)]
pub struct TrackBook {
    /// Per keypoint of the latest frame, the track that reaches it.
    by_keypoint: Vec<Option<Track>>,
}

impl TrackBook {
    /// A book without tracks.
    pub fn new() -> Self {
        Self::default()
    }

    /// Ends every track (e.g. after a flushing seek or at a new stream).
    pub fn clear(&mut self) {
        self.by_keypoint.clear();
    }

    /// Advances to the next frame: `matches` of a frame with `keypoints` keypoints (its
    /// keypoint metadata's count; 0 when unknown), `None` for a frame without matches. Tracks
    /// keep their positions over at most `length` past frames (at least 1).
    pub fn advance(&mut self, matches: Option<&MatchesData>, keypoints: usize, length: usize) {
        let Some(m) =
            matches.filter(|m| m.target == MatchTarget::Previous && m.status == MatchStatus::Ok)
        else {
            self.clear();
            return;
        };
        let count = m
            .pairs
            .iter()
            .map(|p| p.current as usize + 1)
            .max()
            .unwrap_or(0)
            .max(keypoints);
        let mut next = vec![None; count];
        for p in m.inlier_pairs() {
            let mut track = self
                .by_keypoint
                .get_mut(p.matched as usize)
                .and_then(Option::take)
                .unwrap_or_else(|| Track {
                    points: VecDeque::from([p.matched_point]),
                });
            track.points.push_back(p.current_point);
            while track.points.len() > length.max(1) + 1 {
                track.points.pop_front();
            }
            next[p.current as usize] = Some(track);
        }
        self.by_keypoint = next;
    }

    /// The live tracks.
    pub fn tracks(&self) -> impl Iterator<Item = &Track> {
        self.by_keypoint.iter().flatten()
    }

    /// The track that reaches keypoint `keypoint` of the latest frame, if any.
    pub fn get(&self, keypoint: usize) -> Option<&Track> {
        self.by_keypoint.get(keypoint)?.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::Homography;
    use crate::tracking::MatchPair;

    /// `previous`-mode matches of keypoint `matched[i]` to keypoint `i`, moving each point by
    /// (1, 0); `inlier[i]` says which pairs RANSAC kept.
    fn step(matched: &[u32], x: &[f32], inlier: &[bool]) -> MatchesData {
        let mut m = MatchesData::reference(1, MatchTarget::Previous, (100, 80));
        m.status = MatchStatus::Ok;
        m.homography = Some(Homography::IDENTITY);
        m.pairs = matched
            .iter()
            .zip(x)
            .enumerate()
            .map(|(i, (&a, &x))| MatchPair {
                matched: a,
                current: i as u32,
                distance: 0.1,
                matched_point: [x, 5.0],
                current_point: [x + 1.0, 5.0],
            })
            .collect();
        m.inliers = inlier.to_vec();
        m.num_inliers = inlier.iter().filter(|i| **i).count() as u32;
        m
    }

    fn xs(t: &Track) -> Vec<f32> {
        t.points().map(|p| p[0]).collect()
    }

    #[test]
    fn inliers_extend_tracks_and_the_rest_end() {
        let mut book = TrackBook::new();
        // Keypoints 0 and 1 matched from 0 and 1; pair 1 is an outlier.
        book.advance(Some(&step(&[0, 1], &[10.0, 20.0], &[true, false])), 3, 10);
        assert_eq!(book.tracks().count(), 1);
        assert_eq!(xs(book.get(0).unwrap()), [10.0, 11.0]);
        assert!(book.get(1).is_none() && book.get(2).is_none());
        // Keypoints are renumbered each frame: keypoint 0 now continues the old keypoint 0 at
        // index 1, and a new track starts at index 0 from the old (untracked) keypoint 2.
        book.advance(Some(&step(&[2, 0], &[30.0, 11.0], &[true, true])), 0, 10);
        assert_eq!(xs(book.get(1).unwrap()), [10.0, 11.0, 12.0]);
        assert_eq!(xs(book.get(0).unwrap()), [30.0, 31.0]);
    }

    #[test]
    fn tracks_keep_length_past_frames() {
        let mut book = TrackBook::new();
        for i in 0..6 {
            book.advance(Some(&step(&[0], &[i as f32], &[true])), 1, 2);
        }
        assert_eq!(xs(book.get(0).unwrap()), [4.0, 5.0, 6.0]);
        // A length of 0 counts as 1: the segment from the previous frame.
        book.advance(Some(&step(&[0], &[6.0], &[true])), 1, 0);
        assert_eq!(xs(book.get(0).unwrap()), [6.0, 7.0]);
    }

    #[test]
    fn other_frames_end_every_track() {
        let ok = step(&[0], &[1.0], &[true]);
        let mut lost = ok.clone();
        lost.status = MatchStatus::Lost;
        let mut reference_mode = ok.clone();
        reference_mode.target = MatchTarget::Reference;
        let restart = MatchesData::reference(2, MatchTarget::Previous, (100, 80));
        for other in [Some(&lost), Some(&reference_mode), Some(&restart), None] {
            let mut book = TrackBook::new();
            book.advance(Some(&ok), 1, 5);
            assert_eq!(book.tracks().count(), 1);
            book.advance(other, 1, 5);
            assert_eq!(book.tracks().count(), 0, "{other:?}");
            // The next ok frame starts afresh from the matched position.
            book.advance(Some(&ok), 1, 5);
            assert_eq!(xs(book.get(0).unwrap()), [1.0, 2.0]);
        }
        let mut book = TrackBook::new();
        book.advance(Some(&ok), 1, 5);
        book.clear();
        assert!(book.get(0).is_none());
    }
}
