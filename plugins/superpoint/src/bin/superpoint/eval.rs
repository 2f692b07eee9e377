//! `superpoint eval`: the HPatches protocol on a dataset folder, for the SuperPoint model or for
//! any detector's JSON files, with a table on stdout, a JSON report and a PNG plot of MMA.

use std::path::PathBuf;

use clap::Args;
use superpoint::Detector;
use superpoint::eval::{
    DetectorSource, FeatureSource, JsonSource, Report, SyntheticParams, evaluate,
    generate_synthetic, load_dataset, plot_mma,
};
use superpoint::matching::MatchParams;
use superpoint::metrics::MetricParams;
use superpoint::ransac::RansacParams;
use superpoint::sampling::HomographyParams;

use superpoint::views::ViewParams;

use crate::common::ModelArgs;

fn parse_views(s: &str) -> Result<ViewParams, String> {
    s.parse().map_err(|e: superpoint::Error| e.to_string())
}

/// Arguments of `superpoint eval`.
#[derive(Debug, Args)]
#[command(after_help = "\
Dataset layout (HPatches): DIR/<sequence>/1.ppm..6.ppm (or .png) and H_1_2..H_1_6, each a 3x3 \
matrix (9 numbers) mapping image 1 to image k; sequences may sit one or two folders down \
(DIR/<source>/<sequence>, reported per source too). Every pair (1, k) whose image and H_1_k both \
exist is evaluated; an image or homography without its partner is skipped with a warning naming \
it. Sequences named i_* / v_* are reported as illumination / viewpoint groups. With the model, the detector keeps at least -n and --rep-n keypoints per image (--max-keypoints is raised when smaller). Matching: mutual nearest neighbours by L2 distance; homographies: RANSAC (MSAC loss over t/3, 2t/3, t; LO refinement).

Examples:
  superpoint eval hpatches/ --model models/superpoint.onnx --json sp.json --plot sp.png
  scripts/baselines.py hpatches/ sift/ --method sift && superpoint eval hpatches/ --detections sift/
  superpoint eval syn/ --synthetic photos/ --generate-only      # writes syn/v_syn_<photo>/...
  superpoint eval hpatches/ --detections orb/ --compare sp.json sift.json --plot mma.png")]
pub struct EvalArgs {
    /// Dataset folder in HPatches layout (with --synthetic: the folder the sequences are written to).
    pub dataset: PathBuf,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Evaluate detections read from DIR/<sequence>/<k>.json (the `superpoint detect --json`
    /// format, e.g. written by scripts/baselines.py) instead of running the model.
    #[arg(long, value_name = "DIR")]
    pub detections: Option<PathBuf>,
    /// Method name in the report (default: the model id, or the detections folder's name).
    #[arg(long)]
    pub name: Option<String>,
    /// Make synthetic viewpoint sequences from the photos in this folder (written into DATASET as
    /// v_syn_<photo>/), then evaluate DATASET.
    #[arg(long, value_name = "PHOTOS_DIR")]
    pub synthetic: Option<PathBuf>,
    /// Warped images per photo for --synthetic.
    #[arg(long, default_value_t = 5)]
    pub synthetic_warps: usize,
    /// Longer image side for --synthetic (photos are downscaled to it; 0 = keep).
    #[arg(long, default_value_t = 640)]
    pub synthetic_max_side: usize,
    /// Seed of the random homographies for --synthetic (amplitudes: perspective 0.2, scale 0.2,
    /// rotation 30 degrees, full translation, patch ratio 0.85) and of RANSAC.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// With --synthetic: only write the dataset.
    #[arg(long)]
    pub generate_only: bool,
    /// Write the full report (parameters, group means, every pair) as JSON.
    #[arg(long, value_name = "OUT.json")]
    pub json: Option<PathBuf>,
    /// Draw MMA against the threshold (1..10 px) into a PNG file.
    #[arg(long, value_name = "OUT.png")]
    pub plot: Option<PathBuf>,
    /// Reports of other methods (--json files of earlier runs) to draw on the same plot.
    #[arg(long, value_name = "REPORT.json", num_args = 1..)]
    pub compare: Vec<PathBuf>,
    /// Keypoints per image (best first) for matching and homography estimation (0 = all).
    #[arg(short = 'n', long = "num-keypoints", default_value_t = 1000)]
    pub num_keypoints: usize,
    /// Keypoints per image for repeatability (also reported at -n).
    #[arg(long, default_value_t = 300)]
    pub rep_n: usize,
    /// Distance threshold of repeatability and of the matching score, pixels.
    #[arg(long, default_value_t = 3.0)]
    pub epsilon: f64,
    /// Views of image 1 matched against image k one by one, the best kept (most RANSAC inliers):
    /// ROTATIONS@SCALE,... e.g. 12@1,0.71,0.5,0.35,0.25 (every 30° at five scales: rotation
    /// and zoom as `superpointmatch reference-views` handles them). Default 1@1: image 1 alone.
    #[arg(long, default_value = "1@1", value_parser = parse_views)]
    pub reference_views: ViewParams,
    /// RANSAC inlier threshold, pixels.
    #[arg(long, default_value_t = superpoint::ransac::DEFAULT_THRESHOLD)]
    pub ransac_threshold: f64,
    /// Lowe's ratio test for matching, in (0, 1]; 1 = off (mutual nearest neighbours only).
    #[arg(long, default_value_t = superpoint::matching::DEFAULT_RATIO)]
    pub ratio: f32,
    /// Maximum descriptor distance of a match (default: none).
    #[arg(long)]
    pub max_distance: Option<f32>,
    /// No per-sequence progress on stderr.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

pub fn run(args: EvalArgs) -> Result<(), String> {
    // The report and the plot are separate files; check before a long run writes one over the
    // other.
    if let (Some(json), Some(plot)) = (&args.json, &args.plot)
        && (json == plot
            || json
                .canonicalize()
                .ok()
                .is_some_and(|j| plot.canonicalize().ok() == Some(j)))
    {
        return Err(format!(
            "--json and --plot both name {}: give them different files",
            json.display()
        ));
    }
    if let Some(photos) = &args.synthetic {
        let params = SyntheticParams {
            warps: args.synthetic_warps,
            seed: args.seed,
            max_side: args.synthetic_max_side,
            homography: HomographyParams::default(),
        };
        let seqs = generate_synthetic(photos, &args.dataset, &params).map_err(|e| e.to_string())?;
        eprintln!(
            "wrote {} synthetic sequences ({} warps each, seed {}) to {}",
            seqs.len(),
            params.warps,
            params.seed,
            args.dataset.display()
        );
        if args.generate_only {
            return Ok(());
        }
    } else if args.generate_only {
        return Err("--generate-only needs --synthetic PHOTOS_DIR".into());
    }

    let dataset = load_dataset(&args.dataset).map_err(|e| e.to_string())?;
    for w in &dataset.warnings {
        eprintln!("superpoint eval: warning: {w}");
    }
    let sequences = dataset.sequences;
    let mut rep = vec![args.rep_n];
    if args.num_keypoints != args.rep_n {
        rep.push(args.num_keypoints);
    }
    let params = MetricParams {
        num_keypoints: args.num_keypoints,
        repeatability_keypoints: rep,
        epsilon: args.epsilon,
        matching: MatchParams {
            mutual: true,
            ratio: args.ratio,
            max_distance: args.max_distance.unwrap_or(f32::INFINITY),
        },
        ransac: RansacParams {
            threshold: args.ransac_threshold,
            seed: args.seed,
            ..MetricParams::default().ransac
        },
        reference_views: args.reference_views.clone(),
        ..MetricParams::default()
    };
    params.validate().map_err(|e| e.to_string())?;
    // Read the comparison reports first, so a typo fails before a long run.
    let mut compared = Vec::new();
    for path in &args.compare {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read report {}: {e}", path.display()))?;
        let r: Report = serde_json::from_str(&text).map_err(|e| {
            format!(
                "{} is not a `superpoint eval --json` report: {e}",
                path.display()
            )
        })?;
        compared.push(r);
    }

    let mut source: Box<dyn FeatureSource> = match &args.detections {
        Some(dir) => {
            if !dir.is_dir() {
                return Err(format!(
                    "detections folder {} does not exist (expected <dir>/<sequence>/<k>.json, e.g. from scripts/baselines.py)",
                    dir.display()
                ));
            }
            let name = args.name.clone().unwrap_or_else(|| {
                dir.file_name()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| dir.display().to_string())
            });
            Box::new(JsonSource::new(dir, name))
        }
        None => {
            let mut config = args.model.detector_config(true);
            let mk = config.post.max_keypoints;
            if mk != 0 {
                // The detector must deliver at least as many keypoints as the metrics use.
                let needed = if args.num_keypoints == 0 {
                    0
                } else {
                    mk.max(args.num_keypoints).max(args.rep_n)
                };
                config.post.max_keypoints = needed;
            }
            let detector = Detector::new(&args.model.model, &args.model.engine_options(), config)
                .map_err(|e| {
                format!("{e} (give --model, or evaluate JSON files with --detections)")
            })?;
            let info = detector.model_info().clone();
            crate::common::warn_if_untrained(
                &args.model.model,
                &info,
                "its numbers only show that the pipeline runs",
            );
            if let Some(note) = detector.input_note() {
                eprintln!("note: {note}");
            }
            let name = args.name.clone().unwrap_or_else(|| {
                if info.model_id.is_empty() {
                    args.model
                        .model
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_else(|| "superpoint".into())
                } else {
                    info.model_id.clone()
                }
            });
            Box::new(DetectorSource::new(detector, name))
        }
    };

    let quiet = args.quiet;
    let mut progress = |line: &str| {
        if !quiet {
            eprintln!("{line}");
        }
    };
    let report = evaluate(
        &args.dataset.display().to_string(),
        &sequences,
        source.as_mut(),
        &params,
        &mut progress,
    )
    .map_err(|e| e.to_string())?;
    print!("{}", report.table());

    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        superpoint::files::write_atomic(path, text.as_bytes()).map_err(|e| e.to_string())?;
        eprintln!("report -> {}", path.display());
    }
    if let Some(path) = &args.plot {
        let mut series = report.mma_series();
        for r in &compared {
            series.extend(r.mma_series());
        }
        plot_mma(&series, path).map_err(|e| e.to_string())?;
        eprintln!("MMA plot -> {}", path.display());
    }
    Ok(())
}
