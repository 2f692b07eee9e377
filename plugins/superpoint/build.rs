// Generates the ONNX protobuf types from the vendored `proto/onnx.proto` (from the `onnx` 1.23.2
// wheel) with protox, so no `protoc` binary is needed. With the `torch` feature, also the libtorch
// link settings (see `link_libtorch`).
fn main() {
    println!("cargo:rerun-if-changed=proto/onnx.proto");
    let descriptors = protox::compile(["proto/onnx.proto"], ["proto"])
        .unwrap_or_else(|e| panic!("cannot parse proto/onnx.proto: {e}"));
    prost_build::Config::new()
        .compile_fds(descriptors)
        .unwrap_or_else(|e| panic!("cannot generate ONNX types: {e}"));
    if std::env::var_os("CARGO_FEATURE_TORCH").is_some() {
        link_libtorch();
    }
}

/// An rpath to libtorch for this crate's binaries and tests (no LD_LIBRARY_PATH needed; a
/// LD_LIBRARY_PATH set at run time still wins, as the GPU benchmark script uses), and
/// `libtorch_cuda` linked with `--no-as-needed` when the libtorch in use has it (no symbol of it
/// is referenced, so the linker would drop it and `tch::Cuda::is_available()` would be false on a
/// GPU machine). Link arguments do not reach dependent crates: the plugin's build script repeats
/// this for the plugin.
fn link_libtorch() {
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
