use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use gst_video::prelude::*;

use superpoint::batching::BatchPolicy;
use superpoint::jsonl::JsonLinesWriter;
use superpoint::postprocess::{
    DEFAULT_BORDER, DEFAULT_MAX_KEYPOINTS, DEFAULT_NMS_RADIUS, DEFAULT_THRESHOLD,
};
use superpoint::{Detector, EngineOptions};

use super::settings::Settings;
use super::state::State;
use super::{Provider, Subpixel};
use crate::default_model;
use crate::formats::{self, Preference};
use superpoint::scales::Scales;

mod live;
mod transform;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "superpointdetect",
        gst::DebugColorFlags::empty(),
        Some("SuperPoint keypoint detector"),
    )
});

#[derive(Default)]
pub struct SuperPointDetect {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    /// `frames-dropped`: frames QoS dropped since the last start (readable after stop, and
    /// without the state lock).
    frames_dropped: AtomicU64,
    /// Caps refused this run (too small): their error is posted once, not on every retry of the
    /// negotiation (one per buffer upstream pushes).
    refused_caps: Mutex<Option<gst::Caps>>,
}

#[glib::object_subclass]
impl ObjectSubclass for SuperPointDetect {
    const NAME: &'static str = "GstSuperPointDetect";
    type Type = super::SuperPointDetect;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for SuperPointDetect {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecString::builder("model")
                    .nick("Model")
                    .blurb("SuperPoint ONNX model file (input `image` [N,1,H,W], outputs `scores`, `descriptors`). Default: the first of $SUPERPOINT_MODEL, $XDG_DATA_HOME (~/.local/share)/gst-superpoint/superpoint.onnx, each $XDG_DATA_DIRS (/usr/local/share:/usr/share)/gst-superpoint/superpoint.onnx, the source tree's models/superpoint.onnx. Applies on the next start")
                    .default_value(Some(default_model().as_str()))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("provider", Provider::Cpu)
                    .nick("Provider")
                    .blurb("Where the network runs; cuda falls back to cpu with a warning when the CUDA provider cannot load. Applies on the next start")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecInt::builder("device-id")
                    .nick("Device ID")
                    .blurb("CUDA device index for provider=cuda")
                    .minimum(0)
                    .maximum(64)
                    .default_value(0)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("provider-fallback")
                    .nick("Provider fallback")
                    .blurb("When provider=cuda cannot load: TRUE = post a warning and run on the CPU, FALSE = fail to start with an error saying why. Applies on the next start")
                    .default_value(true)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("threads")
                    .nick("Threads")
                    .blurb("Inference threads on the CPU (0 = one per core). Applies on the next start")
                    .maximum(256)
                    .default_value(0)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecFloat::builder("threshold")
                    .nick("Threshold")
                    .blurb("Minimum heatmap probability of a keypoint")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_THRESHOLD)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("nms-radius")
                    .nick("NMS radius")
                    .blurb("Non-maximum suppression radius in frame pixels (0 = off): a keypoint suppresses weaker ones at most this far along both axes, also when inference-width/height resize the frame")
                    .maximum(64)
                    .default_value(DEFAULT_NMS_RADIUS as u32)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("border")
                    .nick("Border")
                    .blurb("Drop keypoints closer than this many frame pixels to the frame edge (kept keypoints lie within [border, width - 1 - border]), also when inference-width/height resize the frame")
                    .maximum(1024)
                    .default_value(DEFAULT_BORDER as u32)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("max-keypoints")
                    .nick("Max keypoints")
                    .blurb("Keep at most this many keypoints per frame, best first (0 = all)")
                    .maximum(100_000)
                    .default_value(DEFAULT_MAX_KEYPOINTS as u32)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("subpixel", Subpixel::default())
                    .nick("Sub-pixel refinement")
                    .blurb("How keypoint positions are refined below the heatmap's pixel grid, around each peak kept by NMS; descriptors are sampled at the refined positions, which stay within border. none = integer heatmap pixels (the original SuperPoint). The 5x5 soft-argmax default gave the best 1-px accuracy on the Oxford and HPatches real pairs (MMA@1 0.406 against 0.350 with none)")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("scales")
                    .nick("Scales")
                    .blurb("Multi-scale detection: comma-separated factors (up to 4, each in (0, 2]) the frame, or the inference size when set, is resized by before the network, e.g. 1,0.71,0.5. The network runs once per scale and the keypoints are merged with nms-radius across scales in frame pixels; the meta gives each keypoint's scale. Costs one network run per scale (measured at 640x480: 1.25x the time for 1,0.5 and 1.78x for 1,0.71,0.5); not with batch-group or a model with a fixed input size. An unreadable value is refused with a warning and the last value kept")
                    .default_value(Some("1"))
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("inference-width")
                    .nick("Inference width")
                    .blurb("Resize frames to this width for the network (0 = native size, padded to a multiple of 8; otherwise >= 16, rounded down to a multiple of 8). Set together with inference-height: both 0, or both >= 16. While playing, the pair takes effect at the next frame once it is valid; until then the last valid size is kept and one warning is posted. Keypoints, border and nms-radius stay in frame pixels")
                    .maximum(8192)
                    .default_value(0)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("inference-height")
                    .nick("Inference height")
                    .blurb("Resize frames to this height for the network (0 = native size, otherwise >= 16, rounded down to a multiple of 8). Set together with inference-width (see there)")
                    .maximum(8192)
                    .default_value(0)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("descriptors")
                    .nick("Descriptors")
                    .blurb("Compute 256-D descriptors for the keypoints (needed by superpointmatch). A model without a descriptor output needs FALSE: at start TRUE is an error, while playing it is ignored with a warning")
                    .default_value(true)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("post-messages")
                    .nick("Post messages")
                    .blurb("Post a `superpoint-keypoints` element message (pts, count, keypoints as [x, y, score]) per frame")
                    .default_value(false)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("message-descriptors")
                    .nick("Message descriptors")
                    .blurb("With post-messages, add the keypoints' descriptors to each `superpoint-keypoints` message: `descriptors`, a GstBuffer of count x 256 float32 (native byte order, row-major, unit norm; 1 MB at 1000 keypoints) and `descriptor-size` (256). Frames without descriptors (descriptors=false) get neither field")
                    .default_value(false)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("batch-group")
                    .nick("Batch group")
                    .blurb("Share one model instance with every superpointdetect of this group name in the process and run their frames in batches (unset = own instance, no batching). All members need the same model, provider, batch-size and max-latency. Applies on the next start")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("batch-size")
                    .nick("Batch size")
                    .blurb("Most frames of a batch-group per forward pass. Applies on the next start")
                    .minimum(1)
                    .maximum(64)
                    .default_value(4)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("max-latency")
                    .nick("Max latency")
                    .blurb("Longest wait, in microseconds, of a batch-group's first frame for others to fill the batch (added latency when fewer streams than batch-size are active). Applies on the next start")
                    .maximum(1_000_000)
                    .default_value(10_000)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("json-location")
                    .nick("JSON location")
                    .blurb("Write one JSON object per frame (schema version 1, schemas/frame-record-v1.json: version, frame, pts, width, height, model, keypoints [[x,y,score]] in frame pixels) to this JSON Lines file; unset = none. Each line is written whole or not at all and flushed to the file before its buffer goes downstream, so the file is complete when EOS reaches the bus and a killed process loses at most the frame in flight. Applies on the next start")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt64::builder("frames-dropped")
                    .nick("Frames dropped")
                    .blurb("Frames not processed since the last start because they were already late (QoS, on by default through the `qos` property: in a live pipeline a detector slower than the frame rate drops late frames instead of building up delay; the first drop posts one warning). Read-only")
                    .read_only()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn constructed(&self) {
        self.parent_constructed();
        // A detector slower than a live source must drop late frames, not queue up delay.
        self.obj().set_qos(true);
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        match pspec.name() {
            "model" => {
                s.model = value
                    .get::<Option<String>>()
                    .expect("type checked")
                    .unwrap_or_else(default_model)
            }
            "provider" => s.provider = value.get().expect("type checked"),
            "device-id" => s.device_id = value.get().expect("type checked"),
            "provider-fallback" => s.provider_fallback = value.get().expect("type checked"),
            "threads" => s.threads = value.get().expect("type checked"),
            "threshold" => s.threshold = value.get().expect("type checked"),
            "nms-radius" => s.nms_radius = value.get().expect("type checked"),
            "border" => s.border = value.get().expect("type checked"),
            "max-keypoints" => s.max_keypoints = value.get().expect("type checked"),
            "subpixel" => s.subpixel = value.get().expect("type checked"),
            "scales" => {
                let text = value
                    .get::<Option<String>>()
                    .expect("type checked")
                    .unwrap_or_else(|| "1".into());
                match text.parse::<Scales>() {
                    Ok(scales) => s.scales = scales,
                    Err(e) => glib::g_warning!(
                        "superpointdetect",
                        "ignoring scales {:?}, keeping {}: {}",
                        text,
                        s.scales,
                        e
                    ),
                }
            }
            "inference-width" => s.inference_width = value.get().expect("type checked"),
            "inference-height" => s.inference_height = value.get().expect("type checked"),
            "descriptors" => s.descriptors = value.get().expect("type checked"),
            "post-messages" => s.post_messages = value.get().expect("type checked"),
            "message-descriptors" => s.message_descriptors = value.get().expect("type checked"),
            "json-location" => s.json_location = value.get().expect("type checked"),
            "batch-group" => s.batch_group = value.get().expect("type checked"),
            "batch-size" => s.batch_size = value.get().expect("type checked"),
            "max-latency" => s.max_latency_us = value.get().expect("type checked"),
            other => unreachable!("unknown property {other}"),
        }
        gst::debug!(CAT, imp = self, "set {} = {:?}", pspec.name(), value);
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap();
        match pspec.name() {
            "model" => s.model.to_value(),
            "provider" => s.provider.to_value(),
            "device-id" => s.device_id.to_value(),
            "provider-fallback" => s.provider_fallback.to_value(),
            "threads" => s.threads.to_value(),
            "threshold" => s.threshold.to_value(),
            "nms-radius" => s.nms_radius.to_value(),
            "border" => s.border.to_value(),
            "max-keypoints" => s.max_keypoints.to_value(),
            "subpixel" => s.subpixel.to_value(),
            "scales" => s.scales.to_string().to_value(),
            "inference-width" => s.inference_width.to_value(),
            "inference-height" => s.inference_height.to_value(),
            "descriptors" => s.descriptors.to_value(),
            "post-messages" => s.post_messages.to_value(),
            "message-descriptors" => s.message_descriptors.to_value(),
            "json-location" => s.json_location.to_value(),
            "batch-group" => s.batch_group.to_value(),
            "batch-size" => s.batch_size.to_value(),
            "max-latency" => s.max_latency_us.to_value(),
            "frames-dropped" => self.frames_dropped.load(Ordering::Relaxed).to_value(),
            other => unreachable!("unknown property {other}"),
        }
    }
}

impl GstObjectImpl for SuperPointDetect {}

impl ElementImpl for SuperPointDetect {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "SuperPoint keypoint detector",
                "Filter/Analyzer/Video",
                "Detects SuperPoint keypoints and 256-D descriptors and attaches them as SuperPointKeypointsMeta; pixels pass through. Reads the luma of GRAY8/16, 8- and 10-bit YUV (planar, semi-planar, packed 4:2:2) and RGB-family frames directly; put videoconvert first for other formats",
                "gst-superpoint developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            // Any size negotiates: a frame under MIN_FRAME_SIDE then gets an error that says so
            // (set_caps), where a template minimum would give only "not-negotiated".
            formats::pad_templates(&formats::caps(Preference::Luma, 1))
        });
        TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for SuperPointDetect {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        *self.refused_caps.lock().unwrap() = None;
        let settings = self.settings.lock().unwrap().clone();
        let model = PathBuf::from(&settings.model);
        let options = EngineOptions {
            provider: match settings.provider {
                Provider::Cpu => superpoint::Provider::Cpu,
                Provider::Cuda => superpoint::Provider::Cuda,
            },
            device_id: settings.device_id,
            threads: settings.threads as usize,
        };
        let config = settings.detector_config();
        let load = |options: &EngineOptions| match &settings.batch_group {
            Some(group) => Detector::join_batch_group(
                group,
                &model,
                options,
                BatchPolicy {
                    batch_size: settings.batch_size as usize,
                    max_latency: Duration::from_micros(settings.max_latency_us as u64),
                },
                config,
            ),
            None => Detector::new(&model, options, config),
        };
        let detector = match load(&options) {
            Err(superpoint::Error::ProviderUnavailable(why)) if settings.provider_fallback => {
                gst::element_imp_warning!(
                    self,
                    gst::ResourceError::Settings,
                    ["provider=cuda unavailable, running on the CPU: {}", why]
                );
                load(&EngineOptions {
                    provider: superpoint::Provider::Cpu,
                    ..options
                })
            }
            other => other,
        }
        .map_err(|e| {
            let kind = match &e {
                superpoint::Error::Config(_) => gst::ResourceError::Settings,
                superpoint::Error::Runtime(_) => gst::ResourceError::Failed,
                _ => gst::ResourceError::OpenRead,
            };
            gst::error_msg!(kind, ("superpointdetect cannot start: {}", e))
        })?;
        let info = detector.model_info();
        if !info.trained {
            gst::element_imp_warning!(
                self,
                gst::ResourceError::Settings,
                [
                    "model {} ({}) has RANDOM, untrained weights: keypoints are meaningless (plumbing tests only)",
                    settings.model,
                    info.model_id
                ]
            );
        }
        gst::info!(
            CAT,
            imp = self,
            "loaded {} (model id {})",
            settings.model,
            info.model_id
        );
        if let Some(note) = detector.input_note() {
            gst::info!(CAT, imp = self, "{note}");
            gst::element_imp_info!(self, gst::ResourceError::Settings, ("{}", note));
        }
        if let Some(licence) = &info.licence {
            gst::info!(
                CAT,
                imp = self,
                "model {} licence: {}",
                info.model_id,
                licence
            );
        }
        let json = match &settings.json_location {
            Some(path) => Some(JsonLinesWriter::create(path).map_err(|e| {
                gst::error_msg!(gst::ResourceError::OpenWrite, ("json-location: {}", e))
            })?),
            None => None,
        };
        *self.state.lock().unwrap() = Some(State::new(detector, json));
        self.frames_dropped.store(0, Ordering::Relaxed);
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        // json-location lines are written whole and flushed per frame: nothing is left to flush,
        // so stopping never fails (a write error was posted when it happened).
        *self.state.lock().unwrap() = None;
        Ok(())
    }

    fn set_caps(&self, incaps: &gst::Caps, _outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let info = gst_video::VideoInfo::from_caps(incaps)
            .map_err(|_| gst::loggable_error!(CAT, "cannot parse caps {}", incaps))?;
        if formats::layout_of(info.format()).is_none() {
            return Err(gst::loggable_error!(
                CAT,
                "unsupported format {:?}",
                info.format()
            ));
        }
        let min = superpoint::MIN_FRAME_SIDE as u32;
        if info.width() < min || info.height() < min {
            let mut refused = self.refused_caps.lock().unwrap();
            if refused.as_ref() != Some(incaps) {
                *refused = Some(incaps.clone());
                gst::element_imp_error!(
                    self,
                    gst::CoreError::Negotiation,
                    (
                        "frame {}x{} is too small: SuperPoint needs at least {min}x{min} pixels; scale it up before superpointdetect (videoscale ! video/x-raw,width=W,height=H)",
                        info.width(),
                        info.height()
                    )
                );
            }
            return Err(gst::loggable_error!(
                CAT,
                "{}x{} is under {min}x{min}",
                info.width(),
                info.height()
            ));
        }
        gst::debug!(
            CAT,
            imp = self,
            "negotiated {}x{} {:?}",
            info.width(),
            info.height(),
            info.format()
        );
        self.measure_cost(info);
        Ok(())
    }

    fn submit_input_buffer(
        &self,
        is_discont: bool,
        inbuf: gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let pts = inbuf.pts();
        let submitted = self.parent_submit_input_buffer(is_discont, inbuf);
        if submitted == Ok(gst_base::BASE_TRANSFORM_FLOW_DROPPED) {
            self.frame_dropped(pts);
        }
        submitted
    }

    fn query(&self, direction: gst::PadDirection, query: &mut gst::QueryRef) -> bool {
        if !BaseTransformImplExt::parent_query(self, direction, query) {
            return false;
        }
        // Downstream asks how late frames can arrive: upstream's latency plus one detection.
        if direction == gst::PadDirection::Src
            && let gst::QueryViewMut::Latency(q) = query.view_mut()
        {
            let (live, min, max) = q.result();
            let reported = match self.state.lock().unwrap().as_mut() {
                Some(state) => state.timing.report(),
                None => Duration::ZERO,
            };
            let cost = gst::ClockTime::from_nseconds(reported.as_nanos() as u64);
            gst::debug!(
                CAT,
                imp = self,
                "latency: adding the measured {cost} per frame"
            );
            q.set(live, min + cost, max.map(|m| m + cost));
        }
        true
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.process(buf)
    }
}
