//! `superpoint eval` (being written: see issue 3).

use clap::Args;

/// Arguments of `superpoint eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {}

pub fn run(_args: EvalArgs) -> Result<(), String> {
    Err("superpoint eval is not implemented yet".into())
}
