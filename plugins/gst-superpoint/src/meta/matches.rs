//! [`SuperPointMatchesMeta`]: the matches, inliers and homographies `superpointmatch` attaches.

use std::sync::Arc;

use superpoint::Homography;
pub use superpoint::tracking::{MatchPair, MatchStatus, MatchTarget, MatchesData};

use super::define_arc_meta;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::{HomographyData, HomographyMeta, WarpKind};

    fn sample() -> MatchesData {
        let mut d = MatchesData::reference(3, MatchTarget::Previous, (100, 50));
        d.pairs.push(MatchPair {
            matched: 0,
            current: 1,
            distance: 0.1,
            matched_point: [10.0, 10.0],
            current_point: [13.0, 14.0],
        });
        d.inliers.push(true);
        d.num_inliers = 1;
        d.status = MatchStatus::Ok;
        d
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
