//! The running state of `superpointdetect`, made on start: the detector (own model instance or a
//! share of a batching group's), the negotiated video info, the live-stream timing and the
//! `json-location` writer.

use std::fs::File;

use superpoint::json::FrameRecord;
use superpoint::jsonl::JsonLinesWriter;
use superpoint::{Detections, Detector, DetectorConfig};

use super::timing::Timing;

pub(super) struct State {
    /// The element's own model instance, or a share of a batching group's.
    pub(super) detector: Detector,
    pub(super) detections: Detections,
    /// The negotiated caps (`None` until `set_caps`).
    pub(super) video_info: Option<gst_video::VideoInfo>,
    /// Measured per-frame cost and QoS drops.
    pub(super) timing: Timing,
    /// `json-location`: each line whole or not at all, flushed per frame.
    pub(super) json: Option<JsonLinesWriter<File>>,
    /// Number of the next frame (frames QoS dropped keep theirs).
    pub(super) frame_count: u64,
    /// The last configuration asked for while playing that was invalid (warned about once; the
    /// detector keeps its last valid one until the settings change again).
    pub(super) rejected: Option<DetectorConfig>,
}

impl State {
    /// A state for a started `detector`, writing JSON Lines to `json`.
    pub(super) fn new(detector: Detector, json: Option<JsonLinesWriter<File>>) -> Self {
        State {
            detector,
            detections: Detections::default(),
            video_info: None,
            timing: Timing::default(),
            json,
            frame_count: 0,
            rejected: None,
        }
    }

    /// The number for the next frame.
    pub(super) fn next_frame(&mut self) -> u64 {
        let n = self.frame_count;
        self.frame_count += 1;
        n
    }

    /// Brings the detector to `wanted` before a frame. A configuration that is not valid (e.g.
    /// inference-width set, inference-height not yet) leaves the last valid one in place and
    /// returns the warning to post, once per rejected configuration; the stream goes on.
    pub(super) fn apply_config(&mut self, wanted: DetectorConfig) -> Apply {
        if *self.detector.config() == wanted || self.rejected == Some(wanted) {
            return Apply::Unchanged;
        }
        let kept = *self.detector.config();
        match self.detector.set_config(wanted) {
            Ok(()) => {
                self.rejected = None;
                Apply::Applied
            }
            Err(e) => {
                self.rejected = Some(wanted);
                Apply::Rejected(format!(
                    "ignoring the new settings until they are valid, keeping the last valid ones (inference {}x{}, threshold {}, nms-radius {}, border {}, max-keypoints {}, subpixel {}, scales {}, descriptors {}): {}",
                    kept.inference_width,
                    kept.inference_height,
                    kept.post.threshold,
                    kept.post.nms_radius,
                    kept.post.border,
                    kept.post.max_keypoints,
                    kept.post.subpixel,
                    kept.scales,
                    kept.descriptors,
                    e
                ))
            }
        }
    }

    /// With `json-location`, writes `record` as one JSON line, flushed to the file: a killed
    /// process loses at most the frame in flight. The first failure is returned (the caller posts
    /// it); the writer then stops, and nothing is left buffered for `stop()` to fail on.
    pub(super) fn write_json(&mut self, record: &FrameRecord) -> Result<(), gst::ErrorMessage> {
        let Some(json) = self.json.as_mut() else {
            return Ok(());
        };
        json.write(record)
            .map(|_| ())
            .map_err(|e| gst::error_msg!(gst::ResourceError::Write, ("json-location: {}", e)))
    }
}

/// What [`State::apply_config`] did.
#[derive(Debug, PartialEq)]
pub(super) enum Apply {
    /// The detector already runs the wanted configuration (or it was rejected before).
    Unchanged,
    /// The detector now runs the wanted configuration.
    Applied,
    /// Not valid: the last valid configuration stays; the warning to post.
    Rejected(String),
}
