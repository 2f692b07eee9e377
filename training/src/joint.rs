//! Joint SuperPoint training on photos with pseudo-labels: each photo crop and a randomly warped
//! copy go through the network together; the loss is the detector cross-entropy on both plus
//! λ times the descriptor hinge loss between them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use rayon::prelude::*;
use superpoint::Homography;
use tch::{Device, Kind, Tensor};

use crate::adapt::PseudoLabels;
use crate::augment::photometric;
use crate::config::{Config, JointConfig};
use crate::losses::{
    DescriptorLossParams, cell_targets, cell_valid, correspondences, descriptor_loss, detector_loss,
};
use crate::magicpoint::sample_homographies;
use crate::model::SuperPointNet;
use crate::optim::Adam;
use crate::photos::load_gray;
use crate::runlog::{CheckpointState, LossLog, Progress, load_checkpoint, save_checkpoint};
use crate::runtime::Runtime;
use crate::synth::mix;
use crate::warp::{warp_images, warp_points};

/// A batch of image pairs.
#[derive(Debug)]
pub struct PairBatch {
    /// `[2B, 1, H, W]`: the B augmented crops, then their B augmented warped copies.
    pub images: Tensor,
    /// `[B, Hc, Wc]` targets of the crops.
    pub targets1: Tensor,
    /// `[B, Hc, Wc]` targets of the warped copies.
    pub targets2: Tensor,
    /// `[B, Hc, Wc]` valid cells of the warped copies.
    pub valid2: Tensor,
    /// Homographies from crop to warped copy.
    pub homs: Vec<Homography>,
}

/// Builds a pair batch from grey crops (values in [0, 1], `height` x `width`) and their labels.
pub fn pair_batch(
    crops: &[&[f32]],
    labels: &[Vec<[f32; 2]>],
    height: usize,
    width: usize,
    cfg: &JointConfig,
    rng: &mut Pcg64,
    device: Device,
) -> anyhow::Result<PairBatch> {
    let b = crops.len();
    let images = crate::magicpoint::images_tensor(crops, height, width, device);
    let homs = sample_homographies(b, width, height, &cfg.homographic, rng);
    let (warped, valid) = warp_images(&images, &homs, cfg.homographic.valid_border_margin as f64)?;
    let pts2: Vec<Vec<[f32; 2]>> = labels
        .iter()
        .zip(&homs)
        .map(|(p, h)| warp_points(p, h, width, height))
        .collect();
    let a1 = photometric(&images, &cfg.photometric, rng);
    let a2 = photometric(&warped, &cfg.photometric, rng);
    Ok(PairBatch {
        images: Tensor::cat(&[a1, a2], 0),
        targets1: cell_targets(labels, height, width, rng, device),
        targets2: cell_targets(&pts2, height, width, rng, device),
        valid2: cell_valid(&valid),
        homs,
    })
}

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
    let out = net.forward_t(&batch.images, true);
    let desc = out
        .descriptors
        .as_ref()
        .context("joint training needs the descriptor head")?;
    let (l1, l2) = (out.logits.narrow(0, 0, b), out.logits.narrow(0, b, b));
    let (d1, d2) = (desc.narrow(0, 0, b), desc.narrow(0, b, b));
    let ones = Tensor::ones_like(&batch.valid2);
    let det1 = detector_loss(&l1, &batch.targets1, &ones);
    let det2 = detector_loss(&l2, &batch.targets2, &batch.valid2);
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
    let dl = descriptor_loss(&d1, &d2, &s, &batch.valid2, &params);
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
/// checkpoint or ONNX model) initialises encoder and detector. Returns the checkpoint directory.
pub fn train(
    cfg: &Config,
    rt: &Runtime,
    labels_path: &Path,
    init: Option<&Path>,
    out: &Path,
    resume: bool,
) -> anyhow::Result<PathBuf> {
    cfg.validate()?;
    let t = &cfg.train;
    let labels = PseudoLabels::load(labels_path)?;
    let (h, w) = (labels.height, labels.width);
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let ckpt = out.join("checkpoint");
    anyhow::ensure!(
        resume || !ckpt.exists(),
        "{} already holds a checkpoint: pass --resume to continue it or choose another --out",
        out.display()
    );
    std::fs::write(out.join("config.toml"), cfg.to_toml())?;
    println!(
        "[train] loading {} photos ({w}x{h} crops)",
        labels.entries.len()
    );
    let crops: Vec<Vec<f32>> = labels
        .entries
        .par_iter()
        .map(|e| load_gray(&e.path, w, h).map(|g| g.iter().map(|&v| v as f32 / 255.0).collect()))
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
    let start = if resume && ckpt.exists() {
        let s = load_checkpoint(&ckpt, "train", &mut net, &mut adam)?;
        println!("[train] resuming from step {s}");
        s
    } else {
        0
    };
    let cols = ["step", "loss", "detector", "detector_warped", "descriptor"];
    let log = LossLog::open(&out.join("loss.csv"), &cols, resume.then_some(start))?;
    let mut progress = Progress::new("train", start, t.steps, Duration::from_secs(10));
    let mut acc = [0.0f64; 4];
    let mut n = 0usize;
    let mut last = [f64::NAN; 4];
    for step in start..t.steps {
        let mut rng = Pcg64::seed_from_u64(mix(t.seed ^ 0x5EED, step as u64));
        tch::manual_seed(mix(t.seed, step as u64) as i64);
        let idx: Vec<usize> = (0..t.batch_size)
            .map(|_| rng.random_range(0..crops.len()))
            .collect();
        let batch_crops: Vec<&[f32]> = idx.iter().map(|&i| crops[i].as_slice()).collect();
        let batch_pts: Vec<Vec<[f32; 2]>> = idx.iter().map(|&i| points[i].clone()).collect();
        let batch = pair_batch(&batch_crops, &batch_pts, h, w, t, &mut rng, rt.device)?;
        let l = joint_step(&net, &mut adam, &batch, t)?;
        anyhow::ensure!(
            l.total.is_finite(),
            "[train] loss is {} at step {step}: lower the learning rate or disable bf16",
            l.total
        );
        for (a, v) in acc
            .iter_mut()
            .zip([l.total, l.detector, l.detector_warped, l.descriptor])
        {
            *a += v;
        }
        n += 1;
        let done = step + 1;
        if done % t.log_every == 0 || done == t.steps {
            last = acc.map(|a| a / n as f64);
            log.append(done, &last)?;
            acc = [0.0; 4];
            n = 0;
        }
        let shown = if last[0].is_nan() {
            acc.map(|a| a / n.max(1) as f64)
        } else {
            last
        };
        progress.update(
            done,
            &format!(
                "loss {:.4} (det {:.4}, det warped {:.4}, desc {:.4})",
                shown[0], shown[1], shown[2], shown[3]
            ),
        );
        if done % t.checkpoint_every.max(1) == 0 || done == t.steps {
            save_checkpoint(
                &ckpt,
                &net,
                &adam,
                &CheckpointState {
                    stage: "train".into(),
                    step: done,
                    descriptor: true,
                },
            )?;
            if let Err(e) = log.plot(
                &out.join("loss.png"),
                "SuperPoint joint training",
                &["loss", "detector", "detector_warped", "descriptor"],
                true,
            ) {
                eprintln!("[train] warning: {e}");
            }
        }
    }
    println!(
        "[train] done: {} steps in {:.1} s, checkpoint {}",
        t.steps - start,
        progress.elapsed(),
        ckpt.display()
    );
    Ok(ckpt)
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
