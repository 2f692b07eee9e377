//! `superpoint detect`: keypoints and descriptors of image files as JSON.

use std::path::PathBuf;

use clap::Args;
use superpoint::image_io::OwnedImage;
use superpoint::json::DetectionFile;
use superpoint::{Detections, Detector};

use crate::common::ModelArgs;

/// Arguments of `superpoint detect`.
#[derive(Debug, Args)]
pub struct DetectArgs {
    /// Images (PNG, JPEG, PPM/PGM).
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Output: a JSON file for one image, or a folder (one `<image stem>.json` each) for several.
    #[arg(long)]
    pub json: PathBuf,
    /// Leave descriptors out of the output.
    #[arg(long)]
    pub no_descriptors: bool,
}

pub fn run(args: DetectArgs) -> Result<(), String> {
    let mut detector = Detector::new(
        &args.model.model,
        &args.model.engine_options(),
        args.model.detector_config(!args.no_descriptors),
    )
    .map_err(|e| e.to_string())?;
    let many = args.images.len() > 1 || args.json.is_dir();
    if many {
        std::fs::create_dir_all(&args.json)
            .map_err(|e| format!("cannot create {}: {e}", args.json.display()))?;
    }
    let mut det = Detections::default();
    for path in &args.images {
        let img = OwnedImage::load(path).map_err(|e| e.to_string())?;
        let frame = img
            .frame()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        detector
            .detect(&frame, &mut det)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let out = if many {
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            args.json.join(format!("{stem}.json"))
        } else {
            args.json.clone()
        };
        let text = serde_json::to_string(&DetectionFile::from(&det)).map_err(|e| e.to_string())?;
        std::fs::write(&out, text).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
        eprintln!(
            "{}: {} keypoints -> {}",
            path.display(),
            det.keypoints.len(),
            out.display()
        );
    }
    Ok(())
}
