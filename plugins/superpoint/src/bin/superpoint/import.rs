//! `superpoint import CHECKPOINT -o MODEL.onnx`: a published SuperPoint PyTorch checkpoint to
//! the ONNX model the elements run (see `superpoint::checkpoint`).

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use superpoint::checkpoint::{CheckpointLayout, import_checkpoint};

/// Arguments of `superpoint import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// PyTorch checkpoint (.pth / .pt): a state dict of Magic Leap's original SuperPointNet
    /// (conv1a..convDb) or of the MIT-licensed re-implementation (backbone/detector/descriptor),
    /// possibly nested under a key such as 'model' or 'state_dict'.
    pub checkpoint: PathBuf,
    /// ONNX model to write.
    #[arg(short, long)]
    pub out: PathBuf,
    /// Model identifier stored in the model (default: the checkpoint's file name without
    /// extension).
    #[arg(long)]
    pub model_id: Option<String>,
}

/// Converts and writes the model, printing what was read and written.
pub fn run(args: ImportArgs) -> Result<(), String> {
    let start = Instant::now();
    let imported = import_checkpoint(&args.checkpoint).map_err(|e| e.to_string())?;
    let info = imported.model_info(args.model_id.as_deref());
    imported
        .write_model(&args.out, &info)
        .map_err(|e| e.to_string())?;
    let s = &imported.source;
    let prefix = if imported.prefix.is_empty() {
        String::new()
    } else {
        format!(" under '{}'", imported.prefix.trim_end_matches('.'))
    };
    println!(
        "{}: layout {} ({}){prefix}, {} tensors in the file",
        args.checkpoint.display(),
        s.layout.name(),
        s.layout.description(),
        imported.tensors_in_file
    );
    if s.layout == CheckpointLayout::Rpautrat {
        println!(
            "  BatchNorm after ReLU kept as per-channel affine ops on {} layers; heads' last BatchNorms folded",
            imported.weights.post_relu_affine.len()
        );
    }
    println!("  sha256 {}", s.sha256);
    println!(
        "  licence recorded in the model: {}",
        info.licence.as_deref().unwrap_or_default()
    );
    println!(
        "wrote {} (model id {:?}) in {:.3} s",
        args.out.display(),
        info.model_id,
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
