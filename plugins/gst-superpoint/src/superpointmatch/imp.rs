use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;

use superpoint::PostParams;
use superpoint::matching::{DEFAULT_RATIO, MatchParams};
use superpoint::ransac::{
    DEFAULT_CONFIDENCE, DEFAULT_THRESHOLD as DEFAULT_RANSAC_THRESHOLD, RansacParams,
};
use superpoint::tracking::{ParamsUpdate, TrackParams, TrackedFrame, Tracker};
use superpoint::views::ViewParams;

use super::MatchMode;
use super::reference::detect_reference;
use crate::default_model;
use crate::formats;
use crate::messages::MatchMessage;
use crate::meta::{
    HomographyMeta, MatchStatus, MatchTarget, SuperPointKeypointsMeta, SuperPointMatchesMeta,
};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "superpointmatch",
        gst::DebugColorFlags::empty(),
        Some("SuperPoint descriptor matching and homography estimation"),
    )
});

/// `max-distance` 0 = no limit.
const DEFAULT_MAX_DISTANCE: f32 = 0.0;
const DEFAULT_MAX_ITERATIONS: u32 = superpoint::ransac::DEFAULT_MAX_ITERATIONS as u32;
const DEFAULT_MIN_INLIERS: u32 = 15;

#[derive(Debug, Clone)]
struct Settings {
    mode: MatchMode,
    reference_location: Option<String>,
    reference_model: String,
    reference_post: PostParams,
    reference_views: ViewParams,
    mutual: bool,
    ratio: f32,
    max_distance: f32,
    ransac_threshold: f64,
    confidence: f64,
    max_iterations: u32,
    min_inliers: u32,
    post_messages: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            mode: MatchMode::Previous,
            reference_location: None,
            reference_model: default_model(),
            reference_post: PostParams::default(),
            reference_views: ViewParams::rotations_and_scales(),
            mutual: true,
            ratio: DEFAULT_RATIO,
            max_distance: DEFAULT_MAX_DISTANCE,
            ransac_threshold: DEFAULT_RANSAC_THRESHOLD,
            confidence: DEFAULT_CONFIDENCE,
            max_iterations: DEFAULT_MAX_ITERATIONS,
            min_inliers: DEFAULT_MIN_INLIERS,
            post_messages: false,
        }
    }
}

impl Settings {
    fn track_params(&self) -> TrackParams {
        TrackParams {
            matching: MatchParams {
                mutual: self.mutual,
                ratio: self.ratio,
                max_distance: if self.max_distance > 0.0 {
                    self.max_distance
                } else {
                    f32::INFINITY
                },
            },
            ransac: RansacParams {
                threshold: self.ransac_threshold,
                confidence: self.confidence,
                max_iterations: self.max_iterations as usize,
                seed: 0,
                refine: true,
            },
        }
    }

    fn target(&self) -> MatchTarget {
        match self.mode {
            MatchMode::Previous => MatchTarget::Previous,
            MatchMode::Reference => MatchTarget::Reference,
        }
    }
}

#[derive(Default)]
pub struct SuperPointMatch {
    settings: Mutex<Settings>,
    tracker: Mutex<Option<Tracker>>,
    /// Set by the `set-reference` action signal: the next frame becomes the reference.
    reset_pending: AtomicBool,
    lost_frames: AtomicU64,
}

#[glib::object_subclass]
impl ObjectSubclass for SuperPointMatch {
    const NAME: &'static str = "GstSuperPointMatch";
    type Type = super::SuperPointMatch;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for SuperPointMatch {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let post = PostParams::default();
            vec![
                glib::ParamSpecEnum::builder_with_default("mode", MatchMode::Previous)
                    .nick("Mode")
                    .blurb("Match each frame against the previous frame, or against a reference (the first frame, the reference-location image, or the frame after a set-reference signal)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("reference-location")
                    .nick("Reference location")
                    .blurb("mode=reference: image file (PNG, JPEG, PNM) used as the reference instead of the first frame; detected at start with reference-model and the reference-* settings. Unset = first frame")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("reference-model")
                    .nick("Reference model")
                    .blurb("SuperPoint ONNX model that detects the reference-location image; must be the model of the upstream superpointdetect. Default: superpointdetect's model default (the first of $SUPERPOINT_MODEL, the user's, then the system's data directories' gst-superpoint/superpoint.onnx, the source tree's models/superpoint.onnx)")
                    .default_value(Some(default_model().as_str()))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecFloat::builder("reference-threshold")
                    .nick("Reference threshold")
                    .blurb("Detection threshold for the reference-location image (use the upstream superpointdetect's threshold)")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(post.threshold)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("reference-nms-radius")
                    .nick("Reference NMS radius")
                    .blurb("Non-maximum suppression radius for the reference-location image, in pixels of that image (detected at its native size)")
                    .maximum(64)
                    .default_value(post.nms_radius as u32)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("reference-border")
                    .nick("Reference border")
                    .blurb("Border without keypoints for the reference-location image, in pixels of that image")
                    .maximum(1024)
                    .default_value(post.border as u32)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("reference-max-keypoints")
                    .nick("Reference max keypoints")
                    .blurb("Keep at most this many keypoints of the reference-location image (0 = all)")
                    .maximum(100_000)
                    .default_value(post.max_keypoints as u32)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("reference-views")
                    .nick("Reference views")
                    .blurb("mode=reference with reference-location: views of the reference image, ROTATIONS@SCALE,... (rotations per turn at each scale, scales in (0, 1]), each described at start and matched on its own; a frame is matched against the view that found the last frame, and against all when that gives fewer than 2 x min-inliers inliers. Finds a target rotated or farther away than the network alone would. 1@1 = the image as it is")
                    .default_value(Some(ViewParams::rotations_and_scales().to_string().as_str()))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("mutual")
                    .nick("Mutual")
                    .blurb("Keep a match only when each descriptor is the other's nearest neighbour")
                    .default_value(true)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecFloat::builder("ratio")
                    .nick("Ratio")
                    .blurb("Lowe's ratio test: keep a match when its distance is below ratio x the second-nearest distance (1 = off)")
                    .minimum(0.01)
                    .maximum(1.0)
                    .default_value(DEFAULT_RATIO)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecFloat::builder("max-distance")
                    .nick("Max distance")
                    .blurb("Keep a match only when the Euclidean distance of the unit descriptors is at most this (0 = no limit; distances lie within [0, 2])")
                    .minimum(0.0)
                    .maximum(2.0)
                    .default_value(DEFAULT_MAX_DISTANCE)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("ransac-threshold")
                    .nick("RANSAC threshold")
                    .blurb("RANSAC inlier threshold: reprojection error in pixels of the current frame")
                    .minimum(0.1)
                    .maximum(1000.0)
                    .default_value(DEFAULT_RANSAC_THRESHOLD)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("confidence")
                    .nick("Confidence")
                    .blurb("RANSAC stops once an all-inlier sample has been drawn with this probability")
                    .minimum(0.5)
                    .maximum(0.999_999)
                    .default_value(DEFAULT_CONFIDENCE)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("max-iterations")
                    .nick("Max iterations")
                    .blurb("Upper bound on RANSAC samples per frame")
                    .minimum(1)
                    .maximum(1_000_000)
                    .default_value(DEFAULT_MAX_ITERATIONS)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("min-inliers")
                    .nick("Min inliers")
                    .blurb("Fewer matches or RANSAC inliers than this mark the frame lost (no homography; the stream continues)")
                    .minimum(4)
                    .maximum(100_000)
                    .default_value(DEFAULT_MIN_INLIERS)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("post-messages")
                    .nick("Post messages")
                    .blurb("Post a `superpoint-match` element message per frame (pts, status, matches, inliers, homography as 9 doubles, to-reference; corner-error against a HomographyMeta ground truth from homographicwarp mode=random)")
                    .default_value(false)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt64::builder("lost-frames")
                    .nick("Lost frames")
                    .blurb("Frames marked lost since the element started")
                    .read_only()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn signals() -> &'static [glib::subclass::Signal] {
        static SIGNALS: LazyLock<Vec<glib::subclass::Signal>> = LazyLock::new(|| {
            vec![
                // set-reference(): the next frame becomes the reference (mode=reference, replacing
                // a reference-location image) or restarts the composed chain (mode=previous).
                glib::subclass::Signal::builder("set-reference")
                    .action()
                    .class_handler(|args| {
                        let element = args[0].get::<super::SuperPointMatch>().expect("signal arg");
                        element.imp().reset_pending.store(true, Ordering::SeqCst);
                        gst::info!(
                            CAT,
                            obj = element,
                            "set-reference: next frame is the reference"
                        );
                        None
                    })
                    .build(),
            ]
        });
        SIGNALS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        match pspec.name() {
            "mode" => s.mode = value.get().expect("type checked"),
            "reference-location" => s.reference_location = value.get().expect("type checked"),
            "reference-model" => {
                s.reference_model = value
                    .get::<Option<String>>()
                    .expect("type checked")
                    .unwrap_or_else(default_model)
            }
            "reference-threshold" => {
                s.reference_post.threshold = value.get().expect("type checked")
            }
            "reference-nms-radius" => {
                s.reference_post.nms_radius = value.get::<u32>().expect("type checked") as usize
            }
            "reference-border" => {
                s.reference_post.border = value.get::<u32>().expect("type checked") as usize
            }
            "reference-views" => {
                let text = value
                    .get::<Option<String>>()
                    .expect("type checked")
                    .unwrap_or_else(|| ViewParams::single().to_string());
                match text.parse::<ViewParams>() {
                    Ok(v) => s.reference_views = v,
                    Err(e) => gst::element_imp_warning!(
                        self,
                        gst::LibraryError::Settings,
                        (
                            "superpointmatch reference-views: {}; keeping {}",
                            e,
                            s.reference_views
                        )
                    ),
                }
            }
            "reference-max-keypoints" => {
                s.reference_post.max_keypoints = value.get::<u32>().expect("type checked") as usize
            }
            "mutual" => s.mutual = value.get().expect("type checked"),
            "ratio" => s.ratio = value.get().expect("type checked"),
            "max-distance" => s.max_distance = value.get().expect("type checked"),
            "ransac-threshold" => s.ransac_threshold = value.get().expect("type checked"),
            "confidence" => s.confidence = value.get().expect("type checked"),
            "max-iterations" => s.max_iterations = value.get().expect("type checked"),
            "min-inliers" => s.min_inliers = value.get().expect("type checked"),
            "post-messages" => s.post_messages = value.get().expect("type checked"),
            other => unreachable!("unknown property {other}"),
        }
        gst::debug!(CAT, imp = self, "set {} = {:?}", pspec.name(), value);
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap();
        match pspec.name() {
            "mode" => s.mode.to_value(),
            "reference-location" => s.reference_location.to_value(),
            "reference-model" => s.reference_model.to_value(),
            "reference-threshold" => s.reference_post.threshold.to_value(),
            "reference-nms-radius" => (s.reference_post.nms_radius as u32).to_value(),
            "reference-border" => (s.reference_post.border as u32).to_value(),
            "reference-max-keypoints" => (s.reference_post.max_keypoints as u32).to_value(),
            "reference-views" => s.reference_views.to_string().to_value(),
            "mutual" => s.mutual.to_value(),
            "ratio" => s.ratio.to_value(),
            "max-distance" => s.max_distance.to_value(),
            "ransac-threshold" => s.ransac_threshold.to_value(),
            "confidence" => s.confidence.to_value(),
            "max-iterations" => s.max_iterations.to_value(),
            "min-inliers" => s.min_inliers.to_value(),
            "post-messages" => s.post_messages.to_value(),
            "lost-frames" => self.lost_frames.load(Ordering::SeqCst).to_value(),
            other => unreachable!("unknown property {other}"),
        }
    }
}

impl GstObjectImpl for SuperPointMatch {}

impl ElementImpl for SuperPointMatch {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "SuperPoint matcher",
                "Filter/Analyzer/Video",
                "Matches SuperPoint descriptors (mutual nearest neighbour, ratio test, max distance) against the previous frame or a reference, estimates the homography with RANSAC and attaches SuperPointMatchesMeta; needs superpointdetect upstream; pixels pass through",
                "gst-superpoint developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        // Any raw video: only the metas are read.
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> =
            LazyLock::new(|| formats::pad_templates(&gst::Caps::builder("video/x-raw").build()));
        TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for SuperPointMatch {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = self.settings.lock().unwrap().clone();
        let mut tracker = Tracker::new(settings.track_params()).map_err(|e| {
            gst::error_msg!(
                gst::LibraryError::Settings,
                ("superpointmatch cannot start: {}", e)
            )
        })?;
        match (&settings.reference_location, settings.mode) {
            (Some(location), MatchMode::Reference) => {
                let (views, licence) = detect_reference(
                    &settings.reference_model,
                    settings.reference_post,
                    &settings.reference_views,
                    location,
                )?;
                let data = &views[0];
                gst::info!(
                    CAT,
                    imp = self,
                    "reference {} ({}x{}): {} keypoints upright at full size, {} views ({}), {} keypoints in all, model {}",
                    location,
                    data.width,
                    data.height,
                    data.keypoints.len(),
                    views.len(),
                    settings.reference_views,
                    views.iter().map(|v| v.keypoints.len()).sum::<usize>(),
                    data.model_id
                );
                if let Some(licence) = licence {
                    gst::info!(
                        CAT,
                        imp = self,
                        "reference-model {} licence: {}",
                        data.model_id,
                        licence
                    );
                }
                if data.keypoints.len() < settings.min_inliers as usize {
                    gst::element_imp_warning!(
                        self,
                        gst::ResourceError::Settings,
                        (
                            "reference {} has only {} keypoints (min-inliers={}): every frame will be lost",
                            location,
                            data.keypoints.len(),
                            settings.min_inliers
                        )
                    );
                }
                tracker.set_reference_views(views.into_iter().map(Arc::new).collect());
            }
            (Some(location), MatchMode::Previous) => {
                // On the bus, not only in the debug log: the user asked for something not done.
                gst::element_imp_warning!(
                    self,
                    gst::ResourceError::Settings,
                    (
                        "reference-location {} is ignored in mode=previous: set mode=reference to match every frame against it",
                        location
                    )
                );
            }
            (None, _) => {}
        }
        self.reset_pending.store(false, Ordering::SeqCst);
        self.lost_frames.store(0, Ordering::SeqCst);
        *self.tracker.lock().unwrap() = Some(tracker);
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.tracker.lock().unwrap() = None;
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        // After a flushing seek the next frame is not the successor of the last one; a new
        // stream starts afresh (see Tracker::reset_stream).
        let new_stream = match event.view() {
            gst::EventView::FlushStop(_) => Some(false),
            gst::EventView::StreamStart(_) => Some(true),
            _ => None,
        };
        if let Some(new_stream) = new_stream
            && let Some(tracker) = self.tracker.lock().unwrap().as_mut()
        {
            gst::debug!(CAT, imp = self, "{:?}: matching chain reset", event.type_());
            tracker.reset_stream(new_stream);
        }
        self.parent_sink_event(event)
    }

    fn set_caps(&self, incaps: &gst::Caps, _outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        // Keypoints of the previous frame or the reference stay usable across a size change: the
        // homography absorbs the scale.
        gst::debug!(CAT, imp = self, "caps {}", incaps);
        Ok(())
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let settings = self.settings.lock().unwrap().clone();
        let Some(current) = buf
            .meta::<SuperPointKeypointsMeta>()
            .map(|m| m.data().clone())
        else {
            gst::element_imp_error!(
                self,
                gst::StreamError::Failed,
                ("buffer without SuperPointKeypointsMeta: insert superpointdetect before superpointmatch (e.g. `... ! superpointdetect ! superpointmatch ! ...`)")
            );
            return Err(gst::FlowError::Error);
        };
        if !current.has_descriptors() {
            gst::element_imp_error!(
                self,
                gst::StreamError::Failed,
                (
                    "the keypoints carry {} descriptor values for {} keypoints: set descriptors=true on superpointdetect",
                    current.descriptors.len(),
                    current.keypoints.len()
                )
            );
            return Err(gst::FlowError::Error);
        }
        let truth = buf.meta::<HomographyMeta>().map(|m| m.homography());
        let restart = self.reset_pending.swap(false, Ordering::SeqCst);

        let tracked = {
            let mut guard = self.tracker.lock().unwrap();
            let Some(tracker) = guard.as_mut() else {
                drop(guard);
                gst::element_imp_error!(self, gst::CoreError::StateChange, ("not started"));
                return Err(gst::FlowError::Flushing);
            };
            // Settings changed while playing are used once valid; invalid ones keep the last
            // valid ones with one warning (GLib's ranges already keep each value valid on its
            // own).
            let update = tracker.offer_params(settings.track_params());
            let tracked = tracker.track(
                settings.target(),
                &current,
                truth,
                restart,
                settings.min_inliers as usize,
            );
            drop(guard);
            if let ParamsUpdate::Rejected(e) = update {
                gst::element_imp_warning!(
                    self,
                    gst::LibraryError::Settings,
                    (
                        "ignoring the new matching settings until they are valid, keeping the last valid ones: {}",
                        e
                    )
                );
            }
            tracked.map_err(|e| {
                gst::element_imp_error!(
                    self,
                    gst::LibraryError::Failed,
                    ("matching failed: {}", e)
                );
                gst::FlowError::Error
            })?
        };
        if let Some(reference_model) = &tracked.model_mismatch {
            gst::element_imp_warning!(
                self,
                gst::StreamError::Format,
                (
                    "the reference image was detected with model {} but the stream with {}: set reference-model to the upstream superpointdetect's model",
                    reference_model,
                    current.model_id
                )
            );
        }
        if let Some(reason) = &tracked.lost_reason {
            gst::debug!(
                CAT,
                imp = self,
                "frame {} lost: {}",
                tracked.data.frame,
                reason
            );
        }
        if tracked.data.status == MatchStatus::Lost {
            self.lost_frames.fetch_add(1, Ordering::SeqCst);
        }
        self.finish(buf, tracked, &settings)
    }
}

impl SuperPointMatch {
    /// Posts the message (if enabled) and attaches the meta.
    fn finish(
        &self,
        buf: &mut gst::BufferRef,
        tracked: TrackedFrame,
        settings: &Settings,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let data = tracked.data;
        gst::trace!(
            CAT,
            imp = self,
            "frame {}: {} {} matches {} inliers",
            data.frame,
            data.status.as_str(),
            data.pairs.len(),
            data.num_inliers
        );
        if settings.post_messages {
            let msg = MatchMessage::new(buf.pts(), &data, tracked.expected, tracked.lost_reason);
            let _ = self.obj().post_message(
                gst::message::Element::builder(msg.to_structure())
                    .src(&*self.obj())
                    .build(),
            );
        }
        SuperPointMatchesMeta::add(buf, Arc::new(data));
        Ok(gst::FlowSuccess::Ok)
    }
}
