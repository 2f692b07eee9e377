//! The running state of `superpointdetect`: the detector (own or shared with a batching group)
//! and the `json-location` writer.

use std::fs::File;
use std::io::{BufWriter, Write};

use superpoint::batching::BatchedDetector;
use superpoint::json::FrameRecord;
use superpoint::{Detections, Detector, DetectorConfig, Frame};

/// The element's own model instance, or a share of a batching group's.
pub(super) enum Backend {
    Own(Box<Detector>),
    Batched(BatchedDetector),
}

impl Backend {
    pub(super) fn config(&self) -> &DetectorConfig {
        match self {
            Backend::Own(d) => d.config(),
            Backend::Batched(d) => d.config(),
        }
    }

    /// Set when frames are resized to the model's fixed input size: say so once, at start.
    pub(super) fn input_note(&self) -> Option<String> {
        match self {
            Backend::Own(d) => d.input_note(),
            Backend::Batched(d) => d.input_note(),
        }
    }

    pub(super) fn set_config(&mut self, config: DetectorConfig) -> Result<(), superpoint::Error> {
        match self {
            Backend::Own(d) => d.set_config(config),
            Backend::Batched(d) => d.set_config(config),
        }
    }

    pub(super) fn detect(
        &mut self,
        frame: &Frame<'_>,
        out: &mut Detections,
    ) -> Result<(), superpoint::Error> {
        match self {
            Backend::Own(d) => d.detect(frame, out),
            Backend::Batched(d) => d.detect(frame, out),
        }
    }

    pub(super) fn model_info(&self) -> &superpoint::onnx::ModelInfo {
        match self {
            Backend::Own(d) => d.model_info(),
            Backend::Batched(d) => d.model_info(),
        }
    }
}

pub(super) struct State {
    pub(super) detector: Backend,
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
