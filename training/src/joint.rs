//! Joint SuperPoint training on photos with pseudo-labels: two views of each photo crop
//! ([`crate::pairs`]) go through the network together; the loss is the detector cross-entropy on
//! both plus λ times the descriptor loss between them (the paper's hinge loss or InfoNCE).

use std::path::{Path, PathBuf};

use anyhow::Context;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use rayon::prelude::*;

use crate::adapt::PseudoLabels;
use crate::config::{Config, DescriptorLoss, JointConfig};
use crate::losses::{
    DescriptorLossParams, InfoNceParams, correspondences, descriptor_loss, detector_loss,
    infonce_loss, sample_at,
};
use crate::model::SuperPointNet;
use crate::optim::{Adam, warmup_cosine_lr};
use crate::pairs::{PairBatch, pair_batch};
use crate::runlog::{CheckpointState, save_weights};
use crate::runtime::Runtime;
use crate::stage::{Stage, StageOptions};
use crate::synth::mix;
use crate::validate::{ValFigures, ValidationData, Validator};

/// Loss terms of one step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JointLosses {
    /// det1 + det2 + λ desc.
    pub total: f64,
    /// Detector loss on the crops.
    pub detector: f64,
    /// Detector loss on the warped copies.
    pub detector_warped: f64,
    /// Descriptor loss (before λ).
    pub descriptor: f64,
}

/// One optimiser step; returns the losses.
pub fn joint_step(
    net: &SuperPointNet,
    adam: &mut Adam,
    batch: &PairBatch,
    cfg: &JointConfig,
) -> anyhow::Result<JointLosses> {
    let b = batch.homs.len() as i64;
    adam.zero_grad();
    let out = net.forward_t(&batch.images, !cfg.freeze_batchnorm);
    let desc = out
        .descriptors
        .as_ref()
        .context("joint training needs the descriptor head")?;
    let (l1, l2) = (out.logits.narrow(0, 0, b), out.logits.narrow(0, b, b));
    let (d1, d2) = (desc.narrow(0, 0, b), desc.narrow(0, b, b));
    let det1 = detector_loss(&l1, &batch.targets1, &batch.valid1);
    let det2 = detector_loss(&l2, &batch.targets2, &batch.valid2);
    let dl = match cfg.descriptor_loss {
        DescriptorLoss::Hinge => {
            let (_, _, hc, wc) = d1.size4()?;
            let s = correspondences(
                &batch.homs,
                hc as usize,
                wc as usize,
                cfg.cell_radius,
                d1.device(),
            );
            let params = DescriptorLossParams {
                lambda_d: cfg.lambda_d,
                positive_margin: cfg.positive_margin,
                negative_margin: cfg.negative_margin,
                cell_radius: cfg.cell_radius,
            };
            descriptor_loss(&d1, &d2, &s, &batch.valid2, &params)
        }
        DescriptorLoss::Infonce => infonce_loss(
            &sample_at(&d1, &batch.points1),
            &sample_at(&d2, &batch.points2),
            &batch.points1,
            &batch.points2,
            &batch.points_valid,
            &InfoNceParams {
                temperature: cfg.temperature,
                negative_radius: cfg.negative_radius,
            },
        ),
    };
    let total = &det1 + &det2 + &dl * cfg.lambda;
    total.backward();
    adam.step();
    Ok(JointLosses {
        total: total.double_value(&[]),
        detector: det1.double_value(&[]),
        detector_warped: det2.double_value(&[]),
        descriptor: dl.double_value(&[]),
    })
}

/// Trains SuperPoint into `out` from the pseudo-labels at `labels_path`; `init` (a MagicPoint
/// checkpoint or ONNX model) initialises encoder and detector. With `val_photos` (held-back
/// photos) and `train.val_every`, validates on synthetic pairs of them ([`Validator`]).
/// Returns the checkpoint directory.
pub fn train(
    cfg: &Config,
    rt: &Runtime,
    labels_path: &Path,
    init: Option<&Path>,
    out: &Path,
    resume: bool,
    val: &ValidationData<'_>,
) -> anyhow::Result<PathBuf> {
    cfg.validate()?;
    let t = &cfg.train;
    let labels = PseudoLabels::load(labels_path)?;
    let (h, w) = (labels.height, labels.width);
    let stage = Stage::open(out, resume, cfg)?;
    println!(
        "[train] loading {} photos ({w}x{h} crops)",
        labels.entries.len()
    );
    let crops: Vec<Vec<f32>> = labels
        .entries
        .par_iter()
        .map(|e| e.load_crop(w, h))
        .collect::<anyhow::Result<_>>()?;
    let points: Vec<Vec<[f32; 2]>> = labels
        .entries
        .iter()
        .map(|e| e.keypoints.iter().map(|k| [k[0], k[1]]).collect())
        .collect();
    tch::manual_seed(t.seed as i64);
    let mut net = match init {
        Some(p) => {
            println!(
                "[train] encoder and detector initialised from {}",
                p.display()
            );
            rt.load_net(p, Some(true))?
        }
        None => rt.new_net(true),
    };
    let mut adam = Adam::new(&net.vs, t.learning_rate);
    let start = stage.restore("train", &mut net, &mut adam)?;
    let mut validator = match t.val_every > 0 && !val.is_empty() {
        true => Some(Validator::new(
            val,
            out,
            t,
            (h, w),
            resume.then_some(start),
            rt.device,
        )?),
        false => None,
    };
    let mut best = BestCheckpoint::open(out);
    if let Some(v) = validator.as_mut().filter(|_| start == 0) {
        let f = v.run(&net, 0)?;
        best.offer(&net, 0, &f)?;
    }
    let opts = StageOptions {
        name: "train",
        title: "SuperPoint joint training",
        columns: &["loss", "detector", "detector_warped", "descriptor"],
        steps: t.steps,
        log_every: t.log_every,
        checkpoint_every: t.checkpoint_every,
    };
    let ckpt = stage.run(
        &opts,
        start,
        &net,
        &mut adam,
        |step, net, adam| {
            let mut rng = Pcg64::seed_from_u64(mix(t.seed ^ 0x5EED, step as u64));
            tch::manual_seed(mix(t.seed, step as u64) as i64);
            let idx: Vec<usize> = (0..t.batch_size)
                .map(|_| rng.random_range(0..crops.len()))
                .collect();
            let batch_crops: Vec<&[f32]> = idx.iter().map(|&i| crops[i].as_slice()).collect();
            let batch_pts: Vec<Vec<[f32; 2]>> = idx.iter().map(|&i| points[i].clone()).collect();
            let batch = pair_batch(&batch_crops, &batch_pts, h, w, t, &mut rng, rt.device)?;
            adam.lr = warmup_cosine_lr(
                t.learning_rate,
                t.lr_final_fraction,
                t.lr_warmup_steps,
                step,
                t.steps,
            );
            let l = joint_step(net, adam, &batch, t)?;
            Ok(vec![l.total, l.detector, l.detector_warped, l.descriptor])
        },
        |done, net| match validator.as_mut() {
            Some(v) if done % t.val_every == 0 || done == t.steps => {
                let f = v.run(net, done)?;
                best.offer(net, done, &f)
            }
            _ => Ok(()),
        },
    )?;
    Ok(ckpt)
}

/// The best network so far by the real-pair validation score ([`ValFigures::real_score`]):
/// `out/best/` holds its weights, `state.json` and `val.json` (step, score, figures). A resumed run
/// reads the score to beat from there.
#[derive(Debug)]
struct BestCheckpoint {
    dir: PathBuf,
    score: Option<f64>,
}

/// Contents of `best/val.json`.
#[derive(Debug, serde::Serialize)]
struct BestRecord<'a> {
    step: usize,
    score: f64,
    figures: &'a ValFigures,
}

impl BestCheckpoint {
    fn open(out: &Path) -> Self {
        let dir = out.join("best");
        let score = std::fs::read_to_string(dir.join("val.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["score"].as_f64());
        BestCheckpoint { dir, score }
    }

    fn offer(&mut self, net: &SuperPointNet, step: usize, f: &ValFigures) -> anyhow::Result<()> {
        let Some(score) = f.real_score() else {
            return Ok(());
        };
        if self.score.is_some_and(|b| score <= b) {
            return Ok(());
        }
        let state = CheckpointState {
            stage: "train".into(),
            step,
            descriptor: true,
        };
        let record = serde_json::to_string_pretty(&BestRecord {
            step,
            score,
            figures: f,
        })?;
        save_weights(&self.dir, net, &state, &[("val.json", record)])?;
        println!(
            "[train] best real-pair score so far ({score:.3}) at step {step}: {}",
            self.dir.display()
        );
        self.score = Some(score);
        Ok(())
    }
}
