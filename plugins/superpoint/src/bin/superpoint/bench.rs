//! `superpoint bench`.

use clap::Args;

/// Arguments of `superpoint bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {}

pub fn run(_args: BenchArgs) -> Result<(), String> {
    Err("superpoint bench is not implemented yet".into())
}
