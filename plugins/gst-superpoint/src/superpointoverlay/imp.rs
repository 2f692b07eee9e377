use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use gst_video::prelude::*;
use gst_video::subclass::prelude::*;

use superpoint::draw::{FrameCanvas, Rgba};
use superpoint::geometry::PixelScale;
use superpoint::pixel::row_strides;
use superpoint::tracking::TrackBook;

use crate::formats::{self, Preference};
use crate::meta::{MatchStatus, MatchTarget, SuperPointKeypointsMeta, SuperPointMatchesMeta};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "superpointoverlay",
        gst::DebugColorFlags::empty(),
        Some("SuperPoint overlay"),
    )
});

const DEFAULT_KEYPOINT_COLOR: u32 = 0xff00_ff00;
const DEFAULT_MATCH_COLOR: u32 = 0xffff_ff00;
const DEFAULT_OUTLIER_COLOR: u32 = 0xffff_0000;
const DEFAULT_OUTLINE_COLOR: u32 = 0xff00_ffff;
const DEFAULT_LOST_COLOR: u32 = 0xffff_0000;
const DEFAULT_KEYPOINT_RADIUS: u32 = 2;
const DEFAULT_TRACK_LENGTH: u32 = 10;
const DEFAULT_THICKNESS: u32 = 1;

#[derive(Debug, Clone)]
struct Settings {
    draw_keypoints: bool,
    keypoint_radius: u32,
    keypoint_color: u32,
    draw_matches: bool,
    draw_outliers: bool,
    match_color: u32,
    outlier_color: u32,
    track_length: u32,
    draw_outline: bool,
    outline_color: u32,
    draw_status: bool,
    lost_color: u32,
    thickness: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            draw_keypoints: true,
            keypoint_radius: DEFAULT_KEYPOINT_RADIUS,
            keypoint_color: DEFAULT_KEYPOINT_COLOR,
            draw_matches: true,
            draw_outliers: false,
            match_color: DEFAULT_MATCH_COLOR,
            outlier_color: DEFAULT_OUTLIER_COLOR,
            track_length: DEFAULT_TRACK_LENGTH,
            draw_outline: true,
            outline_color: DEFAULT_OUTLINE_COLOR,
            draw_status: true,
            lost_color: DEFAULT_LOST_COLOR,
            thickness: DEFAULT_THICKNESS,
        }
    }
}

#[derive(Default)]
struct State {
    /// Paths of the keypoints through `mode=previous` matches.
    tracks: TrackBook,
    warned_no_meta: bool,
}

#[derive(Default)]
pub struct SuperPointOverlay {
    settings: Mutex<Settings>,
    state: Mutex<State>,
}

#[glib::object_subclass]
impl ObjectSubclass for SuperPointOverlay {
    const NAME: &'static str = "GstSuperPointOverlay";
    type Type = super::SuperPointOverlay;
    type ParentType = gst_video::VideoFilter;
}

fn color_spec(name: &str, nick: &str, blurb: &str, default: u32) -> glib::ParamSpec {
    glib::ParamSpecUInt::builder(name)
        .nick(nick)
        .blurb(blurb)
        .default_value(default)
        .mutable_playing()
        .build()
}

fn bool_spec(name: &str, nick: &str, blurb: &str, default: bool) -> glib::ParamSpec {
    glib::ParamSpecBoolean::builder(name)
        .nick(nick)
        .blurb(blurb)
        .default_value(default)
        .mutable_playing()
        .build()
}

impl ObjectImpl for SuperPointOverlay {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                bool_spec(
                    "draw-keypoints",
                    "Draw keypoints",
                    "Draw a circle at each keypoint of SuperPointKeypointsMeta",
                    true,
                ),
                glib::ParamSpecUInt::builder("keypoint-radius")
                    .nick("Keypoint radius")
                    .blurb("Radius of the keypoint circles in pixels (0 = a single pixel)")
                    .maximum(64)
                    .default_value(DEFAULT_KEYPOINT_RADIUS)
                    .mutable_playing()
                    .build(),
                color_spec(
                    "keypoint-color",
                    "Keypoint color",
                    "Keypoint colour as 0xAARRGGBB (alpha = opacity)",
                    DEFAULT_KEYPOINT_COLOR,
                ),
                bool_spec(
                    "draw-matches",
                    "Draw matches",
                    "Draw the RANSAC inliers of SuperPointMatchesMeta: tracks over track-length frames (mode=previous) or lines from the reference position (mode=reference)",
                    true,
                ),
                bool_spec(
                    "draw-outliers",
                    "Draw outliers",
                    "Also draw matches rejected by RANSAC, as lines in outlier-color",
                    false,
                ),
                color_spec(
                    "match-color",
                    "Match color",
                    "Colour of inlier match lines and tracks as 0xAARRGGBB",
                    DEFAULT_MATCH_COLOR,
                ),
                color_spec(
                    "outlier-color",
                    "Outlier color",
                    "Colour of outlier match lines as 0xAARRGGBB",
                    DEFAULT_OUTLIER_COLOR,
                ),
                glib::ParamSpecUInt::builder("track-length")
                    .nick("Track length")
                    .blurb("mode=previous: draw each inlier keypoint's path over at most this many past frames (1 = only the segment from the previous frame)")
                    .minimum(1)
                    .maximum(1000)
                    .default_value(DEFAULT_TRACK_LENGTH)
                    .mutable_playing()
                    .build(),
                bool_spec(
                    "draw-outline",
                    "Draw outline",
                    "Draw the reference frame's outline mapped into the current frame (the tracked planar target in mode=reference)",
                    true,
                ),
                color_spec(
                    "outline-color",
                    "Outline color",
                    "Colour of the reference outline as 0xAARRGGBB",
                    DEFAULT_OUTLINE_COLOR,
                ),
                bool_spec(
                    "draw-status",
                    "Draw status",
                    "Draw a frame border in lost-color on frames superpointmatch marked lost",
                    true,
                ),
                color_spec(
                    "lost-color",
                    "Lost color",
                    "Colour of the lost-frame border as 0xAARRGGBB",
                    DEFAULT_LOST_COLOR,
                ),
                glib::ParamSpecUInt::builder("thickness")
                    .nick("Thickness")
                    .blurb("Width in pixels of lines, tracks, outline and circles")
                    .minimum(1)
                    .maximum(16)
                    .default_value(DEFAULT_THICKNESS)
                    .mutable_playing()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        match pspec.name() {
            "draw-keypoints" => s.draw_keypoints = value.get().expect("type checked"),
            "keypoint-radius" => s.keypoint_radius = value.get().expect("type checked"),
            "keypoint-color" => s.keypoint_color = value.get().expect("type checked"),
            "draw-matches" => s.draw_matches = value.get().expect("type checked"),
            "draw-outliers" => s.draw_outliers = value.get().expect("type checked"),
            "match-color" => s.match_color = value.get().expect("type checked"),
            "outlier-color" => s.outlier_color = value.get().expect("type checked"),
            "track-length" => s.track_length = value.get().expect("type checked"),
            "draw-outline" => s.draw_outline = value.get().expect("type checked"),
            "outline-color" => s.outline_color = value.get().expect("type checked"),
            "draw-status" => s.draw_status = value.get().expect("type checked"),
            "lost-color" => s.lost_color = value.get().expect("type checked"),
            "thickness" => s.thickness = value.get().expect("type checked"),
            other => unreachable!("unknown property {other}"),
        }
        gst::debug!(CAT, imp = self, "set {} = {:?}", pspec.name(), value);
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap();
        match pspec.name() {
            "draw-keypoints" => s.draw_keypoints.to_value(),
            "keypoint-radius" => s.keypoint_radius.to_value(),
            "keypoint-color" => s.keypoint_color.to_value(),
            "draw-matches" => s.draw_matches.to_value(),
            "draw-outliers" => s.draw_outliers.to_value(),
            "match-color" => s.match_color.to_value(),
            "outlier-color" => s.outlier_color.to_value(),
            "track-length" => s.track_length.to_value(),
            "draw-outline" => s.draw_outline.to_value(),
            "outline-color" => s.outline_color.to_value(),
            "draw-status" => s.draw_status.to_value(),
            "lost-color" => s.lost_color.to_value(),
            "thickness" => s.thickness.to_value(),
            other => unreachable!("unknown property {other}"),
        }
    }
}

impl GstObjectImpl for SuperPointOverlay {}

impl ElementImpl for SuperPointOverlay {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "SuperPoint overlay",
                "Filter/Effect/Video",
                "Draws SuperPoint keypoints, match tracks and the reference outline from superpointdetect/superpointmatch metas",
                "gst-superpoint developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> =
            LazyLock::new(|| formats::pad_templates(&formats::caps(Preference::Colour, 1)));
        TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for SuperPointOverlay {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap() = State::default();
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        // Tracks join positions of consecutive frames; a flushing seek or a new stream breaks them.
        if matches!(
            event.view(),
            gst::EventView::FlushStop(_) | gst::EventView::StreamStart(_)
        ) {
            self.state.lock().unwrap().tracks.clear();
        }
        self.parent_sink_event(event)
    }
}

impl VideoFilterImpl for SuperPointOverlay {
    fn transform_frame_ip(
        &self,
        frame: &mut gst_video::VideoFrameRef<&mut gst::BufferRef>,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let s = self.settings.lock().unwrap().clone();
        let keypoints = frame
            .buffer()
            .meta::<SuperPointKeypointsMeta>()
            .map(|m| m.data().clone());
        let matches = frame
            .buffer()
            .meta::<SuperPointMatchesMeta>()
            .map(|m| m.data().clone());
        let mut state = self.state.lock().unwrap();
        if keypoints.is_none() && matches.is_none() {
            if !state.warned_no_meta {
                state.warned_no_meta = true;
                drop(state);
                gst::element_imp_warning!(
                    self,
                    gst::StreamError::Format,
                    ("nothing to draw: no SuperPointKeypointsMeta or SuperPointMatchesMeta on the buffers; insert superpointdetect (and superpointmatch) before superpointoverlay")
                );
            }
            return Ok(gst::FlowSuccess::Ok);
        }

        state
            .tracks
            .advance(matches.as_deref(), s.track_length as usize);

        let (w, h) = (frame.width() as usize, frame.height() as usize);
        let format = formats::layout_of(frame.format()).ok_or(gst::FlowError::NotNegotiated)?;
        let n_planes = format.planes();
        // The mapped frame's strides and offsets come from the buffer's GstVideoMeta when it has
        // one (decoders, cameras, rawvideoparse), else from the caps.
        // Checked before the planes are mapped: their sizes are computed from the strides.
        let strides =
            row_strides(&frame.plane_stride()[..n_planes], "superpointoverlay").map_err(|e| {
                gst::element_imp_error!(self, gst::StreamError::Format, ("{}", e));
                gst::FlowError::NotSupported
            })?;
        let planes: Vec<(&mut [u8], usize)> = frame
            .planes_data_mut()
            .into_iter()
            .take(n_planes)
            .zip(strides)
            .collect();
        let mut canvas = FrameCanvas::new(format, w, h, planes).map_err(|e| {
            gst::element_imp_error!(self, gst::StreamError::Failed, ("{}", e));
            gst::FlowError::Error
        })?;
        let t = s.thickness;

        if let Some(m) = &matches {
            // Scale when the frame was resized after matching without a meta transform.
            let scale = PixelScale::between((m.width, m.height), (w as u32, h as u32));
            let at = |p: [f32; 2]| {
                let (x, y) = scale.apply_f32(p[0], p[1]);
                (x as f64, y as f64)
            };
            if s.draw_outline
                && let Some(from_ref) = m.from_reference()
            {
                let (rw, rh) = (
                    m.reference_size.0 as f64 - 1.0,
                    m.reference_size.1 as f64 - 1.0,
                );
                let corners: Vec<(f64, f64)> = [(0.0, 0.0), (rw, 0.0), (rw, rh), (0.0, rh)]
                    .iter()
                    .filter_map(|&(x, y)| from_ref.apply(x, y))
                    .map(|(x, y)| at([x as f32, y as f32]))
                    .collect();
                if corners.len() == 4 {
                    canvas.polyline(&corners, true, Rgba::from_argb(s.outline_color), t);
                }
            }
            if s.draw_outliers {
                let c = Rgba::from_argb(s.outlier_color);
                for (p, _) in m.pairs.iter().zip(&m.inliers).filter(|(_, i)| !**i) {
                    canvas.line(at(p.matched_point), at(p.current_point), c, t);
                }
            }
            if s.draw_matches {
                let c = Rgba::from_argb(s.match_color);
                if m.target == MatchTarget::Previous {
                    for track in state.tracks.tracks() {
                        let pts: Vec<(f64, f64)> = track.points().map(at).collect();
                        canvas.polyline(&pts, false, c, t);
                    }
                } else {
                    for p in m.inlier_pairs() {
                        canvas.line(at(p.matched_point), at(p.current_point), c, t);
                    }
                }
            }
            if s.draw_status && m.status == MatchStatus::Lost {
                canvas.border(Rgba::from_argb(s.lost_color), 3);
            }
        }
        if s.draw_keypoints
            && let Some(k) = &keypoints
        {
            let scale = PixelScale::between((k.width, k.height), (w as u32, h as u32));
            let c = Rgba::from_argb(s.keypoint_color);
            for kp in &k.keypoints {
                let (x, y) = scale.apply_f32(kp.x, kp.y);
                let (x, y) = (x as f64, y as f64);
                if !(x.is_finite() && y.is_finite()) {
                    continue;
                }
                if s.keypoint_radius == 0 {
                    canvas.pixel(x.round() as i64, y.round() as i64, c);
                } else {
                    canvas.circle((x, y), s.keypoint_radius as f64, c, t, false);
                }
            }
        }
        Ok(gst::FlowSuccess::Ok)
    }
}
