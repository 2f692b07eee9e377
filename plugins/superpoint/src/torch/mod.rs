//! The libtorch engine (cargo feature `torch`): SuperPoint run by libtorch through tch, on a CUDA
//! device or on libtorch's CPU, with the post-processing on the device too.
//!
//! [`TorchDetector`] takes uint8 frames in host memory and returns [`Detections`] in host memory,
//! equal to those of the ONNX Runtime [`Detector`](crate::Detector) up to floating-point rounding
//! (the network's convolutions and softmax are computed by other kernels): same weights (read from
//! the same ONNX file), same input conversion, and post-processing with the host's conventions
//! (see [`post`]): threshold, greedy NMS computed with max-pools, border in frame pixels, top-k
//! with the same order, sub-pixel refinement, bilinear descriptor sampling and L2 normalisation.
//!
//! Per batch: the frames' luma planes are copied into a reused (pinned, on CUDA) uint8 staging
//! tensor and uploaded; RGB-family frames and resized inputs are converted on the host as for ONNX
//! Runtime ([`Frame::fill_input`]) and uploaded as float32. Only the kept keypoints (score, index)
//! and their descriptors come back, packed into one reused (pinned) float32 buffer, with two
//! small synchronisations before (NMS rounds and the keypoint counts). With sub-pixel refinement
//! (`PostParams::subpixel`, default soft-argmax 5x5) the keypoints come back with their heatmap
//! windows instead of descriptors, are refined on the host by the arithmetic ONNX Runtime's path
//! uses ([`Subpixel::refine_window`]) and clamped to the border box, and the refined positions go
//! up for the descriptors to be sampled there (one more copy each way).
//!
//! The engine plugs into [`Detector`](crate::Detector) and batch groups through its
//! [`InferenceBackend`](crate::InferenceBackend) implementation (in [`crate::backend`]).
//!
//! [`TorchDetector::from_engine_options`] maps `provider=cuda` to CUDA device `device_id` and
//! reports [`Error::ProviderUnavailable`] when libtorch has no usable CUDA device, so callers fall
//! back to ONNX Runtime on the CPU as they do for ONNX Runtime's CUDA provider. The environment
//! variable `SUPERPOINT_TORCH_DEVICE=cpu` runs this engine on libtorch's CPU instead (tests,
//! rehearsals of GPU scripts on machines without a GPU); `SUPERPOINT_TORCH_TF32=1` lets CUDA
//! convolutions use TF32 tensor cores (faster, about 1e-3 relative error; default off: fp32);
//! `SUPERPOINT_TORCH_HALF=bf16` (or `fp16`) runs the convolutions in bfloat16 (float16), the
//! rest in float32 (differences against float32: see tests/torch_engine.rs).

mod net;
mod post;

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};

use tch::{Device, Kind, Tensor};

use crate::detection::{Detections, DetectorConfig, to_frame};
use crate::engine::{EngineOptions, Provider};
use crate::frame::{Frame, InputGeometry};
use crate::onnx::{DESCRIPTOR_DIM, ModelInfo, SuperPointWeights};
use crate::postprocess::{BorderBox, Keypoint};
use crate::subpixel::Subpixel;
use crate::{Error, MIN_FRAME_SIDE};

use net::{Network, torch_error};

/// Environment variable that moves the `provider=cuda` libtorch engine to libtorch's CPU.
pub const ENV_DEVICE: &str = "SUPERPOINT_TORCH_DEVICE";
/// Environment variable that allows TF32 convolutions on CUDA (`1`/`true`).
pub const ENV_TF32: &str = "SUPERPOINT_TORCH_TF32";
/// Environment variable that runs the convolutions in `bf16` or `fp16`.
pub const ENV_HALF: &str = "SUPERPOINT_TORCH_HALF";

/// Where and how the libtorch engine runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TorchOptions {
    /// `Device::Cuda(n)` or `Device::Cpu`.
    pub device: Device,
    /// CUDA convolutions may use TF32 tensor cores (ignored on the CPU).
    pub tf32: bool,
    /// libtorch intra-op threads on the CPU (0 = libtorch's default). Process-wide setting.
    pub threads: usize,
    /// Convolutions in `Kind::BFloat16` or `Kind::Half` instead of float32 (softmax, descriptor
    /// normalisation and post-processing stay float32). `None` from [`Self::new`].
    pub half: Option<Kind>,
}

impl TorchOptions {
    /// Options on `device`, checking that CUDA is usable for a CUDA device: otherwise
    /// [`Error::ProviderUnavailable`] saying why (CPU-only libtorch, no driver or GPU, or an index
    /// beyond the devices present).
    pub fn new(device: Device, tf32: bool, threads: usize) -> Result<Self, Error> {
        if let Device::Cuda(n) = device {
            if !tch::Cuda::is_available() {
                return Err(Error::ProviderUnavailable(
                    "libtorch sees no CUDA device (CPU-only libtorch, no NVIDIA driver, or no GPU)"
                        .into(),
                ));
            }
            let count = tch::Cuda::device_count() as usize;
            if n >= count {
                return Err(Error::ProviderUnavailable(format!(
                    "CUDA device {n} asked for, libtorch sees {count}"
                )));
            }
        }
        Ok(TorchOptions {
            device,
            tf32,
            threads,
            half: None,
        })
    }

    /// The libtorch options for `options.provider == Provider::Cuda`: device `device_id`, or
    /// libtorch's CPU when `SUPERPOINT_TORCH_DEVICE=cpu`; TF32 when `SUPERPOINT_TORCH_TF32=1`.
    /// Errors as [`Self::new`], and with [`Error::Config`] for a negative device index or an
    /// unknown `SUPERPOINT_TORCH_DEVICE`.
    pub fn from_engine_options(options: &EngineOptions) -> Result<Self, Error> {
        debug_assert_eq!(options.provider, Provider::Cuda);
        let device = match std::env::var(ENV_DEVICE).ok().as_deref() {
            None | Some("") | Some("cuda") => {
                let n = usize::try_from(options.device_id).map_err(|_| {
                    Error::Config(format!("device-id must be >= 0, got {}", options.device_id))
                })?;
                Device::Cuda(n)
            }
            Some("cpu") => Device::Cpu,
            Some(other) => {
                return Err(Error::Config(format!(
                    "{ENV_DEVICE}={other:?}: use cpu or cuda"
                )));
            }
        };
        let tf32 = matches!(
            std::env::var(ENV_TF32).ok().as_deref(),
            Some("1") | Some("true")
        );
        let half = match std::env::var(ENV_HALF).ok().as_deref() {
            None | Some("") | Some("fp32") => None,
            Some("bf16") => Some(Kind::BFloat16),
            Some("fp16") => Some(Kind::Half),
            Some(other) => {
                return Err(Error::Config(format!(
                    "{ENV_HALF}={other:?}: use bf16, fp16 or fp32"
                )));
            }
        };
        Ok(TorchOptions {
            half,
            ..Self::new(device, tf32, options.threads)?
        })
    }
}

/// SuperPoint on libtorch: frames in, keypoints and descriptors out, with buffers kept between
/// calls. See the [module documentation](self).
pub struct TorchDetector {
    network: Network,
    half: Option<Kind>,
    info: ModelInfo,
    path: PathBuf,
    device: Device,
    config: DetectorConfig,
    masks: Option<post::Masks>,
    /// uint8 `[capacity]` staging buffer for luma planes (pinned on CUDA).
    staging_u8: Option<Tensor>,
    /// float32 `[capacity]` staging buffer for host-converted inputs (pinned on CUDA).
    staging_f32: Option<Tensor>,
    /// float32 `[capacity]` buffer receiving the packed results (pinned on CUDA).
    results: Option<Tensor>,
    /// int64 `[capacity]` buffer receiving the per-image counts.
    counts: Option<Tensor>,
    /// float32 `[capacity]` staging buffer for refined positions going up (pinned on CUDA).
    positions: Option<Tensor>,
    /// float32 `[capacity]` buffer receiving descriptors sampled at refined positions (pinned).
    refined: Option<Tensor>,
    input: Vec<f32>,
    /// `[N * k]` kept keypoints in network pixels (refined), image after image.
    keypoints: Vec<Keypoint>,
}

impl std::fmt::Debug for TorchDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TorchDetector")
            .field("path", &self.path)
            .field("model_id", &self.info.model_id)
            .field("device", &self.device)
            .field("tf32", &self.network.tf32)
            .field("half", &self.half)
            .finish()
    }
}

impl TorchDetector {
    /// Loads the weights of the ONNX file `model` onto `options.device`. Errors: missing or
    /// non-SuperPoint model ([`Error::Model`]/[`Error::Io`]), bad `config` ([`Error::Config`]),
    /// descriptors asked of a detector-only model, or a device that cannot take the weights.
    pub fn new(
        model: &Path,
        options: &TorchOptions,
        config: DetectorConfig,
    ) -> Result<Self, Error> {
        config.validate()?;
        if !model.exists() {
            return Err(Error::Model(format!(
                "model file {} does not exist (set the `model` property / --model to a SuperPoint ONNX file)",
                model.display()
            )));
        }
        let (weights, info) = SuperPointWeights::from_model_file(model)?;
        if options.threads > 0 && options.device == Device::Cpu {
            tch::set_num_threads(options.threads as i32);
        }
        let mut network = guard(|| -> Result<Network, Error> {
            let mut network = Network::new(&weights, options.device)?;
            if let Some(kind) = options.half {
                network.set_half(kind);
            }
            Ok(network)
        })??;
        network.tf32 = options.tf32;
        let detector = TorchDetector {
            network,
            half: options.half,
            info,
            path: model.to_path_buf(),
            device: options.device,
            config,
            masks: None,
            staging_u8: None,
            staging_f32: None,
            results: None,
            counts: None,
            positions: None,
            refined: None,
            input: Vec::new(),
            keypoints: Vec::new(),
        };
        detector.check_descriptors(&config)?;
        Ok(detector)
    }

    fn check_descriptors(&self, config: &DetectorConfig) -> Result<(), Error> {
        if config.descriptors && !self.network.has_descriptors() {
            return Err(Error::Model(format!(
                "{} has no descriptor head (a detector-only MagicPoint model?); disable descriptors or use a SuperPoint model",
                self.path.display()
            )));
        }
        Ok(())
    }

    /// Model metadata.
    pub fn model_info(&self) -> &ModelInfo {
        &self.info
    }

    /// Whether the model has the descriptor head.
    pub fn has_descriptors(&self) -> bool {
        self.network.has_descriptors()
    }

    /// The libtorch device in use.
    pub fn device(&self) -> Device {
        self.device
    }

    /// The model file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Current configuration.
    pub fn config(&self) -> &DetectorConfig {
        &self.config
    }

    /// Changes the configuration (validated) without reloading the model.
    pub fn set_config(&mut self, config: DetectorConfig) -> Result<(), Error> {
        config.validate()?;
        self.check_descriptors(&config)?;
        self.config = config;
        Ok(())
    }

    /// Detects keypoints (and descriptors when configured) in `frame`, writing into `out`.
    pub fn detect(&mut self, frame: &Frame<'_>, out: &mut Detections) -> Result<(), Error> {
        self.detect_batch(std::slice::from_ref(frame), std::slice::from_mut(out))
    }

    /// Detects keypoints in `frames` as one `[N, 1, H, W]` batch, writing `outs[i]` for
    /// `frames[i]`. Errors: `frames` and `outs` differ in length, the frames differ in size
    /// ([`Error::Input`]), or libtorch fails ([`Error::Runtime`], e.g. out of device memory).
    pub fn detect_batch(
        &mut self,
        frames: &[Frame<'_>],
        outs: &mut [Detections],
    ) -> Result<(), Error> {
        let config = self.config;
        self.detect_frames_with(frames, &config, outs)
    }

    /// [`Self::detect_batch`] with `config` instead of the detector's own.
    pub(crate) fn detect_frames_with(
        &mut self,
        frames: &[Frame<'_>],
        config: &DetectorConfig,
        outs: &mut [Detections],
    ) -> Result<(), Error> {
        config.validate()?;
        self.check_descriptors(config)?;
        if frames.len() != outs.len() {
            return Err(Error::Input(format!(
                "{} frames but {} outputs",
                frames.len(),
                outs.len()
            )));
        }
        let Some(first) = frames.first() else {
            return Ok(());
        };
        let size = (first.width, first.height);
        if let Some(f) = frames.iter().find(|f| (f.width, f.height) != size) {
            return Err(Error::Input(format!(
                "a batch needs frames of one size: {}x{} and {}x{}",
                size.0, size.1, f.width, f.height
            )));
        }
        if size.0 < MIN_FRAME_SIDE || size.1 < MIN_FRAME_SIDE {
            return Err(Error::Input(format!(
                "frame {}x{} is too small: SuperPoint needs at least {MIN_FRAME_SIDE}x{MIN_FRAME_SIDE} pixels",
                size.0, size.1
            )));
        }
        let geo = first.geometry(config.inference_size());
        check_size(&geo)?;
        guard(|| {
            let input = self.upload(frames, &geo)?;
            self.run(input, &geo, size, config, outs)
        })?
    }

    /// Detects keypoints in already converted network inputs (`inputs[i]`: `geo.height` x
    /// `geo.width` float32 values in [0, 1], as [`Frame::fill_input`] makes them) of frames of
    /// `frame_size` pixels, with `config` instead of the detector's own, writing `outs[i]`.
    /// Errors as [`Self::detect_batch`], and when an input has the wrong length or `config` asks
    /// descriptors of a detector-only model.
    pub(crate) fn detect_converted(
        &mut self,
        inputs: &[&[f32]],
        geo: &InputGeometry,
        frame_size: (usize, usize),
        config: &DetectorConfig,
        outs: &mut [Detections],
    ) -> Result<(), Error> {
        config.validate()?;
        self.check_descriptors(config)?;
        check_size(geo)?;
        let plane = geo.width * geo.height;
        if inputs.len() != outs.len() || inputs.iter().any(|i| i.len() != plane) {
            return Err(Error::Input(format!(
                "expected {} inputs of {plane} values for {}x{}",
                outs.len(),
                geo.width,
                geo.height
            )));
        }
        if inputs.is_empty() {
            return Ok(());
        }
        guard(|| {
            let n = inputs.len();
            let staging = staging(&mut self.staging_f32, n * plane, Kind::Float, self.device)?;
            let dst = host_slice_mut::<f32>(&staging, n * plane);
            for (i, input) in inputs.iter().enumerate() {
                dst[i * plane..(i + 1) * plane].copy_from_slice(input);
            }
            let input = staging
                .narrow(0, 0, (n * plane) as i64)
                .view([n as i64, 1, geo.height as i64, geo.width as i64])
                .to_device_(self.device, Kind::Float, true, false);
            self.run(input, geo, frame_size, config, outs)
        })?
    }

    /// The network input `[N, 1, H, W]` float32 on the device.
    fn upload(&mut self, frames: &[Frame<'_>], geo: &InputGeometry) -> Result<Tensor, Error> {
        let n = frames.len();
        let luma = |f: &Frame<'_>| f.layout.has_luma8_plane();
        let native = geo.scale_x == 1.0 && geo.scale_y == 1.0;
        let (h, w) = (geo.height as i64, geo.width as i64);
        if native && frames.iter().all(luma) {
            // uint8 luma rows, converted and edge-padded on the device.
            let (vw, vh) = (geo.valid_width, geo.valid_height);
            let plane = vw * vh;
            let staging = staging(&mut self.staging_u8, n * plane, Kind::Uint8, self.device)?;
            let dst = host_slice_mut::<u8>(&staging, n * plane);
            for (i, f) in frames.iter().enumerate() {
                for y in 0..vh {
                    let row = &f.data[y * f.stride..y * f.stride + vw];
                    dst[i * plane + y * vw..i * plane + (y + 1) * vw].copy_from_slice(row);
                }
            }
            let x = staging
                .narrow(0, 0, (n * plane) as i64)
                .view([n as i64, 1, vh as i64, vw as i64])
                .to_device_(self.device, Kind::Uint8, true, false)
                .to_kind(Kind::Float)
                * f64::from(1.0f32 / 255.0);
            let (pw, ph) = (w - vw as i64, h - vh as i64);
            Ok(if pw > 0 || ph > 0 {
                x.replication_pad2d([0, pw, 0, ph])
            } else {
                x
            })
        } else {
            // Host conversion, exactly as for ONNX Runtime.
            let plane = geo.width * geo.height;
            let staging = staging(&mut self.staging_f32, n * plane, Kind::Float, self.device)?;
            let dst = host_slice_mut::<f32>(&staging, n * plane);
            for (i, f) in frames.iter().enumerate() {
                f.fill_input(geo, &mut self.input);
                dst[i * plane..(i + 1) * plane].copy_from_slice(&self.input);
            }
            Ok(staging
                .narrow(0, 0, (n * plane) as i64)
                .view([n as i64, 1, h, w])
                .to_device_(self.device, Kind::Float, true, false))
        }
    }

    /// Network, post-processing and the copy back for `input` `[N, 1, H, W]` on the device.
    ///
    /// Without sub-pixel refinement one copy brings back per kept keypoint its score, heatmap
    /// index and descriptor. With it, the first copy brings the score, the index and the
    /// `(2r+1)²` heatmap window around the peak ([`post::windows`]); the host refines with the
    /// same [`Subpixel::refine_window`] as the ONNX Runtime path and clamps to the border box,
    /// then the refined positions go up and their descriptors come back (a second copy).
    fn run(
        &mut self,
        input: Tensor,
        geo: &InputGeometry,
        frame_size: (usize, usize),
        config: &DetectorConfig,
        outs: &mut [Detections],
    ) -> Result<(), Error> {
        let n = outs.len();
        let config = *config;
        let net = tch::no_grad(|| self.network.forward(&input, config.descriptors));
        let masks = post::Masks::get(
            &mut self.masks,
            geo,
            frame_size,
            config.post.border,
            self.device,
        );
        let sel = tch::no_grad(|| post::keypoints(&net.scores, geo, masks, &config));
        let k = sel.k as usize;
        let counts_host = staging(&mut self.counts, n, Kind::Int64, Device::Cpu)?;
        counts_host
            .narrow(0, 0, n as i64)
            .f_copy_(&sel.counts)
            .map_err(torch_error)?;
        let counts: Vec<usize> = host_slice_mut::<i64>(&counts_host, n)
            .iter()
            .map(|&c| c as usize)
            .collect();
        let subpixel = config.post.subpixel;
        let refine = subpixel.applies(geo.valid_width, geo.valid_height);
        let width = geo.width as i64;
        let dense = net.descriptors.as_ref();
        // What follows score and index in each packed row.
        let extra = match (refine, dense) {
            (true, _) => subpixel.window_len(),
            (false, Some(_)) => DESCRIPTOR_DIM,
            (false, None) => 0,
        };
        let stride = 2 + extra;
        let total = n * k * stride;
        if k > 0 {
            let mut parts = vec![
                sel.scores.unsqueeze(2),
                sel.index.to_kind(Kind::Float).unsqueeze(2),
            ];
            if refine {
                let r = subpixel.window_radius() as i64;
                parts.push(tch::no_grad(|| {
                    post::windows(&net.scores, &sel.index, geo, r)
                }));
            } else if let Some(dense) = dense {
                let x = sel.index.remainder(width).to_kind(Kind::Float);
                let y = sel.index.floor_divide_scalar(width).to_kind(Kind::Float);
                parts.push(tch::no_grad(|| post::sample_descriptors(dense, &x, &y)));
            }
            let packed = Tensor::cat(&parts, 2).reshape([-1]);
            let host = staging(&mut self.results, total, Kind::Float, self.device)?;
            host.narrow(0, 0, total as i64)
                .f_copy_(&packed)
                .map_err(torch_error)?;
        }
        let data: &[f32] = match &self.results {
            Some(t) if total > 0 => host_slice_mut::<f32>(t, total),
            _ => &[],
        };
        // Kept keypoints in network pixels, refined and clamped as on the host.
        let bounds = BorderBox::new(geo, frame_size, config.post.border);
        self.keypoints.clear();
        for (i, &count) in counts.iter().enumerate() {
            for j in 0..k {
                let row = &data[(i * k + j) * stride..(i * k + j + 1) * stride];
                let idx = row[1] as usize;
                let mut kp = Keypoint {
                    x: (idx % geo.width) as f32,
                    y: (idx / geo.width) as f32,
                    score: row[0],
                };
                if j < count && subpixel != Subpixel::None {
                    if refine {
                        let (dx, dy) = subpixel.refine_window(&row[2..]);
                        kp.x += dx;
                        kp.y += dy;
                    }
                    bounds.clamp(&mut kp);
                }
                self.keypoints.push(kp);
            }
        }
        // Descriptors at the refined positions: up, sampled, back.
        let refined_len = match dense {
            Some(dense) if refine && k > 0 => {
                let len = n * k * 2;
                let up = staging(&mut self.positions, len, Kind::Float, self.device)?;
                let dst = host_slice_mut::<f32>(&up, len);
                for (d, kp) in dst.chunks_exact_mut(2).zip(&self.keypoints) {
                    d[0] = kp.x;
                    d[1] = kp.y;
                }
                let pos = up
                    .narrow(0, 0, len as i64)
                    .view([n as i64, k as i64, 2])
                    .to_device_(self.device, Kind::Float, true, false);
                let sampled = tch::no_grad(|| {
                    post::sample_descriptors(dense, &pos.select(2, 0), &pos.select(2, 1))
                })
                .reshape([-1]);
                let len = n * k * DESCRIPTOR_DIM;
                let back = staging(&mut self.refined, len, Kind::Float, self.device)?;
                back.narrow(0, 0, len as i64)
                    .f_copy_(&sampled)
                    .map_err(torch_error)?;
                len
            }
            _ => 0,
        };
        let refined: &[f32] = match &self.refined {
            Some(t) if refined_len > 0 => host_slice_mut::<f32>(t, refined_len),
            _ => &[],
        };
        for (i, out) in outs.iter_mut().enumerate() {
            out.reset(frame_size);
            for j in 0..counts[i] {
                let at = i * k + j;
                out.keypoints.push(to_frame(geo, &self.keypoints[at]));
                if config.descriptors {
                    out.descriptors.extend_from_slice(if refine {
                        &refined[at * DESCRIPTOR_DIM..(at + 1) * DESCRIPTOR_DIM]
                    } else {
                        &data[at * stride + 2..(at + 1) * stride]
                    });
                }
            }
        }
        Ok(())
    }
}

/// Errors when the network input has more pixels than the NMS keys can index (`2^23`: 3840x2160
/// fits, 4096x2160 does not).
fn check_size(geo: &InputGeometry) -> Result<(), Error> {
    if geo.width * geo.height > 1 << post::INDEX_BITS {
        return Err(Error::Input(format!(
            "network input {}x{} is larger than the libtorch engine's {} pixels (use inference-width/height)",
            geo.width,
            geo.height,
            1usize << post::INDEX_BITS
        )));
    }
    Ok(())
}

/// A reused one-dimensional host buffer of `kind` holding at least `len` elements, pinned when
/// `device` is a CUDA device (so copies to and from it are direct DMA).
fn staging(
    slot: &mut Option<Tensor>,
    len: usize,
    kind: Kind,
    device: Device,
) -> Result<Tensor, Error> {
    if slot.as_ref().is_none_or(|t| t.numel() < len) {
        let t = Tensor::f_empty([len.max(1) as i64], (kind, Device::Cpu)).map_err(torch_error)?;
        *slot = Some(match device {
            Device::Cuda(_) => t.f_pin_memory(device).map_err(torch_error)?,
            _ => t,
        });
    }
    Ok(slot.as_ref().expect("just set").shallow_clone())
}

/// The first `len` elements of the contiguous host tensor `t` as a mutable slice.
#[allow(clippy::mut_from_ref)]
fn host_slice_mut<T>(t: &Tensor, len: usize) -> &mut [T] {
    assert!(t.device() == Device::Cpu && t.numel() >= len && t.is_contiguous());
    // SAFETY: `t` is a contiguous host tensor of at least `len` elements of `T` (checked above;
    // callers pass the tensor's element type), owned by the detector and only touched through
    // this slice while it lives.
    unsafe { std::slice::from_raw_parts_mut(t.data_ptr() as *mut T, len) }
}

/// Runs `f`, turning a libtorch panic (tch's non-`f_` operations panic on errors such as out of
/// device memory) into [`Error::Runtime`].
fn guard<R>(f: impl FnOnce() -> R) -> Result<R, Error> {
    std::panic::catch_unwind(AssertUnwindSafe(f)).map_err(|p| {
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown error".into());
        Error::Runtime(format!("libtorch failed: {msg}"))
    })
}
