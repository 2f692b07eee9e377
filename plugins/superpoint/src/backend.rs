//! The inference backend seam: one trait for whatever runs the network and decodes its outputs
//! (frames or converted inputs in, [`Detections`] out), chosen once when the model loads.
//!
//! [`load`] picks the engine for [`EngineOptions`]: ONNX Runtime ([`OrtBackend`]), or with the
//! `torch` feature and `provider=cuda` the libtorch engine ([`crate::torch::TorchDetector`]).
//! [`Detector`](crate::Detector) holds a `Box<dyn InferenceBackend>`, as does a batching group's
//! worker ([`crate::batching`]); a batching group's stream handle is itself a backend, so an
//! element detects through one [`Detector`](crate::Detector) whether it owns the model or shares
//! it. A new engine (TensorRT, OpenVINO, ...) implements this trait and one arm of [`load`].

use std::path::Path;

use crate::Error;
use crate::detection::{DecodeScratch, Detections, DetectorConfig, decode};
use crate::engine::{Engine, EngineOptions, InputShape};
use crate::frame::{Frame, InputGeometry};
use crate::onnx::{CELL, DESCRIPTOR_DIM, ModelInfo};

/// One already converted network input (as [`Frame::fill_input`] makes it) with what decoding it
/// needs.
#[derive(Debug, Clone, Copy)]
pub struct NetworkInput<'a> {
    /// `geo.height` x `geo.width` float32 values in [0, 1], row-major.
    pub data: &'a [f32],
    /// The network input geometry of the frame.
    pub geo: InputGeometry,
    /// Frame size `(width, height)` in pixels.
    pub frame_size: (usize, usize),
    /// Post-processing and descriptor settings for this input.
    pub config: DetectorConfig,
}

/// Runs SuperPoint: frames (or converted inputs) in, keypoints and descriptors in frame pixels
/// out, with the decode step of [`crate::detection`] (or an equal one on the device).
pub trait InferenceBackend: Send + std::fmt::Debug {
    /// What runs the network, for logs: `onnxruntime (Cpu)`, `libtorch (Cuda(0))`, ...
    fn name(&self) -> String;

    /// Metadata of the loaded model.
    fn model_info(&self) -> &ModelInfo;

    /// The model file.
    fn model_path(&self) -> &Path;

    /// Whether the model has the descriptor head.
    fn has_descriptors(&self) -> bool;

    /// The sizes the model's input fixes ([`InputShape`]; all dynamic for the libtorch engine).
    /// [`detect_frames`](Self::detect_frames) resizes frames to a fixed height and width when
    /// `config` asks for no inference size; [`crate::Detector`] checks settings against it.
    fn input_shape(&self) -> InputShape;

    /// Detects keypoints in `frames` as one batch with `config` (already validated), writing
    /// `outs[i]` for `frames[i]`, at `config`'s inference size or the model's fixed one
    /// ([`InputShape::inference_size`]). Errors: `frames` and `outs` differ in length, the frames
    /// do not fit one batch ([`Error::Input`]: network inputs of different sizes), an inference
    /// size the model's fixed input does not take ([`Error::Config`]), non-finite network outputs
    /// ([`Error::Model`] naming the model and the output; not checked by the libtorch engine), or
    /// the engine fails.
    fn detect_frames(
        &mut self,
        frames: &[Frame<'_>],
        config: &DetectorConfig,
        outs: &mut [Detections],
    ) -> Result<(), Error>;

    /// Detects keypoints in already converted inputs of one network input size (each with its
    /// own frame size and settings), writing `outs[i]` for `inputs[i]`. Errors as
    /// [`Self::detect_frames`], and when an input's length does not match its geometry.
    fn detect_inputs(
        &mut self,
        inputs: &[NetworkInput<'_>],
        outs: &mut [Detections],
    ) -> Result<(), Error>;
}

/// Loads `model` on the engine `options` ask for: the libtorch engine for `provider=cuda` with
/// the `torch` feature (failing with [`Error::ProviderUnavailable`] when libtorch has no usable
/// CUDA device, so callers may fall back to [`crate::Provider::Cpu`]), else ONNX Runtime (its
/// CUDA provider for `provider=cuda`). Errors: [`Error::Model`]/[`Error::Io`] for a missing or
/// non-SuperPoint model, [`Error::Runtime`] when the engine cannot start.
pub fn load(model: &Path, options: &EngineOptions) -> Result<Box<dyn InferenceBackend>, Error> {
    #[cfg(feature = "torch")]
    if options.provider == crate::Provider::Cuda {
        use crate::torch::{TorchDetector, TorchOptions};
        let torch = TorchOptions::from_engine_options(options)?;
        let detector = TorchDetector::new(model, &torch, DetectorConfig::default())?;
        return Ok(Box::new(detector));
    }
    Ok(Box::new(OrtBackend::new(Engine::new(model, options)?)))
}

/// Checks that `inputs` and `outs` have the same length.
pub(crate) fn check_lengths(inputs: usize, outs: usize) -> Result<(), Error> {
    if inputs != outs {
        return Err(Error::Input(format!("{inputs} inputs but {outs} outputs")));
    }
    Ok(())
}

/// The ONNX Runtime engine as a backend: host conversion, the network, host decode, with buffers
/// kept between calls.
#[derive(Debug)]
pub struct OrtBackend {
    engine: Engine,
    /// The batch's inputs, one after the other.
    input: Vec<f32>,
    /// One frame's input while a batch of several frames is assembled.
    frame_input: Vec<f32>,
    scratch: DecodeScratch,
}

impl OrtBackend {
    /// Wraps a loaded engine.
    pub fn new(engine: Engine) -> Self {
        OrtBackend {
            engine,
            input: Vec::new(),
            frame_input: Vec::new(),
            scratch: DecodeScratch::default(),
        }
    }

    /// The ONNX Runtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Runs `self.input` (`n` images of `width` x `height`) and decodes image `i` with
    /// `params(i)` = (geometry, frame size, settings) into `outs[i]`.
    fn run(
        &mut self,
        (width, height): (usize, usize),
        params: impl Fn(usize) -> (InputGeometry, (usize, usize), DetectorConfig),
        outs: &mut [Detections],
    ) -> Result<(), Error> {
        let n = outs.len();
        let plane = width * height;
        let dplane = DESCRIPTOR_DIM * (height / CELL) * (width / CELL);
        let scratch = &mut self.scratch;
        let decoded = self.engine.run(&self.input, n, height, width, |net| {
            for (i, out) in outs.iter_mut().enumerate() {
                let (geo, frame_size, config) = params(i);
                let descriptors = if net.descriptors.is_empty() {
                    &[][..]
                } else {
                    &net.descriptors[i * dplane..(i + 1) * dplane]
                };
                decode(
                    &net.scores[i * plane..(i + 1) * plane],
                    descriptors,
                    &geo,
                    frame_size,
                    &config,
                    scratch,
                    out,
                )?;
            }
            Ok::<(), crate::finite::NonFiniteOutput>(())
        })?;
        decoded.map_err(|e| e.into_error(self.engine.path()))
    }
}

impl InferenceBackend for OrtBackend {
    fn name(&self) -> String {
        format!("onnxruntime ({:?})", self.engine.provider())
    }

    fn model_info(&self) -> &ModelInfo {
        self.engine.info()
    }

    fn model_path(&self) -> &Path {
        self.engine.path()
    }

    fn has_descriptors(&self) -> bool {
        self.engine.has_descriptors()
    }

    fn input_shape(&self) -> InputShape {
        self.engine.input_shape()
    }

    fn detect_frames(
        &mut self,
        frames: &[Frame<'_>],
        config: &DetectorConfig,
        outs: &mut [Detections],
    ) -> Result<(), Error> {
        check_lengths(frames.len(), outs.len())?;
        let Some(first) = frames.first() else {
            return Ok(());
        };
        let size = self
            .engine
            .input_shape()
            .inference_size(config.inference_size(), self.engine.path())?;
        let geo = first.geometry(size);
        if let [frame] = frames {
            frame.fill_input(&geo, &mut self.input);
        } else {
            self.input.clear();
            for f in frames {
                let g = f.geometry(size);
                if (g.width, g.height) != (geo.width, geo.height) {
                    return Err(batch_size_error(&geo, &g));
                }
                f.fill_input(&g, &mut self.frame_input);
                self.input.extend_from_slice(&self.frame_input);
            }
        }
        self.run(
            (geo.width, geo.height),
            |i| {
                let f = &frames[i];
                (f.geometry(size), (f.width, f.height), *config)
            },
            outs,
        )
    }

    fn detect_inputs(
        &mut self,
        inputs: &[NetworkInput<'_>],
        outs: &mut [Detections],
    ) -> Result<(), Error> {
        check_lengths(inputs.len(), outs.len())?;
        let Some(first) = inputs.first() else {
            return Ok(());
        };
        let geo = first.geo;
        self.input.clear();
        for input in inputs {
            if (input.geo.width, input.geo.height) != (geo.width, geo.height) {
                return Err(batch_size_error(&geo, &input.geo));
            }
            check_input(input)?;
            self.input.extend_from_slice(input.data);
        }
        self.run(
            (geo.width, geo.height),
            |i| (inputs[i].geo, inputs[i].frame_size, inputs[i].config),
            outs,
        )
    }
}

/// The libtorch engine as a backend (`torch` feature): uploads, network and decode on the device.
/// Its outputs are not checked for non-finite values (the ONNX Runtime path's
/// [`crate::finite`] check reads the whole score map on the host); the input shape is dynamic.
#[cfg(feature = "torch")]
impl InferenceBackend for crate::torch::TorchDetector {
    fn name(&self) -> String {
        format!("libtorch ({:?})", self.device())
    }

    fn model_info(&self) -> &ModelInfo {
        crate::torch::TorchDetector::model_info(self)
    }

    fn model_path(&self) -> &Path {
        self.path()
    }

    fn has_descriptors(&self) -> bool {
        crate::torch::TorchDetector::has_descriptors(self)
    }

    /// All dynamic: the TorchScript network runs any multiple of 8.
    fn input_shape(&self) -> InputShape {
        InputShape::default()
    }

    fn detect_frames(
        &mut self,
        frames: &[Frame<'_>],
        config: &DetectorConfig,
        outs: &mut [Detections],
    ) -> Result<(), Error> {
        self.detect_frames_with(frames, config, outs)
    }

    /// One forward pass per run of consecutive inputs with the same geometry, frame size and
    /// settings (usually all of them).
    fn detect_inputs(
        &mut self,
        inputs: &[NetworkInput<'_>],
        outs: &mut [Detections],
    ) -> Result<(), Error> {
        check_lengths(inputs.len(), outs.len())?;
        let mut start = 0;
        while start < inputs.len() {
            let first = &inputs[start];
            let key = (first.geo, first.frame_size, first.config);
            let len = inputs[start..]
                .iter()
                .take_while(|i| (i.geo, i.frame_size, i.config) == key)
                .count();
            let data: Vec<&[f32]> = inputs[start..start + len].iter().map(|i| i.data).collect();
            self.detect_converted(&data, &key.0, key.1, &key.2, &mut outs[start..start + len])?;
            start += len;
        }
        Ok(())
    }
}

/// Errors when `input.data` does not hold `geo.width` x `geo.height` values.
pub(crate) fn check_input(input: &NetworkInput<'_>) -> Result<(), Error> {
    let plane = input.geo.width * input.geo.height;
    if input.data.len() != plane {
        return Err(Error::Input(format!(
            "expected {plane} input values for {}x{}, got {}",
            input.geo.width,
            input.geo.height,
            input.data.len()
        )));
    }
    Ok(())
}

fn batch_size_error(a: &InputGeometry, b: &InputGeometry) -> Error {
    Error::Input(format!(
        "a batch needs one network input size: {}x{} and {}x{}",
        a.width, a.height, b.width, b.height
    ))
}
