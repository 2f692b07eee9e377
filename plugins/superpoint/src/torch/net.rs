//! The SuperPoint network as libtorch operations on weights read from the ONNX file: the same
//! graph as [`SuperPointWeights::to_model`](crate::onnx::SuperPointWeights::to_model) (3x3 "same"
//! convolutions with ReLU, 2x2 max-pools after the first three encoder pairs, the detector and
//! descriptor heads, and the per-channel affine after a ReLU of models imported from
//! conv → ReLU → BatchNorm checkpoints), run with `_convolution` so the TF32 choice is explicit.

use tch::{Device, Kind, Tensor};

use crate::Error;
use crate::onnx::{
    CELL, ChannelAffine, Conv, DESCRIPTOR_LAYERS, DETECTOR_LAYERS, ENCODER_LAYERS,
    SuperPointWeights,
};

/// One convolution on the device: weight `[out, in, k, k]`, bias `[out]`, and the optional
/// affine after its ReLU (scale and shift `[1, out, 1, 1]`).
#[derive(Debug)]
struct DeviceConv {
    weight: Tensor,
    bias: Tensor,
    padding: i64,
    post: Option<(Tensor, Tensor)>,
}

impl DeviceConv {
    fn new(conv: &Conv, post: Option<&ChannelAffine>, device: Device) -> Result<Self, Error> {
        let k = conv.kernel as i64;
        let shape = [conv.out_channels as i64, conv.in_channels as i64, k, k];
        let weight = Tensor::f_from_slice(&conv.weight)
            .and_then(|t| t.f_reshape(shape))
            .and_then(|t| t.f_to_device(device))
            .map_err(torch_error)?;
        let bias = Tensor::f_from_slice(&conv.bias)
            .and_then(|t| t.f_to_device(device))
            .map_err(torch_error)?;
        let per_channel = |v: &[f32]| {
            Tensor::f_from_slice(v)
                .and_then(|t| t.f_reshape([1, v.len() as i64, 1, 1]))
                .and_then(|t| t.f_to_device(device))
                .map_err(torch_error)
        };
        let post = match post {
            Some(a) => Some((per_channel(&a.scale)?, per_channel(&a.shift)?)),
            None => None,
        };
        Ok(DeviceConv {
            weight,
            bias,
            padding: k / 2,
            post,
        })
    }

    /// `x` `[N, in, H, W]` -> `[N, out, H, W]`, with ReLU (and the affine after it) when `relu`.
    fn forward(&self, x: &Tensor, relu: bool, tf32: bool, benchmark: bool) -> Tensor {
        let y = x.internal_convolution(
            &self.weight,
            Some(&self.bias),
            [1, 1],
            [self.padding, self.padding],
            [1, 1],
            false,
            [0, 0],
            1,
            benchmark,
            false,
            true,
            tf32,
        );
        match (relu, &self.post) {
            (false, _) => y,
            (true, None) => y.relu(),
            (true, Some((scale, shift))) => y.relu() * scale + shift,
        }
    }
}

/// The network's weights on one device.
#[derive(Debug)]
pub(super) struct Network {
    encoder: Vec<DeviceConv>,
    detector: Vec<DeviceConv>,
    descriptor: Option<Vec<DeviceConv>>,
    /// Convolutions may use TF32 tensor cores (CUDA only; about 1e-3 relative error).
    pub tf32: bool,
    /// Let cuDNN time its algorithms per input shape (CUDA only).
    pub benchmark: bool,
    /// Convolutions in this reduced precision (see [`Self::set_half`]); `None` = float32.
    half: Option<Kind>,
}

/// Outputs of one forward pass.
pub(super) struct Outputs {
    /// `[N, H, W]` keypoint probabilities (softmax over 65 bins, dustbin dropped, DCR
    /// depth-to-space), as the ONNX model's `scores`.
    pub scores: Tensor,
    /// `[N, 256, H/8, W/8]` channel-wise L2-normalised descriptors, as the ONNX model's
    /// `descriptors`; `None` without a descriptor head or when not asked for.
    pub descriptors: Option<Tensor>,
}

impl Network {
    /// Copies `weights` to `device`. Errors when a layer does not match the architecture or the
    /// device cannot take the tensors.
    pub fn new(weights: &SuperPointWeights, device: Device) -> Result<Self, Error> {
        weights.validate()?;
        let load = |convs: &[Conv], layers: &[(&str, usize, usize, usize)]| {
            convs
                .iter()
                .zip(layers)
                .map(|(c, l)| DeviceConv::new(c, weights.post_relu_affine.get(l.0), device))
                .collect::<Result<Vec<_>, Error>>()
        };
        Ok(Network {
            encoder: load(&weights.encoder, &ENCODER_LAYERS)?,
            detector: load(&weights.detector, &DETECTOR_LAYERS)?,
            descriptor: weights
                .descriptor
                .as_deref()
                .map(|d| load(d, &DESCRIPTOR_LAYERS))
                .transpose()?,
            tf32: false,
            benchmark: matches!(device, Device::Cuda(_)),
            half: None,
        })
    }

    /// Runs the convolutions in `kind` (`Kind::BFloat16` or `Kind::Half`): weights converted once,
    /// the input converted per call; softmax, normalisation and everything after stay float32.
    pub fn set_half(&mut self, kind: Kind) {
        let convert = |c: &mut DeviceConv| {
            c.weight = c.weight.to_kind(kind);
            c.bias = c.bias.to_kind(kind);
            if let Some((scale, shift)) = &mut c.post {
                *scale = scale.to_kind(kind);
                *shift = shift.to_kind(kind);
            }
        };
        self.encoder.iter_mut().for_each(convert);
        self.detector.iter_mut().for_each(convert);
        if let Some(d) = &mut self.descriptor {
            d.iter_mut().for_each(convert);
        }
        self.half = Some(kind);
    }

    /// Whether the descriptor head is present.
    pub fn has_descriptors(&self) -> bool {
        self.descriptor.is_some()
    }

    /// Runs the network on `image` `[N, 1, H, W]` (float32 in [0, 1], H and W multiples of 8).
    /// Panics (caught by the caller) when libtorch fails, e.g. out of device memory.
    pub fn forward(&self, image: &Tensor, descriptors: bool) -> Outputs {
        let (tf32, bench) = (self.tf32, self.benchmark);
        let mut x = match self.half {
            Some(kind) => image.to_kind(kind),
            None => image.shallow_clone(),
        };
        for (i, conv) in self.encoder.iter().enumerate() {
            x = conv.forward(&x, true, tf32, bench);
            if i % 2 == 1 && i < 6 {
                x = x.max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false);
            }
        }
        let pa = self.detector[0].forward(&x, true, tf32, bench);
        let logits = self.detector[1].forward(&pa, false, tf32, bench);
        let scores = logits
            .softmax(1, Kind::Float)
            .narrow(1, 0, (CELL * CELL) as i64)
            .pixel_shuffle(CELL as i64)
            .squeeze_dim(1);
        let descriptors = match (&self.descriptor, descriptors) {
            (Some(head), true) => {
                let da = head[0].forward(&x, true, tf32, bench);
                let db = head[1]
                    .forward(&da, false, tf32, bench)
                    .to_kind(Kind::Float);
                let norm = db.norm_scalaropt_dim(2.0, [1], true);
                Some(db / norm)
            }
            _ => None,
        };
        Outputs {
            scores,
            descriptors,
        }
    }
}

/// A libtorch error as this crate's runtime error.
pub(super) fn torch_error(e: tch::TchError) -> Error {
    Error::Runtime(format!("libtorch: {e}"))
}
