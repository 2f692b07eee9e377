//! Import of published SuperPoint PyTorch checkpoints (`.pth` / `.pt`, read without PyTorch)
//! into the ONNX contract of [`crate::onnx`] (`superpoint import`).
//!
//! Two state-dict layouts are recognised ([`CheckpointLayout`]):
//! - [`CheckpointLayout::MagicLeap`], the original `SuperPointNet`: `conv1a.weight` / `.bias`
//!   … `conv4b`, `convPa`, `convPb` (65 detector bins), `convDa`, `convDb` (256-D descriptors),
//!   no BatchNorm. The tensors map one to one onto [`SuperPointWeights`].
//! - [`CheckpointLayout::Rpautrat`], the MIT-licensed re-implementation (`superpoint_pytorch.py`
//!   of rpautrat/SuperPoint): `backbone.{0..3}.{0,1}`, `detector.{0,1}`, `descriptor.{0,1}`
//!   blocks, each `conv` → ReLU → `bn` (BatchNorm, eps [`BATCH_NORM_EPS`]), no ReLU in the heads'
//!   last blocks. A BatchNorm after a ReLU becomes a [`ChannelAffine`] after that ReLU (it cannot
//!   be folded exactly into the next zero-padded convolution); the heads' last BatchNorms, which
//!   follow the convolution directly, are folded into it.
//!
//! The state dict may be the checkpoint itself, nested under a key (`{'model': ...}`,
//! `{'state_dict': ...}`) or prefixed (`module.` from `DataParallel`): the keys are matched
//! after any common prefix. Float32, float64, float16 and bfloat16 tensors are read as f32.
//! The source file's name, SHA-256 and layout go into the model's metadata
//! ([`META_SOURCE_FILE`], [`META_SOURCE_SHA256`], [`META_SOURCE_LAYOUT`]).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use pytorch_reader::{DType, PytorchReader};
use sha2::{Digest, Sha256};

use crate::Error;
use crate::onnx::proto::{ModelProto, StringStringEntryProto};
use crate::onnx::{
    ChannelAffine, Conv, DESCRIPTOR_LAYERS, DETECTOR_LAYERS, ENCODER_LAYERS, ModelInfo,
    SuperPointWeights,
};

/// BatchNorm epsilon of the re-implementation's VGG blocks (`nn.BatchNorm2d(c, eps=0.001)`).
pub const BATCH_NORM_EPS: f64 = 1e-3;
/// Metadata key: file name (no directory) of the checkpoint a model was imported from.
pub const META_SOURCE_FILE: &str = "superpoint.source_file";
/// Metadata key: SHA-256 of that checkpoint file, 64 lowercase hex digits.
pub const META_SOURCE_SHA256: &str = "superpoint.source_sha256";
/// Metadata key: the checkpoint's layout ([`CheckpointLayout::name`]).
pub const META_SOURCE_LAYOUT: &str = "superpoint.source_layout";

/// The BatchNorm tensors of one re-implementation block, after `{block}.bn.`.
const BN_PARTS: [&str; 4] = ["weight", "bias", "running_mean", "running_var"];

/// A known SuperPoint state-dict layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointLayout {
    /// Magic Leap's original `SuperPointNet` (`conv1a` … `convDb`, no BatchNorm).
    MagicLeap,
    /// The MIT-licensed re-implementation (`backbone.*`, `detector.*`, `descriptor.*` blocks,
    /// conv → ReLU → BatchNorm).
    Rpautrat,
}

impl CheckpointLayout {
    /// Both layouts, in the order they are tried.
    pub const ALL: [CheckpointLayout; 2] =
        [CheckpointLayout::MagicLeap, CheckpointLayout::Rpautrat];

    /// Short name, as stored in [`META_SOURCE_LAYOUT`].
    pub fn name(self) -> &'static str {
        match self {
            CheckpointLayout::MagicLeap => "magicleap",
            CheckpointLayout::Rpautrat => "rpautrat",
        }
    }

    /// One line saying where the layout comes from.
    pub fn description(self) -> &'static str {
        match self {
            CheckpointLayout::MagicLeap => {
                "Magic Leap's original SuperPointNet (conv1a..conv4b, convPa/convPb, convDa/convDb, no BatchNorm)"
            }
            CheckpointLayout::Rpautrat => {
                "the MIT-licensed re-implementation superpoint_pytorch.py (backbone/detector/descriptor \
                 blocks, conv -> ReLU -> BatchNorm eps 0.001)"
            }
        }
    }

    /// The licence the layout's published weights come under, as recorded in imported models
    /// ([`crate::onnx::META_LICENCE`]). Sources: magicleap/SuperPointPretrainedNetwork's LICENSE
    /// (academic or non-profit, non-commercial research use only) and rpautrat/SuperPoint's
    /// LICENSE (MIT).
    pub fn licence(self) -> &'static str {
        match self {
            CheckpointLayout::MagicLeap => {
                "Magic Leap SuperPoint weights: non-commercial research use only (magicleap/SuperPointPretrainedNetwork LICENSE); not for commercial use"
            }
            CheckpointLayout::Rpautrat => "MIT (rpautrat/SuperPoint)",
        }
    }

    /// The state-dict key prefix of each network layer (in [`SuperPointWeights::named_layers`]
    /// order: encoder, detector head, descriptor head).
    fn layer_keys(self) -> Vec<(&'static str, String)> {
        let layers = ENCODER_LAYERS
            .iter()
            .chain(&DETECTOR_LAYERS)
            .chain(&DESCRIPTOR_LAYERS)
            .map(|l| l.0);
        layers
            .enumerate()
            .map(|(i, name)| {
                let key = match self {
                    CheckpointLayout::MagicLeap => name.to_string(),
                    CheckpointLayout::Rpautrat => match i {
                        0..8 => format!("backbone.{}.{}", i / 2, i % 2),
                        8 | 9 => format!("detector.{}", i - 8),
                        _ => format!("descriptor.{}", i - 10),
                    },
                };
                (name, key)
            })
            .collect()
    }

    /// Every key the layout needs with its shape, in network order (the BatchNorms'
    /// `num_batches_tracked` counters are not needed).
    pub fn expected_keys(self) -> Vec<(String, Vec<usize>)> {
        let shapes = ENCODER_LAYERS
            .iter()
            .chain(&DETECTOR_LAYERS)
            .chain(&DESCRIPTOR_LAYERS);
        let mut out = Vec::new();
        for ((_, key), &(_, o, i, k)) in self.layer_keys().into_iter().zip(shapes) {
            match self {
                CheckpointLayout::MagicLeap => {
                    out.push((format!("{key}.weight"), vec![o, i, k, k]));
                    out.push((format!("{key}.bias"), vec![o]));
                }
                CheckpointLayout::Rpautrat => {
                    out.push((format!("{key}.conv.weight"), vec![o, i, k, k]));
                    out.push((format!("{key}.conv.bias"), vec![o]));
                    for part in BN_PARTS {
                        out.push((format!("{key}.bn.{part}"), vec![o]));
                    }
                }
            }
        }
        out
    }

    /// The expected keys in a compact form for error messages.
    fn expected_summary(self) -> String {
        match self {
            CheckpointLayout::MagicLeap => self
                .expected_keys()
                .into_iter()
                .map(|(k, _)| k)
                .collect::<Vec<_>>()
                .join(", "),
            CheckpointLayout::Rpautrat => {
                let parts =
                    "{conv.weight, conv.bias, bn.weight, bn.bias, bn.running_mean, bn.running_var}";
                format!(
                    "backbone.{{0,1,2,3}}.{{0,1}}.{parts}, detector.{{0,1}}.{parts}, descriptor.{{0,1}}.{parts}"
                )
            }
        }
    }
}

/// Where an imported model came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointSource {
    /// The checkpoint's file name, without its directory.
    pub file_name: String,
    /// SHA-256 of the file, 64 lowercase hex digits.
    pub sha256: String,
    /// The layout it was read as.
    pub layout: CheckpointLayout,
}

/// A checkpoint converted to [`SuperPointWeights`].
#[derive(Debug, Clone)]
pub struct ImportedCheckpoint {
    /// The network's weights (with post-ReLU affine maps for [`CheckpointLayout::Rpautrat`]).
    pub weights: SuperPointWeights,
    /// File name, hash and layout.
    pub source: CheckpointSource,
    /// Key prefix the state dict was found under (`""`, `"model."`, `"module."`, ...).
    pub prefix: String,
    /// Number of tensors in the checkpoint (used or not).
    pub tensors_in_file: usize,
}

/// Finds the layout of a state dict given its tensor names and shapes: the first layout whose
/// expected keys are all present after a common prefix (the shortest prefix wins). Returns the
/// layout and the prefix. Errors list both layouts' expected keys and, for the closest match,
/// the missing ones; a key of the right name but the wrong shape is named with both shapes.
pub fn detect_layout(
    shapes: &BTreeMap<String, Vec<usize>>,
) -> Result<(CheckpointLayout, String), Error> {
    // (layout, prefix, keys found)
    let mut best: Option<(CheckpointLayout, String, usize)> = None;
    for layout in CheckpointLayout::ALL {
        let expected = layout.expected_keys();
        let anchor = &expected[0].0;
        let mut prefixes: Vec<String> = shapes
            .keys()
            .filter_map(|k| k.strip_suffix(anchor.as_str()))
            .filter(|p| p.is_empty() || p.ends_with('.'))
            .map(str::to_string)
            .collect();
        prefixes.sort_by_key(|p| (p.len(), p.clone()));
        if prefixes.is_empty() {
            prefixes.push(String::new());
        }
        for prefix in prefixes {
            let found = expected
                .iter()
                .filter(|(k, _)| shapes.contains_key(&format!("{prefix}{k}")))
                .count();
            if found == expected.len() {
                for (k, shape) in &expected {
                    let got = &shapes[&format!("{prefix}{k}")];
                    if got != shape {
                        return Err(Error::Model(format!(
                            "checkpoint of layout {} ({}): {prefix}{k} has shape {got:?}, expected {shape:?}",
                            layout.name(),
                            layout.description()
                        )));
                    }
                }
                return Ok((layout, prefix));
            }
            if best.as_ref().is_none_or(|b| found > b.2) {
                best = Some((layout, prefix, found));
            }
        }
    }
    let mut msg = String::from(
        "not a SuperPoint checkpoint of a known layout. Expected the state dict (possibly nested \
         under a key such as 'model' or 'state_dict') of one of:",
    );
    for layout in CheckpointLayout::ALL {
        msg += &format!(
            "\n  {} = {}: {}",
            layout.name(),
            layout.description(),
            layout.expected_summary()
        );
    }
    if let Some((layout, prefix, found)) = best.filter(|b| b.2 > 0) {
        let missing: Vec<String> = layout
            .expected_keys()
            .into_iter()
            .map(|(k, _)| format!("{prefix}{k}"))
            .filter(|k| !shapes.contains_key(k))
            .collect();
        msg += &format!(
            "\nClosest: {} ({found} of {} keys), missing: {}",
            layout.name(),
            found + missing.len(),
            abbreviate(&missing, 24)
        );
    }
    let known: Vec<String> = CheckpointLayout::ALL
        .iter()
        .flat_map(|l| l.expected_keys())
        .map(|(k, _)| k)
        .collect();
    let foreign: Vec<String> = shapes
        .keys()
        .filter(|k| !known.iter().any(|e| k.ends_with(e.as_str())))
        .cloned()
        .collect();
    msg += &format!(
        "\nThe checkpoint holds {} tensors, {} of them in neither layout: {}",
        shapes.len(),
        foreign.len(),
        abbreviate(&foreign, 12)
    );
    Err(Error::Model(msg))
}

fn abbreviate(items: &[String], max: usize) -> String {
    if items.len() <= max {
        items.join(", ")
    } else {
        format!(
            "{}, ... ({} more)",
            items[..max].join(", "),
            items.len() - max
        )
    }
}

/// Builds the weights of `layout` from the state dict read by `get` (full key → f32 values;
/// keys are `prefix` + the layout's expected keys, with the shapes [`detect_layout`] checked).
pub fn weights_from_state_dict(
    layout: CheckpointLayout,
    prefix: &str,
    mut get: impl FnMut(&str) -> Result<Vec<f32>, Error>,
) -> Result<SuperPointWeights, Error> {
    let mut convs = Vec::new();
    let mut post_relu_affine = BTreeMap::new();
    let shapes = ENCODER_LAYERS
        .iter()
        .chain(&DETECTOR_LAYERS)
        .chain(&DESCRIPTOR_LAYERS);
    for ((name, key), &(_, o, i, k)) in layout.layer_keys().into_iter().zip(shapes) {
        let key = format!("{prefix}{key}");
        let conv_key = match layout {
            CheckpointLayout::MagicLeap => key.clone(),
            CheckpointLayout::Rpautrat => format!("{key}.conv"),
        };
        let mut conv = Conv {
            out_channels: o,
            in_channels: i,
            kernel: k,
            weight: get(&format!("{conv_key}.weight"))?,
            bias: get(&format!("{conv_key}.bias"))?,
        };
        if layout == CheckpointLayout::Rpautrat {
            let bn: Vec<Vec<f32>> = BN_PARTS
                .iter()
                .map(|p| get(&format!("{key}.bn.{p}")))
                .collect::<Result<_, _>>()?;
            let a = ChannelAffine::from_batch_norm(&bn[0], &bn[1], &bn[2], &bn[3], BATCH_NORM_EPS)
                .map_err(|e| Error::Model(format!("{key}.bn: {e}")))?;
            if name == "convPb" || name == "convDb" {
                // No ReLU between conv and BatchNorm: fold exactly, in f64.
                let bn_scale: Vec<f64> = (0..o)
                    .map(|c| f64::from(bn[0][c]) / (f64::from(bn[3][c]) + BATCH_NORM_EPS).sqrt())
                    .collect();
                let per_out = i * k * k;
                for (c, w) in conv.weight.iter_mut().enumerate() {
                    *w = (f64::from(*w) * bn_scale[c / per_out]) as f32;
                }
                for (c, b) in conv.bias.iter_mut().enumerate() {
                    let shift = f64::from(bn[1][c]) - f64::from(bn[2][c]) * bn_scale[c];
                    *b = (f64::from(*b) * bn_scale[c] + shift) as f32;
                }
            } else {
                post_relu_affine.insert(name.to_string(), a);
            }
        }
        convs.push(conv);
    }
    let descriptor = convs.split_off(10);
    let detector = convs.split_off(8);
    let weights = SuperPointWeights {
        encoder: convs,
        detector,
        descriptor: Some(descriptor),
        post_relu_affine,
    };
    weights.validate()?;
    Ok(weights)
}

/// SHA-256 of a file, as 64 lowercase hex digits.
pub fn sha256_file(path: &Path) -> Result<String, Error> {
    let mut file = std::fs::File::open(path)
        .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

fn to_f32(name: &str, dtype: DType, bytes: &[u8]) -> Result<Vec<f32>, Error> {
    let chunks = |n: usize| bytes.chunks_exact(n);
    Ok(match dtype {
        DType::F32 => chunks(4)
            .map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        DType::F64 => chunks(8)
            .map(|b| f64::from_ne_bytes(b.try_into().unwrap_or([0; 8])) as f32)
            .collect(),
        DType::F16 => chunks(2)
            .map(|b| f16_to_f32(u16::from_ne_bytes([b[0], b[1]])))
            .collect(),
        DType::BF16 => chunks(2)
            .map(|b| f32::from_bits(u32::from(u16::from_ne_bytes([b[0], b[1]])) << 16))
            .collect(),
        other => {
            return Err(Error::Model(format!(
                "tensor {name} is {other:?}, expected a floating-point tensor"
            )));
        }
    })
}

/// IEEE half precision to f32 (exact).
fn f16_to_f32(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1f);
    let frac = f32::from(h & 0x3ff);
    sign * match exp {
        0 => frac * 2f32.powi(-24),
        31 if frac == 0.0 => f32::INFINITY,
        31 => f32::NAN,
        _ => (1.0 + frac / 1024.0) * 2f32.powi(exp - 15),
    }
}

/// Reads the checkpoint at `path` (any container `torch.save` writes), detects its layout and
/// converts it. Errors: the file cannot be read or is not a PyTorch checkpoint ([`Error::Io`] /
/// [`Error::Model`]), or its keys fit no layout (the message lists the expected and missing
/// keys, see [`detect_layout`]), or a tensor has the wrong shape or a non-float type.
pub fn import_checkpoint(path: &Path) -> Result<ImportedCheckpoint, Error> {
    if !path.is_file() {
        return Err(Error::io_message(format!(
            "checkpoint {} does not exist or is not a file",
            path.display()
        )));
    }
    let reader = PytorchReader::new(path).map_err(|e| {
        Error::Model(format!(
            "{} is not a readable PyTorch checkpoint: {e}",
            path.display()
        ))
    })?;
    let shapes: BTreeMap<String, Vec<usize>> = reader
        .tensors()
        .iter()
        .map(|(k, t)| (k.clone(), t.shape().to_vec()))
        .collect();
    let (layout, prefix) =
        detect_layout(&shapes).map_err(|e| Error::Model(format!("{}: {e}", path.display())))?;
    let weights = weights_from_state_dict(layout, &prefix, |key| {
        let t = reader
            .get(key)
            .ok_or_else(|| Error::Model(format!("tensor {key} not found")))?;
        let bytes = t
            .read()
            .map_err(|e| Error::Model(format!("{}: {e}", path.display())))?;
        to_f32(key, t.dtype(), &bytes)
    })
    .map_err(|e| Error::Model(format!("{}: {e}", path.display())))?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(ImportedCheckpoint {
        weights,
        source: CheckpointSource {
            file_name,
            sha256: sha256_file(path)?,
            layout,
        },
        prefix,
        tensors_in_file: shapes.len(),
    })
}

impl ImportedCheckpoint {
    /// The model's metadata: `model_id` (default: the checkpoint's file stem), marked trained,
    /// and a description naming the source file, its SHA-256 and layout.
    pub fn model_info(&self, model_id: Option<&str>) -> ModelInfo {
        let s = &self.source;
        let stem = Path::new(&s.file_name)
            .file_stem()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "imported".into());
        ModelInfo {
            model_id: model_id.map(str::to_string).unwrap_or(stem),
            trained: true,
            licence: Some(s.layout.licence().into()),
            description: format!(
                "Imported by `superpoint import` from {} (SHA-256 {}), layout {}: {}. The weights' \
                 licence is that of the checkpoint.",
                s.file_name,
                s.sha256,
                s.layout.name(),
                s.layout.description()
            ),
        }
    }

    /// The ONNX model ([`SuperPointWeights::to_model`]) with the source's metadata added.
    pub fn to_model(&self, info: &ModelInfo) -> Result<ModelProto, Error> {
        let mut model = self.weights.to_model(info)?;
        let s = &self.source;
        for (key, value) in [
            (META_SOURCE_FILE, s.file_name.as_str()),
            (META_SOURCE_SHA256, s.sha256.as_str()),
            (META_SOURCE_LAYOUT, s.layout.name()),
        ] {
            model.metadata_props.push(StringStringEntryProto {
                key: Some(key.into()),
                value: Some(value.into()),
            });
        }
        Ok(model)
    }

    /// Writes the ONNX model to `out`. Errors when `out` cannot be written.
    pub fn write_model(&self, out: &Path, info: &ModelInfo) -> Result<(), Error> {
        crate::onnx::write_model_file(&self.to_model(info)?, out)
    }
}

/// The source recorded in a model imported by [`ImportedCheckpoint::write_model`], or `None`
/// for a model that was not imported (or whose layout name is unknown).
pub fn model_source(model: &ModelProto) -> Option<CheckpointSource> {
    let meta = |key: &str| crate::onnx::metadata(model, key);
    let layout = meta(META_SOURCE_LAYOUT)?;
    Some(CheckpointSource {
        file_name: meta(META_SOURCE_FILE)?,
        sha256: meta(META_SOURCE_SHA256)?,
        layout: CheckpointLayout::ALL
            .into_iter()
            .find(|l| l.name() == layout)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shapes_of(layout: CheckpointLayout, prefix: &str) -> BTreeMap<String, Vec<usize>> {
        layout
            .expected_keys()
            .into_iter()
            .map(|(k, s)| (format!("{prefix}{k}"), s))
            .collect()
    }

    #[test]
    fn both_layouts_are_detected_plain_and_nested() {
        for layout in CheckpointLayout::ALL {
            for prefix in ["", "model.", "state_dict.module."] {
                let mut shapes = shapes_of(layout, prefix);
                shapes.insert("epoch".into(), vec![]);
                assert_eq!(
                    detect_layout(&shapes).unwrap(),
                    (layout, prefix.to_string())
                );
            }
        }
        assert_eq!(CheckpointLayout::MagicLeap.expected_keys().len(), 24);
        assert_eq!(CheckpointLayout::Rpautrat.expected_keys().len(), 72);
    }

    #[test]
    fn other_layout_lists_expected_and_missing_keys() {
        let mut shapes = shapes_of(CheckpointLayout::MagicLeap, "");
        shapes.remove("convDb.bias");
        shapes.remove("conv3a.weight");
        let err = detect_layout(&shapes).unwrap_err().to_string();
        assert!(err.contains("not a SuperPoint checkpoint"), "{err}");
        assert!(err.contains("conv1a.weight, conv1a.bias"), "{err}");
        assert!(err.contains("backbone.{0,1,2,3}.{0,1}"), "{err}");
        assert!(
            err.contains("Closest: magicleap (22 of 24 keys), missing: conv3a.weight, convDb.bias"),
            "{err}"
        );
        let err = detect_layout(&BTreeMap::from([("fc.weight".into(), vec![10, 4])]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("holds 1 tensors, 1 of them in neither layout: fc.weight"),
            "{err}"
        );
    }

    #[test]
    fn wrong_shape_is_named() {
        let mut shapes = shapes_of(CheckpointLayout::Rpautrat, "");
        shapes.insert("descriptor.1.conv.weight".into(), vec![128, 256, 1, 1]);
        let err = detect_layout(&shapes).unwrap_err().to_string();
        assert!(
            err.contains(
                "descriptor.1.conv.weight has shape [128, 256, 1, 1], expected [256, 256, 1, 1]"
            ),
            "{err}"
        );
    }

    #[test]
    fn rpautrat_weights_fold_the_heads_and_keep_post_relu_affines() {
        let expected = CheckpointLayout::Rpautrat.expected_keys();
        let shapes: BTreeMap<_, _> = expected.into_iter().collect();
        let w = weights_from_state_dict(CheckpointLayout::Rpautrat, "", |k| {
            let n: usize = shapes[k].iter().product();
            Ok(if k.ends_with("running_var") {
                vec![3.0 - BATCH_NORM_EPS as f32; n]
            } else if k.ends_with("bn.weight") {
                vec![-2.0; n]
            } else {
                vec![0.5; n]
            })
        })
        .unwrap();
        assert_eq!(w.post_relu_affine.len(), 10);
        let a = &w.post_relu_affine["conv1a"];
        let s = -2.0 / 3f32.sqrt();
        assert!((a.scale[0] - s).abs() < 1e-6 && (a.shift[0] - (0.5 - 0.5 * s)).abs() < 1e-6);
        // convPb: weight 0.5 * s, bias 0.5 * s + 0.5 - 0.5 * s = 0.5.
        assert!((w.detector[1].weight[0] - 0.5 * s).abs() < 1e-6);
        assert!((w.detector[1].bias[0] - 0.5).abs() < 1e-6);
    }

    #[test]
    fn half_precision_values_convert_exactly() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
    }
}
