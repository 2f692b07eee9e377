//! The exported ONNX model computes what the tch network computes, and the library loads it.

mod common;

use superpoint::onnx::{ModelInfo, SuperPointWeights};
use superpoint::{Detections, Detector, DetectorConfig, EngineOptions, Frame, PixelLayout};
use superpoint_train::export::{compare_with_onnxruntime, export};
use superpoint_train::model::SuperPointNet;
use superpoint_train::synth::{SynthConfig, sample};
use tch::{Device, Kind, Tensor};

fn trained_like_net(with_descriptor: bool) -> SuperPointNet {
    tch::manual_seed(42);
    let net = SuperPointNet::new(Device::Cpu, with_descriptor);
    // Train-mode passes give the BatchNorm layers non-trivial running statistics to fold.
    for _ in 0..4 {
        let x = Tensor::rand([4, 1, 32, 40], (Kind::Float, Device::Cpu)) * 0.8 + 0.1;
        let _ = net.forward_t(&x, true);
    }
    net
}

fn info(id: &str) -> ModelInfo {
    ModelInfo {
        model_id: id.into(),
        trained: true,
        licence: None,
        description: "test export".into(),
    }
}

#[test]
fn onnxruntime_matches_tch_forward() {
    common::ensure_onnxruntime();
    let dir = common::temp_dir("export");
    let net = trained_like_net(true);
    let path = dir.join("sp.onnx");
    export(&net, &path, &info("sp-test")).unwrap();
    // A synthetic image and random noise, two sizes.
    let cfg = SynthConfig {
        height: 64,
        width: 80,
        ..Default::default()
    };
    let s = sample(&cfg, 1, 3, false);
    let img = Tensor::from_slice(&s.image).view([1, 1, 64, 80]);
    let noise = Tensor::rand([1, 1, 64, 80], (Kind::Float, Device::Cpu));
    let x = Tensor::cat(&[img, noise], 0);
    let (ds, dd) = compare_with_onnxruntime(&net, &path, &x).unwrap();
    println!("max |ORT - tch|: scores {ds:.3e}, descriptors {dd:.3e}");
    assert!(ds < 1e-4, "scores differ by {ds}");
    assert!(dd < 1e-4, "descriptors differ by {dd}");
    let x = Tensor::rand([1, 1, 48, 96], (Kind::Float, Device::Cpu));
    let (ds, dd) = compare_with_onnxruntime(&net, &path, &x).unwrap();
    assert!(ds < 1e-4 && dd < 1e-4, "{ds} {dd}");
    // The weights read back are the folded ones.
    let (w, i) = SuperPointWeights::from_model_file(&path).unwrap();
    assert_eq!(w, net.export_weights().unwrap());
    assert_eq!(i.model_id, "sp-test");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn exported_models_load_in_the_detector() {
    common::ensure_onnxruntime();
    let dir = common::temp_dir("detector");
    let sp = dir.join("sp.onnx");
    export(&trained_like_net(true), &sp, &info("sp-test")).unwrap();
    let mp = dir.join("mp.onnx");
    export(&trained_like_net(false), &mp, &info("mp-test")).unwrap();
    let cfg = SynthConfig {
        height: 64,
        width: 80,
        ..Default::default()
    };
    let s = sample(&cfg, 2, 0, false);
    let bytes: Vec<u8> = s.image.iter().map(|v| (v * 255.0) as u8).collect();
    let frame = Frame::new(&bytes, 80, 64, 80, PixelLayout::Gray).unwrap();
    let config = DetectorConfig {
        descriptors: true,
        ..Default::default()
    };
    let mut det = Detector::new(&sp, &EngineOptions::default(), config).unwrap();
    assert_eq!(det.model_info().model_id, "sp-test");
    let mut out = Detections::default();
    det.detect(&frame, &mut out).unwrap();
    assert_eq!(out.descriptors.len(), out.keypoints.len() * 256);
    // A MagicPoint model has no descriptors: fine without, a clear error with.
    let mut det = Detector::new(
        &mp,
        &EngineOptions::default(),
        DetectorConfig {
            descriptors: false,
            ..Default::default()
        },
    )
    .unwrap();
    det.detect(&frame, &mut out).unwrap();
    let err = Detector::new(&mp, &EngineOptions::default(), config).unwrap_err();
    assert!(err.to_string().contains("descriptors"), "{err}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn onnx_import_continues_from_exported_weights() {
    common::ensure_onnxruntime();
    let dir = common::temp_dir("import");
    let net = trained_like_net(false);
    let path = dir.join("mp.onnx");
    export(&net, &path, &info("mp")).unwrap();
    // Joint training can start from a MagicPoint ONNX file: same detector output, new head.
    let back = SuperPointNet::load(&path, Device::Cpu, Some(true)).unwrap();
    assert!(back.has_descriptor());
    let x = Tensor::rand([1, 1, 32, 40], (Kind::Float, Device::Cpu));
    let a = tch::no_grad(|| net.forward_t(&x, false).logits);
    let b = tch::no_grad(|| back.forward_t(&x, false).logits);
    assert!((a - b).abs().max().double_value(&[]) < 1e-4);
    assert!(SuperPointNet::load(&dir.join("missing.onnx"), Device::Cpu, None).is_err());
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn models_with_post_relu_affine_are_refused_by_name() {
    // A model imported from a conv-ReLU-BatchNorm checkpoint keeps that BatchNorm as an affine
    // after the ReLU: the trainer's conv-BatchNorm-ReLU layers cannot hold it, and must say so
    // rather than drop it.
    let dir = common::temp_dir("affine");
    let mut w = SuperPointWeights::random(4, true);
    w.post_relu_affine.insert(
        "conv2b".into(),
        superpoint::onnx::ChannelAffine {
            scale: vec![0.5; 64],
            shift: vec![0.1; 64],
        },
    );
    let path = dir.join("affine.onnx");
    w.write_model(&path, &info("affine")).unwrap();
    let err = SuperPointNet::load(&path, Device::Cpu, None)
        .expect_err("a model with post-ReLU affine layers must be refused")
        .to_string();
    assert!(
        err.contains("affine") && err.contains("conv2b") && err.contains("trainer"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).ok();
}
