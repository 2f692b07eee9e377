//! ONNX export through the library writer (BatchNorm folded), and the check of the exported model
//! against the tch forward pass with ONNX Runtime.

use std::path::Path;

use anyhow::Context;
use superpoint::onnx::ModelInfo;
use superpoint::{Engine, EngineOptions};
use tch::{Device, Kind, Tensor};

use crate::model::{SuperPointNet, heatmap};

/// Writes `net` as ONNX to `out`.
pub fn export(net: &SuperPointNet, out: &Path, info: &ModelInfo) -> anyhow::Result<()> {
    let w = net.export_weights()?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    w.write_model(out, info)?;
    Ok(())
}

/// Largest absolute differences between ONNX Runtime (on the model at `onnx`) and the tch forward
/// pass (eval mode) of `net`, on `images` `[B, 1, H, W]`: (scores, descriptors; 0 without head).
pub fn compare_with_onnxruntime(
    net: &SuperPointNet,
    onnx: &Path,
    images: &Tensor,
) -> anyhow::Result<(f64, f64)> {
    let (b, _, h, w) = images.size4()?;
    let host = images
        .to_device(Device::Cpu)
        .to_kind(Kind::Float)
        .contiguous();
    let data = Vec::<f32>::try_from(host.flatten(0, -1))?;
    let mut engine = Engine::new(onnx, &EngineOptions::default())?;
    let (scores, desc) = engine.run(&data, b as usize, h as usize, w as usize, |o| {
        (o.scores.to_vec(), o.descriptors.to_vec())
    })?;
    let out = tch::no_grad(|| net.forward_t(&images.to_device(net.device()), false));
    let heat = heatmap(&out.logits).to_device(Device::Cpu).contiguous();
    let ort_scores = Tensor::from_slice(&scores).view([b, h, w]);
    let ds = (heat - ort_scores).abs().max().double_value(&[]);
    let dd = match out.descriptors {
        Some(d) => {
            anyhow::ensure!(
                engine.has_descriptors(),
                "the ONNX model has no descriptor output"
            );
            let ort = Tensor::from_slice(&desc).view([b, 256, h / 8, w / 8]);
            (d.to_device(Device::Cpu) - ort)
                .abs()
                .max()
                .double_value(&[])
        }
        None => 0.0,
    };
    Ok((ds, dd))
}
