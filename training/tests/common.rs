//! Helpers shared by the integration tests.

use std::path::PathBuf;

/// Points ORT_DYLIB_PATH at the copy scripts/setup.sh installs when it is not set; fails with a
/// clear message when the library is missing.
pub fn ensure_onnxruntime() {
    if std::env::var_os("ORT_DYLIB_PATH").is_none() {
        let lib = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../.deps/onnxruntime/libonnxruntime.so.1.31.1");
        assert!(
            lib.exists(),
            "ONNX Runtime not found at {}: run scripts/setup.sh or set ORT_DYLIB_PATH",
            lib.display()
        );
        // SAFETY: set before any thread of this test binary loads ONNX Runtime; tests that
        // use it all call this first with the same value.
        unsafe { std::env::set_var("ORT_DYLIB_PATH", lib) };
    }
}

/// A fresh temporary directory.
pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sp-train-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}
