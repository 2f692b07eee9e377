fn main() {
    gst_plugin_version_helper::info();
    // With the `torch` feature, as the superpoint crate's build script does for its own binaries:
    // an rpath to libtorch (GStreamer loads the plugin without LD_LIBRARY_PATH) and
    // `libtorch_cuda` kept with `--no-as-needed` (no symbol of it is referenced directly, yet
    // without it libtorch sees no GPU).
    if std::env::var_os("CARGO_FEATURE_TORCH").is_none() {
        return;
    }
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        return;
    };
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    if std::path::Path::new(&lib).join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-L{lib}");
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
}
