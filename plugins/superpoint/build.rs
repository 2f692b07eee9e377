// Generates the ONNX protobuf types from the vendored `proto/onnx.proto` (from the `onnx` 1.23.2
// wheel) with protox, so no `protoc` binary is needed. With the `torch` feature, also the libtorch
// link settings (`build-support/link_libtorch.rs`).
fn main() {
    println!("cargo:rerun-if-changed=proto/onnx.proto");
    let descriptors = protox::compile(["proto/onnx.proto"], ["proto"])
        .unwrap_or_else(|e| panic!("cannot parse proto/onnx.proto: {e}"));
    prost_build::Config::new()
        .compile_fds(descriptors)
        .unwrap_or_else(|e| panic!("cannot generate ONNX types: {e}"));
    if std::env::var_os("CARGO_FEATURE_TORCH").is_some() {
        link_libtorch("../../build-support/link_libtorch.rs");
    }
}

include!("../../build-support/link_libtorch.rs");
