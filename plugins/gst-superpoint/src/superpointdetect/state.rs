//! The running state of `superpointdetect`: the detector (own model instance or a share of a
//! batching group's) and the `json-location` writer.

use std::fs::File;
use std::io::{BufWriter, Write};

use superpoint::json::FrameRecord;
use superpoint::{Detections, Detector, DetectorConfig};

pub(super) struct State {
    /// The element's own model instance, or a share of a batching group's.
    pub(super) detector: Detector,
    pub(super) detections: Detections,
    pub(super) json: Option<BufWriter<File>>,
    pub(super) json_path: Option<String>,
    pub(super) frame_count: u64,
    /// The last configuration asked for while playing that was invalid (warned about once; the
    /// detector keeps its last valid one until the settings change again).
    pub(super) rejected: Option<DetectorConfig>,
}

impl State {
    /// With `json-location`, writes `record` as one JSON line and flushes it to the file: a
    /// killed process loses at most the frame in flight.
    pub(super) fn write_json(&mut self, record: &FrameRecord) -> Result<(), gst::ErrorMessage> {
        let Some(json) = self.json.as_mut() else {
            return Ok(());
        };
        let written = serde_json::to_writer(&mut *json, record)
            .map_err(std::io::Error::other)
            .and_then(|_| json.write_all(b"\n"))
            .and_then(|_| json.flush());
        written.map_err(|e| self.write_error(e))
    }

    /// Flushes `json-location` to the file.
    pub(super) fn flush_json(&mut self) -> Result<(), gst::ErrorMessage> {
        let Some(json) = self.json.as_mut() else {
            return Ok(());
        };
        json.flush().map_err(|e| self.write_error(e))
    }

    fn write_error(&self, e: std::io::Error) -> gst::ErrorMessage {
        gst::error_msg!(
            gst::ResourceError::Write,
            (
                "cannot write json-location {}: {} (check the disk space and the permissions)",
                self.json_path.as_deref().unwrap_or_default(),
                e
            )
        )
    }
}
