//! `superpoint detect`: keypoints and descriptors of image files as JSON.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Args;
use superpoint::image_io::OwnedImage;
use superpoint::json::DetectionFile;
use superpoint::{Detections, Detector};

use crate::common::ModelArgs;

/// Arguments of `superpoint detect`.
#[derive(Debug, Args)]
#[command(after_help = "\
With several images (or when --json names an existing folder), each result is written to \
<folder>/<image stem>.json. Images whose results would land in the same file (a/x.png and \
b/x.png, or x.png and x.jpg), and an output that is one of the images, are an error before \
anything is written.")]
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

/// Whether `a` and `b` name the same existing file.
fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// The output file of each image, checked before anything is written: every image gets its own
/// file, and no output overwrites an input image.
pub fn output_paths(images: &[PathBuf], json: &Path, many: bool) -> Result<Vec<PathBuf>, String> {
    let outputs: Vec<PathBuf> = if many {
        images
            .iter()
            .map(|path| {
                let stem = path.file_stem().ok_or_else(|| {
                    format!(
                        "{} has no file name to name its result after",
                        path.display()
                    )
                })?;
                let mut name = stem.to_os_string();
                name.push(".json");
                Ok(json.join(name))
            })
            .collect::<Result<_, String>>()?
    } else {
        vec![json.to_path_buf()]
    };
    let mut by_output: BTreeMap<&Path, Vec<&Path>> = BTreeMap::new();
    for (image, out) in images.iter().zip(&outputs) {
        by_output.entry(out).or_default().push(image);
    }
    let clashes: Vec<String> = by_output
        .iter()
        .filter(|(_, inputs)| inputs.len() > 1)
        .map(|(out, inputs)| {
            let names: Vec<String> = inputs.iter().map(|p| p.display().to_string()).collect();
            format!(
                "{} would all be written to {}",
                names.join(", "),
                out.display()
            )
        })
        .collect();
    if !clashes.is_empty() {
        return Err(format!(
            "results of several images would overwrite each other: {}. Nothing was written; give \
             the images distinct file names (without extension), or run `superpoint detect` once \
             per folder with its own --json",
            clashes.join("; ")
        ));
    }
    for out in &outputs {
        if let Some(image) = images.iter().find(|image| same_file(image, out)) {
            return Err(format!(
                "the result {} would overwrite the input image {}; nothing was written: choose \
                 another --json",
                out.display(),
                image.display()
            ));
        }
    }
    Ok(outputs)
}

pub fn run(args: DetectArgs) -> Result<(), String> {
    let many = args.images.len() > 1 || args.json.is_dir();
    let outputs = output_paths(&args.images, &args.json, many)?;
    let mut detector = Detector::new(
        &args.model.model,
        &args.model.engine_options(),
        args.model.detector_config(!args.no_descriptors),
    )
    .map_err(|e| e.to_string())?;
    crate::common::warn_if_untrained(
        &args.model.model,
        detector.model_info(),
        "the keypoints are meaningless (plumbing tests only)",
    );
    if let Some(note) = detector.input_note() {
        eprintln!("note: {note}");
    }
    if let Some(licence) = &detector.model_info().licence {
        eprintln!(
            "model {} licence: {licence}",
            detector.model_info().model_id
        );
    }
    if many {
        std::fs::create_dir_all(&args.json)
            .map_err(|e| format!("cannot create {}: {e}", args.json.display()))?;
    }
    let mut det = Detections::default();
    for (path, out) in args.images.iter().zip(&outputs) {
        let img = OwnedImage::load(path).map_err(|e| e.to_string())?;
        let frame = img
            .frame()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        detector
            .detect(&frame, &mut det)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let text = serde_json::to_string(&DetectionFile::from(&det)).map_err(|e| e.to_string())?;
        superpoint::files::write_atomic(out, text.as_bytes()).map_err(|e| e.to_string())?;
        eprintln!(
            "{}: {} keypoints -> {}",
            path.display(),
            det.keypoints.len(),
            out.display()
        );
    }
    Ok(())
}
