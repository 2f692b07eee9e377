//! Joint SuperPoint training on photos with pseudo-labels: each photo crop and a randomly warped
//! copy go through the network together; the loss is the detector cross-entropy on both plus
//! λ times the descriptor hinge loss between them.

use std::path::{Path, PathBuf};

use anyhow::Context;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use rayon::prelude::*;
use superpoint::Homography;
use superpoint::onnx::CELL;
use tch::{Device, Kind, Tensor};

use crate::adapt::PseudoLabels;
use crate::augment::photometric;
use crate::config::{Config, DescriptorLoss, JointConfig};
use crate::losses::{
    DescriptorLossParams, InfoNceParams, cell_targets, cell_valid, correspondences,
    descriptor_loss, detector_loss, infonce_loss, sample_at,
};
use crate::magicpoint::sample_homographies;
use crate::model::SuperPointNet;
use crate::optim::Adam;
use crate::optim::cosine_lr;
use crate::runtime::Runtime;
use crate::stage::{Stage, StageOptions};
use crate::synth::mix;
use crate::validate::Validator;
use crate::warp::{warp_images, warp_points};

/// A batch of image pairs.
#[derive(Debug)]
pub struct PairBatch {
    /// `[2B, 1, H, W]`: the B augmented first images, then their B augmented warped copies.
    pub images: Tensor,
    /// `[B, Hc, Wc]` targets of the first images.
    pub targets1: Tensor,
    /// `[B, Hc, Wc]` targets of the warped copies.
    pub targets2: Tensor,
    /// `[B, Hc, Wc]` valid cells of the first images.
    pub valid1: Tensor,
    /// `[B, Hc, Wc]` valid cells of the warped copies.
    pub valid2: Tensor,
    /// Homographies from first image to warped copy (pixels to pixels).
    pub homs: Vec<Homography>,
    /// `[B, N, 2]` one point per cell of the first images (x, y pixels), jittered in the cell.
    pub points1: Tensor,
    /// `[B, N, 2]` the same points in the warped copies.
    pub points2: Tensor,
    /// `[B, N]` 1 where a point and its image both have source pixels.
    pub points_valid: Tensor,
}

/// One point per 8x8 cell of a `width` x `height` image, uniformly inside the cell, mapped by each
/// homography; valid where both masks (`[B, 1, H, W]`, host copies taken here) are set.
fn cell_points(
    homs: &[Homography],
    mask1: &Tensor,
    mask2: &Tensor,
    height: usize,
    width: usize,
    rng: &mut Pcg64,
    device: Device,
) -> anyhow::Result<(Tensor, Tensor, Tensor)> {
    let (hc, wc) = (height / CELL, width / CELL);
    let n = hc * wc;
    let host = |m: &Tensor| -> anyhow::Result<Vec<f32>> {
        Ok(Vec::<f32>::try_from(
            m.to_device(Device::Cpu).to_kind(Kind::Float).flatten(0, -1),
        )?)
    };
    let (m1, m2) = (host(mask1)?, host(mask2)?);
    let at = |m: &[f32], b: usize, x: f64, y: f64| -> bool {
        let (rx, ry) = (x.round(), y.round());
        rx >= 0.0
            && ry >= 0.0
            && rx <= (width - 1) as f64
            && ry <= (height - 1) as f64
            && m[(b * height + ry as usize) * width + rx as usize] > 0.5
    };
    let (mut p1, mut p2, mut valid) = (
        Vec::with_capacity(homs.len() * n * 2),
        Vec::with_capacity(homs.len() * n * 2),
        Vec::with_capacity(homs.len() * n),
    );
    for (b, h) in homs.iter().enumerate() {
        for i in 0..n {
            let x = ((i % wc) * CELL) as f64 + rng.random_range(0.0..CELL as f64 - 1.0);
            let y = ((i / wc) * CELL) as f64 + rng.random_range(0.0..CELL as f64 - 1.0);
            let (wx, wy) = h.apply(x, y).unwrap_or((-1e6, -1e6));
            let ok = at(&m1, b, x, y) && at(&m2, b, wx, wy);
            p1.extend([x as f32, y as f32]);
            // Far-away stand-ins keep invalid points out of every neighbourhood test.
            p2.extend(if ok {
                [wx as f32, wy as f32]
            } else {
                [-1e4, -1e4]
            });
            valid.push(if ok { 1f32 } else { 0.0 });
        }
    }
    let (b, n) = (homs.len() as i64, n as i64);
    Ok((
        Tensor::from_slice(&p1).view([b, n, 2]).to_device(device),
        Tensor::from_slice(&p2).view([b, n, 2]).to_device(device),
        Tensor::from_slice(&valid).view([b, n]).to_device(device),
    ))
}

/// Builds a pair batch from grey crops (values in [0, 1], `height` x `width`) and their labels:
/// the first image is the crop, or a random warp of it when `cfg.view_homographic` is enabled
/// (a new patch, scale and angle at every step), the second a random warp by `cfg.homographic`.
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
    let margin = cfg.homographic.valid_border_margin as f64;
    let (view1, mask1, h1) = if cfg.view_homographic.enable {
        let h1 = sample_homographies(b, width, height, &cfg.view_homographic, rng);
        let (v, m) = warp_images(&images, &h1, margin)?;
        (v, m, h1)
    } else {
        let ones = Tensor::ones(
            [b as i64, 1, height as i64, width as i64],
            (Kind::Float, device),
        );
        (images.shallow_clone(), ones, vec![Homography::IDENTITY; b])
    };
    let h2 = sample_homographies(b, width, height, &cfg.homographic, rng);
    let (view2, mask2) = warp_images(&images, &h2, margin)?;
    let homs = h1
        .iter()
        .zip(&h2)
        .map(|(a, c)| {
            a.inverse()
                .map(|ai| c.compose(&ai))
                .ok_or_else(|| anyhow::anyhow!("singular homography {:?}", a.0))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let warp_all = |hs: &[Homography]| -> Vec<Vec<[f32; 2]>> {
        labels
            .iter()
            .zip(hs)
            .map(|(p, h)| warp_points(p, h, width, height))
            .collect()
    };
    let (pts1, pts2) = (warp_all(&h1), warp_all(&h2));
    let (points1, points2, points_valid) =
        cell_points(&homs, &mask1, &mask2, height, width, rng, device)?;
    let a1 = photometric(&view1, &cfg.photometric, rng);
    let a2 = photometric(&view2, &cfg.photometric, rng);
    Ok(PairBatch {
        images: Tensor::cat(&[a1, a2], 0),
        targets1: cell_targets(&pts1, height, width, rng, device),
        targets2: cell_targets(&pts2, height, width, rng, device),
        valid1: cell_valid(&mask1),
        valid2: cell_valid(&mask2),
        homs,
        points1,
        points2,
        points_valid,
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
    val_photos: Option<&Path>,
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
    let mut validator = match val_photos {
        Some(dir) if t.val_every > 0 => Some(Validator::new(
            dir,
            out,
            t,
            (h, w),
            resume.then_some(start),
            rt.device,
        )?),
        _ => None,
    };
    if let Some(v) = validator.as_mut().filter(|_| start == 0) {
        v.run(&net, 0)?;
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
            adam.lr = cosine_lr(t.learning_rate, t.lr_final_fraction, step, t.steps);
            let l = joint_step(net, adam, &batch, t)?;
            Ok(vec![l.total, l.detector, l.detector_warped, l.descriptor])
        },
        |done, net| match validator.as_mut() {
            Some(v) if done % t.val_every == 0 || done == t.steps => v.run(net, done).map(|_| ()),
            _ => Ok(()),
        },
    )?;
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
