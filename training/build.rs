//! Link settings for libtorch: an rpath so the binaries find libtorch at run time without
//! LD_LIBRARY_PATH, and `libtorch_cuda` linked with `--no-as-needed` when the libtorch in use has
//! it (otherwise the linker drops it, since no symbol is referenced directly, and
//! `tch::Cuda::is_available()` is false on a GPU machine).
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    println!("cargo:rerun-if-changed=build.rs");
    let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        return;
    };
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    if Path::new(&lib).join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-L{lib}");
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
}
