//! `superpoint bench --provider cuda` with the `torch` feature: the libtorch engine end to end
//! (uint8 frames in host memory -> keypoints and descriptors in host memory), one stream and
//! batches, with `scripts/torch_reference.py` (plain PyTorch, eager fp32) timed in the same run on
//! the same frames: `--image` tiled to the size, frame `i` of a batch shifted by `8 i` pixels,
//! handed to the reference as a raw uint8 file (`--frames`).

use std::path::{Path, PathBuf};
use std::process::Command;

use superpoint::torch::{TorchDetector, TorchOptions};
use superpoint::{Detections, Frame, PixelLayout};
use tch::Device;

use super::{BenchArgs, median_ms, parse_size, tiled_gray};

/// `batch` uint8 frames of `w` x `h` from `image` (tiled; frame `i` shifted by `8 i` pixels),
/// concatenated, and written to a raw file for the reference.
fn frames(image: &Path, batch: usize, w: usize, h: usize) -> Result<(Vec<u8>, PathBuf), String> {
    let wide = w + 8 * batch;
    let tiled = tiled_gray(image, wide, h)?;
    let mut out = Vec::with_capacity(batch * w * h);
    for i in 0..batch {
        for y in 0..h {
            out.extend_from_slice(&tiled[y * wide + 8 * i..y * wide + 8 * i + w]);
        }
    }
    let path = std::env::temp_dir().join(format!("superpoint-bench-{}.u8", std::process::id()));
    std::fs::write(&path, &out).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok((out, path))
}

/// One row of the reference's JSON output, or why it is missing.
fn reference(
    args: &BenchArgs,
    model: &Path,
    device: &str,
    size: (usize, usize),
    batch: usize,
    raw: &Path,
) -> Result<f64, String> {
    let python = &args.torch_python;
    if !python.exists() {
        return Err(format!("{} not found", python.display()));
    }
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/torch_reference.py"
    );
    let script = std::env::var("SUPERPOINT_TORCH_REFERENCE").unwrap_or_else(|_| script.into());
    let out = Command::new(python)
        .arg(&script)
        .arg(model)
        .args(["--device", device])
        .args(["--sizes", &format!("{}x{}", size.0, size.1)])
        .args(["--iterations", &args.iterations.to_string()])
        .args(["--batch", &batch.to_string()])
        .arg("--frames")
        .arg(raw)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().ok_or("no output")?;
    let v: serde_json::Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
    v["ms_per_call"]
        .as_f64()
        .ok_or_else(|| format!("no ms_per_call in {line}"))
}

/// Runs the benchmark: for each size, batch 1 (single stream) and each `--batch-sizes` value.
pub fn run(args: &BenchArgs, model: &Path) -> Result<(), String> {
    let options = TorchOptions::from_engine_options(&args.model.engine_options())
        .map_err(|e| e.to_string())?;
    let device = match options.device {
        Device::Cuda(_) => "cuda",
        _ => "cpu",
    };
    println!(
        "libtorch engine on {:?} (tf32 {}, reduced precision {:?}), {} timed runs after 3 warm-ups; reference: {} --device {device}",
        options.device,
        options.tf32,
        options.half,
        args.iterations,
        args.torch_python.display()
    );
    println!(
        "{:>10} | {:>5} | {:>12} | {:>12} | {:>11} | {:>11} | {:>8} | {:>9}",
        "size",
        "batch",
        "engine ms",
        "torch-py ms",
        "engine f/s",
        "torch-py f/s",
        "speed-up",
        "keypoints"
    );
    let config = args.model.detector_config(true);
    let mut det = TorchDetector::new(model, &options, config).map_err(|e| e.to_string())?;
    for size in &args.sizes {
        let (w, h) = parse_size(size)?;
        let (w, h) = (w / 8 * 8, h / 8 * 8);
        for &batch in std::iter::once(&1).chain(args.batch_sizes.iter().filter(|&&b| b > 1)) {
            let (pixels, raw) = frames(&args.image, batch, w, h)?;
            let frames: Vec<Frame<'_>> = pixels
                .chunks_exact(w * h)
                .map(|p| Frame::new(p, w, h, w, PixelLayout::Gray))
                .collect::<Result<_, _>>()
                .map_err(|e| e.to_string())?;
            let mut outs = vec![Detections::default(); batch];
            let ms = median_ms(
                || {
                    det.detect_batch(&frames, &mut outs)
                        .map_err(|e| e.to_string())
                },
                3,
                args.iterations,
            )?;
            let keypoints: usize = outs.iter().map(|d| d.keypoints.len()).sum::<usize>() / batch;
            let py = reference(args, model, device, (w, h), batch, &raw);
            let _ = std::fs::remove_file(&raw);
            let (py, ratio) = match py {
                Ok(p) => (format!("{p:.2}"), format!("{:.2}x", p / ms)),
                Err(e) => {
                    eprintln!("torch_reference.py skipped: {}", e.trim());
                    ("n/a".into(), "n/a".into())
                }
            };
            let fps = |ms: f64| 1e3 * batch as f64 / ms;
            let py_fps = py
                .parse::<f64>()
                .map(|p| format!("{:.1}", fps(p)))
                .unwrap_or_else(|_| "n/a".into());
            println!(
                "{:>10} | {:>5} | {:>12.2} | {:>12} | {:>11.1} | {:>11} | {:>8} | {:>9}",
                format!("{w}x{h}"),
                batch,
                ms,
                py,
                fps(ms),
                py_fps,
                ratio,
                keypoints
            );
        }
    }
    println!(
        "ms = one call (batch frames) from uint8 host frames to keypoints + descriptors in host memory; \
         speed-up = torch-py ms / engine ms; keypoints = mean per frame (libtorch engine)"
    );
    Ok(())
}
