//! Validation during joint training: held-back photos made into synthetic HPatches-style pairs
//! (`superpoint::eval::generate_synthetic`, the pairs of `superpoint eval --synthetic`), run
//! through the library's detector and metrics with the current weights exported to ONNX, plus the
//! descriptor similarity of corresponding and non-corresponding cells on a fixed held-back batch.
//! Written to `val.csv` and `val.png` next to the loss.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rand::SeedableRng;
use rand_pcg::Pcg64;
use superpoint::eval::{DetectorSource, Sequence, SyntheticParams, evaluate, generate_synthetic};
use superpoint::metrics::MetricParams;
use superpoint::onnx::ModelInfo;
use superpoint::sampling::HomographyParams;
use superpoint::{Detector, DetectorConfig, EngineOptions};
use tch::Device;

use crate::config::JointConfig;
use crate::export::export;
use crate::joint::{PairBatch, descriptor_separation, pair_batch};
use crate::model::SuperPointNet;
use crate::photos::{list_photos, load_gray};
use crate::runlog::LossLog;

/// Held-back photos for the separation batch.
const SEPARATION_PHOTOS: usize = 8;

/// Columns of `val.csv`.
pub const VAL_COLUMNS: [&str; 7] = [
    "step", "mma3", "h3", "rep300", "pos_sim", "neg_sim", "seconds",
];

/// Validation figures at one step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ValFigures {
    /// Mean matching accuracy at 3 px.
    pub mma3: f64,
    /// Homography accuracy at 3 px (fraction of pairs).
    pub h3: f64,
    /// Repeatability with the top 300 keypoints.
    pub rep300: f64,
    /// Mean cosine similarity of corresponding cells.
    pub pos_sim: f64,
    /// Mean cosine similarity of non-corresponding cells.
    pub neg_sim: f64,
}

/// Validates a network on fixed held-back pairs.
#[derive(Debug)]
pub struct Validator {
    sequences: Vec<Sequence>,
    model: PathBuf,
    log: LossLog,
    png: PathBuf,
    batch: PairBatch,
    cell_radius: f64,
    started: Instant,
}

impl Validator {
    /// Writes the synthetic pairs of `photos` under `out/val/` and opens `out/val.csv` (rows
    /// after `resumed_at` are dropped). `(h, w)` is the training crop size of the separation batch.
    pub fn new(
        photos: &Path,
        out: &Path,
        cfg: &JointConfig,
        (h, w): (usize, usize),
        resumed_at: Option<usize>,
        device: Device,
    ) -> anyhow::Result<Self> {
        let dir = out.join("val");
        let params = SyntheticParams {
            warps: cfg.val_warps,
            seed: 0,
            max_side: cfg.val_max_side,
            homography: HomographyParams::default(),
        };
        let sequences = generate_synthetic(photos, &dir.join("pairs"), &params)?;
        let list = list_photos(photos, None)?;
        let crops: Vec<Vec<f32>> = list
            .iter()
            .take(SEPARATION_PHOTOS)
            .map(|p| {
                Ok(load_gray(p, w, h)?
                    .iter()
                    .map(|&v| v as f32 / 255.0)
                    .collect())
            })
            .collect::<anyhow::Result<_>>()?;
        let refs: Vec<&[f32]> = crops.iter().map(Vec::as_slice).collect();
        let no_labels = vec![Vec::new(); refs.len()];
        let mut fixed = cfg.clone();
        fixed.photometric.enable = false;
        let batch = tch::no_grad(|| {
            pair_batch(
                &refs,
                &no_labels,
                h,
                w,
                &fixed,
                &mut Pcg64::seed_from_u64(7),
                device,
            )
        })?;
        println!(
            "[train] validating on {} held-back photos from {} ({} warps each, longer side {} px)",
            sequences.len(),
            photos.display(),
            cfg.val_warps,
            cfg.val_max_side
        );
        Ok(Validator {
            sequences,
            model: dir.join("current.onnx"),
            log: LossLog::open(&out.join("val.csv"), &VAL_COLUMNS, resumed_at)?,
            png: out.join("val.png"),
            batch,
            cell_radius: cfg.cell_radius,
            started: Instant::now(),
        })
    }

    /// Evaluates `net` after `step` steps, appends a row to `val.csv`, redraws `val.png`.
    pub fn run(&mut self, net: &SuperPointNet, step: usize) -> anyhow::Result<ValFigures> {
        let t = Instant::now();
        let info = ModelInfo {
            model_id: format!("validation-step-{step}"),
            trained: true,
            description: String::new(),
        };
        export(net, &self.model, &info)?;
        let config = DetectorConfig {
            descriptors: true,
            ..DetectorConfig::default()
        };
        let detector = Detector::new(&self.model, &EngineOptions::default(), config)?;
        let mut source = DetectorSource::new(detector, "validation");
        let report = evaluate(
            "validation",
            &self.sequences,
            &mut source,
            &MetricParams::default(),
            &mut |_| {},
        )?;
        let all = &report.summaries[0];
        let h3 = all
            .homography_accuracy
            .iter()
            .find(|(e, _)| (*e - 3.0).abs() < 1e-9)
            .map_or(0.0, |(_, v)| *v);
        let (pos_sim, neg_sim) = descriptor_separation(net, &self.batch, self.cell_radius)?;
        let f = ValFigures {
            mma3: all.mma.get(2).copied().unwrap_or(0.0),
            h3,
            rep300: all.repeatability.first().and_then(|r| r.1).unwrap_or(0.0),
            pos_sim,
            neg_sim,
        };
        self.log.append(
            step,
            &[
                f.mma3,
                f.h3,
                f.rep300,
                f.pos_sim,
                f.neg_sim,
                self.started.elapsed().as_secs_f64(),
            ],
        )?;
        if let Err(e) = self.log.plot(
            &self.png,
            "SuperPoint validation (held-back synthetic pairs)",
            &["mma3", "h3", "rep300", "pos_sim", "neg_sim"],
            "MMA@3, H@3, rep@300, cosine similarity",
            false,
        ) {
            eprintln!("[train] warning: {e}");
        }
        println!(
            "[train] validation at step {step}: MMA@3 {:.3}, H@3 {:.3}, rep@300 {:.3}, cell similarity corresponding {:.3} / other {:.3} ({:.1} s)",
            f.mma3,
            f.h3,
            f.rep300,
            f.pos_sim,
            f.neg_sim,
            t.elapsed().as_secs_f64()
        );
        Ok(f)
    }
}
