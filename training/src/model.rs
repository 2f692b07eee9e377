//! The SuperPoint network in tch: the VGG-style encoder, the detector head and (optionally) the
//! descriptor head, each convolution followed by BatchNorm while training. Export folds the
//! BatchNorm into the convolutions and hands plain weights to the library's ONNX writer.

use std::path::{Path, PathBuf};

use anyhow::Context;
use superpoint::onnx::{
    CELL, Conv, DESCRIPTOR_LAYERS, DETECTOR_LAYERS, ENCODER_LAYERS, SuperPointWeights,
};
use tch::{Device, Kind, Tensor, nn};

/// Name of the weights file inside a checkpoint directory.
pub const WEIGHTS_FILE: &str = "weights.safetensors";

/// A convolution ("same" padding) followed by BatchNorm and ReLU; the heads' last layers are
/// plain convolutions (BatchNorm there would pin the logits' scale and offset to two learnt
/// scalars per channel, which makes the dustbin and the descriptor scale very slow to learn).
#[derive(Debug)]
pub struct ConvBn {
    /// The convolution (with bias, so that imported folded weights fit exactly).
    pub conv: nn::Conv2D,
    /// Its BatchNorm (None for the heads' last layers).
    pub bn: Option<nn::BatchNorm>,
    relu: bool,
    padding: i64,
}

impl ConvBn {
    fn new(p: &nn::Path, name: &str, (out, inp, k): (usize, usize, usize), relu: bool) -> Self {
        let padding = (k / 2) as i64;
        let conv = nn::conv2d(
            p / name,
            inp as i64,
            out as i64,
            k as i64,
            nn::ConvConfig {
                padding,
                ..Default::default()
            },
        );
        let bn = relu
            .then(|| nn::batch_norm2d(p / format!("{name}_bn"), out as i64, Default::default()));
        ConvBn {
            conv,
            bn,
            relu,
            padding,
        }
    }

    fn forward(&self, x: &Tensor, train: bool, bf16: bool) -> Tensor {
        let y = if bf16 {
            // Manual mixed precision: the convolution runs in bfloat16 on bfloat16 copies of the
            // fp32 master weights (gradients flow back to them through the cast).
            let w = self.conv.ws.to_kind(Kind::BFloat16);
            let b = self.conv.bs.as_ref().map(|b| b.to_kind(Kind::BFloat16));
            x.to_kind(Kind::BFloat16).conv2d(
                &w,
                b.as_ref(),
                [1, 1],
                [self.padding, self.padding],
                [1, 1],
                1,
            )
        } else {
            x.apply(&self.conv)
        };
        match &self.bn {
            Some(bn) => {
                let y = y.apply_t(bn, train);
                if self.relu { y.relu() } else { y }
            }
            None if self.relu => y.relu(),
            None => y,
        }
    }

    /// The convolution with the BatchNorm (running statistics) folded in.
    fn folded(&self) -> anyhow::Result<Conv> {
        tch::no_grad(|| {
            let w = self.conv.ws.to_device(Device::Cpu).to_kind(Kind::Double);
            let size = w.size();
            let (out, inp, k) = (size[0], size[1], size[2]);
            let b = match &self.conv.bs {
                Some(b) => b.to_device(Device::Cpu).to_kind(Kind::Double),
                None => Tensor::zeros([out], (Kind::Double, Device::Cpu)),
            };
            let cpu = |t: &Option<Tensor>, fill: f64| match t {
                Some(t) => t.to_device(Device::Cpu).to_kind(Kind::Double),
                None => Tensor::full([out], fill, (Kind::Double, Device::Cpu)),
            };
            let (wf, bf) = match &self.bn {
                Some(bn) => {
                    let gamma = cpu(&bn.ws, 1.0);
                    let beta = cpu(&bn.bs, 0.0);
                    let mean = bn.running_mean.to_device(Device::Cpu).to_kind(Kind::Double);
                    let var = bn.running_var.to_device(Device::Cpu).to_kind(Kind::Double);
                    let scale = gamma / (var + BN_EPS).sqrt();
                    (w * scale.view([out, 1, 1, 1]), (b - mean) * &scale + beta)
                }
                None => (w, b),
            };
            let to_vec = |t: Tensor| -> anyhow::Result<Vec<f32>> {
                Ok(Vec::<f32>::try_from(
                    t.to_kind(Kind::Float).contiguous().flatten(0, -1),
                )?)
            };
            Ok(Conv {
                out_channels: out as usize,
                in_channels: inp as usize,
                kernel: k as usize,
                weight: to_vec(wf)?,
                bias: to_vec(bf)?,
            })
        })
    }

    /// Sets the convolution to `c` and the BatchNorm to the identity (unit scale, zero shift,
    /// running mean 0, running variance 1 - eps).
    fn import(&mut self, c: &Conv, device: Device) -> anyhow::Result<()> {
        let size = self.conv.ws.size();
        let expected = [
            c.out_channels as i64,
            c.in_channels as i64,
            c.kernel as i64,
            c.kernel as i64,
        ];
        anyhow::ensure!(
            size == expected,
            "layer shape {size:?} does not match imported {expected:?}"
        );
        tch::no_grad(|| {
            let w = Tensor::from_slice(&c.weight)
                .view(expected)
                .to_device(device);
            self.conv.ws.copy_(&w);
            if let Some(b) = &mut self.conv.bs {
                b.copy_(&Tensor::from_slice(&c.bias).to_device(device));
            }
            if let Some(bn) = &mut self.bn {
                if let Some(g) = &mut bn.ws {
                    let _ = g.fill_(1.0);
                }
                if let Some(b) = &mut bn.bs {
                    let _ = b.fill_(0.0);
                }
                let _ = bn.running_mean.fill_(0.0);
                let _ = bn.running_var.fill_(1.0 - BN_EPS);
            }
        });
        Ok(())
    }
}

/// BatchNorm epsilon (tch's default, used when folding).
pub const BN_EPS: f64 = 1e-5;

/// Output of a forward pass.
#[derive(Debug)]
pub struct NetOutput {
    /// Detector logits `[B, 65, H/8, W/8]`, float32.
    pub logits: Tensor,
    /// Unit-norm dense descriptors `[B, 256, H/8, W/8]`, float32 (None for MagicPoint).
    pub descriptors: Option<Tensor>,
}

/// SuperPoint (or MagicPoint when it has no descriptor head).
#[derive(Debug)]
pub struct SuperPointNet {
    /// The variables (weights, BatchNorm parameters and running statistics).
    pub vs: nn::VarStore,
    encoder: Vec<ConvBn>,
    detector: Vec<ConvBn>,
    descriptor: Option<Vec<ConvBn>>,
    /// Run convolutions in bfloat16 (mixed precision).
    pub bf16: bool,
    /// Keep activations in channels-last layout (faster convolutions on recent GPUs).
    pub channels_last: bool,
}

/// `x` with the same shape in NHWC memory layout.
pub fn to_channels_last(x: &Tensor) -> Tensor {
    x.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2])
}

impl SuperPointNet {
    /// A freshly initialised network on `device`.
    pub fn new(device: Device, with_descriptor: bool) -> Self {
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        let make = |layers: &[(&str, usize, usize, usize)]| -> Vec<ConvBn> {
            let last = layers.len() - 1;
            layers
                .iter()
                .enumerate()
                .map(|(i, &(name, o, inp, k))| ConvBn::new(&root, name, (o, inp, k), i != last))
                .collect()
        };
        // The encoder has ReLU after every convolution.
        let encoder = ENCODER_LAYERS
            .iter()
            .map(|&(name, o, inp, k)| ConvBn::new(&root, name, (o, inp, k), true))
            .collect();
        let detector = make(&DETECTOR_LAYERS);
        let descriptor = with_descriptor.then(|| make(&DESCRIPTOR_LAYERS));
        SuperPointNet {
            vs,
            encoder,
            detector,
            descriptor,
            bf16: false,
            channels_last: false,
        }
    }

    /// Whether the network has the descriptor head.
    pub fn has_descriptor(&self) -> bool {
        self.descriptor.is_some()
    }

    /// The device of the weights.
    pub fn device(&self) -> Device {
        self.vs.device()
    }

    /// Switches the convolution weights to channels-last layout (activations follow).
    pub fn use_channels_last(&mut self) {
        self.channels_last = true;
        tch::no_grad(|| {
            for l in self.layers() {
                let mut w = l.conv.ws.shallow_clone();
                let cl = to_channels_last(&w);
                w.set_data(&cl);
            }
        });
    }

    fn layers(&self) -> impl Iterator<Item = &ConvBn> {
        self.encoder
            .iter()
            .chain(&self.detector)
            .chain(self.descriptor.iter().flatten())
    }

    /// Runs the network on `[B, 1, H, W]` images in [0, 1] (H, W multiples of 8).
    pub fn forward_t(&self, images: &Tensor, train: bool) -> NetOutput {
        let mut x = if self.channels_last {
            to_channels_last(images)
        } else {
            images.shallow_clone()
        };
        for (i, l) in self.encoder.iter().enumerate() {
            x = l.forward(&x, train, self.bf16);
            if i % 2 == 1 && i < 6 {
                x = x.max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false);
            }
        }
        let head = |layers: &[ConvBn]| -> Tensor {
            let mut y = x.shallow_clone();
            for l in layers {
                y = l.forward(&y, train, self.bf16);
            }
            y.to_kind(Kind::Float)
        };
        let logits = head(&self.detector);
        let descriptors = self.descriptor.as_ref().map(|d| {
            let raw = head(d);
            let norm = raw
                .square()
                .sum_dim_intlist(1, true, Kind::Float)
                .sqrt()
                .clamp_min(1e-12);
            raw / norm
        });
        NetOutput {
            logits,
            descriptors,
        }
    }

    /// Weights for the ONNX writer, BatchNorm folded into the convolutions.
    pub fn export_weights(&self) -> anyhow::Result<SuperPointWeights> {
        let fold = |ls: &[ConvBn]| {
            ls.iter()
                .map(ConvBn::folded)
                .collect::<anyhow::Result<Vec<_>>>()
        };
        let w = SuperPointWeights {
            encoder: fold(&self.encoder)?,
            detector: fold(&self.detector)?,
            descriptor: self.descriptor.as_deref().map(fold).transpose()?,
            post_relu_affine: Default::default(),
        };
        w.validate()?;
        Ok(w)
    }

    /// Loads folded weights (e.g. read from an ONNX model); BatchNorm starts as the identity.
    /// A descriptor head in `w` is ignored when the network has none; a network with a head
    /// keeps its initial head when `w` has none.
    /// Errors on weights with post-ReLU affine maps (imported from a conv-ReLU-BatchNorm
    /// checkpoint): this network's layers are conv-BatchNorm-ReLU and cannot hold them.
    pub fn import_weights(&mut self, w: &SuperPointWeights) -> anyhow::Result<()> {
        w.validate()?;
        w.ensure_plain("the trainer (conv-BatchNorm-ReLU layers)")?;
        let device = self.device();
        for (l, c) in self.encoder.iter_mut().zip(&w.encoder) {
            l.import(c, device)?;
        }
        for (l, c) in self.detector.iter_mut().zip(&w.detector) {
            l.import(c, device)?;
        }
        if let (Some(ls), Some(cs)) = (self.descriptor.as_mut(), w.descriptor.as_ref()) {
            for (l, c) in ls.iter_mut().zip(cs) {
                l.import(c, device)?;
            }
        }
        Ok(())
    }

    /// Saves the variables (safetensors).
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        // Contiguous copies: channels-last weights cannot be written as they are.
        let mut named: Vec<(String, Tensor)> = self
            .vs
            .variables()
            .into_iter()
            .map(|(n, t)| (n, t.contiguous()))
            .collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        Tensor::write_safetensors(&named, path)
            .with_context(|| format!("cannot write weights {}", path.display()))
    }

    /// Loads `path`: an ONNX model, a `.safetensors` weights file or a checkpoint directory. With
    /// `with_descriptor` = None the head is present when the file has one; Some(true) adds a
    /// freshly initialised head to a detector-only file (joint training from MagicPoint).
    pub fn load(
        path: &Path,
        device: Device,
        with_descriptor: Option<bool>,
    ) -> anyhow::Result<Self> {
        if path.extension().is_some_and(|e| e == "onnx") {
            let (w, _) = SuperPointWeights::from_model_file(path)?;
            let mut net =
                SuperPointNet::new(device, with_descriptor.unwrap_or(w.descriptor.is_some()));
            net.import_weights(&w)?;
            return Ok(net);
        }
        let file = weights_path(path)?;
        let named = Tensor::read_safetensors(&file)
            .with_context(|| format!("cannot read weights {}", file.display()))?;
        let has_desc = named.iter().any(|(n, _)| n == "convDa.weight");
        let mut net = SuperPointNet::new(device, with_descriptor.unwrap_or(has_desc));
        let missing = net
            .vs
            .load_partial(&file)
            .with_context(|| format!("cannot load weights {}", file.display()))?;
        let unexpected: Vec<&String> = missing
            .iter()
            .filter(|n| !n.starts_with("convD") || has_desc)
            .collect();
        anyhow::ensure!(
            unexpected.is_empty(),
            "{} lacks variables {unexpected:?}: not a SuperPoint checkpoint",
            file.display()
        );
        Ok(net)
    }
}

/// The weights file for a checkpoint directory or a weights file path.
pub fn weights_path(path: &Path) -> anyhow::Result<PathBuf> {
    let file = if path.is_dir() {
        path.join(WEIGHTS_FILE)
    } else {
        path.to_path_buf()
    };
    anyhow::ensure!(
        file.is_file(),
        "model {} not found (give an .onnx file, a .safetensors file or a checkpoint directory)",
        file.display()
    );
    Ok(file)
}

/// Detector logits `[B, 65, Hc, Wc]` to the heatmap `[B, 8 Hc, 8 Wc]`: softmax, dustbin dropped,
/// depth-to-space with channel = 8 dy + dx (the ONNX graph's DCR mode).
pub fn heatmap(logits: &Tensor) -> Tensor {
    let (b, _, hc, wc) = logits.size4().expect("logits are 4-D");
    let c = CELL as i64;
    logits
        .softmax(1, Kind::Float)
        .narrow(1, 0, c * c)
        .reshape([b, c, c, hc, wc])
        .permute([0, 3, 1, 4, 2])
        .reshape([b, hc * c, wc * c])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_heatmap_layout() {
        tch::manual_seed(0);
        let net = SuperPointNet::new(Device::Cpu, true);
        let x = Tensor::rand([2, 1, 32, 48], (Kind::Float, Device::Cpu));
        let out = net.forward_t(&x, false);
        assert_eq!(out.logits.size(), [2, 65, 4, 6]);
        let d = out.descriptors.unwrap();
        assert_eq!(d.size(), [2, 256, 4, 6]);
        let n = d.square().sum_dim_intlist(1, false, Kind::Float);
        assert!((n - 1.0).abs().max().double_value(&[]) < 1e-5);
        // A logit peak at bin 8*3+5 of cell (1, 2) lands at pixel (y, x) = (8+3, 16+5).
        let logits = Tensor::full([1, 65, 2, 3], -20.0, (Kind::Float, Device::Cpu));
        let _ = logits.get(0).get(8 * 3 + 5).get(1).get(2).fill_(20.0);
        let h = heatmap(&logits);
        assert_eq!(h.size(), [1, 16, 24]);
        let idx = h.flatten(0, -1).argmax(0, false).int64_value(&[]);
        assert_eq!((idx / 24, idx % 24), (11, 21));
    }

    #[test]
    fn fold_then_import_preserves_inference() {
        tch::manual_seed(1);
        let mut net = SuperPointNet::new(Device::Cpu, true);
        // Train-mode passes move the running statistics away from their initial values.
        for _ in 0..3 {
            let x = Tensor::rand([2, 1, 32, 32], (Kind::Float, Device::Cpu));
            let _ = net.forward_t(&x, true);
        }
        let w = net.export_weights().unwrap();
        let mut other = SuperPointNet::new(Device::Cpu, true);
        other.import_weights(&w).unwrap();
        let x = Tensor::rand([1, 1, 32, 40], (Kind::Float, Device::Cpu));
        let a = net.forward_t(&x, false);
        let b = other.forward_t(&x, false);
        let diff = (heatmap(&a.logits) - heatmap(&b.logits))
            .abs()
            .max()
            .double_value(&[]);
        assert!(diff < 1e-5, "{diff}");
        let diff = (a.descriptors.unwrap() - b.descriptors.unwrap())
            .abs()
            .max()
            .double_value(&[]);
        assert!(diff < 1e-4, "{diff}");
        net.bf16 = false;
    }
}
