//! Several streams through one model instance: results equal the unbatched detector's, frames are
//! really batched, mixed sizes and mismatched groups are handled.

use std::time::Duration;

use superpoint::batching::{BatchPolicy, group_stats};
use superpoint::image_io::OwnedImage;
use superpoint::onnx::SuperPointWeights;
use superpoint::{Detections, Detector, DetectorConfig, EngineOptions, Frame, PixelLayout};

/// Written once per process to one shared file (the writer replaces it atomically, so parallel
/// tests and processes never read a half-written file).
fn model() -> std::path::PathBuf {
    static PATH: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        let path = std::env::temp_dir().join("superpoint-test-batching-9.onnx");
        SuperPointWeights::write_random_model(&path, 9, true, "batch-test").unwrap();
        path
    })
    .clone()
}

/// Crops of graf1.png (a real photo) so every stream sees different content.
fn crops(n: usize, w: usize, h: usize) -> Vec<Vec<u8>> {
    let img = OwnedImage::load(std::path::Path::new(
        "/usr/share/doc/opencv-doc/examples/data/graf1.png",
    ))
    .expect("graf1.png from opencv-doc (scripts/setup.sh installs it)");
    let luma = img.to_luma();
    (0..n)
        .map(|i| {
            (0..h)
                .flat_map(|y| luma[(y + 20 * i) * img.width + 30 * i..][..w].to_vec())
                .collect()
        })
        .collect()
}

fn unbatched(data: &[u8], w: usize, h: usize) -> Detections {
    let mut d = Detector::new(
        &model(),
        &EngineOptions::default(),
        DetectorConfig {
            descriptors: true,
            ..Default::default()
        },
    )
    .unwrap();
    let mut out = Detections::default();
    d.detect(
        &Frame::new(data, w, h, w, PixelLayout::Gray).unwrap(),
        &mut out,
    )
    .unwrap();
    out
}

#[test]
fn streams_share_batches_and_get_their_own_results() {
    let (w, h, streams) = (96, 64, 4);
    let images = crops(streams, w, h);
    let policy = BatchPolicy {
        batch_size: 4,
        max_latency: Duration::from_millis(200),
    };
    let handles: Vec<_> = images
        .iter()
        .cloned()
        .map(|img| {
            std::thread::spawn(move || {
                let mut d = Detector::join_batch_group(
                    "test-group",
                    &model(),
                    &EngineOptions::default(),
                    policy,
                    DetectorConfig {
                        descriptors: true,
                        ..Default::default()
                    },
                )
                .unwrap();
                let mut outs = Vec::new();
                for _ in 0..3 {
                    let mut out = Detections::default();
                    d.detect(
                        &Frame::new(&img, w, h, w, PixelLayout::Gray).unwrap(),
                        &mut out,
                    )
                    .unwrap();
                    outs.push(out);
                }
                (outs, group_stats("test-group").expect("the group is alive"))
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    for (img, (outs, _)) in images.iter().zip(&results) {
        let expect = unbatched(img, w, h);
        assert!(!expect.keypoints.is_empty());
        for out in outs {
            assert_eq!(out.keypoints.len(), expect.keypoints.len());
            for (a, b) in out.keypoints.iter().zip(&expect.keypoints) {
                assert!(
                    (a.x - b.x).abs() < 1e-3
                        && (a.y - b.y).abs() < 1e-3
                        && (a.score - b.score).abs() < 1e-4
                );
            }
            let dmax = out
                .descriptors
                .iter()
                .zip(&expect.descriptors)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(dmax < 1e-3, "descriptor difference {dmax}");
        }
    }
    let (frames, batches) = results.iter().map(|r| r.1).max().unwrap();
    assert!(frames >= 12);
    assert!(
        batches < frames,
        "no frame was batched: {frames} frames in {batches} batches"
    );
}

#[test]
fn mixed_sizes_and_mismatched_members() {
    let policy = BatchPolicy {
        batch_size: 2,
        max_latency: Duration::from_millis(5),
    };
    let cfg = DetectorConfig {
        descriptors: true,
        ..Default::default()
    };
    let mut a =
        Detector::join_batch_group("mixed", &model(), &EngineOptions::default(), policy, cfg)
            .unwrap();
    let mut b =
        Detector::join_batch_group("mixed", &model(), &EngineOptions::default(), policy, cfg)
            .unwrap();
    let small = crops(1, 48, 32).remove(0);
    let big = crops(1, 80, 64).remove(0);
    let mut out = Detections::default();
    a.detect(
        &Frame::new(&small, 48, 32, 48, PixelLayout::Gray).unwrap(),
        &mut out,
    )
    .unwrap();
    assert_eq!((out.width, out.height), (48, 32));
    b.detect(
        &Frame::new(&big, 80, 64, 80, PixelLayout::Gray).unwrap(),
        &mut out,
    )
    .unwrap();
    assert_eq!((out.width, out.height), (80, 64));
    assert_eq!(out.keypoints, unbatched(&big, 80, 64).keypoints);
    let other = BatchPolicy {
        batch_size: 8,
        ..policy
    };
    let err = Detector::join_batch_group("mixed", &model(), &EngineOptions::default(), other, cfg)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("same model, provider and batching settings"),
        "{err}"
    );
}

/// Keypoints of `a` and `b` agree (positions within 1e-3 px, scores within 1e-4) and so do the
/// descriptors (within 1e-3): a batched run against one frame at a time.
fn assert_close(a: &Detections, b: &Detections) {
    assert_eq!((a.width, a.height), (b.width, b.height));
    assert_eq!(a.keypoints.len(), b.keypoints.len());
    for (p, q) in a.keypoints.iter().zip(&b.keypoints) {
        assert!(
            (p.x - q.x).abs() < 1e-3
                && (p.y - q.y).abs() < 1e-3
                && (p.score - q.score).abs() < 1e-4,
            "{p:?} vs {q:?}"
        );
    }
    assert_eq!(a.descriptors.len(), b.descriptors.len());
    let worst = a
        .descriptors
        .iter()
        .zip(&b.descriptors)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max);
    assert!(worst < 1e-3, "descriptor difference {worst}");
}

/// The ONNX Runtime backend behind the seam: a batch of frames, and a batch of converted inputs
/// each decoded with its own settings, give what one frame at a time gives; frames whose network
/// inputs differ in size are refused.
#[test]
fn backend_batches_frames_and_inputs_with_their_own_settings() {
    use superpoint::backend::{self, NetworkInput};
    let (w, h) = (96, 64);
    let images = crops(2, w, h);
    let frames: Vec<Frame<'_>> = images
        .iter()
        .map(|d| Frame::new(d, w, h, w, PixelLayout::Gray).unwrap())
        .collect();
    let mut engine = backend::load(&model(), &EngineOptions::default()).unwrap();
    assert!(
        engine.name().starts_with("onnxruntime"),
        "{}",
        engine.name()
    );
    let with = DetectorConfig {
        descriptors: true,
        ..Default::default()
    };
    let mut without = DetectorConfig::default();
    without.post.threshold = 0.05;
    let single = |cfg: DetectorConfig, i: usize| {
        let mut d = Detector::new(&model(), &EngineOptions::default(), cfg).unwrap();
        let mut out = Detections::default();
        d.detect(&frames[i], &mut out).unwrap();
        out
    };
    let mut outs = vec![Detections::default(), Detections::default()];
    engine.detect_frames(&frames, &with, &mut outs).unwrap();
    assert!(!outs[0].keypoints.is_empty() && !outs[1].descriptors.is_empty());
    assert_close(&outs[0], &single(with, 0));
    assert_close(&outs[1], &single(with, 1));

    // Converted inputs with two settings in one batch.
    let geo = frames[0].geometry((0, 0));
    let (mut a, mut b) = (Vec::new(), Vec::new());
    frames[0].fill_input(&geo, &mut a);
    frames[1].fill_input(&geo, &mut b);
    let inputs = [
        NetworkInput {
            data: &a,
            geo,
            frame_size: (w, h),
            config: with,
        },
        NetworkInput {
            data: &b,
            geo,
            frame_size: (w, h),
            config: without,
        },
    ];
    engine.detect_inputs(&inputs, &mut outs).unwrap();
    assert_close(&outs[0], &single(with, 0));
    let strict = single(without, 1);
    assert!(strict.descriptors.is_empty() && outs[1].descriptors.is_empty());
    assert!(strict.keypoints.iter().all(|k| k.score >= 0.05));
    assert_close(&outs[1], &strict);

    // One batch, one network input size.
    let small = Frame::new(&images[0], 48, 32, w, PixelLayout::Gray).unwrap();
    let err = engine
        .detect_frames(&[frames[0], small], &with, &mut outs)
        .unwrap_err();
    assert!(err.to_string().contains("one network input size"), "{err}");
}
