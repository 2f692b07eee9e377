//! MagicPoint: the encoder and detector head trained on Synthetic Shapes with homographic and
//! photometric augmentation (its evaluation is `detector_eval`).

use std::path::{Path, PathBuf};
use std::sync::mpsc;

use anyhow::Context;
use rand::SeedableRng;
use rand_pcg::Pcg64;
use tch::{Device, Tensor};

use crate::augment::photometric;
use crate::batch::{images_tensor, sample_homographies};
use crate::config::{Config, HomographicConfig, PhotometricConfig};
use crate::losses::{cell_targets, cell_valid, detector_loss};
use crate::model::SuperPointNet;
use crate::optim::{Adam, cosine_lr};
use crate::runtime::Runtime;
use crate::stage::{Stage, StageOptions};
use crate::synth::{self, Sample, mix};
use crate::warp::{warp_images, warp_points};

/// A batch ready for a detector step.
#[derive(Debug)]
pub struct DetectorBatch {
    /// `[B, 1, H, W]` augmented images.
    pub images: Tensor,
    /// `[B, H/8, W/8]` class targets.
    pub targets: Tensor,
    /// `[B, H/8, W/8]` cells that count in the loss.
    pub valid: Tensor,
}

/// Warps, augments and labels a batch of synthetic samples.
pub fn synthetic_batch(
    samples: &[Sample],
    homographic: &HomographicConfig,
    photo: &PhotometricConfig,
    rng: &mut Pcg64,
    device: Device,
) -> anyhow::Result<DetectorBatch> {
    anyhow::ensure!(!samples.is_empty(), "empty batch");
    let (h, w) = (samples[0].height, samples[0].width);
    let imgs: Vec<&[f32]> = samples.iter().map(|s| s.image.as_slice()).collect();
    let images = images_tensor(&imgs, h, w, device);
    let homs = sample_homographies(samples.len(), w, h, homographic, rng);
    let (warped, valid) = warp_images(&images, &homs, homographic.valid_border_margin as f64)?;
    let points: Vec<Vec<[f32; 2]>> = samples
        .iter()
        .zip(&homs)
        .map(|(s, hm)| warp_points(&s.keypoints, hm, w, h))
        .collect();
    let images = photometric(&warped, photo, rng);
    Ok(DetectorBatch {
        images,
        targets: cell_targets(&points, h, w, rng, device),
        valid: cell_valid(&valid),
    })
}

/// One optimiser step on the detector loss; returns the loss.
pub fn detector_step(net: &SuperPointNet, adam: &mut Adam, batch: &DetectorBatch) -> f64 {
    adam.zero_grad();
    let out = net.forward_t(&batch.images, true);
    let loss = detector_loss(&out.logits, &batch.targets, &batch.valid);
    loss.backward();
    adam.step();
    loss.double_value(&[])
}

/// Trains MagicPoint into `out` (checkpoint/, loss.csv, loss.png, config.toml); returns the
/// checkpoint directory. With `resume`, continues from `out/checkpoint`.
pub fn train(cfg: &Config, rt: &Runtime, out: &Path, resume: bool) -> anyhow::Result<PathBuf> {
    cfg.validate()?;
    let m = &cfg.magicpoint;
    let stage = Stage::open(out, resume, cfg)?;
    tch::manual_seed(m.seed as i64);
    let mut net = rt.new_net(false);
    let mut adam = Adam::new(&net.vs, m.learning_rate);
    let start = stage.restore("magicpoint", &mut net, &mut adam)?;
    let opts = StageOptions {
        name: "magicpoint",
        title: "MagicPoint training loss",
        columns: &["loss"],
        steps: m.steps,
        log_every: m.log_every,
        checkpoint_every: m.checkpoint_every,
    };
    // Synthetic batches are rendered on a producer thread (rayon inside) ahead of the steps.
    let (tx, rx) = mpsc::sync_channel::<Vec<Sample>>(3);
    let (scfg, bs, seed, steps) = (cfg.synth.clone(), m.batch_size, m.seed, m.steps);
    let producer = std::thread::spawn(move || {
        for step in start..steps {
            let b = synth::batch(&scfg, seed, (step * bs) as u64, bs, false);
            if tx.send(b).is_err() {
                break;
            }
        }
    });
    let ckpt = stage.run(
        &opts,
        start,
        &net,
        &mut adam,
        |step, net, adam| {
            let samples = rx.recv().context("synthetic data producer stopped")?;
            let mut rng = Pcg64::seed_from_u64(mix(seed ^ 0xA5A5, step as u64));
            tch::manual_seed(mix(seed, step as u64) as i64);
            let batch = synthetic_batch(
                &samples,
                &m.homographic,
                &m.photometric,
                &mut rng,
                rt.device,
            )?;
            adam.lr = cosine_lr(m.learning_rate, m.lr_final_fraction, step, m.steps);
            Ok(vec![detector_step(net, adam, &batch)])
        },
        |_, _| Ok(()),
    )?;
    drop(rx);
    producer
        .join()
        .map_err(|_| anyhow::anyhow!("synthetic data producer panicked"))?;
    Ok(ckpt)
}
