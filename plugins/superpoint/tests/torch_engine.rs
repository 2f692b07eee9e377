//! The libtorch engine (feature `torch`) against the ONNX Runtime engine on real frames with the
//! shipped model: same keypoints and descriptors within the tolerances below, and the
//! `provider=cuda` selection with its fallback error on machines where libtorch sees no GPU.
//!
//! Runs on libtorch's CPU by default; `SUPERPOINT_TEST_TORCH_DEVICE=cuda` runs the same checks on
//! CUDA device 0 (the GPU equality check of scripts/gpu-bench.sh).
//!
//! Tolerances (the two engines compute the convolutions with different kernels, so heatmap values
//! differ by about 1e-6 and keypoints right at the threshold, at the top-k cut or at equal-score
//! NMS decisions can flip): at least 99% of the keypoints at identical positions in both (and
//! counts within 1%), scores of those within 1e-4, descriptors within 1e-3 per component with a
//! dot product of at least 0.9999.
#![cfg(feature = "torch")]

use std::path::{Path, PathBuf};

use superpoint::image_io::OwnedImage;
use superpoint::onnx::{ChannelAffine, POST_RELU_LAYERS, SuperPointWeights};
use superpoint::subpixel::Subpixel;
use superpoint::torch::{TorchDetector, TorchOptions};
use superpoint::{
    Detections, Detector, DetectorConfig, EngineOptions, Frame, PixelLayout, Provider,
};
use tch::Device;

const DATA: &str = "/usr/share/doc/opencv-doc/examples/data";

fn model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/superpoint.onnx")
}

fn ort_lib() {
    if std::env::var_os("ORT_DYLIB_PATH").is_none() {
        let lib = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../.deps/onnxruntime/libonnxruntime.so.1.31.1");
        // SAFETY: set before any thread of this test binary reads the environment (each test
        // sets the same value).
        unsafe { std::env::set_var("ORT_DYLIB_PATH", lib) };
    }
}

fn device() -> Device {
    match std::env::var("SUPERPOINT_TEST_TORCH_DEVICE").as_deref() {
        Ok("cuda") => Device::Cuda(0),
        _ => Device::Cpu,
    }
}

/// Integer peaks (`subpixel=none`), so that positions compare exactly; the default sub-pixel
/// refinement is compared separately ([`REFINED_TOLERANCE`]).
fn config(inference: (usize, usize)) -> DetectorConfig {
    let mut cfg = DetectorConfig {
        descriptors: true,
        inference_width: inference.0,
        inference_height: inference.1,
        ..Default::default()
    };
    cfg.post.subpixel = Subpixel::None;
    cfg
}

/// Refined positions of the two engines agree within this many pixels: the refinement reads
/// heatmap scores that differ between the engines by float rounding (about 1e-7).
const REFINED_TOLERANCE: f32 = 1e-3;

/// Agreement of `t` (libtorch) with `o` (ONNX Runtime): (share of keypoints at the same position,
/// within `tol` pixels on each axis (0: identical), worst score difference, worst descriptor
/// component difference, lowest dot product).
fn agreement(o: &Detections, t: &Detections, tol: f32) -> (f64, f32, f32, f32) {
    let (mut same, mut score, mut comp, mut dot) = (0usize, 0f32, 0f32, 1f32);
    for (i, kt) in t.keypoints.iter().enumerate() {
        let Some(j) = o
            .keypoints
            .iter()
            .position(|ko| (ko.x - kt.x).abs() <= tol && (ko.y - kt.y).abs() <= tol)
        else {
            continue;
        };
        same += 1;
        score = score.max((o.keypoints[j].score - kt.score).abs());
        let (a, b) = (o.descriptor(j), t.descriptor(i));
        comp = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(comp, f32::max);
        dot = dot.min(a.iter().zip(b).map(|(x, y)| x * y).sum());
    }
    let n = o.keypoints.len().max(t.keypoints.len()).max(1);
    (same as f64 / n as f64, score, comp, dot)
}

fn check(name: &str, o: &Detections, t: &Detections, tol: f32) {
    let (share, score, comp, dot) = agreement(o, t, tol);
    println!(
        "{name}: onnxruntime {} keypoints, libtorch {}, identical positions {:.4}, max score diff {score:.2e}, max descriptor diff {comp:.2e}, min dot {dot:.7}",
        o.keypoints.len(),
        t.keypoints.len(),
        share
    );
    assert!(!o.keypoints.is_empty(), "{name}: no keypoints");
    assert_eq!((o.width, o.height), (t.width, t.height));
    assert!(
        share >= 0.99,
        "{name}: only {share:.4} of keypoints identical"
    );
    let (a, b) = (o.keypoints.len() as f64, t.keypoints.len() as f64);
    assert!(
        (a - b).abs() <= 0.01 * a.max(b) + 1.0,
        "{name}: {a} vs {b} keypoints"
    );
    assert!(score <= 1e-4, "{name}: score difference {score}");
    assert!(comp <= 1e-3, "{name}: descriptor difference {comp}");
    assert!(dot >= 0.9999, "{name}: descriptor dot {dot}");
    assert_eq!(t.descriptors.len(), t.keypoints.len() * 256);
}

/// Grey (u8 upload path) and RGB (host conversion path) frames of real photos, at native size
/// (with padding for sizes that are not multiples of 8) and resized, one frame and a batch.
#[test]
fn libtorch_equals_onnxruntime_on_real_frames() {
    ort_lib();
    let options = TorchOptions::new(device(), false, 0).expect("libtorch device");
    // (image, inference size, check the grey frame, check the RGB frame)
    for (file, inference, gray_too, rgb_too) in [
        ("graf1.png", (0, 0), true, true),
        ("messi5.jpg", (0, 0), true, false),
        ("graf3.png", (320, 256), false, true),
    ] {
        let img = OwnedImage::load(&Path::new(DATA).join(file)).unwrap();
        let gray = img.to_luma();
        let frames = [
            (
                "gray",
                Frame::new(&gray, img.width, img.height, img.width, PixelLayout::Gray).unwrap(),
            ),
            (
                "rgb",
                Frame::new(&img.data, img.width, img.height, img.width * 3, img.layout).unwrap(),
            ),
        ];
        let cfg = config(inference);
        let mut ort = Detector::new(&model(), &EngineOptions::default(), cfg).unwrap();
        let mut torch = TorchDetector::new(&model(), &options, cfg).unwrap();
        for (kind, frame) in &frames {
            if (*kind == "gray" && !gray_too) || (*kind == "rgb" && !rgb_too) {
                continue;
            }
            let (mut o, mut t) = (Detections::default(), Detections::default());
            ort.detect(frame, &mut o).unwrap();
            torch.detect(frame, &mut t).unwrap();
            check(&format!("{file} {kind} {inference:?}"), &o, &t, 0.0);
        }
        // The default sub-pixel refinement (soft-argmax 5x5), with descriptors at the refined
        // positions, on the first frame checked.
        let refined = DetectorConfig {
            post: superpoint::PostParams {
                subpixel: Subpixel::default(),
                ..cfg.post
            },
            ..cfg
        };
        ort.set_config(refined).unwrap();
        torch.set_config(refined).unwrap();
        let frame = if gray_too { &frames[0] } else { &frames[1] };
        let (mut o, mut t) = (Detections::default(), Detections::default());
        ort.detect(&frame.1, &mut o).unwrap();
        torch.detect(&frame.1, &mut t).unwrap();
        check(
            &format!("{file} {} {inference:?} soft-argmax-5", frame.0),
            &o,
            &t,
            REFINED_TOLERANCE,
        );
        assert!(
            t.keypoints.iter().any(|k| k.x.fract() != 0.0),
            "no keypoint was refined"
        );
        ort.set_config(cfg).unwrap();
        torch.set_config(cfg).unwrap();
        // Both frames in one batch give the same as one at a time.
        let mut outs = vec![Detections::default(), Detections::default()];
        torch
            .detect_batch(&[frames[0].1, frames[0].1], &mut outs)
            .unwrap();
        let mut single = Detections::default();
        torch.detect(&frames[0].1, &mut single).unwrap();
        assert_eq!(outs[0], single);
        assert_eq!(outs[1], single);
    }
}

/// A model with a per-channel affine after every ReLU (what `superpoint import` makes of a
/// conv → ReLU → BatchNorm checkpoint): the shipped weights with near-identity maps, so the
/// detections stay realistic but differ from the plain model's; libtorch must apply them as ONNX
/// Runtime does.
#[test]
fn libtorch_applies_post_relu_affine_like_onnxruntime() {
    ort_lib();
    let (mut weights, mut info) = SuperPointWeights::from_model_file(&model()).unwrap();
    for (i, layer) in POST_RELU_LAYERS.iter().enumerate() {
        let conv = weights
            .named_layers()
            .into_iter()
            .find(|l| l.0 == *layer)
            .unwrap()
            .1;
        let c = conv.out_channels;
        let wave = |k: usize, a: f32| ((k * 7 + i * 3) % 11) as f32 / 10.0 * a - a / 2.0;
        let affine = ChannelAffine {
            scale: (0..c).map(|k| 1.0 + wave(k, 0.2)).collect(),
            shift: (0..c).map(|k| wave(k, 0.1)).collect(),
        };
        weights.post_relu_affine.insert(layer.to_string(), affine);
    }
    info.model_id = "affine-test".into();
    let dir = std::env::temp_dir().join(format!("sp-torch-affine-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("affine.onnx");
    weights.write_model(&path, &info).unwrap();
    let img = OwnedImage::load(&Path::new(DATA).join("graf1.png")).unwrap();
    let gray = img.to_luma();
    let frame = Frame::new(&gray, img.width, img.height, img.width, PixelLayout::Gray).unwrap();
    let cfg = config((0, 0));
    let options = TorchOptions::new(device(), false, 0).expect("libtorch device");
    let (mut o, mut t, mut plain) = (
        Detections::default(),
        Detections::default(),
        Detections::default(),
    );
    Detector::new(&path, &EngineOptions::default(), cfg)
        .unwrap()
        .detect(&frame, &mut o)
        .unwrap();
    TorchDetector::new(&path, &options, cfg)
        .unwrap()
        .detect(&frame, &mut t)
        .unwrap();
    check("graf1.png gray, post-ReLU affine model", &o, &t, 0.0);
    // The maps matter: the plain model's keypoints are not the same.
    Detector::new(&model(), &EngineOptions::default(), cfg)
        .unwrap()
        .detect(&frame, &mut plain)
        .unwrap();
    assert!(
        agreement(&o, &plain, 0.0).1 > 1e-3,
        "the affine maps changed nothing"
    );
    std::fs::remove_dir_all(dir).ok();
}

/// bfloat16 / float16 convolutions (`SUPERPOINT_TORCH_HALF`) against ONNX Runtime's float32 on a
/// real photo: the differences are measured and printed, the bounds a margin below what was
/// measured. float16 convolutions are checked on CUDA only.
#[test]
fn libtorch_reduced_precision_differences_on_a_real_frame() {
    ort_lib();
    let img = OwnedImage::load(&Path::new(DATA).join("graf1.png")).unwrap();
    let gray = img.to_luma();
    let frame = Frame::new(&gray, img.width, img.height, img.width, PixelLayout::Gray).unwrap();
    let cfg = config((0, 0));
    let mut o = Detections::default();
    Detector::new(&model(), &EngineOptions::default(), cfg)
        .unwrap()
        .detect(&frame, &mut o)
        .unwrap();
    let mut kinds = vec![("bf16", tch::Kind::BFloat16)];
    if device() != Device::Cpu {
        kinds.push(("fp16", tch::Kind::Half));
    }
    for (name, kind) in kinds {
        let mut options = TorchOptions::new(device(), false, 0).unwrap();
        options.half = Some(kind);
        let mut t = Detections::default();
        TorchDetector::new(&model(), &options, cfg)
            .unwrap()
            .detect(&frame, &mut t)
            .unwrap();
        let (share, score, comp, dot) = agreement(&o, &t, 0.0);
        println!(
            "graf1.png gray, {name} convolutions vs float32: onnxruntime {} keypoints, libtorch {}, identical positions {share:.4}, max score diff {score:.2e}, max descriptor diff {comp:.2e}, min dot {dot:.5}",
            o.keypoints.len(),
            t.keypoints.len()
        );
        // Measured on the CPU (bf16): 0.968 identical, scores within 1.6e-2, dot >= 0.99974.
        assert!(share >= 0.9, "{name}: only {share:.3} identical positions");
        assert!(score <= 0.05, "{name}: score difference {score}");
        assert!(dot >= 0.999, "{name}: descriptor dot {dot}");
    }
}

/// `provider=cuda` through [`Detector::new`]: the libtorch engine on a GPU, and
/// `ProviderUnavailable` naming CUDA where libtorch sees none (this is what makes the element
/// warn and fall back, or fail with provider-fallback=false).
#[test]
fn provider_cuda_selects_libtorch_or_reports_it_unavailable() {
    ort_lib();
    let options = EngineOptions {
        provider: Provider::Cuda,
        ..Default::default()
    };
    match Detector::new(&model(), &options, config((0, 0))) {
        Ok(d) => {
            // SUPERPOINT_TORCH_DEVICE=cpu (the GPU script's rehearsal) moves it to libtorch's CPU.
            let expected = if std::env::var(superpoint::torch::ENV_DEVICE).as_deref() == Ok("cpu") {
                "libtorch (Cpu)"
            } else {
                assert!(tch::Cuda::is_available());
                "libtorch (Cuda(0))"
            };
            assert!(
                d.backend_name().starts_with(expected),
                "{}",
                d.backend_name()
            );
        }
        Err(e) => {
            assert!(!tch::Cuda::is_available(), "{e}");
            assert!(
                matches!(e, superpoint::Error::ProviderUnavailable(_)),
                "{e}"
            );
            assert!(e.to_string().contains("CUDA"), "{e}");
        }
    }
    let err = TorchDetector::new(
        Path::new("/nonexistent.onnx"),
        &TorchOptions::new(Device::Cpu, false, 0).unwrap(),
        config((0, 0)),
    )
    .unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
}
