//! `superpoint import` against PyTorch: checkpoints of both published layouts, built with torch
//! (random weights, the exact key names and shapes) by `tests/torch/make_checkpoints.py`, are
//! converted by the CLI and run by the project's engine; its scores and descriptors must equal
//! the PyTorch forward pass of each layout's architecture within 1e-5.
//!
//! Needs torch: `$SUPERPOINT_TORCH_PYTHON`, else the trainer's `.deps/torch-venv/bin/python`
//! (scripts/setup-training.sh). Without it the torch test prints why and passes, unless
//! `SUPERPOINT_REQUIRE_TORCH=1` (set by scripts/test-training.sh, which CI runs) makes it fail.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use prost::Message;
use superpoint::checkpoint::{self, CheckpointLayout};
use superpoint::onnx::SuperPointWeights;
use superpoint::onnx::proto::ModelProto;
use superpoint::{Engine, EngineOptions};

const TOLERANCE: f32 = 1e-5;

/// A Python with torch, or why there is none.
fn torch_python() -> Result<PathBuf, String> {
    let python = std::env::var_os("SUPERPOINT_TORCH_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.deps/torch-venv/bin/python")
        });
    let ok = Command::new(&python)
        .args(["-c", "import torch"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        Ok(python)
    } else {
        Err(format!(
            "{} cannot import torch (run scripts/setup-training.sh or set SUPERPOINT_TORCH_PYTHON)",
            python.display()
        ))
    }
}

fn read_f32(path: &Path) -> Vec<f32> {
    std::fs::read(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn import(checkpoint: &Path, out: &Path) -> (Output, f64) {
    let start = Instant::now();
    let output = common::superpoint_command()
        .arg("import")
        .arg(checkpoint)
        .arg("-o")
        .arg(out)
        .output()
        .unwrap();
    (output, start.elapsed().as_secs_f64())
}

/// Runs `model` on the fixture batch: (scores [N,H,W], descriptors [N,256,H/8,W/8]).
fn run_engine(model: &Path, input: &[f32], n: usize, h: usize, w: usize) -> (Vec<f32>, Vec<f32>) {
    let mut engine = Engine::new(model, &EngineOptions::default())
        .unwrap_or_else(|e| panic!("the engine refuses {}: {e}", model.display()));
    assert!(engine.has_descriptors());
    engine
        .run(input, n, h, w, |o| {
            (o.scores.to_vec(), o.descriptors.to_vec())
        })
        .unwrap()
}

#[test]
fn imported_checkpoints_equal_the_pytorch_forward_pass() {
    let python = match torch_python() {
        Ok(p) => p,
        Err(why) if std::env::var("SUPERPOINT_REQUIRE_TORCH").as_deref() != Ok("1") => {
            eprintln!("skipped: {why}");
            return;
        }
        Err(why) => panic!("SUPERPOINT_REQUIRE_TORCH=1 but {why}"),
    };
    let dir = common::temp_dir("import", "torch");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/torch/make_checkpoints.py");
    let made = Command::new(&python)
        .arg("-W")
        .arg("ignore")
        .arg(&script)
        .arg(&dir)
        .output()
        .unwrap();
    println!("{}", String::from_utf8_lossy(&made.stdout));
    assert!(
        made.status.success(),
        "make_checkpoints.py failed: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    let shape: Vec<usize> = std::fs::read_to_string(dir.join("shape.txt"))
        .unwrap()
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect();
    let (n, h, w) = (shape[0], shape[1], shape[2]);
    let input = read_f32(&dir.join("input.f32"));

    for (file, layout, reference) in [
        ("magicleap.pth", CheckpointLayout::MagicLeap, "magicleap"),
        (
            "magicleap_wrapped.pth",
            CheckpointLayout::MagicLeap,
            "magicleap",
        ),
        ("rpautrat.pth", CheckpointLayout::Rpautrat, "rpautrat"),
        (
            "rpautrat_legacy.pth",
            CheckpointLayout::Rpautrat,
            "rpautrat",
        ),
    ] {
        let ckpt = dir.join(file);
        let model = dir.join(file.replace(".pth", ".onnx"));
        let (out, secs) = import(&ckpt, &model);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "import {file} failed: {}{stdout}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains(&format!("layout {}", layout.name())),
            "{stdout}"
        );

        // The source is recorded in the model's metadata.
        let proto = ModelProto::decode(std::fs::read(&model).unwrap().as_slice()).unwrap();
        let source = checkpoint::model_source(&proto).expect("source metadata");
        assert_eq!(source.file_name, file);
        assert_eq!(source.layout, layout);
        assert_eq!(source.sha256, checkpoint::sha256_file(&ckpt).unwrap());
        // What the file holds reads back as what the importer built.
        let imported = checkpoint::import_checkpoint(&ckpt).unwrap();
        let (back, info) = SuperPointWeights::from_model_file(&model).unwrap();
        assert_eq!(back, imported.weights);
        assert!(info.trained && info.description.contains(&source.sha256));
        // The licence of the layout is recorded, and the CLI says it once when it detects.
        assert_eq!(info.licence.as_deref(), Some(layout.licence()));
        assert!(
            stdout.contains(&format!(
                "licence recorded in the model: {}",
                layout.licence()
            )),
            "{stdout}"
        );
        let json = dir.join(file.replace(".pth", ".json"));
        let detect = common::superpoint_command()
            .args([
                "detect",
                "/usr/share/doc/opencv-doc/examples/data/graf1.png",
                "--model",
            ])
            .arg(&model)
            .arg("--json")
            .arg(&json)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&detect.stderr);
        assert!(detect.status.success(), "{stderr}");
        assert_eq!(stderr.matches(" licence: ").count(), 1, "{stderr}");
        assert!(stderr.contains(layout.licence()), "{stderr}");
        assert_eq!(
            back.post_relu_affine.len(),
            if layout == CheckpointLayout::Rpautrat {
                10
            } else {
                0
            }
        );

        let (scores, desc) = run_engine(&model, &input, n, h, w);
        let ds = max_abs_diff(
            &scores,
            &read_f32(&dir.join(format!("{reference}.scores.f32"))),
        );
        let dd = max_abs_diff(
            &desc,
            &read_f32(&dir.join(format!("{reference}.descriptors.f32"))),
        );
        let ds64 = max_abs_diff(
            &scores,
            &read_f32(&dir.join(format!("{reference}.f64.scores.f32"))),
        );
        let dd64 = max_abs_diff(
            &desc,
            &read_f32(&dir.join(format!("{reference}.f64.descriptors.f32"))),
        );
        println!(
            "{file}: import {secs:.3} s (CLI process); max |engine - PyTorch fp32| scores {ds:.2e}, \
             descriptors {dd:.2e}; vs PyTorch fp64 scores {ds64:.2e}, descriptors {dd64:.2e}"
        );
        assert!(ds <= TOLERANCE, "{file}: scores differ by {ds}");
        assert!(dd <= TOLERANCE, "{file}: descriptors differ by {dd}");
    }

    // A checkpoint of another layout: a clear error listing the expected and missing keys.
    let (out, _) = import(&dir.join("other.pth"), &dir.join("other.onnx"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for needle in [
        "not a SuperPoint checkpoint of a known layout",
        "conv1a.weight, conv1a.bias",
        "backbone.{0,1,2,3}.{0,1}.{conv.weight",
        "missing: convDa.weight, convDa.bias, convDb.weight, convDb.bias",
        "21 tensors, 1 of them in neither layout: fc.weight",
    ] {
        assert!(stderr.contains(needle), "{needle:?} not in: {stderr}");
    }
    assert!(!dir.join("other.onnx").exists());
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn files_that_are_not_checkpoints_get_an_error_not_a_panic() {
    let dir = common::temp_dir("import", "garbage");
    let text = dir.join("notes.pth");
    std::fs::write(&text, "not a checkpoint\n").unwrap();
    let zip = dir.join("truncated.pth");
    // A ZIP local-file header and nothing after it.
    std::fs::write(&zip, b"PK\x03\x04\x14\x00\x00\x00\x00\x00").unwrap();
    let random = dir.join("random.pth");
    let bytes: Vec<u8> = (0u32..4096)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&random, bytes).unwrap();
    for (path, needle) in [
        (text, "is not a readable PyTorch checkpoint"),
        (zip, "is not a readable PyTorch checkpoint"),
        (random, "is not a readable PyTorch checkpoint"),
        (dir.join("missing.pth"), "does not exist"),
    ] {
        let (out, _) = import(&path, &dir.join("out.onnx"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{}: {stderr}", path.display());
        assert!(stderr.contains(needle), "{}: {stderr}", path.display());
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    std::fs::remove_dir_all(dir).ok();
}
