//! Keypoint tracks of `previous` mode as paths: the positions of each track id of
//! [`MatchesData::tracks`] (given by [`TrackIds`](super::TrackIds)) through consecutive frames.
//! Drawn by `superpointoverlay`.

use std::collections::{HashMap, VecDeque};

use super::data::{MatchStatus, MatchTarget, MatchesData};

/// The path of one keypoint track over consecutive frames, oldest position first, in the pixel
/// coordinates of each frame's matches.
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    id: u64,
    points: VecDeque<[f32; 2]>,
}

impl Track {
    /// The track id ([`KeypointTrack::id`](super::KeypointTrack::id)).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Positions, oldest first (at least two: a track is drawn from its first match).
    pub fn points(&self) -> impl ExactSizeIterator<Item = [f32; 2]> + '_ {
        self.points.iter().copied()
    }
}

/// The paths of the tracks that reach the keypoints of the latest frame, by track id.
///
/// Rules: a frame whose matches are `previous`-mode and [`MatchStatus::Ok`] extends, through each
/// RANSAC inlier pair, the path of the current keypoint's track id (or starts one at the matched
/// position) to the current keypoint; paths of ids that do not continue end. Any other frame
/// (lost, a new chain, a reference-mode match, no matches) ends every path, as does
/// [`clear`](Self::clear).
#[derive(Debug, Clone, Default)]
pub struct TrackBook {
    by_id: HashMap<u64, Track>,
    /// Per keypoint of the latest frame, its track id.
    ids: Vec<u64>,
}

impl TrackBook {
    /// A book without tracks.
    pub fn new() -> Self {
        Self::default()
    }

    /// Ends every track (e.g. after a flushing seek or at a new stream).
    pub fn clear(&mut self) {
        self.by_id.clear();
        self.ids.clear();
    }

    /// Advances to the next frame: `matches` of the frame, `None` for a frame without matches.
    /// Paths keep their positions over at most `length` past frames (at least 1).
    pub fn advance(&mut self, matches: Option<&MatchesData>, length: usize) {
        let Some(m) =
            matches.filter(|m| m.target == MatchTarget::Previous && m.status == MatchStatus::Ok)
        else {
            self.clear();
            return;
        };
        let mut old = std::mem::take(&mut self.by_id);
        for p in m.inlier_pairs() {
            let Some(t) = m.tracks.get(p.current as usize) else {
                continue;
            };
            let mut track = old.remove(&t.id).unwrap_or_else(|| Track {
                id: t.id,
                points: VecDeque::from([p.matched_point]),
            });
            track.points.push_back(p.current_point);
            while track.points.len() > length.max(1) + 1 {
                track.points.pop_front();
            }
            self.by_id.insert(t.id, track);
        }
        self.ids = m.tracks.iter().map(|t| t.id).collect();
    }

    /// The live tracks, in id order.
    pub fn tracks(&self) -> impl Iterator<Item = &Track> {
        let mut tracks: Vec<&Track> = self.by_id.values().collect();
        tracks.sort_by_key(|t| t.id);
        tracks.into_iter()
    }

    /// The track that reaches keypoint `keypoint` of the latest frame, if any.
    pub fn get(&self, keypoint: usize) -> Option<&Track> {
        self.by_id.get(self.ids.get(keypoint)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::Homography;
    use crate::tracking::{MatchPair, TrackIds};

    /// `previous`-mode matches of keypoint `matched[i]` to keypoint `i`, moving each point by
    /// (1, 0); `inlier[i]` says which pairs RANSAC kept; track ids from `ids`.
    fn step(ids: &mut TrackIds, matched: &[u32], x: &[f32], inlier: &[bool]) -> MatchesData {
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
        m.tracks = ids.assign(&m, matched.len().max(3));
        m
    }

    fn xs(t: &Track) -> Vec<f32> {
        t.points().map(|p| p[0]).collect()
    }

    fn start(ids: &mut TrackIds, keypoints: usize) {
        ids.assign(
            &MatchesData::reference(0, MatchTarget::Previous, (100, 80)),
            keypoints,
        );
    }

    #[test]
    fn inliers_extend_tracks_and_the_rest_end() {
        let mut ids = TrackIds::new();
        start(&mut ids, 3);
        let mut book = TrackBook::new();
        // Keypoints 0 and 1 matched from 0 and 1; pair 1 is an outlier.
        book.advance(
            Some(&step(&mut ids, &[0, 1], &[10.0, 20.0], &[true, false])),
            10,
        );
        assert_eq!(book.tracks().count(), 1);
        assert_eq!(xs(book.get(0).unwrap()), [10.0, 11.0]);
        assert_eq!(book.get(0).unwrap().id(), 0);
        assert!(book.get(1).is_none() && book.get(2).is_none());
        // Keypoints are renumbered each frame: keypoint 1 now continues the old keypoint 0 (id
        // 0), and keypoint 0 continues the old (unmatched, id 4) keypoint 2.
        book.advance(
            Some(&step(&mut ids, &[2, 0], &[30.0, 11.0], &[true, true])),
            10,
        );
        assert_eq!(xs(book.get(1).unwrap()), [10.0, 11.0, 12.0]);
        assert_eq!(book.get(1).unwrap().id(), 0);
        assert_eq!(xs(book.get(0).unwrap()), [30.0, 31.0]);
        assert_eq!(book.get(0).unwrap().id(), 4);
        let order: Vec<u64> = book.tracks().map(Track::id).collect();
        assert_eq!(order, [0, 4]);
    }

    #[test]
    fn tracks_keep_length_past_frames() {
        let mut ids = TrackIds::new();
        start(&mut ids, 1);
        let mut book = TrackBook::new();
        for i in 0..6 {
            book.advance(Some(&step(&mut ids, &[0], &[i as f32], &[true])), 2);
        }
        assert_eq!(xs(book.get(0).unwrap()), [4.0, 5.0, 6.0]);
        // A length of 0 counts as 1: the segment from the previous frame.
        book.advance(Some(&step(&mut ids, &[0], &[6.0], &[true])), 0);
        assert_eq!(xs(book.get(0).unwrap()), [6.0, 7.0]);
    }

    #[test]
    fn other_frames_end_every_track() {
        let mut ids = TrackIds::new();
        start(&mut ids, 1);
        let ok = step(&mut ids, &[0], &[1.0], &[true]);
        let mut lost = ok.clone();
        lost.status = MatchStatus::Lost;
        let mut reference_mode = ok.clone();
        reference_mode.target = MatchTarget::Reference;
        let restart = MatchesData::reference(2, MatchTarget::Previous, (100, 80));
        for other in [Some(&lost), Some(&reference_mode), Some(&restart), None] {
            let mut book = TrackBook::new();
            book.advance(Some(&ok), 5);
            assert_eq!(book.tracks().count(), 1);
            book.advance(other, 5);
            assert_eq!(book.tracks().count(), 0, "{other:?}");
            // The next ok frame starts afresh from the matched position.
            book.advance(Some(&ok), 5);
            assert_eq!(xs(book.get(0).unwrap()), [1.0, 2.0]);
        }
        let mut book = TrackBook::new();
        book.advance(Some(&ok), 5);
        book.clear();
        assert!(book.get(0).is_none());
    }
}
