//! Validation during joint training, through the library's detector and metrics with the current
//! weights exported to ONNX:
//! - held-back photos made into synthetic HPatches-style pairs
//!   (`superpoint::eval::generate_synthetic`, the pairs of `superpoint eval --synthetic`), plus
//!   the descriptor similarity of corresponding and non-corresponding cells on a fixed batch;
//! - real pairs with true homographies (`--val-pairs`, e.g. `../shared/data/realpairs/oxford`),
//!   whose figures choose the best checkpoint (`best/`): synthetic warps hide rotation, zoom and
//!   1-px localisation errors.
//!
//! Written to `val.csv` and `val.png` next to the loss; figures that a run does not measure are
//! `NaN` in the CSV.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use serde::Serialize;
use superpoint::eval::{
    DetectorSource, Sequence, SyntheticParams, evaluate, generate_synthetic, load_dataset,
};
use superpoint::metrics::MetricParams;
use superpoint::onnx::ModelInfo;
use superpoint::sampling::HomographyParams;
use superpoint::{Detector, DetectorConfig, EngineOptions};
use tch::{Device, Kind};

use crate::config::JointConfig;
use crate::export::export;
use crate::losses::correspondences;
use crate::model::SuperPointNet;
use crate::pairs::{PairBatch, fixed_pair_batch};
use crate::photos::{list_photos, load_gray};
use crate::runlog::LossLog;

/// Held-back photos for the separation batch.
const SEPARATION_PHOTOS: usize = 8;

/// Columns of `val.csv`.
pub const VAL_COLUMNS: [&str; 11] = [
    "step",
    "mma3",
    "h3",
    "rep300",
    "pos_sim",
    "neg_sim",
    "real_h1",
    "real_h3",
    "real_mma1",
    "real_mma3",
    "seconds",
];

/// Validation figures at one step (`NaN` where not measured).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ValFigures {
    /// Synthetic pairs: mean matching accuracy at 3 px.
    pub mma3: f64,
    /// Synthetic pairs: homography accuracy at 3 px (fraction of pairs).
    pub h3: f64,
    /// Synthetic pairs: repeatability with the top 300 keypoints.
    pub rep300: f64,
    /// Mean cosine similarity of corresponding cells.
    pub pos_sim: f64,
    /// Mean cosine similarity of non-corresponding cells.
    pub neg_sim: f64,
    /// Real pairs: homography accuracy at 1 px.
    pub real_h1: f64,
    /// Real pairs: homography accuracy at 3 px.
    pub real_h3: f64,
    /// Real pairs: mean matching accuracy at 1 px.
    pub real_mma1: f64,
    /// Real pairs: mean matching accuracy at 3 px.
    pub real_mma3: f64,
}

impl ValFigures {
    /// The score that chooses the best checkpoint: H@1 + H@3 + MMA@3 on the real pairs (each in
    /// [0, 1]; `None` without real pairs).
    pub fn real_score(&self) -> Option<f64> {
        let s = self.real_h1 + self.real_h3 + self.real_mma3;
        s.is_finite().then_some(s)
    }
}

/// What a joint training run validates on.
#[derive(Debug, Clone, Default)]
pub struct ValidationData<'a> {
    /// Held-back photos (a flat folder): synthetic pairs and the separation batch.
    pub photos: Option<&'a Path>,
    /// Folders of real pairs in HPatches layout (each a sequence, a folder of sequences, or a
    /// folder of such folders).
    pub pairs: &'a [PathBuf],
}

impl ValidationData<'_> {
    /// Whether there is anything to validate on.
    pub fn is_empty(&self) -> bool {
        self.photos.is_none() && self.pairs.is_empty()
    }
}

/// Validates a network on fixed held-back data.
#[derive(Debug)]
pub struct Validator {
    synthetic: Vec<Sequence>,
    real: Vec<Sequence>,
    model: PathBuf,
    log: LossLog,
    png: PathBuf,
    batch: Option<PairBatch>,
    cell_radius: f64,
    started: Instant,
}

impl Validator {
    /// Writes the synthetic pairs of `data.photos` under `out/val/`, loads `data.pairs` and opens
    /// `out/val.csv` (rows after `resumed_at` are dropped). `(h, w)` is the labelled crop size of
    /// the separation batch.
    pub fn new(
        data: &ValidationData<'_>,
        out: &Path,
        cfg: &JointConfig,
        (h, w): (usize, usize),
        resumed_at: Option<usize>,
        device: Device,
    ) -> anyhow::Result<Self> {
        let dir = out.join("val");
        let (mut synthetic, mut batch) = (Vec::new(), None);
        if let Some(photos) = data.photos {
            let params = SyntheticParams {
                warps: cfg.val_warps,
                seed: 0,
                max_side: cfg.val_max_side,
                homography: HomographyParams::default(),
            };
            synthetic = generate_synthetic(photos, &dir.join("pairs"), &params)?;
            let crops: Vec<Vec<f32>> = list_photos(photos, None)?
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
            batch = Some(fixed_pair_batch(&refs, h, w, cfg, 7, device)?);
            println!(
                "[train] validating on {} held-back photos from {} ({} warps each, longer side {} px)",
                synthetic.len(),
                photos.display(),
                cfg.val_warps,
                cfg.val_max_side
            );
        }
        let mut real = Vec::new();
        for p in data.pairs {
            let dataset = load_dataset(p)?;
            for w in &dataset.warnings {
                eprintln!("[train] warning: {w}");
            }
            real.extend(dataset.sequences);
        }
        if !real.is_empty() {
            let pairs: usize = real.iter().map(|s| s.images.len() - 1).sum();
            println!(
                "[train] validating on {pairs} real pairs of {} sequences; the best checkpoint by H@1 + H@3 + MMA@3 there goes to {}",
                real.len(),
                out.join("best").display()
            );
        }
        Ok(Validator {
            synthetic,
            real,
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
            licence: None,
            description: String::new(),
        };
        std::fs::create_dir_all(self.model.parent().unwrap_or(Path::new(".")))?;
        export(net, &self.model, &info)?;
        let config = DetectorConfig {
            descriptors: true,
            ..DetectorConfig::default()
        };
        let detector = Detector::new(&self.model, &EngineOptions::default(), config)?;
        let mut source = DetectorSource::new(detector, "validation");
        let mut figures = |seqs: &[Sequence]| -> anyhow::Result<[f64; 5]> {
            if seqs.is_empty() {
                return Ok([f64::NAN; 5]);
            }
            let report = evaluate(
                "validation",
                seqs,
                &mut source,
                &MetricParams::default(),
                &mut |_| {},
            )?;
            let all = &report.summaries[0];
            let h_at = |eps: f64| {
                all.homography_accuracy
                    .iter()
                    .find(|(e, _)| (*e - eps).abs() < 1e-9)
                    .map_or(0.0, |(_, v)| *v)
            };
            Ok([
                all.mma.first().copied().unwrap_or(0.0),
                all.mma.get(2).copied().unwrap_or(0.0),
                h_at(1.0),
                h_at(3.0),
                all.repeatability.first().and_then(|r| r.1).unwrap_or(0.0),
            ])
        };
        let [_, mma3, _, h3, rep300] = figures(&self.synthetic)?;
        let [real_mma1, real_mma3, real_h1, real_h3, _] = figures(&self.real)?;
        let (pos_sim, neg_sim) = match &self.batch {
            Some(b) => descriptor_separation(net, b, self.cell_radius)?,
            None => (f64::NAN, f64::NAN),
        };
        let f = ValFigures {
            mma3,
            h3,
            rep300,
            pos_sim,
            neg_sim,
            real_h1,
            real_h3,
            real_mma1,
            real_mma3,
        };
        self.log.append(
            step,
            &[
                f.mma3,
                f.h3,
                f.rep300,
                f.pos_sim,
                f.neg_sim,
                f.real_h1,
                f.real_h3,
                f.real_mma1,
                f.real_mma3,
                self.started.elapsed().as_secs_f64(),
            ],
        )?;
        if let Err(e) = self.log.plot(
            &self.png,
            "SuperPoint validation (synthetic pairs of held-back photos; real pairs)",
            &VAL_COLUMNS[1..VAL_COLUMNS.len() - 1],
            "MMA, H, rep@300, cosine similarity",
            false,
        ) {
            eprintln!("[train] warning: {e}");
        }
        let mut parts = Vec::new();
        if !self.synthetic.is_empty() {
            parts.push(format!(
                "synthetic MMA@3 {:.3}, H@3 {:.3}, rep@300 {:.3}, cell similarity corresponding {:.3} / other {:.3}",
                f.mma3, f.h3, f.rep300, f.pos_sim, f.neg_sim
            ));
        }
        if !self.real.is_empty() {
            parts.push(format!(
                "real H@1 {:.3}, H@3 {:.3}, MMA@1 {:.3}, MMA@3 {:.3}",
                f.real_h1, f.real_h3, f.real_mma1, f.real_mma3
            ));
        }
        println!(
            "[train] validation at step {step}: {} ({:.1} s)",
            parts.join("; "),
            t.elapsed().as_secs_f64()
        );
        Ok(f)
    }
}

/// Mean of the descriptor dot products of corresponding and of non-corresponding cells for a pair
/// batch (a quick check that descriptors learn to match).
pub fn descriptor_separation(
    net: &SuperPointNet,
    batch: &PairBatch,
    cell_radius: f64,
) -> anyhow::Result<(f64, f64)> {
    let b = batch.homs.len() as i64;
    tch::no_grad(|| {
        let out = net.forward_t(&batch.images, false);
        let d = out.descriptors.context("no descriptor head")?;
        let (_, c, hc, wc) = d.size4()?;
        let n = hc * wc;
        let d1 = d.narrow(0, 0, b).view([b, c, n]).transpose(1, 2);
        let d2 = d.narrow(0, b, b).view([b, c, n]);
        let dot = d1.bmm(&d2);
        let s = correspondences(
            &batch.homs,
            hc as usize,
            wc as usize,
            cell_radius,
            d.device(),
        );
        let pos = (&dot * &s).sum(Kind::Float) / s.sum(Kind::Float).clamp_min(1.0);
        let ns = -&s + 1.0;
        let neg = (&dot * &ns).sum(Kind::Float) / ns.sum(Kind::Float).clamp_min(1.0);
        Ok((pos.double_value(&[]), neg.double_value(&[])))
    })
}
