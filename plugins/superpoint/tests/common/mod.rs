//! Shared support of the library's end-to-end tests: temporary folders and the built `superpoint`
//! binary with ONNX Runtime found.
// Each test binary uses only part of this module.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// A fresh, empty `<tmp>/sp-<prefix>-<name>-<pid>` folder.
pub fn temp_dir(prefix: &str, name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sp-{prefix}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The built `superpoint` CLI, with `ORT_DYLIB_PATH` pointing at the set-up's ONNX Runtime when
/// the environment does not set it.
pub fn superpoint_command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_superpoint"));
    if std::env::var_os("ORT_DYLIB_PATH").is_none() {
        let lib = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../.deps/onnxruntime/libonnxruntime.so.1.31.1");
        cmd.env("ORT_DYLIB_PATH", lib);
    }
    cmd
}
pub mod onnx_variant;
