//! `superpoint`: detect keypoints in images, evaluate detectors, benchmark the engine, write
//! test models.

mod bench;
mod common;
mod detect;
mod eval;
mod import;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use superpoint::onnx::SuperPointWeights;

#[derive(Debug, Parser)]
#[command(
    name = "superpoint",
    version,
    about = "SuperPoint keypoints: detect, evaluate, benchmark"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Detect keypoints and descriptors in images and write JSON.
    Detect(detect::DetectArgs),
    /// Evaluate on HPatches-style folders (repeatability, MMA, homography accuracy).
    Eval(eval::EvalArgs),
    /// Time the engine and post-processing on CPU (and the onnxruntime Python baseline).
    Bench(bench::BenchArgs),
    /// Convert a SuperPoint PyTorch checkpoint (.pth) into an ONNX model for the elements.
    Import(import::ImportArgs),
    /// Write a SuperPoint ONNX model with RANDOM weights, marked untrained: for plumbing tests only.
    WriteRandomModel {
        /// Output file.
        out: PathBuf,
        /// Seed of the weights.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Leave out the descriptor head (a MagicPoint-shaped model).
        #[arg(long)]
        detector_only: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Detect(a) => detect::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Import(a) => import::run(a),
        Command::WriteRandomModel {
            out,
            seed,
            detector_only,
        } => SuperPointWeights::write_random_model(
            &out,
            seed,
            !detector_only,
            &format!("random-untrained-seed{seed}"),
        )
        .map(|_| ())
        .map_err(|e| e.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("superpoint: error: {e}");
            ExitCode::FAILURE
        }
    }
}
