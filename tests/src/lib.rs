//! Helpers for the end-to-end tests: where the built plugin is, and a random-weights model for
//! plumbing (never presented as a trained model).

use std::path::PathBuf;
use std::process::{Command, Output};

/// Folder with the built `libgstsuperpoint.so`: `$SUPERPOINT_PLUGIN_DIR`, else `target/release`
/// when it holds the plugin (scripts/test.sh builds it), else `target/debug`.
pub fn plugin_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("SUPERPOINT_PLUGIN_DIR") {
        return PathBuf::from(d);
    }
    let target = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target"));
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let dir = target.join(profile);
    assert!(
        dir.join("libgstsuperpoint.so").exists(),
        "{}/libgstsuperpoint.so not found: build the plugin first (cargo build -p gst-plugin-superpoint{})",
        dir.display(),
        if profile == "release" {
            " --release"
        } else {
            ""
        }
    );
    dir
}

/// Runs a GStreamer tool with the plugin on its path and a fresh registry.
pub fn gst_tool(tool: &str, args: &[&str]) -> Output {
    let registry =
        std::env::temp_dir().join(format!("superpoint-registry-{}.bin", std::process::id()));
    Command::new(tool)
        .args(args)
        .env("GST_PLUGIN_PATH", plugin_dir())
        .env("GST_REGISTRY", registry)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {tool}: {e} (install gstreamer1.0-tools: scripts/setup.sh)")
        })
}

/// A random-weights SuperPoint model written by the library (plumbing only), with model id
/// `name`: one shared file per name (same content in every test process; the writer replaces it
/// atomically), so test runs do not pile up models in the temporary folder.
pub fn random_model(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("superpoint-test-{name}.onnx"));
    superpoint::onnx::SuperPointWeights::write_random_model(&path, 3, true, name).unwrap();
    path
}
