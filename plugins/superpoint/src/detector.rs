//! Frame in, keypoints and descriptors out: pre-processing, the engine and post-processing with
//! buffers kept between frames.

use std::path::Path;

use crate::engine::{Engine, EngineOptions};
use crate::finite::NonFiniteOutput;
use crate::frame::{Frame, InputGeometry};
use crate::onnx::{CELL, ModelInfo};
use crate::postprocess::{self, Keypoint, KeypointScratch, PostParams};
use crate::scales::{ScaleCandidates, Scales};
use crate::{Error, MIN_FRAME_SIDE};

/// What to detect and at which size. Pixel-valued settings (`post.border`, `post.nms_radius`) are
/// frame pixels, also when `inference_width` x `inference_height` resizes the frame.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct DetectorConfig {
    /// Post-processing.
    pub post: PostParams,
    /// Network input width; 0 = native frame size (padded to a multiple of 8).
    pub inference_width: usize,
    /// Network input height; 0 = native frame size.
    pub inference_height: usize,
    /// Compute descriptors.
    pub descriptors: bool,
    /// Factors the frame (or the inference size, when set) is resized by before the network;
    /// several run the network once each and merge the keypoints with NMS across scales in frame
    /// pixels ([`crate::scales`]). Default: the single scale 1.
    pub scales: Scales,
}

impl DetectorConfig {
    /// The requested network input size `(inference_width, inference_height)`; `(0, 0)` =
    /// native frame size.
    pub fn inference_size(&self) -> (usize, usize) {
        (self.inference_width, self.inference_height)
    }

    /// Checks value ranges.
    pub fn validate(&self) -> Result<(), Error> {
        self.post.validate()?;
        for (name, v) in [
            ("inference-width", self.inference_width),
            ("inference-height", self.inference_height),
        ] {
            if v != 0 && v < MIN_FRAME_SIDE {
                return Err(Error::Config(format!(
                    "{name} must be 0 (native size) or at least {MIN_FRAME_SIDE}, got {v}"
                )));
            }
        }
        Scales::new(self.scales.as_slice())?;
        if (self.inference_width == 0) != (self.inference_height == 0) {
            return Err(Error::Config(
                "set both inference-width and inference-height, or neither".into(),
            ));
        }
        Ok(())
    }
}

/// Keypoints and descriptors of one frame, in frame pixels.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Detections {
    /// Frame width.
    pub width: u32,
    /// Frame height.
    pub height: u32,
    /// Keypoints sorted by descending score.
    pub keypoints: Vec<Keypoint>,
    /// `keypoints.len()` x 256 unit-norm descriptors, row-major (empty when not computed).
    pub descriptors: Vec<f32>,
    /// Per keypoint, the scale it was detected at (network pixels per frame pixel, e.g. 0.5 for
    /// a keypoint of the half-size pass); empty when the frame was run at one scale only.
    pub scales: Vec<f32>,
}

impl Detections {
    /// The descriptor of keypoint `i`.
    pub fn descriptor(&self, i: usize) -> &[f32] {
        &self.descriptors[i * crate::onnx::DESCRIPTOR_DIM..(i + 1) * crate::onnx::DESCRIPTOR_DIM]
    }
}

/// Runs SuperPoint on frames: ONNX Runtime, or with the `torch` feature and
/// `provider=cuda` the libtorch engine ([`crate::torch::TorchDetector`]).
#[derive(Debug)]
pub struct Detector {
    backend: Backend,
    config: DetectorConfig,
    multiscale: MultiScaleScratch,
}

/// Buffers of multi-scale detection, reused from frame to frame.
#[derive(Debug, Default)]
struct MultiScaleScratch {
    one: Detections,
    candidates: ScaleCandidates,
}

// One per detector, chosen at load time: the size difference does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Backend {
    Ort {
        engine: Engine,
        input: Vec<f32>,
        scratch: DecodeScratch,
    },
    #[cfg(feature = "torch")]
    Torch(Box<crate::torch::TorchDetector>),
}

impl Detector {
    /// Loads `model` and checks `config`. With the `torch` feature, `provider=cuda` loads the
    /// libtorch engine, failing with [`Error::ProviderUnavailable`] when libtorch has no usable
    /// CUDA device (callers may fall back to [`crate::Provider::Cpu`]).
    pub fn new(
        model: &Path,
        options: &EngineOptions,
        config: DetectorConfig,
    ) -> Result<Self, Error> {
        config.validate()?;
        #[cfg(feature = "torch")]
        if options.provider == crate::Provider::Cuda {
            use crate::torch::{TorchDetector, TorchOptions};
            let torch = TorchOptions::from_engine_options(options)?;
            let detector = TorchDetector::new(model, &torch, config)?;
            return Ok(Detector {
                backend: Backend::Torch(Box::new(detector)),
                config,
                multiscale: MultiScaleScratch::default(),
            });
        }
        let engine = Engine::new(model, options)?;
        Self::with_engine(engine, config)
    }

    /// Wraps an already loaded engine. Errors when `config` conflicts with the sizes the model's
    /// input fixes ([`crate::InputShape::inference_size`], [`crate::InputShape::check_batch`]).
    pub fn with_engine(engine: Engine, config: DetectorConfig) -> Result<Self, Error> {
        config.validate()?;
        engine.input_shape().check_batch(1, engine.path())?;
        check_input_shape(&engine, &config)?;
        if config.descriptors && !engine.has_descriptors() {
            return Err(Error::Model(format!(
                "{} has no `descriptors` output (a detector-only MagicPoint model?); disable descriptors or use a SuperPoint model",
                engine.path().display()
            )));
        }
        Ok(Detector {
            backend: Backend::Ort {
                engine,
                input: Vec::new(),
                scratch: DecodeScratch::default(),
            },
            config,
            multiscale: MultiScaleScratch::default(),
        })
    }

    /// Current configuration.
    pub fn config(&self) -> &DetectorConfig {
        &self.config
    }

    /// Changes the configuration (validated) without reloading the model.
    pub fn set_config(&mut self, config: DetectorConfig) -> Result<(), Error> {
        config.validate()?;
        match &mut self.backend {
            Backend::Ort { engine, .. } => {
                if config.descriptors && !engine.has_descriptors() {
                    return Err(Error::Model("the model has no descriptor output".into()));
                }
                check_input_shape(engine, &config)?;
            }
            #[cfg(feature = "torch")]
            Backend::Torch(t) => t.set_config(config)?,
        }
        self.config = config;
        Ok(())
    }

    /// Model metadata.
    pub fn model_info(&self) -> &ModelInfo {
        match &self.backend {
            Backend::Ort { engine, .. } => engine.info(),
            #[cfg(feature = "torch")]
            Backend::Torch(t) => t.model_info(),
        }
    }

    /// The note to show once when frames are resized to the model's fixed input size because
    /// no inference size is set ([`crate::InputShape::resize_note`]); `None` otherwise.
    pub fn input_note(&self) -> Option<String> {
        let engine = self.engine()?;
        engine
            .input_shape()
            .resize_note(self.config.inference_size(), engine.path())
    }

    /// The ONNX Runtime engine (`None` when the libtorch engine runs).
    pub fn engine(&self) -> Option<&Engine> {
        match &self.backend {
            Backend::Ort { engine, .. } => Some(engine),
            #[cfg(feature = "torch")]
            Backend::Torch(_) => None,
        }
    }

    /// What runs the network, for logs: `onnxruntime (Cpu)`, `libtorch (Cuda(0))`, ...
    pub fn backend_name(&self) -> String {
        match &self.backend {
            Backend::Ort { engine, .. } => format!("onnxruntime ({:?})", engine.provider()),
            #[cfg(feature = "torch")]
            Backend::Torch(t) => format!("libtorch ({:?})", t.device()),
        }
    }

    /// Detects keypoints (and descriptors when configured) in `frame`, writing into `out`. With
    /// several [`DetectorConfig::scales`], the network runs once per scale whose input is at
    /// least [`MIN_FRAME_SIDE`] on each side (smaller ones are skipped), and `out.scales` gives
    /// each keypoint's scale.
    ///
    /// # Errors
    /// The engine's errors; [`Error::Config`] when no scale gives an input of
    /// [`MIN_FRAME_SIDE`] pixels.
    pub fn detect(&mut self, frame: &Frame<'_>, out: &mut Detections) -> Result<(), Error> {
        let cfg = self.config;
        if cfg.scales.is_identity() {
            return self.detect_at(frame, &cfg, out);
        }
        // The size each scale resizes: the inference size when set, else the frame's.
        let base = if cfg.inference_width > 0 {
            (cfg.inference_width, cfg.inference_height)
        } else {
            (frame.width, frame.height)
        };
        let mut ms = std::mem::take(&mut self.multiscale);
        ms.candidates.clear();
        let mut runs = 0;
        let mut result = Ok(());
        for &scale in cfg.scales.as_slice() {
            let size = |v: usize| (v as f32 * scale).round() as usize;
            let (w, h) = (size(base.0), size(base.1));
            if w < MIN_FRAME_SIDE || h < MIN_FRAME_SIDE {
                continue;
            }
            let at = DetectorConfig {
                inference_width: w,
                inference_height: h,
                scales: Scales::default(),
                ..cfg
            };
            result = self.detect_at(frame, &at, &mut ms.one);
            if result.is_err() {
                break;
            }
            runs += 1;
            // Network pixels per frame pixel of this pass (after rounding to multiples of 8).
            let geo = frame.geometry((w, h));
            let actual = geo.valid_width as f32 / frame.width as f32;
            ms.candidates
                .push(&ms.one.keypoints, &ms.one.descriptors, actual);
        }
        if result.is_ok() && runs == 0 {
            result = Err(Error::Config(format!(
                "no scale of {} gives a network input of at least {MIN_FRAME_SIDE}x{MIN_FRAME_SIDE} pixels for this {}x{} frame",
                cfg.scales, frame.width, frame.height
            )));
        }
        if result.is_ok() {
            out.width = frame.width as u32;
            out.height = frame.height as u32;
            ms.candidates.merge(
                cfg.post.nms_radius,
                cfg.post.max_keypoints,
                crate::onnx::DESCRIPTOR_DIM,
                &mut out.keypoints,
                &mut out.descriptors,
                &mut out.scales,
            );
        }
        self.multiscale = ms;
        result
    }

    /// One network run at `cfg`'s inference size (a single scale).
    fn detect_at(
        &mut self,
        frame: &Frame<'_>,
        cfg: &DetectorConfig,
        out: &mut Detections,
    ) -> Result<(), Error> {
        let cfg = *cfg;
        let (engine, input, scratch) = match &mut self.backend {
            Backend::Ort {
                engine,
                input,
                scratch,
            } => (engine, input, scratch),
            #[cfg(feature = "torch")]
            Backend::Torch(t) => {
                if *t.config() != cfg {
                    t.set_config(cfg)?;
                }
                out.scales.clear();
                return t.detect(frame, out);
            }
        };
        let target = engine
            .input_shape()
            .inference_size(cfg.inference_size(), engine.path())?;
        let geo = frame.geometry(target);
        frame.fill_input(&geo, input);
        engine
            .run(input, 1, geo.height, geo.width, |net| {
                decode(
                    net.scores,
                    net.descriptors,
                    &geo,
                    (frame.width, frame.height),
                    &cfg,
                    scratch,
                    out,
                )
            })?
            .map_err(|e| e.into_error(engine.path()))
    }
}

/// Errors when `config` asks for network input sizes that `engine`'s model does not take: an
/// inference size other than a fixed one ([`crate::InputShape::inference_size`]), or several
/// scales (each runs at another size) with a fixed height or width.
fn check_input_shape(engine: &Engine, config: &DetectorConfig) -> Result<(), Error> {
    let shape = engine.input_shape();
    shape.inference_size(config.inference_size(), engine.path())?;
    if (shape.width.is_some() || shape.height.is_some()) && !config.scales.is_identity() {
        return Err(Error::Config(format!(
            "{} has a fixed input size, but scales {} run the network at other sizes: set scales to 1",
            engine.path().display(),
            config.scales
        )));
    }
    Ok(())
}

/// Turns one image's network outputs (`scores` `[H, W]` and `descriptors` `[256, H/8, W/8]` for
/// the network input size of `geo`) into keypoints and descriptors in frame pixels. The
/// post-processing distances of `cfg` (`border`, `nms_radius`) are frame pixels whatever the
/// network input size.
///
/// Errors when an output holds NaN or infinite values ([`crate::finite::check_outputs`]: whole on
/// the first call with `scratch`, cheaply after that); `out` is then left empty.
pub fn decode(
    scores: &[f32],
    descriptors: &[f32],
    geo: &InputGeometry,
    frame_size: (usize, usize),
    cfg: &DetectorConfig,
    scratch: &mut DecodeScratch,
    out: &mut Detections,
) -> Result<(), NonFiniteOutput> {
    out.width = frame_size.0 as u32;
    out.height = frame_size.1 as u32;
    out.keypoints.clear();
    out.descriptors.clear();
    out.scales.clear();
    // border and nms-radius are frame pixels, also when the network input is resized.
    postprocess::extract_keypoints_in_frame(
        scores,
        geo,
        frame_size,
        &cfg.post,
        &mut scratch.keypoints,
        &mut scratch.raw,
    );
    if cfg.descriptors {
        postprocess::sample_descriptors(
            descriptors,
            geo.height / CELL,
            geo.width / CELL,
            scratch.raw.iter().map(|k| (k.x, k.y)),
            &mut out.descriptors,
        );
    }
    let dense = if cfg.descriptors { descriptors } else { &[] };
    let checked =
        crate::finite::check_outputs(scores, dense, &out.descriptors, !scratch.outputs_checked);
    scratch.outputs_checked = true;
    if let Err(e) = checked {
        out.descriptors.clear();
        return Err(e);
    }
    out.keypoints.extend(scratch.raw.iter().map(|k| {
        let (x, y) = geo.to_frame(k.x, k.y);
        Keypoint {
            x,
            y,
            score: k.score,
        }
    }));
    Ok(())
}

/// Buffers reused by [`decode`] from frame to frame.
#[derive(Debug, Default)]
pub struct DecodeScratch {
    keypoints: KeypointScratch,
    raw: Vec<Keypoint>,
    /// Whether a first frame's outputs were checked whole for non-finite values.
    outputs_checked: bool,
}
