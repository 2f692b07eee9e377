//! The ONNX writer against an independent, naive Rust forward pass of the architecture in
//! DESIGN.md (so a wrong graph — layer order, pooling, depth-to-space order, normalisation — is
//! caught without libtorch), and against the official `onnx.checker`.

use std::path::PathBuf;
use std::process::Command;

use superpoint::onnx::{ChannelAffine, Conv, ModelInfo, SuperPointWeights};
use superpoint::{Engine, EngineOptions};

fn conv(x: &[f32], c: usize, h: usize, w: usize, layer: &Conv, relu: bool) -> Vec<f32> {
    assert_eq!(layer.in_channels, c);
    let k = layer.kernel as isize;
    let pad = k / 2;
    let mut out = vec![0.0f32; layer.out_channels * h * w];
    for o in 0..layer.out_channels {
        for y in 0..h as isize {
            for xx in 0..w as isize {
                let mut acc = layer.bias[o] as f64;
                for i in 0..c {
                    for ky in 0..k {
                        for kx in 0..k {
                            let (sy, sx) = (y + ky - pad, xx + kx - pad);
                            if sy < 0 || sx < 0 || sy >= h as isize || sx >= w as isize {
                                continue;
                            }
                            let wv = layer.weight[((o * c + i) * k as usize + ky as usize)
                                * k as usize
                                + kx as usize];
                            acc += wv as f64 * x[(i * h + sy as usize) * w + sx as usize] as f64;
                        }
                    }
                }
                let v = acc as f32;
                out[(o * h + y as usize) * w + xx as usize] = if relu { v.max(0.0) } else { v };
            }
        }
    }
    out
}

fn maxpool(x: &[f32], c: usize, h: usize, w: usize) -> Vec<f32> {
    let (ho, wo) = (h / 2, w / 2);
    let mut out = vec![0.0; c * ho * wo];
    for i in 0..c {
        for y in 0..ho {
            for xx in 0..wo {
                let at = |dy: usize, dx: usize| x[(i * h + 2 * y + dy) * w + 2 * xx + dx];
                out[(i * ho + y) * wo + xx] = at(0, 0).max(at(0, 1)).max(at(1, 0)).max(at(1, 1));
            }
        }
    }
    out
}

/// Reference forward pass: (scores H x W, descriptors 256 x H/8 x W/8).
fn reference(
    weights: &SuperPointWeights,
    image: &[f32],
    h: usize,
    w: usize,
) -> (Vec<f32>, Vec<f32>) {
    let (mut x, mut c, mut hh, mut ww) = (image.to_vec(), 1, h, w);
    for (i, layer) in weights.encoder.iter().enumerate() {
        x = conv(&x, c, hh, ww, layer, true);
        c = layer.out_channels;
        if i % 2 == 1 && i < 6 {
            x = maxpool(&x, c, hh, ww);
            hh /= 2;
            ww /= 2;
        }
    }
    let pa = conv(&x, c, hh, ww, &weights.detector[0], true);
    let logits = conv(&pa, 256, hh, ww, &weights.detector[1], false);
    let mut scores = vec![0.0; h * w];
    for cy in 0..hh {
        for cx in 0..ww {
            let l: Vec<f64> = (0..65)
                .map(|k| logits[(k * hh + cy) * ww + cx] as f64)
                .collect();
            let m = l.iter().cloned().fold(f64::MIN, f64::max);
            let z: f64 = l.iter().map(|v| (v - m).exp()).sum();
            for k in 0..64 {
                // Bin k is the pixel (dy, dx) = (k / 8, k % 8) of the cell.
                scores[(cy * 8 + k / 8) * w + cx * 8 + k % 8] = ((l[k] - m).exp() / z) as f32;
            }
        }
    }
    let da = conv(
        &x,
        c,
        hh,
        ww,
        &weights.descriptor.as_ref().unwrap()[0],
        true,
    );
    let mut desc = conv(
        &da,
        256,
        hh,
        ww,
        &weights.descriptor.as_ref().unwrap()[1],
        false,
    );
    for p in 0..hh * ww {
        let n: f32 = (0..256)
            .map(|k| desc[k * hh * ww + p].powi(2))
            .sum::<f32>()
            .sqrt();
        for k in 0..256 {
            desc[k * hh * ww + p] /= n.max(1e-12);
        }
    }
    (scores, desc)
}

fn temp_model(weights: &SuperPointWeights, name: &str) -> PathBuf {
    // One file per test name, replaced atomically by the writer: runs do not pile up models.
    let path = std::env::temp_dir().join(format!("superpoint-test-{name}.onnx"));
    weights
        .write_model(
            &path,
            &ModelInfo {
                model_id: name.into(),
                trained: false,
                licence: None,
                description: "test".into(),
            },
        )
        .unwrap();
    path
}

#[test]
fn onnx_runtime_output_equals_the_reference_forward_pass() {
    let weights = SuperPointWeights::random(11, true);
    let path = temp_model(&weights, "reference-check");
    let (h, w) = (24, 32);
    let image: Vec<f32> = (0..h * w)
        .map(|i| (((i * 7919) % 255) as f32) / 255.0)
        .collect();
    let (ref_scores, ref_desc) = reference(&weights, &image, h, w);
    let mut engine = Engine::new(
        &path,
        &EngineOptions {
            threads: 1,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(engine.has_descriptors());
    let (scores, desc) = engine
        .run(&image, 1, h, w, |out| {
            (out.scores.to_vec(), out.descriptors.to_vec())
        })
        .unwrap();
    let max_diff = |a: &[f32], b: &[f32]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max)
    };
    let ds = max_diff(&scores, &ref_scores);
    let dd = max_diff(&desc, &ref_desc);
    println!("max |ORT - reference|: scores {ds:e}, descriptors {dd:e}");
    assert!(ds < 1e-5, "scores differ by {ds}");
    assert!(dd < 1e-4, "descriptors differ by {dd}");
    // Heatmap: 64 of 65 softmax bins per cell, so each 8x8 cell sums to < 1.
    let cell_sum: f32 = (0..8)
        .flat_map(|y| (0..8).map(move |x| (y, x)))
        .map(|(y, x)| scores[y * w + x])
        .sum();
    assert!(cell_sum > 0.0 && cell_sum < 1.0);
}

#[test]
fn detector_only_model_runs_without_descriptors() {
    let weights = SuperPointWeights::random(5, false);
    let path = temp_model(&weights, "magicpoint-shape");
    let mut engine = Engine::new(&path, &EngineOptions::default()).unwrap();
    assert!(!engine.has_descriptors());
    let n = engine
        .run(&vec![0.5; 16 * 16], 1, 16, 16, |o| {
            (o.scores.len(), o.descriptors.len())
        })
        .unwrap();
    assert_eq!(n, (256, 0));
    let err = superpoint::Detector::with_engine(
        engine,
        superpoint::DetectorConfig {
            descriptors: true,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("no `descriptors` output"), "{err}");
}

#[test]
fn written_models_pass_the_onnx_checker() {
    let python = std::env::var_os("SUPERPOINT_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../.deps/venv/bin/python"
            ))
        });
    assert!(
        python.exists(),
        "{} not found: run scripts/setup.sh (it creates the venv with the `onnx` package)",
        python.display()
    );
    // With post-ReLU affine maps too (checkpoints imported from the conv-ReLU-BatchNorm layout).
    let mut affine = SuperPointWeights::random(1, true);
    for (layer, c) in [("conv1b", 64), ("conv4b", 128), ("convPa", 256)] {
        let a = ChannelAffine {
            scale: vec![-0.5; c],
            shift: vec![0.2; c],
        };
        affine.post_relu_affine.insert(layer.into(), a);
    }
    for (name, weights) in [
        ("checker-superpoint", SuperPointWeights::random(1, true)),
        ("checker-magicpoint", SuperPointWeights::random(1, false)),
        ("checker-affine", affine),
    ] {
        let path = temp_model(&weights, name);
        let out = Command::new(&python)
            .args([
                "-c",
                "import sys, onnx; m = onnx.load(sys.argv[1]); onnx.checker.check_model(m, full_check=True); print(m.ir_version, m.opset_import[0].version)",
            ])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "onnx.checker rejected {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "8 17");
    }
}
