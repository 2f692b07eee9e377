//! Link settings for libtorch (see `build-support/link_libtorch.rs`).

include!("../build-support/link_libtorch.rs");

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    link_libtorch("../build-support/link_libtorch.rs");
}
