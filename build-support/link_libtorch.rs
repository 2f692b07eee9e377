// Included (`include!`) by the build scripts of the crates that link libtorch: the library and the
// plugin with their `torch` feature, and the trainer. One definition of the link settings, since
// link arguments do not reach dependent crates and each crate must print its own.

/// An rpath to libtorch (`DEP_TCH_LIBTORCH_LIB`, from torch-sys) so binaries, tests and the
/// plugin find it without LD_LIBRARY_PATH (one set at run time still wins, as the GPU benchmark
/// script uses), and `libtorch_cuda` linked with `--no-as-needed` when the libtorch in use has it:
/// no symbol of it is referenced, so the linker would drop it and `tch::Cuda::is_available()`
/// would be false on a GPU machine. `this_file` is this file's path relative to the including
/// crate, so that a change to it reruns the build script.
fn link_libtorch(this_file: &str) {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    println!("cargo:rerun-if-changed={this_file}");
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
