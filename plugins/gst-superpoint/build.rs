include!("../../build-support/link_libtorch.rs");

fn main() {
    gst_plugin_version_helper::info();
    // With the `torch` feature: libtorch's rpath (GStreamer loads the plugin without
    // LD_LIBRARY_PATH) and `libtorch_cuda` kept linked.
    if std::env::var_os("CARGO_FEATURE_TORCH").is_some() {
        link_libtorch("../../build-support/link_libtorch.rs");
    }
}
