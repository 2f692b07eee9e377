//! JSON formats: `superpoint detect --json` files and the per-frame records (schema version
//! [`RECORD_VERSION`]) that `superpointdetect json-location` and `superpointpublish` write, one
//! JSON object per line ([`JsonLinesWriter`](crate::jsonl::JsonLinesWriter)) or one per MQTT
//! message. The JSON Schema of a record is `schemas/frame-record-v1.json` at the repository root.

use serde::{Deserialize, Serialize};

use crate::detection::Detections;
use crate::onnx::DESCRIPTOR_DIM;
use crate::postprocess::Keypoint;
use crate::tracking::{KeypointsData, MatchesData};

/// One image's detections: `{"width","height","keypoints":[[x,y,score],...],"descriptors":[[f32;256],...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectionFile {
    /// Image width.
    pub width: u32,
    /// Image height.
    pub height: u32,
    /// `[x, y, score]` per keypoint, pixels, (0,0) = centre of the top-left pixel.
    pub keypoints: Vec<[f32; 3]>,
    /// One descriptor per keypoint (any length, the same for all; empty when not computed).
    #[serde(default)]
    pub descriptors: Vec<Vec<f32>>,
    /// Per keypoint, the scale it was detected at (multi-scale detection, `--scales`); absent
    /// when the image was run at one scale.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scales: Vec<f32>,
}

impl From<&Detections> for DetectionFile {
    fn from(d: &Detections) -> Self {
        DetectionFile {
            width: d.width,
            height: d.height,
            keypoints: d.keypoints.iter().map(|k| [k.x, k.y, k.score]).collect(),
            descriptors: d
                .descriptors
                .chunks_exact(DESCRIPTOR_DIM)
                .map(|c| c.to_vec())
                .collect(),
            scales: d.scales.clone(),
        }
    }
}

impl DetectionFile {
    /// Keypoints as structs.
    pub fn keypoints(&self) -> Vec<Keypoint> {
        self.keypoints
            .iter()
            .map(|k| Keypoint {
                x: k[0],
                y: k[1],
                score: k[2],
            })
            .collect()
    }
}

/// The `version` of the [`FrameRecord`] schema written by this build.
pub const RECORD_VERSION: u32 = 1;

/// One frame's results: one line of a `json-location` / `superpointpublish location` file, or one
/// MQTT message of `superpointpublish`. Pixel coordinates: (0,0) = centre of the top-left pixel,
/// x right, y down. Made only by [`FrameRecord::new`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameRecord {
    /// Schema version ([`RECORD_VERSION`]).
    pub version: u32,
    /// Frame number since the writing element started (0-based).
    pub frame: u64,
    /// Presentation timestamp in nanoseconds, if the buffer had one.
    pub pts: Option<u64>,
    /// Frame width, pixels.
    pub width: u32,
    /// Frame height, pixels.
    pub height: u32,
    /// Identifier of the model that produced the keypoints.
    pub model: String,
    /// `[x, y, score]` per keypoint, frame pixels, best first.
    pub keypoints: Vec<[f32; 3]>,
    /// Per keypoint, the scale it was detected at (multi-scale detection, `scales`); absent when
    /// the frame was run at one scale.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scales: Vec<f32>,
    /// With descriptors asked for: the `keypoints.len()` x 256 unit-norm float32 descriptors,
    /// little-endian, row-major (row `i` = keypoint `i`), in standard base64 with padding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub descriptors: Option<String>,
    /// What `superpointmatch` found, when it ran on the frame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matches: Option<MatchesRecord>,
}

/// The matches of a frame ([`MatchesData`] as JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchesRecord {
    /// `"previous"` or `"reference"`: what the frame was matched against.
    pub mode: String,
    /// `"reference"` (the frame starts a chain / is the reference), `"ok"` or `"lost"`.
    pub status: String,
    /// `[width, height]` of the matched frame, pixels.
    pub matched_size: [u32; 2],
    /// `[width, height]` of the reference (first frame of the chain, or reference), pixels.
    pub reference_size: [u32; 2],
    /// Number of RANSAC inliers.
    pub num_inliers: u32,
    /// Root mean square reprojection error of the inliers, pixels (0 when lost).
    pub rms_error: f64,
    /// Matched frame -> this frame, 9 row-major values; `null` when lost.
    pub homography: Option<[f64; 9]>,
    /// This frame -> reference, 9 row-major values; `null` when lost.
    pub to_reference: Option<[f64; 9]>,
    /// `[matched keypoint index, current keypoint index, descriptor distance, inlier]` per match.
    pub pairs: Vec<(u32, u32, f32, bool)>,
    /// `previous` mode: `[track id, age]` per keypoint of this frame (index = keypoint index);
    /// age = earlier consecutive frames the track was followed through. Empty in `reference`
    /// mode.
    pub tracks: Vec<(u64, u32)>,
}

impl From<&MatchesData> for MatchesRecord {
    fn from(m: &MatchesData) -> Self {
        MatchesRecord {
            mode: m.target.as_str().to_owned(),
            status: m.status.as_str().to_owned(),
            matched_size: [m.target_size.0, m.target_size.1],
            reference_size: [m.reference_size.0, m.reference_size.1],
            num_inliers: m.num_inliers,
            rms_error: m.rms_error,
            homography: m.homography.map(|h| h.0),
            to_reference: m.to_reference.map(|h| h.0),
            pairs: m
                .pairs
                .iter()
                .zip(&m.inliers)
                .map(|(p, &inlier)| (p.matched, p.current, p.distance, inlier))
                .collect(),
            tracks: m.tracks.iter().map(|t| (t.id, t.age)).collect(),
        }
    }
}

impl FrameRecord {
    /// The record of frame number `frame` at `pts` (nanoseconds) with `keypoints` and, if
    /// `superpointmatch` ran, `matches`; `descriptors` adds the descriptors in base64 (when the
    /// keypoints have them).
    pub fn new(
        frame: u64,
        pts: Option<u64>,
        keypoints: &KeypointsData,
        matches: Option<&MatchesData>,
        descriptors: bool,
    ) -> Self {
        use base64::Engine as _;
        FrameRecord {
            version: RECORD_VERSION,
            frame,
            pts,
            width: keypoints.width,
            height: keypoints.height,
            model: keypoints.model_id.clone(),
            keypoints: keypoints
                .keypoints
                .iter()
                .map(|k| [k.x, k.y, k.score])
                .collect(),
            scales: keypoints.scales.clone(),
            descriptors: (descriptors && keypoints.has_descriptors()).then(|| {
                let bytes: Vec<u8> = keypoints
                    .descriptors
                    .iter()
                    .flat_map(|v| v.to_le_bytes())
                    .collect();
                base64::engine::general_purpose::STANDARD.encode(bytes)
            }),
            matches: matches.map(MatchesRecord::from),
        }
    }

    /// The descriptors decoded: `keypoints.len()` x 256 values, row-major. `None` without
    /// descriptors; an error names what is malformed.
    pub fn decode_descriptors(&self) -> Option<Result<Vec<f32>, String>> {
        use base64::Engine as _;
        let text = self.descriptors.as_ref()?;
        Some(
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|e| format!("descriptors are not base64: {e}"))
                .and_then(|bytes| {
                    let expected = self.keypoints.len() * DESCRIPTOR_DIM * 4;
                    if bytes.len() != expected {
                        return Err(format!(
                            "descriptors have {} bytes, not {} keypoints x {DESCRIPTOR_DIM} x 4",
                            bytes.len(),
                            self.keypoints.len()
                        ));
                    }
                    Ok(bytes
                        .chunks_exact(4)
                        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                        .collect())
                }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Homography;
    use crate::tracking::{KeypointTrack, MatchPair, MatchStatus, MatchTarget};

    pub(crate) fn sample_keypoints() -> KeypointsData {
        KeypointsData {
            width: 64,
            height: 48,
            keypoints: vec![
                Keypoint {
                    x: 1.5,
                    y: 2.0,
                    score: 0.5,
                },
                Keypoint {
                    x: 10.0,
                    y: 20.25,
                    score: 0.125,
                },
            ],
            descriptors: (0..2 * DESCRIPTOR_DIM).map(|i| i as f32 / 512.0).collect(),
            model_id: "m1".into(),
            scales: Vec::new(),
        }
    }

    #[test]
    fn records_carry_keypoints_descriptors_matches_and_tracks() {
        let k = sample_keypoints();
        let mut m = MatchesData::reference(4, MatchTarget::Previous, (64, 48));
        m.status = MatchStatus::Ok;
        m.pairs.push(MatchPair {
            matched: 3,
            current: 1,
            distance: 0.25,
            matched_point: [9.0, 20.0],
            current_point: [10.0, 20.25],
        });
        m.inliers.push(true);
        m.num_inliers = 1;
        m.homography = Some(Homography([1.0, 0.0, 1.0, 0.0, 1.0, 0.25, 0.0, 0.0, 1.0]));
        m.tracks = vec![
            KeypointTrack { id: 7, age: 0 },
            KeypointTrack { id: 2, age: 5 },
        ];
        let r = FrameRecord::new(9, Some(40), &k, Some(&m), true);
        let line = serde_json::to_string(&r).unwrap();
        assert!(
            line.starts_with(r#"{"version":1,"frame":9,"pts":40,"width":64,"height":48,"model":"m1","keypoints":[[1.5,2.0,0.5],[10.0,20.25,0.125]],"descriptors":""#),
            "{line}"
        );
        assert!(
            line.ends_with(r#""matches":{"mode":"previous","status":"ok","matched_size":[64,48],"reference_size":[64,48],"num_inliers":1,"rms_error":0.0,"homography":[1.0,0.0,1.0,0.0,1.0,0.25,0.0,0.0,1.0],"to_reference":[1.0,0.0,0.0,0.0,1.0,0.0,0.0,0.0,1.0],"pairs":[[3,1,0.25,true]],"tracks":[[7,0],[2,5]]}}"#),
            "{line}"
        );
        let back: FrameRecord = serde_json::from_str(&line).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.decode_descriptors().unwrap().unwrap(), k.descriptors);
        // Without descriptors or matches the fields are left out.
        let r = FrameRecord::new(0, None, &k, None, false);
        let line = serde_json::to_string(&r).unwrap();
        assert!(
            !line.contains("descriptors") && !line.contains("matches"),
            "{line}"
        );
        assert!(line.contains(r#""pts":null"#));
        assert!(r.decode_descriptors().is_none());
    }
}
