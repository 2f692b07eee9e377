//! Frame in, keypoints and descriptors out: a [`Detector`] holds the settings and one
//! [`InferenceBackend`] chosen when the model loads (its own engine, or a share of a batching
//! group's), so callers detect the same way whichever runs the network.

use std::path::Path;

use crate::backend::{self, InferenceBackend, OrtBackend};
use crate::batching::{BatchGroup, BatchPolicy};
use crate::detection::{Detections, DetectorConfig};
use crate::engine::{Engine, EngineOptions};
use crate::frame::Frame;
use crate::onnx::{DESCRIPTOR_DIM, ModelInfo};
use crate::scales::{ScaleCandidates, Scales};
use crate::{Error, MIN_FRAME_SIDE};

/// Runs SuperPoint on frames through an [`InferenceBackend`]: ONNX Runtime, the libtorch engine
/// (`torch` feature, `provider=cuda`, [`crate::torch::TorchDetector`]) or a batching group
/// ([`Self::join_batch_group`]).
#[derive(Debug)]
pub struct Detector {
    backend: Box<dyn InferenceBackend>,
    config: DetectorConfig,
    multiscale: MultiScaleScratch,
}

/// Buffers of multi-scale detection, reused from frame to frame.
#[derive(Debug, Default)]
struct MultiScaleScratch {
    one: Detections,
    candidates: ScaleCandidates,
}

impl Detector {
    /// Loads `model` ([`backend::load`]) and checks `config`. With the `torch` feature,
    /// `provider=cuda` loads the libtorch engine, failing with [`Error::ProviderUnavailable`] when
    /// libtorch has no usable CUDA device (callers may fall back to [`crate::Provider::Cpu`]).
    pub fn new(
        model: &Path,
        options: &EngineOptions,
        config: DetectorConfig,
    ) -> Result<Self, Error> {
        config.validate()?;
        Self::with_backend(backend::load(model, options)?, config)
    }

    /// Joins the batching group `name` (see [`BatchGroup::join`]): frames go to the group's
    /// worker, which runs one model instance for every member, in batches. Errors as
    /// [`BatchGroup::join`] and [`Self::with_backend`], and [`Error::Config`] for several
    /// `config.scales` (batched frames run at one scale).
    pub fn join_batch_group(
        name: &str,
        model: &Path,
        options: &EngineOptions,
        policy: BatchPolicy,
        config: DetectorConfig,
    ) -> Result<Self, Error> {
        config.validate()?;
        if !config.scales.is_identity() {
            return Err(Error::Config(format!(
                "scales {} cannot be used with a batch group (batched frames run at one scale); \
                 set scales to 1 or leave batch-group unset",
                config.scales
            )));
        }
        Self::with_backend(
            Box::new(BatchGroup::join(name, model, options, policy)?),
            config,
        )
    }

    /// Wraps an already loaded ONNX Runtime engine.
    pub fn with_engine(engine: Engine, config: DetectorConfig) -> Result<Self, Error> {
        Self::with_backend(Box::new(OrtBackend::new(engine)), config)
    }

    /// Wraps a loaded backend. Errors: `config` out of range or conflicting with the sizes the
    /// model's input fixes ([`Error::Config`], see [`crate::InputShape::inference_size`]; several
    /// scales with a fixed size), a fixed batch size other than 1
    /// ([`crate::InputShape::check_batch`]), or descriptors asked of a detector-only model
    /// ([`Error::Model`]).
    pub fn with_backend(
        backend: Box<dyn InferenceBackend>,
        config: DetectorConfig,
    ) -> Result<Self, Error> {
        backend.input_shape().check_batch(1, backend.model_path())?;
        let mut detector = Detector {
            backend,
            config: DetectorConfig::default(),
            multiscale: MultiScaleScratch::default(),
        };
        detector.set_config(config)?;
        Ok(detector)
    }

    /// Current configuration.
    pub fn config(&self) -> &DetectorConfig {
        &self.config
    }

    /// Changes the configuration (validated) without reloading the model. Errors as
    /// [`Self::with_backend`]; the previous configuration stays on error.
    pub fn set_config(&mut self, config: DetectorConfig) -> Result<(), Error> {
        config.validate()?;
        if config.descriptors && !self.backend.has_descriptors() {
            return Err(Error::Model(format!(
                "{} has no `descriptors` output (a detector-only MagicPoint model?); disable descriptors or use a SuperPoint model",
                self.backend.model_path().display()
            )));
        }
        check_input_shape(&*self.backend, &config)?;
        self.config = config;
        Ok(())
    }

    /// The note to show once when frames are resized to the model's fixed input size because
    /// no inference size is set ([`crate::InputShape::resize_note`]); `None` otherwise.
    pub fn input_note(&self) -> Option<String> {
        self.backend
            .input_shape()
            .resize_note(self.config.inference_size(), self.backend.model_path())
    }

    /// Model metadata.
    pub fn model_info(&self) -> &ModelInfo {
        self.backend.model_info()
    }

    /// The backend running the network.
    pub fn backend(&self) -> &dyn InferenceBackend {
        &*self.backend
    }

    /// What runs the network, for logs: `onnxruntime (Cpu)`, `libtorch (Cuda(0))`, ...
    pub fn backend_name(&self) -> String {
        self.backend.name()
    }

    /// Detects keypoints (and descriptors when configured) in `frame`, writing into `out`. With
    /// several [`DetectorConfig::scales`], the network runs once per scale whose input is at
    /// least [`MIN_FRAME_SIDE`] on each side (smaller ones are skipped), and `out.scales` gives
    /// each keypoint's scale.
    ///
    /// # Errors
    /// The backend's errors; [`Error::Config`] when no scale gives an input of
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
                DESCRIPTOR_DIM,
                &mut out.keypoints,
                &mut out.descriptors,
                &mut out.scales,
            );
        }
        self.multiscale = ms;
        result
    }

    /// One backend run at `cfg`'s inference size (a single scale).
    fn detect_at(
        &mut self,
        frame: &Frame<'_>,
        cfg: &DetectorConfig,
        out: &mut Detections,
    ) -> Result<(), Error> {
        self.backend
            .detect_frames(std::slice::from_ref(frame), cfg, std::slice::from_mut(out))
    }
}

/// Errors when `config` asks for network input sizes that `backend`'s model does not take: an
/// inference size other than a fixed one ([`crate::InputShape::inference_size`]), or several
/// scales (each runs at another size) with a fixed height or width.
fn check_input_shape(backend: &dyn InferenceBackend, config: &DetectorConfig) -> Result<(), Error> {
    let shape = backend.input_shape();
    shape.inference_size(config.inference_size(), backend.model_path())?;
    if (shape.width.is_some() || shape.height.is_some()) && !config.scales.is_identity() {
        return Err(Error::Config(format!(
            "{} has a fixed input size, but scales {} run the network at other sizes: set scales to 1",
            backend.model_path().display(),
            config.scales
        )));
    }
    Ok(())
}
