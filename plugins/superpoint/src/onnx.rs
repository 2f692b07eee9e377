//! ONNX model I/O for the SuperPoint network.
//!
//! [`SuperPointWeights`] holds the convolution weights of the network described in DESIGN.md
//! (BatchNorm already folded; a BatchNorm that follows a ReLU, as in checkpoints imported by
//! [`crate::checkpoint`], is kept as a per-channel [`ChannelAffine`] after that ReLU).
//! [`SuperPointWeights::to_model`] builds the ONNX graph the engines run,
//! so tests can create models without libtorch and the trainer exports through the same code;
//! [`SuperPointWeights::from_model_file`] reads the weights back (used to initialise training from a
//! shipped model and by engines that run the network themselves).
//!
//! Contract (checked by [`crate::engine::Engine`]):
//! - input `image`: float32 `[N, 1, H, W]`, values in [0, 1], H and W multiples of 8;
//! - output `scores`: float32 `[N, H, W]`, softmax over the 65 bins, dustbin dropped, depth-to-space;
//! - output `descriptors` (absent in a detector-only MagicPoint model): float32
//!   `[N, 256, H/8, W/8]`, L2-normalised along the channel axis.

use std::collections::BTreeMap;
use std::path::Path;

use prost::Message;
use rand::{Rng, SeedableRng};

use crate::Error;

mod affine;
mod graph;

pub use affine::{ChannelAffine, POST_RELU_LAYERS};

/// Types generated from the vendored `onnx.proto`.
#[allow(clippy::all, missing_docs)]
pub mod proto {
    include!(concat!(env!("OUT_DIR"), "/onnx.rs"));
}

use graph::{GraphBuilder, dim_param, dim_value, int, ints, string, tensor_f32, value_info};
use proto::{GraphProto, ModelProto, OperatorSetIdProto, StringStringEntryProto};

/// ONNX IR version written (ONNX Runtime 1.31 reads up to 13).
pub const IR_VERSION: i64 = 8;
/// Default-domain opset written.
pub const OPSET: i64 = 17;
/// Name of the input tensor.
pub const INPUT_IMAGE: &str = "image";
/// Name of the heatmap output.
pub const OUTPUT_SCORES: &str = "scores";
/// Name of the dense descriptor output.
pub const OUTPUT_DESCRIPTORS: &str = "descriptors";
/// Descriptor length.
pub const DESCRIPTOR_DIM: usize = 256;
/// Side of a detector cell in pixels (the network downsamples by 8).
pub const CELL: usize = 8;
/// Metadata key telling whether a model holds trained weights.
pub const META_TRAINED: &str = "superpoint.trained";
/// Metadata key with a human readable model identifier.
pub const META_MODEL_ID: &str = "superpoint.model_id";
/// Metadata key with the licence the weights are published under (imported checkpoints).
pub const META_LICENCE: &str = "superpoint.licence";

/// One 2-D convolution (stride 1, "same" padding) with bias.
#[derive(Debug, Clone, PartialEq)]
pub struct Conv {
    /// Output channels.
    pub out_channels: usize,
    /// Input channels.
    pub in_channels: usize,
    /// Kernel side (1 or 3).
    pub kernel: usize,
    /// Weights in `[out, in, k, k]` order.
    pub weight: Vec<f32>,
    /// Bias, `out` values.
    pub bias: Vec<f32>,
}

impl Conv {
    /// A convolution with He-normal weights and zero bias.
    pub fn random(
        out_channels: usize,
        in_channels: usize,
        kernel: usize,
        rng: &mut impl Rng,
    ) -> Self {
        let fan_in = (in_channels * kernel * kernel) as f32;
        let std = (2.0 / fan_in).sqrt();
        let weight = (0..out_channels * in_channels * kernel * kernel)
            .map(|_| {
                // Box-Muller: a normal sample without pulling in rand_distr.
                let u1: f32 = rng.random::<f32>().max(1e-12);
                let u2: f32 = rng.random::<f32>();
                std * (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
            })
            .collect();
        Conv {
            out_channels,
            in_channels,
            kernel,
            weight,
            bias: vec![0.0; out_channels],
        }
    }

    fn check(&self, name: &str, out: usize, inp: usize, k: usize) -> Result<(), Error> {
        let ok = self.out_channels == out
            && self.in_channels == inp
            && self.kernel == k
            && self.weight.len() == out * inp * k * k
            && self.bias.len() == out;
        if ok {
            Ok(())
        } else {
            Err(Error::Model(format!(
                "layer {name}: expected weight [{out},{inp},{k},{k}] and bias [{out}], got [{},{},{},{}] ({} values) and {} bias values",
                self.out_channels,
                self.in_channels,
                self.kernel,
                self.kernel,
                self.weight.len(),
                self.bias.len()
            )))
        }
    }
}

/// Layer names, shapes as (out, in, kernel), in network order.
pub const ENCODER_LAYERS: [(&str, usize, usize, usize); 8] = [
    ("conv1a", 64, 1, 3),
    ("conv1b", 64, 64, 3),
    ("conv2a", 64, 64, 3),
    ("conv2b", 64, 64, 3),
    ("conv3a", 128, 64, 3),
    ("conv3b", 128, 128, 3),
    ("conv4a", 128, 128, 3),
    ("conv4b", 128, 128, 3),
];
/// Detector head layers.
pub const DETECTOR_LAYERS: [(&str, usize, usize, usize); 2] =
    [("convPa", 256, 128, 3), ("convPb", 65, 256, 1)];
/// Descriptor head layers.
pub const DESCRIPTOR_LAYERS: [(&str, usize, usize, usize); 2] =
    [("convDa", 256, 128, 3), ("convDb", 256, 256, 1)];

/// The weights of SuperPoint (or of MagicPoint, which has no descriptor head).
#[derive(Debug, Clone, PartialEq)]
pub struct SuperPointWeights {
    /// conv1a .. conv4b.
    pub encoder: Vec<Conv>,
    /// convPa, convPb.
    pub detector: Vec<Conv>,
    /// convDa, convDb; `None` for a detector-only (MagicPoint) model.
    pub descriptor: Option<Vec<Conv>>,
    /// Per-channel affine maps applied right after the ReLU of the named layers (any of
    /// [`POST_RELU_LAYERS`]), before any max-pool: checkpoints whose BatchNorm follows the ReLU.
    /// Empty for the project's own models (BatchNorm folded into the convolutions); code that
    /// runs the network from these weights itself must call [`Self::ensure_plain`].
    pub post_relu_affine: BTreeMap<String, ChannelAffine>,
}

/// Descriptive fields stored in the model's metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    /// Identifier shown by the elements and written to outputs (e.g. `superpoint-v1`).
    pub model_id: String,
    /// `false` for random weights: the elements warn loudly when such a model is loaded.
    pub trained: bool,
    /// Free text (recipe, data); goes into the model's doc string.
    pub description: String,
    /// The licence the weights are published under ([`META_LICENCE`]), when known: recorded by
    /// `superpoint import` from the checkpoint's layout; `superpoint detect` and
    /// `superpointdetect` say it once when they load the model.
    pub licence: Option<String>,
}

impl SuperPointWeights {
    /// He-initialised weights: for plumbing tests and as the start of training, never a model.
    pub fn random(seed: u64, with_descriptor: bool) -> Self {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
        let mut make = |layers: &[(&str, usize, usize, usize)]| {
            layers
                .iter()
                .map(|&(_, o, i, k)| Conv::random(o, i, k, &mut rng))
                .collect::<Vec<_>>()
        };
        let encoder = make(&ENCODER_LAYERS);
        let detector = make(&DETECTOR_LAYERS);
        let descriptor = with_descriptor.then(|| make(&DESCRIPTOR_LAYERS));
        SuperPointWeights {
            encoder,
            detector,
            descriptor,
            post_relu_affine: BTreeMap::new(),
        }
    }

    /// Errors when the weights hold post-ReLU affine maps ([`Self::post_relu_affine`]), naming
    /// the layers and `consumer` (e.g. "the trainer"): for code that runs or trains plain
    /// conv-ReLU layers and would otherwise silently drop them.
    pub fn ensure_plain(&self, consumer: &str) -> Result<(), Error> {
        if self.post_relu_affine.is_empty() {
            return Ok(());
        }
        let layers: Vec<&str> = self.post_relu_affine.keys().map(String::as_str).collect();
        Err(Error::Model(format!(
            "this model applies a per-channel affine (a BatchNorm after the ReLU, as in checkpoints \
             imported from the conv-ReLU-BatchNorm layout) after layers {}; {consumer} supports only \
             plain conv-ReLU layers (BatchNorm folded into the convolutions)",
            layers.join(", ")
        )))
    }

    /// Checks every layer's shape against the architecture.
    pub fn validate(&self) -> Result<(), Error> {
        let check_all = |convs: &[Conv], layers: &[(&str, usize, usize, usize)]| {
            if convs.len() != layers.len() {
                return Err(Error::Model(format!(
                    "expected {} layers ({}), got {}",
                    layers.len(),
                    layers.iter().map(|l| l.0).collect::<Vec<_>>().join(", "),
                    convs.len()
                )));
            }
            for (c, &(n, o, i, k)) in convs.iter().zip(layers) {
                c.check(n, o, i, k)?;
            }
            Ok(())
        };
        check_all(&self.encoder, &ENCODER_LAYERS)?;
        check_all(&self.detector, &DETECTOR_LAYERS)?;
        if let Some(d) = &self.descriptor {
            check_all(d, &DESCRIPTOR_LAYERS)?;
        }
        affine::validate(self)
    }

    /// Named layers in network order (for export and import).
    pub fn named_layers(&self) -> Vec<(&'static str, &Conv)> {
        let mut out: Vec<(&'static str, &Conv)> = ENCODER_LAYERS
            .iter()
            .map(|l| l.0)
            .zip(&self.encoder)
            .collect();
        out.extend(DETECTOR_LAYERS.iter().map(|l| l.0).zip(&self.detector));
        if let Some(d) = &self.descriptor {
            out.extend(DESCRIPTOR_LAYERS.iter().map(|l| l.0).zip(d));
        }
        out
    }

    /// Builds the ONNX model.
    pub fn to_model(&self, info: &ModelInfo) -> Result<ModelProto, Error> {
        self.validate()?;
        let mut g = GraphBuilder::default();
        for (name, conv) in self.named_layers() {
            let k = conv.kernel as i64;
            g.initializer(
                &format!("{name}.weight"),
                &[conv.out_channels as i64, conv.in_channels as i64, k, k],
                &conv.weight,
            );
            g.initializer(
                &format!("{name}.bias"),
                &[conv.out_channels as i64],
                &conv.bias,
            );
        }
        // Encoder: conv-relu pairs, 2x2 max-pool after the first three pairs.
        let post =
            |g: &mut GraphBuilder, name: &str, x: String| match self.post_relu_affine.get(name) {
                Some(a) => affine::write(g, name, a, &x),
                None => x,
            };
        let mut x = INPUT_IMAGE.to_string();
        for (idx, (name, _, _, _)) in ENCODER_LAYERS.iter().enumerate() {
            x = g.conv_relu(name, &x, 3, true);
            x = post(&mut g, name, x);
            if idx % 2 == 1 && idx < 6 {
                x = g.node(
                    "MaxPool",
                    &[&x],
                    &format!("pool{}", idx / 2 + 1),
                    vec![ints("kernel_shape", &[2, 2]), ints("strides", &[2, 2])],
                );
            }
        }
        let features = x;
        // Detector head.
        let pa = g.conv_relu("convPa", &features, 3, true);
        let pa = post(&mut g, "convPa", pa);
        let logits = g.conv_relu("convPb", &pa, 1, false);
        let prob = g.node("Softmax", &[&logits], "prob", vec![int("axis", 1)]);
        g.initializer_i64("slice_starts", &[1], &[0]);
        g.initializer_i64("slice_ends", &[1], &[64]);
        g.initializer_i64("slice_axes", &[1], &[1]);
        let cells = g.node(
            "Slice",
            &[&prob, "slice_starts", "slice_ends", "slice_axes"],
            "cells",
            vec![],
        );
        // DCR depth-to-space: channel c = 8*dy + dx, as in the reference implementation.
        let heat = g.node(
            "DepthToSpace",
            &[&cells],
            "heatmap",
            vec![int("blocksize", CELL as i64), string("mode", "DCR")],
        );
        g.initializer_i64("squeeze_axes", &[1], &[1]);
        g.node_named("Squeeze", &[&heat, "squeeze_axes"], OUTPUT_SCORES, vec![]);
        let mut outputs = vec![value_info(
            OUTPUT_SCORES,
            &[dim_param("N"), dim_param("H"), dim_param("W")],
        )];
        if self.descriptor.is_some() {
            let da = g.conv_relu("convDa", &features, 3, true);
            let da = post(&mut g, "convDa", da);
            let db = g.conv_relu("convDb", &da, 1, false);
            g.node_named(
                "LpNormalization",
                &[&db],
                OUTPUT_DESCRIPTORS,
                vec![int("axis", 1), int("p", 2)],
            );
            outputs.push(value_info(
                OUTPUT_DESCRIPTORS,
                &[
                    dim_param("N"),
                    dim_value(DESCRIPTOR_DIM as i64),
                    dim_param("Hc"),
                    dim_param("Wc"),
                ],
            ));
        }
        let graph = GraphProto {
            name: Some("superpoint".into()),
            node: g.nodes,
            initializer: g.initializers,
            input: vec![value_info(
                INPUT_IMAGE,
                &[dim_param("N"), dim_value(1), dim_param("H"), dim_param("W")],
            )],
            output: outputs,
            doc_string: Some(info.description.clone()),
            ..Default::default()
        };
        Ok(ModelProto {
            ir_version: Some(IR_VERSION),
            opset_import: vec![OperatorSetIdProto {
                domain: Some(String::new()),
                version: Some(OPSET),
            }],
            producer_name: Some("gst-superpoint".into()),
            producer_version: Some(env!("CARGO_PKG_VERSION").into()),
            doc_string: Some(info.description.clone()),
            graph: Some(graph),
            metadata_props: vec![
                StringStringEntryProto {
                    key: Some(META_MODEL_ID.into()),
                    value: Some(info.model_id.clone()),
                },
                StringStringEntryProto {
                    key: Some(META_TRAINED.into()),
                    value: Some(info.trained.to_string()),
                },
            ]
            .into_iter()
            .chain(info.licence.as_ref().map(|l| StringStringEntryProto {
                key: Some(META_LICENCE.into()),
                value: Some(l.clone()),
            }))
            .collect(),
            ..Default::default()
        })
    }

    /// Writes the ONNX model to `path`.
    pub fn write_model(&self, path: &Path, info: &ModelInfo) -> Result<(), Error> {
        write_model_file(&self.to_model(info)?, path)
    }

    /// Writes a model with random weights ([`Self::random`] with `seed`; no descriptor head
    /// unless `descriptors`) to `path`, marked untrained (`superpoint.trained` = false, so the
    /// elements warn loudly) with `model_id`: the one writer of plumbing-test models, used by
    /// `superpoint write-random-model` and the tests. Errors when `path` cannot be written.
    pub fn write_random_model(
        path: &Path,
        seed: u64,
        descriptors: bool,
        model_id: &str,
    ) -> Result<ModelInfo, Error> {
        let info = ModelInfo {
            model_id: model_id.into(),
            trained: false,
            licence: None,
            description: "Random He-initialised weights for plumbing tests; NOT a trained model."
                .into(),
        };
        Self::random(seed, descriptors).write_model(path, &info)?;
        Ok(info)
    }

    /// Reads the weights from an ONNX file written by [`Self::write_model`].
    pub fn from_model_file(path: &Path) -> Result<(Self, ModelInfo), Error> {
        let bytes = std::fs::read(path)
            .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
        let model = decode_model(&bytes, path)?;
        Self::from_model(&model)
    }

    /// Reads the weights from a decoded ONNX model.
    pub fn from_model(model: &ModelProto) -> Result<(Self, ModelInfo), Error> {
        let graph = model
            .graph
            .as_ref()
            .ok_or_else(|| Error::Model("ONNX model has no graph".into()))?;
        let find = |name: &str| -> Result<Vec<f32>, Error> {
            let t = graph
                .initializer
                .iter()
                .find(|t| t.name.as_deref() == Some(name))
                .ok_or_else(|| Error::Model(format!("initializer {name} not found")))?;
            tensor_f32(t)
        };
        let load = |layers: &[(&str, usize, usize, usize)]| -> Result<Vec<Conv>, Error> {
            layers
                .iter()
                .map(|&(n, o, i, k)| {
                    Ok(Conv {
                        out_channels: o,
                        in_channels: i,
                        kernel: k,
                        weight: find(&format!("{n}.weight"))?,
                        bias: find(&format!("{n}.bias"))?,
                    })
                })
                .collect()
        };
        let has_descriptor = graph
            .initializer
            .iter()
            .any(|t| t.name.as_deref() == Some("convDa.weight"));
        let weights = SuperPointWeights {
            encoder: load(&ENCODER_LAYERS)?,
            detector: load(&DETECTOR_LAYERS)?,
            descriptor: if has_descriptor {
                Some(load(&DESCRIPTOR_LAYERS)?)
            } else {
                None
            },
            post_relu_affine: affine::read(graph)?,
        };
        weights.validate()?;
        Ok((weights, model_info(model)))
    }
}

/// Writes `model` to `path`: beside the target first, then renamed over it, so a reader
/// (another process writing the same model, an element loading it) never sees a partial file and
/// an interrupted write leaves the old file in place. Errors when `path` cannot be written.
pub fn write_model_file(model: &ModelProto, path: &Path) -> Result<(), Error> {
    crate::files::write_atomic(path, &model.encode_to_vec())
}

/// The value of the metadata entry `key` of `model`, if any.
pub fn metadata(model: &ModelProto, key: &str) -> Option<String> {
    model
        .metadata_props
        .iter()
        .find(|p| p.key.as_deref() == Some(key))
        .and_then(|p| p.value.clone())
}

/// Model metadata (id, trained flag, description) of a decoded model.
pub fn model_info(model: &ModelProto) -> ModelInfo {
    let meta = |key: &str| metadata(model, key);
    ModelInfo {
        model_id: meta(META_MODEL_ID).unwrap_or_else(|| "unknown".into()),
        trained: meta(META_TRAINED).is_none_or(|v| v != "false"),
        licence: meta(META_LICENCE),
        description: model.doc_string.clone().unwrap_or_default(),
    }
}

/// Reads only the metadata of an ONNX file (cheap compared with loading a session).
pub fn read_model_info(path: &Path) -> Result<ModelInfo, Error> {
    let bytes = std::fs::read(path)
        .map_err(|e| Error::io(format!("cannot read model {}", path.display()), e))?;
    let model = decode_model(&bytes, path)?;
    Ok(model_info(&model))
}

/// Decodes the ONNX file `path` read into `bytes`. Errors name the file; a file that ends inside
/// a message (protobuf's "buffer underflow") is reported as truncated, with its size.
fn decode_model(bytes: &[u8], path: &Path) -> Result<ModelProto, Error> {
    ModelProto::decode(bytes).map_err(|e| {
        let text = e.to_string();
        if text.contains("buffer underflow") {
            Error::Model(format!(
                "{} is truncated or incomplete: the ONNX data stops inside a record after {} bytes (an interrupted download or copy?); fetch or export the model again",
                path.display(),
                bytes.len()
            ))
        } else {
            Error::Model(format!("{} is not an ONNX model: {text}", path.display()))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_models_are_named_truncated() {
        let dir = std::env::temp_dir().join(format!("sp-onnx-trunc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("m.onnx");
        SuperPointWeights::random(1, true)
            .write_model(
                &path,
                &ModelInfo {
                    model_id: "t".into(),
                    trained: false,
                    description: String::new(),
                    licence: None,
                },
            )
            .unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let err = read_model_info(&path).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{} is truncated or incomplete: the ONNX data stops inside a record after {} bytes (an interrupted download or copy?); fetch or export the model again",
                path.display(),
                bytes.len() / 2
            )
        );
        assert!(SuperPointWeights::from_model_file(&path).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn write_and_read_back_weights() {
        let w = SuperPointWeights::random(3, true);
        let info = ModelInfo {
            model_id: "test".into(),
            trained: false,
            licence: Some("MIT (test)".into()),
            description: "random".into(),
        };
        let model = w.to_model(&info).unwrap();
        let bytes = model.encode_to_vec();
        let decoded = ModelProto::decode(bytes.as_slice()).unwrap();
        let (back, info_back) = SuperPointWeights::from_model(&decoded).unwrap();
        assert_eq!(back, w);
        assert_eq!(info_back, info);
    }

    #[test]
    fn post_relu_affine_is_written_and_read_back() {
        let mut w = SuperPointWeights::random(2, true);
        for (name, c) in [("conv2b", 64), ("convDa", 256)] {
            let scale = (0..c).map(|i| i as f32 * 0.01 - 0.3).collect();
            let affine = ChannelAffine {
                scale,
                shift: vec![0.25; c],
            };
            w.post_relu_affine.insert(name.into(), affine);
        }
        let info = ModelInfo {
            model_id: "affine".into(),
            trained: true,
            licence: None,
            description: String::new(),
        };
        let model = w.to_model(&info).unwrap();
        let ops: Vec<_> = model
            .graph
            .as_ref()
            .unwrap()
            .node
            .iter()
            .map(|n| n.op_type())
            .collect();
        // conv2b: Conv, Relu, Mul, Add, then the max-pool.
        let at = ops.iter().position(|&o| o == "Mul").unwrap();
        assert_eq!(
            ops[at - 2..at + 3],
            ["Conv", "Relu", "Mul", "Add", "MaxPool"]
        );
        let decoded = ModelProto::decode(model.encode_to_vec().as_slice()).unwrap();
        assert_eq!(SuperPointWeights::from_model(&decoded).unwrap().0, w);
        let err = w.ensure_plain("the test").unwrap_err().to_string();
        assert!(
            err.contains("conv2b, convDa") && err.contains("the test"),
            "{err}"
        );
        // An affine on a layer without ReLU, or of the wrong length, is refused.
        let mut bad = w.clone();
        let a = bad.post_relu_affine.remove("conv2b").unwrap();
        bad.post_relu_affine.insert("convPb".into(), a.clone());
        assert!(bad.validate().unwrap_err().to_string().contains("convPb"));
        bad.post_relu_affine.remove("convPb");
        bad.post_relu_affine.insert("conv3a".into(), a);
        let err = bad.validate().unwrap_err().to_string();
        assert!(
            err.contains("conv3a") && err.contains("expected 128"),
            "{err}"
        );
    }

    #[test]
    fn detector_only_model_has_one_output() {
        let w = SuperPointWeights::random(1, false);
        let info = ModelInfo {
            model_id: "magicpoint".into(),
            trained: true,
            licence: None,
            description: String::new(),
        };
        let model = w.to_model(&info).unwrap();
        let outs: Vec<_> = model
            .graph
            .unwrap()
            .output
            .iter()
            .map(|o| o.name.clone().unwrap())
            .collect();
        assert_eq!(outs, vec![OUTPUT_SCORES.to_string()]);
    }

    #[test]
    fn wrong_layer_shape_is_rejected_with_layer_name() {
        let mut w = SuperPointWeights::random(1, true);
        w.encoder[2].weight.pop();
        let err = w.validate().unwrap_err().to_string();
        assert!(err.contains("conv2a"), "{err}");
    }
}
