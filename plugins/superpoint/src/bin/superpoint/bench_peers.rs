//! `superpoint bench --compare M... [--xfeat]`: detector ms/frame of our models and of XFeat
//! (scripts/xfeat.py, torch CPU eager) on the same frames in the same run, with the ratios.

use std::path::{Path, PathBuf};
use std::process::Command;

use superpoint::{Detections, Detector, Frame, PixelLayout};

use super::{BenchArgs, median_ms, parse_size, tiled_gray};

/// One timed method: an ONNX model through our [`Detector`], or XFeat through scripts/xfeat.py.
pub(super) enum Method {
    Model { path: PathBuf, id: String },
    XFeat { python: PathBuf },
}

impl Method {
    fn name(&self) -> &str {
        match self {
            Method::Model { id, .. } => id,
            Method::XFeat { .. } => "XFeat",
        }
    }
}

/// One measurement: median ms/frame and the keypoints of the last frame.
struct Timing {
    ms: f64,
    keypoints: usize,
}

const XFEAT_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/xfeat.py");

/// Checks that XFeat can run: its Python exists and `--max-keypoints` (XFeat's top_k) is set.
fn xfeat_method(args: &BenchArgs) -> Result<Method, String> {
    if !args.xfeat_python.exists() {
        return Err(format!(
            "--xfeat: {} not found: run scripts/xfeat.sh setup (XFeat from PyPI in .deps/xfeat-venv), or give --xfeat-python",
            args.xfeat_python.display()
        ));
    }
    if args.model.max_keypoints == 0 {
        return Err(
            "--xfeat: give --max-keypoints > 0 (XFeat keeps the same number, its top_k)".into(),
        );
    }
    Ok(Method::XFeat {
        python: args.xfeat_python.clone(),
    })
}

/// The methods of the comparison: `model`, the `--compare` models and (with `--xfeat`) XFeat;
/// checked before anything is timed (model files readable, XFeat's Python present).
pub(super) fn methods(args: &BenchArgs, model: &Path) -> Result<Vec<Method>, String> {
    let id = |m: &Path| {
        superpoint::onnx::read_model_info(m)
            .map(|i| i.model_id)
            .map_err(|e| format!("{}: {e}", m.display()))
    };
    let mut methods = vec![Method::Model {
        path: model.to_path_buf(),
        id: id(model)?,
    }];
    for m in &args.compare {
        methods.push(Method::Model {
            path: m.clone(),
            id: id(m)?,
        });
    }
    if args.xfeat {
        methods.push(xfeat_method(args)?);
    }
    Ok(methods)
}

/// Times the `methods` (from [`methods`]) size after size, each in turn on the same frame, and
/// prints the ms table and the speed ratios.
pub(super) fn run(args: &BenchArgs, methods: &[Method]) -> Result<(), String> {
    let width = methods
        .iter()
        .map(|m| m.name().len())
        .max()
        .unwrap_or(0)
        .max(16);
    let header = |title: &str| {
        println!();
        println!("{title}");
        print!("{:>10}", "size");
        for m in methods {
            print!(" | {:>width$}", m.name());
        }
        println!();
    };
    let mut rows = Vec::new();
    header(&format!(
        "detector ms/frame (keypoints), frame -> keypoints + descriptors, same frames, same run, median of {}, threads {}:",
        args.iterations.max(1),
        args.model.threads
    ));
    for size in &args.sizes {
        let (w, h) = parse_size(size)?;
        let gray = tiled_gray(&args.image, w, h)?;
        let mut row = Vec::new();
        for m in methods {
            row.push(time(args, m, &gray, w, h)?);
        }
        print!("{:>10}", format!("{w}x{h}"));
        for t in &row {
            print!(" | {:>width$}", format!("{:.1} ({})", t.ms, t.keypoints));
        }
        println!();
        rows.push(((w, h), row));
    }
    let ratios = |title: &str, reference: usize| {
        header(title);
        for ((w, h), row) in &rows {
            print!("{:>10}", format!("{w}x{h}"));
            for t in row {
                print!(" | {:>width$}", format!("{:.2}x", row[reference].ms / t.ms));
            }
            println!();
        }
    };
    ratios(
        &format!(
            "speed-up over {} (its ms / ms; > 1 = faster):",
            methods[0].name()
        ),
        0,
    );
    if args.xfeat {
        ratios(
            "speed relative to XFeat (XFeat ms / ms; >= 1.00x = as fast as XFeat or faster):",
            methods.len() - 1,
        );
    }
    Ok(())
}

fn time(args: &BenchArgs, m: &Method, gray: &[u8], w: usize, h: usize) -> Result<Timing, String> {
    match m {
        Method::Model { path, .. } => {
            let frame = Frame::new(gray, w, h, w, PixelLayout::Gray).map_err(|e| e.to_string())?;
            let mut det = Detector::new(
                path,
                &args.model.engine_options(),
                args.model.detector_config(true),
            )
            .map_err(|e| format!("{}: {e}", path.display()))?;
            let mut out = Detections::default();
            let ms = median_ms(
                || det.detect(&frame, &mut out).map_err(|e| e.to_string()),
                1,
                args.iterations,
            )?;
            Ok(Timing {
                ms,
                keypoints: out.keypoints.len(),
            })
        }
        Method::XFeat { python } => xfeat(args, python, gray, w, h),
    }
}

/// Writes the frame as a binary PGM and times XFeat on it with scripts/xfeat.py (same warm-up,
/// iterations and threads as our detector; threads 0 = one per logical core).
fn xfeat(
    args: &BenchArgs,
    python: &Path,
    gray: &[u8],
    w: usize,
    h: usize,
) -> Result<Timing, String> {
    let pgm = std::env::temp_dir().join(format!(
        "superpoint-bench-xfeat-{}-{w}x{h}.pgm",
        std::process::id()
    ));
    let mut bytes = format!("P5\n{w} {h}\n255\n").into_bytes();
    bytes.extend_from_slice(gray);
    std::fs::write(&pgm, bytes).map_err(|e| format!("cannot write {}: {e}", pgm.display()))?;
    let threads = match args.model.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let out = Command::new(python)
        .arg(XFEAT_SCRIPT)
        .arg("bench")
        .arg(&pgm)
        .args([
            "--iterations".to_string(),
            args.iterations.max(1).to_string(),
            "--threads".to_string(),
            threads.to_string(),
            "-n".to_string(),
            args.model.max_keypoints.to_string(),
        ])
        .output();
    let _ = std::fs::remove_file(&pgm);
    let out = out.map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !out.status.success() {
        return Err(format!(
            "scripts/xfeat.py bench failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| {
        format!(
            "scripts/xfeat.py bench printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })?;
    match (v["ms_median"].as_f64(), v["keypoints"].as_u64()) {
        (Some(ms), Some(k)) => Ok(Timing {
            ms,
            keypoints: k as usize,
        }),
        _ => Err(format!(
            "scripts/xfeat.py bench: no ms_median/keypoints in {v}"
        )),
    }
}
