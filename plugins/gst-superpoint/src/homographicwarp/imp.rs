use std::sync::{Arc, LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use gst_video::prelude::*;
use gst_video::subclass::prelude::*;

use superpoint::Homography;
use superpoint::draw::Rgba;
use superpoint::pixel::row_strides;
use superpoint::sampling::{HomographyParams, HomographySequence};
use superpoint::smoothing::CameraPath;
use superpoint::tracking::ParamsUpdate;
use superpoint::warp;

use super::matrix::parse_matrix;
use super::{Interpolation, WarpMode};
use crate::formats::{self, Preference};
use crate::meta::{
    HomographyData, HomographyMeta, SuperPointKeypointsMeta, SuperPointMatchesMeta, WarpKind,
};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "homographicwarp",
        gst::DebugColorFlags::empty(),
        Some("Homographic warp"),
    )
});

const DEFAULT_BORDER_COLOR: u32 = 0xff00_0000;
const DEFAULT_SMOOTHING: u32 = 15;

#[derive(Debug, Clone)]
struct Settings {
    mode: WarpMode,
    /// The `matrix` values as set.
    matrix_values: Vec<f64>,
    /// The parsed matrix, or why it cannot be used.
    matrix: Result<Homography, String>,
    interpolation: Interpolation,
    border_color: u32,
    smoothing: u32,
    random: HomographyParams,
    seed: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            mode: WarpMode::Fixed,
            matrix_values: Homography::IDENTITY.0.to_vec(),
            matrix: Ok(Homography::IDENTITY),
            interpolation: Interpolation::Bilinear,
            border_color: DEFAULT_BORDER_COLOR,
            smoothing: DEFAULT_SMOOTHING,
            random: HomographyParams::default(),
            seed: 0,
        }
    }
}

struct State {
    /// mode=random: the seeded sequence (None in the other modes).
    random: Option<HomographySequence>,
    /// mode=stabilize and mode=rectify: the camera path of the tracked stream.
    camera: CameraPath,
    frame: u64,
}

#[derive(Default)]
pub struct HomographicWarp {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
}

#[glib::object_subclass]
impl ObjectSubclass for HomographicWarp {
    const NAME: &'static str = "GstHomographicWarp";
    type Type = super::HomographicWarp;
    type ParentType = gst_video::VideoFilter;
}

impl ObjectImpl for HomographicWarp {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let r = HomographyParams::default();
            vec![
                glib::ParamSpecEnum::builder_with_default("mode", WarpMode::Fixed)
                    .nick("Mode")
                    .blurb("Where the homography comes from: fixed (matrix), stabilize or rectify (upstream superpointmatch), random (sampled per frame)")
                    .mutable_ready()
                    .build(),
                gst::ParamSpecArray::builder("matrix")
                    .nick("Matrix")
                    .blurb("mode=fixed: 3x3 homography as 9 row-major doubles mapping input pixels to output pixels ((0,0) = centre of the top-left pixel), e.g. \"<1.0, 0.0, 10.0, 0.0, 1.0, 5.0, 0.0, 0.0, 1.0>\" shifts by (10, 5). Must be finite and invertible: otherwise starting fails, or while playing a warning is posted and the previous matrix kept. Default identity")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("interpolation", Interpolation::Bilinear)
                    .nick("Interpolation")
                    .blurb("Sampling: bilinear or nearest")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("border-color")
                    .nick("Border color")
                    .blurb("Colour of output pixels that see no input pixel, as 0xAARRGGBB (alpha used by formats with an alpha channel)")
                    .default_value(DEFAULT_BORDER_COLOR)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("smoothing")
                    .nick("Smoothing")
                    .blurb("mode=stabilize: camera-path moving-average window in frames (causal, no added latency; 1 = no stabilisation). Larger windows remove more shake and lag more behind deliberate pans")
                    .minimum(1)
                    .maximum(1000)
                    .default_value(DEFAULT_SMOOTHING)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("perspective")
                    .nick("Perspective")
                    .blurb("mode=random: maximum perspective displacement of the patch corners, fraction of the frame side")
                    .minimum(0.0)
                    .maximum(0.5)
                    .default_value(r.perspective)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("scale")
                    .nick("Scale")
                    .blurb("mode=random: maximum relative scale change (the patch is scaled by a factor within [1 - scale, 1 + scale])")
                    .minimum(0.0)
                    .maximum(0.9)
                    .default_value(r.scale)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("rotation")
                    .nick("Rotation")
                    .blurb("mode=random: maximum rotation in degrees, either way")
                    .minimum(0.0)
                    .maximum(180.0)
                    .default_value(r.rotation.to_degrees())
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("translation")
                    .nick("Translation")
                    .blurb("mode=random: fraction of the free room around the patch used for random translation")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(r.translation)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("patch-ratio")
                    .nick("Patch ratio")
                    .blurb("mode=random: side of the source patch relative to the frame before the other perturbations (1 = whole frame; smaller values zoom in and leave room to move)")
                    .minimum(0.05)
                    .maximum(1.0)
                    .default_value(r.patch_ratio)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt64::builder("seed")
                    .nick("Seed")
                    .blurb("mode=random: seed of the homography sequence (the same seed gives the same sequence). Applies on the next start")
                    .default_value(0)
                    .mutable_ready()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        match pspec.name() {
            "mode" => s.mode = value.get().expect("type checked"),
            "matrix" => {
                let values: Vec<f64> = value
                    .get::<gst::Array>()
                    .expect("type checked")
                    .iter()
                    .map(|v| {
                        v.transform::<f64>()
                            .ok()
                            .and_then(|v| v.get::<f64>().ok())
                            .unwrap_or(f64::NAN)
                    })
                    .collect();
                let parsed = parse_matrix(&values);
                let playing = self.obj().current_state() > gst::State::Ready;
                match (&parsed, playing) {
                    (Err(e), true) => {
                        drop(s);
                        gst::element_imp_warning!(
                            self,
                            gst::LibraryError::Settings,
                            ("ignoring the new matrix, keeping the previous one: {}", e)
                        );
                        return;
                    }
                    (Err(e), false) => {
                        gst::warning!(CAT, imp = self, "{}", e);
                    }
                    _ => {}
                }
                s.matrix_values = values;
                s.matrix = parsed;
            }
            "interpolation" => s.interpolation = value.get().expect("type checked"),
            "border-color" => s.border_color = value.get().expect("type checked"),
            "smoothing" => s.smoothing = value.get().expect("type checked"),
            "perspective" => s.random.perspective = value.get().expect("type checked"),
            "scale" => s.random.scale = value.get().expect("type checked"),
            "rotation" => {
                s.random.rotation = value.get::<f64>().expect("type checked").to_radians()
            }
            "translation" => s.random.translation = value.get().expect("type checked"),
            "patch-ratio" => s.random.patch_ratio = value.get().expect("type checked"),
            "seed" => s.seed = value.get().expect("type checked"),
            other => unreachable!("unknown property {other}"),
        }
        gst::debug!(CAT, imp = self, "set {} = {:?}", pspec.name(), value);
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap();
        match pspec.name() {
            "mode" => s.mode.to_value(),
            "matrix" => gst::Array::new(s.matrix_values.iter().copied()).to_value(),
            "interpolation" => s.interpolation.to_value(),
            "border-color" => s.border_color.to_value(),
            "smoothing" => s.smoothing.to_value(),
            "perspective" => s.random.perspective.to_value(),
            "scale" => s.random.scale.to_value(),
            "rotation" => s.random.rotation.to_degrees().to_value(),
            "translation" => s.random.translation.to_value(),
            "patch-ratio" => s.random.patch_ratio.to_value(),
            "seed" => s.seed.to_value(),
            other => unreachable!("unknown property {other}"),
        }
    }
}

impl GstObjectImpl for HomographicWarp {}

impl ElementImpl for HomographicWarp {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Homographic warp",
                "Filter/Effect/Video",
                "Warps frames by a 3x3 homography: fixed, stabilising or rectifying with superpointmatch, or random per frame (attached as HomographyMeta)",
                "gst-superpoint developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> =
            LazyLock::new(|| formats::pad_templates(&formats::caps(Preference::Table, 1)));
        TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for HomographicWarp {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::NeverInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let s = self.settings.lock().unwrap().clone();
        if s.mode == WarpMode::Fixed
            && let Err(e) = &s.matrix
        {
            return Err(gst::error_msg!(
                gst::LibraryError::Settings,
                ("homographicwarp cannot start: {}", e)
            ));
        }
        let random = (s.mode == WarpMode::Random)
            .then(|| HomographySequence::new(s.seed, s.random))
            .transpose()
            .map_err(|e| {
                gst::error_msg!(
                    gst::LibraryError::Settings,
                    ("homographicwarp cannot start: {}", e)
                )
            })?;
        *self.state.lock().unwrap() = Some(State {
            random,
            camera: CameraPath::new(s.smoothing as usize),
            frame: 0,
        });
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap() = None;
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        // A flushing seek or a new stream: the smoothed camera path (stabilize) and the held
        // homography (rectify) belong to the frames before it.
        if matches!(
            event.view(),
            gst::EventView::FlushStop(_) | gst::EventView::StreamStart(_)
        ) && let Some(state) = self.state.lock().unwrap().as_mut()
        {
            gst::debug!(CAT, imp = self, "{:?}: camera path reset", event.type_());
            state.camera.reset_stream();
        }
        self.parent_sink_event(event)
    }

    fn transform_meta<'a>(
        &self,
        outbuf: &mut gst::BufferRef,
        meta: gst::MetaRef<'a, gst::Meta>,
        inbuf: &'a gst::BufferRef,
    ) -> bool {
        // These describe the input geometry; the warp moves the pixels. HomographyMeta is
        // re-attached, composed with this element's warp.
        let api = meta.api();
        if api == SuperPointKeypointsMeta::meta_api()
            || api == SuperPointMatchesMeta::meta_api()
            || api == HomographyMeta::meta_api()
        {
            return false;
        }
        self.parent_transform_meta(outbuf, meta, inbuf)
    }
}

impl VideoFilterImpl for HomographicWarp {
    fn set_info(
        &self,
        incaps: &gst::Caps,
        in_info: &gst_video::VideoInfo,
        outcaps: &gst::Caps,
        out_info: &gst_video::VideoInfo,
    ) -> Result<(), gst::LoggableError> {
        if formats::layout_of(in_info.format()).is_none() {
            return Err(gst::loggable_error!(
                CAT,
                "unsupported format {:?}",
                in_info.format()
            ));
        }
        if let Some(state) = self.state.lock().unwrap().as_mut() {
            // A new frame size starts a new camera path.
            state
                .camera
                .set_frame_size(in_info.width() as usize, in_info.height() as usize);
        }
        gst::debug!(
            CAT,
            imp = self,
            "negotiated {}x{} {:?}",
            in_info.width(),
            in_info.height(),
            in_info.format()
        );
        self.parent_set_info(incaps, in_info, outcaps, out_info)
    }

    fn transform_frame(
        &self,
        inframe: &gst_video::VideoFrameRef<&gst::BufferRef>,
        outframe: &mut gst_video::VideoFrameRef<&mut gst::BufferRef>,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let settings = self.settings.lock().unwrap().clone();
        let (w, h) = (inframe.width() as usize, inframe.height() as usize);
        let mut guard = self.state.lock().unwrap();
        let Some(state) = guard.as_mut() else {
            gst::element_imp_error!(self, gst::CoreError::StateChange, ("not started"));
            return Err(gst::FlowError::Flushing);
        };
        let needs_matches = || {
            gst::element_imp_error!(
                self,
                gst::StreamError::Failed,
                (
                    "mode={} needs SuperPointMatchesMeta: insert superpointdetect ! superpointmatch before homographicwarp",
                    if settings.mode == WarpMode::Stabilize {
                        "stabilize"
                    } else {
                        "rectify"
                    }
                )
            );
            gst::FlowError::Error
        };
        let mut warning = None;
        let (hm, kind) = match settings.mode {
            WarpMode::Fixed => match &settings.matrix {
                Ok(m) => (*m, WarpKind::Fixed),
                Err(e) => {
                    gst::element_imp_error!(self, gst::LibraryError::Settings, ("{}", e));
                    return Err(gst::FlowError::Error);
                }
            },
            WarpMode::Random => {
                let Some(random) = state.random.as_mut() else {
                    // Only reachable if the mode changed after start (it is mutable in READY).
                    gst::element_imp_error!(
                        self,
                        gst::CoreError::StateChange,
                        ("mode=random was set after start: set it before starting")
                    );
                    return Err(gst::FlowError::Error);
                };
                if let ParamsUpdate::Rejected(e) = random.offer_params(settings.random) {
                    warning = Some(format!(
                        "ignoring the new random amplitudes until they are valid, keeping the last valid ones: {e}"
                    ));
                }
                (random.next_homography(w, h), WarpKind::Random)
            }
            WarpMode::Stabilize => {
                let meta = inframe
                    .buffer()
                    .meta::<SuperPointMatchesMeta>()
                    .ok_or_else(needs_matches)?;
                let correction = state
                    .camera
                    .stabilize(meta.data(), settings.smoothing as usize);
                (correction, WarpKind::Stabilize)
            }
            WarpMode::Rectify => {
                let meta = inframe
                    .buffer()
                    .meta::<SuperPointMatchesMeta>()
                    .ok_or_else(needs_matches)?;
                (state.camera.rectify(meta.data()), WarpKind::Rectify)
            }
        };
        let frame_no = state.frame;
        state.frame += 1;
        drop(guard);
        if let Some(w) = warning {
            gst::element_imp_warning!(self, gst::LibraryError::Settings, ("{}", w));
        }

        let Some(layout) = formats::layout_of(inframe.format()) else {
            return Err(gst::FlowError::NotNegotiated);
        };
        let interpolation = match settings.interpolation {
            Interpolation::Bilinear => warp::Interpolation::Bilinear,
            Interpolation::Nearest => warp::Interpolation::Nearest,
        };
        // Strides and offsets of both frames come from their GstVideoMeta when the buffers carry
        // one (decoders, cameras, rawvideoparse), else from the caps. Checked before the planes
        // are read: their sizes are computed from the strides.
        let n_planes = layout.planes();
        let strides = |side: &str, strides: &[i32]| {
            row_strides(&strides[..n_planes], "homographicwarp").map_err(|e| {
                gst::element_imp_error!(self, gst::StreamError::Format, ("{} frame: {}", side, e));
                gst::FlowError::NotSupported
            })
        };
        let src_strides = strides("input", inframe.plane_stride())?;
        let dst_strides = strides("output", outframe.plane_stride())?;
        let src: Vec<(&[u8], usize)> = inframe
            .planes_data()
            .into_iter()
            .take(n_planes)
            .zip(src_strides)
            .collect();
        let mut dst: Vec<(&mut [u8], usize)> = outframe
            .planes_data_mut()
            .into_iter()
            .take(n_planes)
            .zip(dst_strides)
            .collect();
        warp::warp_frame(
            layout,
            &src,
            &mut dst,
            (w, h),
            &hm,
            interpolation,
            Rgba::from_argb(settings.border_color),
        )
        .map_err(|e| {
            gst::element_imp_error!(self, gst::LibraryError::Failed, ("warping failed: {}", e));
            gst::FlowError::Error
        })?;
        drop(dst);

        let upstream = inframe
            .buffer()
            .meta::<HomographyMeta>()
            .map(|m| m.homography());
        let data = HomographyData {
            homography: upstream.map_or(hm, |u| hm.compose(&u)),
            applied: hm,
            width: w as u32,
            height: h as u32,
            frame: frame_no,
            kind,
        };
        gst::trace!(CAT, imp = self, "frame {}: {:?}", frame_no, hm.0);
        // SAFETY: the output frame maps BaseTransform's writable output buffer; adding a meta
        // leaves the mapped memory alone, and the reference does not outlive this call.
        let outbuf = unsafe { gst::BufferRef::from_mut_ptr((*outframe.as_mut_ptr()).buffer) };
        HomographyMeta::add(outbuf, Arc::new(data));
        Ok(gst::FlowSuccess::Ok)
    }
}
