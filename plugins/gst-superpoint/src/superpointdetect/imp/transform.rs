//! One frame through `superpointdetect`, in three steps: **detect** (map the frame, run the
//! detector, time it), **record** (the `json-location` line) and **publish** (the
//! `superpoint-keypoints` message and the meta). The state is locked once, for detect and record;
//! messages are posted after it is released (a synchronous bus handler may read properties).

use std::sync::Arc;
use std::time::Instant;

use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_video::prelude::*;

use superpoint::Frame;
use superpoint::json::FrameRecord;
use superpoint::onnx::DESCRIPTOR_DIM;
use superpoint::pixel::row_strides;

use super::super::settings::FrameSettings;
use super::super::state::{Apply, State};
use super::{CAT, SuperPointDetect};
use crate::formats;
use crate::messages::{KeypointsMessage, MessageDescriptors};
use crate::meta::{KeypointsData, SuperPointKeypointsMeta};

/// An error to post once the state is unlocked, and the flow return it ends the frame with.
struct Failure {
    message: gst::ErrorMessage,
    flow: gst::FlowError,
}

impl Failure {
    fn new(message: gst::ErrorMessage, flow: gst::FlowError) -> Self {
        Failure { message, flow }
    }
}

/// What the locked steps hand to [`SuperPointDetect::publish`].
struct Detected {
    frame: u64,
    data: Arc<KeypointsData>,
    /// The detection was slower than the latency last reported: post a latency message.
    latency_changed: bool,
}

impl SuperPointDetect {
    /// `transform_ip`: settings applied, detect, record, publish.
    pub(super) fn process(
        &self,
        buf: &mut gst::BufferRef,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let settings = self.settings.lock().unwrap().per_frame();
        let (applied, outcome) = {
            let mut guard = self.state.lock().unwrap();
            match guard.as_mut() {
                None => (
                    Apply::Unchanged,
                    Err(Failure::new(
                        gst::error_msg!(gst::CoreError::StateChange, ("not started")),
                        gst::FlowError::Flushing,
                    )),
                ),
                Some(state) => {
                    let applied = state.apply_config(settings.detector);
                    let outcome = self.detect(state, buf).and_then(|detected| {
                        Self::record(state, buf.pts(), &detected)?;
                        Ok(detected)
                    });
                    (applied, outcome)
                }
            }
        };
        match applied {
            Apply::Unchanged => {}
            Apply::Applied => {
                gst::info!(CAT, imp = self, "settings applied: {:?}", settings.detector)
            }
            Apply::Rejected(warning) => {
                gst::element_imp_warning!(self, gst::LibraryError::Settings, ("{}", warning))
            }
        }
        let detected = outcome.map_err(|f| {
            self.post_error_message(f.message);
            f.flow
        })?;
        if detected.latency_changed {
            // Slower than the latency last reported: let the pipeline ask again.
            let _ = self
                .obj()
                .post_message(gst::message::Latency::builder().src(&*self.obj()).build());
        }
        self.publish(buf, &settings, detected);
        Ok(gst::FlowSuccess::Ok)
    }

    /// Maps the frame at its buffer's strides and offsets, runs the detector into
    /// `state.detections` and records the time it took; the frame gets its number.
    fn detect(&self, state: &mut State, buf: &gst::BufferRef) -> Result<Detected, Failure> {
        let Some(info) = state.video_info.as_ref() else {
            return Err(Failure::new(
                gst::error_msg!(
                    gst::CoreError::Negotiation,
                    ("no caps before the first buffer")
                ),
                gst::FlowError::NotNegotiated,
            ));
        };
        let started = Instant::now();
        let frame =
            gst_video::VideoFrameRef::from_buffer_ref_readable(buf, info).map_err(|_| {
                Failure::new(
                    gst::error_msg!(gst::StreamError::Decode, ("cannot map the video frame")),
                    gst::FlowError::Error,
                )
            })?;
        let layout = formats::layout_of(frame.format()).ok_or_else(|| {
            Failure::new(
                gst::error_msg!(
                    gst::CoreError::Negotiation,
                    ("unsupported format {:?}", frame.format())
                ),
                gst::FlowError::NotNegotiated,
            )
        })?;
        // The stride and offset of the mapped frame come from the buffer's GstVideoMeta when
        // it has one (decoders, cameras, rawvideoparse), else from the caps.
        let stride = row_strides(&frame.plane_stride()[..1], "superpointdetect").map_err(|e| {
            Failure::new(
                gst::error_msg!(gst::StreamError::Format, ("{}", e)),
                gst::FlowError::NotSupported,
            )
        })?[0];
        let plane = frame.plane_data(0).map_err(|_| {
            Failure::new(
                gst::error_msg!(
                    gst::StreamError::Decode,
                    ("cannot read the first plane of the video frame")
                ),
                gst::FlowError::Error,
            )
        })?;
        let detected = Frame::new(
            plane,
            frame.width() as usize,
            frame.height() as usize,
            stride,
            layout,
        )
        .and_then(|f| state.detector.detect(&f, &mut state.detections));
        let latency_changed = state.timing.record(started.elapsed());
        if let Err(e) = detected {
            return Err(Failure::new(
                gst::error_msg!(gst::StreamError::Failed, ("detection failed: {}", e)),
                gst::FlowError::Error,
            ));
        }
        let det = &state.detections;
        gst::trace!(CAT, imp = self, "{} keypoints", det.keypoints.len());
        let data = Arc::new(KeypointsData {
            width: det.width,
            height: det.height,
            keypoints: det.keypoints.clone(),
            descriptors: det.descriptors.clone(),
            model_id: state.detector.model_info().model_id.clone(),
            scales: det.scales.clone(),
        });
        Ok(Detected {
            frame: state.next_frame(),
            data,
            latency_changed,
        })
    }

    /// With `json-location`, writes the frame's line ([`FrameRecord::new`]: schema version 1,
    /// frame, pts, size, model, keypoints); nothing once the writer stopped after a failure.
    fn record(
        state: &mut State,
        pts: Option<gst::ClockTime>,
        detected: &Detected,
    ) -> Result<(), Failure> {
        if state.json.as_ref().is_none_or(|w| w.stopped()) {
            return Ok(());
        }
        let record = FrameRecord::new(
            detected.frame,
            pts.map(|t| t.nseconds()),
            &detected.data,
            None,
            false,
        );
        state
            .write_json(&record)
            .map_err(|e| Failure::new(e, gst::FlowError::Error))
    }

    /// Posts the `superpoint-keypoints` message (with `post-messages`) and attaches the meta.
    fn publish(&self, buf: &mut gst::BufferRef, settings: &FrameSettings, detected: Detected) {
        let data = detected.data;
        if settings.post_messages {
            let msg = KeypointsMessage {
                pts: buf.pts(),
                frame: detected.frame,
                keypoints: data.keypoints.clone(),
                descriptors: (settings.message_descriptors && !data.descriptors.is_empty()).then(
                    || MessageDescriptors {
                        size: DESCRIPTOR_DIM as u32,
                        data: data.descriptors.clone(),
                    },
                ),
                scales: data.scales.clone(),
            };
            let _ = self.obj().post_message(
                gst::message::Element::builder(msg.to_structure())
                    .src(&*self.obj())
                    .build(),
            );
        }
        SuperPointKeypointsMeta::add(buf, data);
    }
}
