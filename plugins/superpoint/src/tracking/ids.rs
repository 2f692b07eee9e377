//! Persistent keypoint track ids of `previous` mode (KLT-style feature tracks): the one home of
//! track identity, used by `superpointmatch` (ids in the matches meta, messages and records) and
//! drawn by `superpointoverlay` through [`TrackBook`](super::TrackBook).

use super::data::{KeypointTrack, MatchStatus, MatchTarget, MatchesData};

/// Gives each keypoint of each `previous`-mode frame a track id.
///
/// Rules:
/// - a keypoint that is a RANSAC inlier of a frame with [`MatchStatus::Ok`] inherits the id of
///   the previous-frame keypoint it matches, and that track's age plus one;
/// - every other keypoint (outliers, unmatched keypoints, every keypoint of a lost frame or of a
///   frame that starts a chain) starts a new track: the next id, age 0;
/// - ids are `u64`, increase monotonically in the order tracks start (keypoint order within a
///   frame), and start again from 0 after [`reset`](Self::reset) (flush, stream start).
///
/// Descriptor matches are one-to-one, so two keypoints never inherit the same id.
#[derive(Debug, Clone, Default)]
pub struct TrackIds {
    /// Tracks of the previous frame's keypoints, by keypoint index.
    previous: Vec<KeypointTrack>,
    next: u64,
}

impl TrackIds {
    /// No tracks; the first id given is 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets every track and restarts the ids from 0 (flushing seek, new stream).
    pub fn reset(&mut self) {
        self.previous.clear();
        self.next = 0;
    }

    /// The id the next new track gets.
    pub fn next_id(&self) -> u64 {
        self.next
    }

    /// Assigns the tracks of a frame of `keypoints` keypoints matched as `data` (its
    /// `pairs[].matched` index the previous frame's keypoints, `pairs[].current` this frame's)
    /// and remembers them for the next frame. Returns one [`KeypointTrack`] per keypoint.
    /// `data` of `reference` mode ends every track and gets none (an empty vector).
    pub fn assign(&mut self, data: &MatchesData, keypoints: usize) -> Vec<KeypointTrack> {
        if data.target != MatchTarget::Previous {
            self.previous.clear();
            return Vec::new();
        }
        let mut inherited: Vec<Option<KeypointTrack>> = vec![None; keypoints];
        if data.status == MatchStatus::Ok {
            for p in data.inlier_pairs() {
                if let (Some(slot), Some(prev)) = (
                    inherited.get_mut(p.current as usize),
                    self.previous.get(p.matched as usize),
                ) {
                    *slot = Some(KeypointTrack {
                        id: prev.id,
                        age: prev.age.saturating_add(1),
                    });
                }
            }
        }
        let tracks: Vec<KeypointTrack> = inherited
            .into_iter()
            .map(|t| {
                t.unwrap_or_else(|| {
                    let id = self.next;
                    self.next += 1;
                    KeypointTrack { id, age: 0 }
                })
            })
            .collect();
        self.previous.clone_from(&tracks);
        tracks
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::Homography;
    use crate::tracking::MatchPair;

    /// Ok `previous`-mode matches: `(matched, current, inlier)` triples.
    fn matched(pairs: &[(u32, u32, bool)]) -> MatchesData {
        let mut m = MatchesData::reference(1, MatchTarget::Previous, (100, 80));
        m.status = MatchStatus::Ok;
        m.homography = Some(Homography::IDENTITY);
        for &(a, b, inlier) in pairs {
            m.pairs.push(MatchPair {
                matched: a,
                current: b,
                distance: 0.1,
                matched_point: [a as f32, 0.0],
                current_point: [b as f32, 0.0],
            });
            m.inliers.push(inlier);
        }
        m.num_inliers = m.inliers.iter().filter(|i| **i).count() as u32;
        m
    }

    fn ids(t: &[KeypointTrack]) -> Vec<(u64, u32)> {
        t.iter().map(|t| (t.id, t.age)).collect()
    }

    #[test]
    fn inliers_inherit_ids_and_the_rest_start_new_tracks() {
        let mut book = TrackIds::new();
        let start = MatchesData::reference(0, MatchTarget::Previous, (100, 80));
        assert_eq!(ids(&book.assign(&start, 3)), [(0, 0), (1, 0), (2, 0)]);
        // Keypoint 0 continues old 2, keypoint 1 is an outlier match of old 0, keypoint 2 is
        // unmatched, keypoint 3 continues old 1.
        let m = matched(&[(0, 1, false), (1, 3, true), (2, 0, true)]);
        assert_eq!(ids(&book.assign(&m, 4)), [(2, 1), (3, 0), (4, 0), (1, 1)]);
        let m = matched(&[(3, 0, true), (0, 1, true)]);
        assert_eq!(ids(&book.assign(&m, 2)), [(1, 2), (2, 2)]);
        assert_eq!(book.next_id(), 5);
    }

    #[test]
    fn lost_and_restarted_frames_end_every_track_and_reset_restarts_ids() {
        let mut book = TrackIds::new();
        let start = MatchesData::reference(0, MatchTarget::Previous, (100, 80));
        book.assign(&start, 2);
        let mut lost = matched(&[(0, 0, true), (1, 1, true)]);
        lost.status = MatchStatus::Lost;
        assert_eq!(ids(&book.assign(&lost, 2)), [(2, 0), (3, 0)]);
        assert_eq!(ids(&book.assign(&start, 1)), [(4, 0)]);
        // Reference mode has no tracks and ends the previous ones.
        let mut reference = matched(&[(0, 0, true)]);
        reference.target = MatchTarget::Reference;
        assert!(book.assign(&reference, 1).is_empty());
        assert_eq!(ids(&book.assign(&matched(&[(0, 0, true)]), 1)), [(5, 0)]);
        book.reset();
        assert_eq!(ids(&book.assign(&start, 2)), [(0, 0), (1, 0)]);
    }

    #[test]
    fn pairs_out_of_range_are_ignored() {
        let mut book = TrackIds::new();
        book.assign(&MatchesData::reference(0, MatchTarget::Previous, (9, 9)), 1);
        // Matched index 5 does not exist in the previous frame; current 7 not in this one.
        let m = matched(&[(5, 0, true), (0, 7, true)]);
        assert_eq!(ids(&book.assign(&m, 1)), [(1, 0)]);
    }
}
