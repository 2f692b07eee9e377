//! Variants of the shipped model made at test time by `scripts/onnx_variant.py` (fixed input
//! shape, NaN in a bias), with the `onnx` package of `.deps/venv` (or `$SUPERPOINT_PYTHON`).
//! Shared by the library's and the elements' tests (included with `#[path]`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The shipped model, `models/superpoint.onnx`.
pub fn shipped_model() -> PathBuf {
    repo_root().join("models/superpoint.onnx")
}

/// Writes `models/superpoint.onnx` changed by `args` (those of `scripts/onnx_variant.py`, e.g.
/// `["--fix-input", "1x1x240x320"]`) to `out`. `None`, after printing why, when Python with the
/// `onnx` package is not set up (scripts/setup.sh installs it): the caller skips its test.
pub fn model_variant(out: &Path, args: &[&str]) -> Option<PathBuf> {
    let python = std::env::var_os("SUPERPOINT_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".deps/venv/bin/python"));
    let has_onnx = Command::new(&python)
        .args(["-c", "import onnx"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_onnx {
        println!(
            "SKIPPED: {} with the onnx package is needed to make model variants (scripts/setup.sh, or set SUPERPOINT_PYTHON)",
            python.display()
        );
        return None;
    }
    let status = Command::new(&python)
        .arg(repo_root().join("scripts/onnx_variant.py"))
        .arg(shipped_model())
        .arg(out)
        .args(args)
        .status()
        .expect("run scripts/onnx_variant.py");
    assert!(status.success(), "onnx_variant.py {args:?} failed");
    Some(out.to_path_buf())
}
