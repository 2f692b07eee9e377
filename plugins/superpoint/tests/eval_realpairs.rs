//! Regression test of the shipped model on real image pairs: `superpoint eval` with the CLI's
//! defaults on Oxford `wall` (viewpoint) and `trees` (blur), and on Oxford `bark` (zoom 1.2x-4x
//! with rotations of -31 to 153 degrees) with image 1 described in the views of
//! `superpointmatch mode=reference` (`--reference-views 12@1,0.71,0.5,0.35,0.25 --threshold
//! 0.001`).
//!
//! The pairs are the development set `../shared/data/realpairs` (HPatches layout, see its
//! README), which is not part of the repository: without it the test prints why and passes. The
//! bounds are the figures measured with `models/superpoint.onnx` (`superpoint-cpu-v1`), less a
//! margin of one pair and 0.05 MMA: see the commands and figures in each assertion.

use std::path::{Path, PathBuf};

use serde_json::Value;

mod common;

fn realpairs() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/realpairs");
    dir.join("oxford/wall/H_1_2").is_file().then_some(dir)
}

fn shipped_model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/superpoint.onnx")
}

/// A dataset of the named Oxford sequences (symbolic links into `realpairs`).
fn dataset(realpairs: &Path, dir: &Path, sequences: &[&str]) -> PathBuf {
    let root = dir.join("dataset");
    std::fs::create_dir_all(&root).unwrap();
    for s in sequences {
        std::os::unix::fs::symlink(realpairs.join("oxford").join(s), root.join(s)).unwrap();
    }
    root
}

/// Runs `superpoint eval` with `args` and returns the JSON report.
fn eval(dataset: &Path, dir: &Path, args: &[&str]) -> Value {
    let json = dir.join("report.json");
    let out = common::superpoint_command()
        .arg("eval")
        .arg(dataset)
        .arg("--model")
        .arg(shipped_model())
        .arg("--json")
        .arg(&json)
        .arg("-q")
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "superpoint eval failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{stdout}");
    serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap()
}

/// (pairs whose homography has a mean corner error under 3 px, mean MMA@3, pairs).
fn solved_and_mma(report: &Value) -> (usize, f64, usize) {
    let pairs = report["pairs"].as_array().unwrap();
    let solved = pairs
        .iter()
        .filter(|p| p["corner_error"].as_f64().is_some_and(|e| e < 3.0))
        .count();
    let mma3 = pairs
        .iter()
        .map(|p| p["mma"][2].as_f64().unwrap())
        .sum::<f64>()
        / pairs.len() as f64;
    (solved, mma3, pairs.len())
}

#[test]
fn shipped_model_on_real_viewpoint_blur_and_rotation_pairs() {
    let Some(realpairs) = realpairs() else {
        println!(
            "SKIPPED: the real pairs are absent (../shared/data/realpairs beside the checkout); \
             this regression test needs them"
        );
        return;
    };
    let dir = common::temp_dir("eval", "realpairs");

    // Measured: wall 3 of 5 pairs under 3 px, trees 3 of 5; MMA@3 0.649 over the 10 pairs
    // (`superpoint eval realpairs/oxford` with the defaults, per-pair figures from --json).
    let plain = dataset(&realpairs, &dir.join("plain"), &["wall", "trees"]);
    let report = eval(&plain, &dir.join("plain"), &[]);
    let (solved, mma3, pairs) = solved_and_mma(&report);
    assert_eq!(pairs, 10, "wall and trees have 5 pairs each");
    assert!(
        solved >= 5,
        "{solved} of 10 wall/trees pairs under 3 px (measured 6)"
    );
    assert!(mma3 >= 0.60, "wall/trees MMA@3 {mma3:.3} (measured 0.649)");

    // Measured: all 5 bark pairs under 3.1 px (0.7 to 3.06 px), MMA@3 0.580. Without the views
    // only pair 1-2 is solved.
    let bark = dataset(&realpairs, &dir.join("bark"), &["bark"]);
    let report = eval(
        &bark,
        &dir.join("bark"),
        &[
            "--reference-views",
            "12@1,0.71,0.5,0.35,0.25",
            "--threshold",
            "0.001",
        ],
    );
    let (solved, mma3, pairs) = solved_and_mma(&report);
    assert_eq!(pairs, 5);
    assert!(
        solved >= 3,
        "{solved} of 5 bark pairs under 3 px (measured 4, and 5 under 3.1)"
    );
    assert!(mma3 >= 0.53, "bark MMA@3 {mma3:.3} (measured 0.580)");
    std::fs::remove_dir_all(&dir).unwrap();
}
