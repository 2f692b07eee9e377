//! Per-channel affine maps after a ReLU, `y[n, c, h, w] = x[n, c, h, w] * scale[c] + shift[c]`,
//! written to ONNX as a `Mul` and an `Add` node with `[1, C, 1, 1]` float32 initializers named
//! `{layer}.post_scale` and `{layer}.post_shift`, placed right after the layer's `Relu` (before
//! any `MaxPool`).
//!
//! They carry the inference-mode BatchNorm of checkpoints whose blocks run conv → ReLU →
//! BatchNorm (the MIT-licensed re-implementation, see [`crate::checkpoint`]). Such a BatchNorm
//! cannot be folded exactly into the next convolution: that convolution zero-pads its input, so
//! at the image border the padded zeros would have to become `shift`; and it comes before the
//! max-pool, which does not commute with a negative scale.

use std::collections::BTreeMap;

use super::graph::{GraphBuilder, tensor_f32};
use super::proto::GraphProto;
use super::{ENCODER_LAYERS, SuperPointWeights};
use crate::Error;

/// Layers whose ReLU output may carry a [`ChannelAffine`]: every encoder layer and the first
/// layer of each head. The heads' last layers have no ReLU, so a BatchNorm there folds exactly
/// into the convolution.
pub const POST_RELU_LAYERS: [&str; 10] = [
    ENCODER_LAYERS[0].0,
    ENCODER_LAYERS[1].0,
    ENCODER_LAYERS[2].0,
    ENCODER_LAYERS[3].0,
    ENCODER_LAYERS[4].0,
    ENCODER_LAYERS[5].0,
    ENCODER_LAYERS[6].0,
    ENCODER_LAYERS[7].0,
    "convPa",
    "convDa",
];

/// A per-channel affine map `y = x * scale + shift` (one value of each per channel).
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelAffine {
    /// Multiplier per channel.
    pub scale: Vec<f32>,
    /// Offset per channel, added after the multiplication.
    pub shift: Vec<f32>,
}

impl ChannelAffine {
    /// The map of an inference-mode BatchNorm with weight `gamma`, bias `beta`, running mean and
    /// running variance: `scale = gamma / sqrt(var + eps)`, `shift = beta - mean * scale`,
    /// computed in f64 and rounded once to f32. Errors when the four slices differ in length or
    /// a result is not finite (e.g. `var + eps <= 0`).
    pub fn from_batch_norm(
        gamma: &[f32],
        beta: &[f32],
        mean: &[f32],
        var: &[f32],
        eps: f64,
    ) -> Result<Self, Error> {
        let c = gamma.len();
        if beta.len() != c || mean.len() != c || var.len() != c {
            return Err(Error::Model(format!(
                "BatchNorm: weight, bias, running_mean and running_var must have the same length, got {c}, {}, {} and {}",
                beta.len(),
                mean.len(),
                var.len()
            )));
        }
        let mut scale = Vec::with_capacity(c);
        let mut shift = Vec::with_capacity(c);
        for i in 0..c {
            let s = f64::from(gamma[i]) / (f64::from(var[i]) + eps).sqrt();
            let t = f64::from(beta[i]) - f64::from(mean[i]) * s;
            if !s.is_finite() || !t.is_finite() {
                return Err(Error::Model(format!(
                    "BatchNorm channel {i}: running_var {} + eps {eps} gives a non-finite scale",
                    var[i]
                )));
            }
            scale.push(s as f32);
            shift.push(t as f32);
        }
        Ok(ChannelAffine { scale, shift })
    }
}

fn scale_name(layer: &str) -> String {
    format!("{layer}.post_scale")
}

fn shift_name(layer: &str) -> String {
    format!("{layer}.post_shift")
}

/// Checks that every map sits on a layer of `w` with a ReLU and has one value per channel.
pub(super) fn validate(w: &SuperPointWeights) -> Result<(), Error> {
    let layers = w.named_layers();
    for (name, a) in &w.post_relu_affine {
        let conv = layers
            .iter()
            .find(|(n, _)| n == name && POST_RELU_LAYERS.contains(n))
            .map(|(_, c)| c)
            .ok_or_else(|| {
                Error::Model(format!(
                    "post-ReLU affine on {name}: not a layer with a ReLU in this model (one of {})",
                    POST_RELU_LAYERS.join(", ")
                ))
            })?;
        if a.scale.len() != conv.out_channels || a.shift.len() != conv.out_channels {
            return Err(Error::Model(format!(
                "post-ReLU affine on {name}: expected {} scale and shift values, got {} and {}",
                conv.out_channels,
                a.scale.len(),
                a.shift.len()
            )));
        }
        if a.scale.iter().chain(&a.shift).any(|v| !v.is_finite()) {
            return Err(Error::Model(format!(
                "post-ReLU affine on {name}: non-finite values"
            )));
        }
    }
    Ok(())
}

/// Adds the initializers and the `Mul`/`Add` nodes of `a` on `input`; returns the output name.
pub(super) fn write(g: &mut GraphBuilder, layer: &str, a: &ChannelAffine, input: &str) -> String {
    let dims = [1, a.scale.len() as i64, 1, 1];
    let (scale, shift) = (scale_name(layer), shift_name(layer));
    g.initializer(&scale, &dims, &a.scale);
    g.initializer(&shift, &dims, &a.shift);
    let mul = g.node(
        "Mul",
        &[input, &scale],
        &format!("{layer}_post_mul"),
        vec![],
    );
    g.node("Add", &[&mul, &shift], &format!("{layer}_post"), vec![])
}

/// Reads the maps written by [`write`]; errors when a layer has a scale without a shift or the
/// other way round.
pub(super) fn read(graph: &GraphProto) -> Result<BTreeMap<String, ChannelAffine>, Error> {
    let find = |name: &str| {
        graph
            .initializer
            .iter()
            .find(|t| t.name.as_deref() == Some(name))
    };
    let mut out = BTreeMap::new();
    for layer in POST_RELU_LAYERS {
        match (find(&scale_name(layer)), find(&shift_name(layer))) {
            (None, None) => {}
            (Some(scale), Some(shift)) => {
                let a = ChannelAffine {
                    scale: tensor_f32(scale)?,
                    shift: tensor_f32(shift)?,
                };
                out.insert(layer.to_string(), a);
            }
            _ => {
                return Err(Error::Model(format!(
                    "layer {layer}: initializers {} and {} must come together",
                    scale_name(layer),
                    shift_name(layer)
                )));
            }
        }
    }
    Ok(out)
}
