//! Losses go down over a few dozen steps on tiny configurations, through the same batch and step
//! functions the trainers use.

use rand::SeedableRng;
use rand_pcg::Pcg64;
use superpoint_train::config::{JointConfig, MagicPointConfig};
use superpoint_train::joint::joint_step;
use superpoint_train::magicpoint::{detector_step, synthetic_batch};
use superpoint_train::model::SuperPointNet;
use superpoint_train::optim::Adam;
use superpoint_train::pairs::pair_batch;
use superpoint_train::synth::{SynthConfig, batch};
use superpoint_train::validate::descriptor_separation;
use tch::Device;

fn synth() -> SynthConfig {
    SynthConfig {
        height: 48,
        width: 64,
        ..Default::default()
    }
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

#[test]
fn magicpoint_loss_decreases() {
    tch::manual_seed(0);
    let cfg = MagicPointConfig::default();
    let net = SuperPointNet::new(Device::Cpu, false);
    let mut adam = Adam::new(&net.vs, 1e-3);
    let mut rng = Pcg64::seed_from_u64(0);
    let mut losses = Vec::new();
    for step in 0..40u64 {
        let samples = batch(&synth(), 11, step * 8, 8, false);
        let b = synthetic_batch(
            &samples,
            &cfg.homographic,
            &cfg.photometric,
            &mut rng,
            Device::Cpu,
        )
        .unwrap();
        losses.push(detector_step(&net, &mut adam, &b));
    }
    let (first, last) = (mean(&losses[..5]), mean(&losses[35..]));
    println!("magicpoint loss: first 5 steps {first:.4}, last 5 steps {last:.4}");
    assert!(losses.iter().all(|l| l.is_finite()));
    assert!(
        last < 0.6 * first,
        "loss did not decrease enough: {first} -> {last}"
    );
}

#[test]
fn joint_loss_decreases_and_corresponding_descriptors_align() {
    tch::manual_seed(0);
    let cfg = JointConfig {
        batch_size: 3,
        ..Default::default()
    };
    let net = SuperPointNet::new(Device::Cpu, true);
    let mut adam = Adam::new(&net.vs, 1e-3);
    let mut rng = Pcg64::seed_from_u64(1);
    // A small fixed set of "photos" with labels: synthetic images stand in for pseudo-labels.
    let photos = batch(&synth(), 5, 0, 6, false);
    let mut totals = Vec::new();
    let mut descs = Vec::new();
    let make = |rng: &mut Pcg64, step: usize| {
        let idx = [step % 6, (step + 2) % 6, (step + 4) % 6];
        let crops: Vec<&[f32]> = idx.iter().map(|&i| photos[i].image.as_slice()).collect();
        let labels: Vec<Vec<[f32; 2]>> = idx.iter().map(|&i| photos[i].keypoints.clone()).collect();
        pair_batch(&crops, &labels, 48, 64, &cfg, rng, Device::Cpu).unwrap()
    };
    let probe = make(&mut Pcg64::seed_from_u64(99), 0);
    let (pos0, neg0) = descriptor_separation(&net, &probe, cfg.cell_radius).unwrap();
    for step in 0..30 {
        let b = make(&mut rng, step);
        let l = joint_step(&net, &mut adam, &b, &cfg).unwrap();
        totals.push(l.total);
        descs.push(l.descriptor);
    }
    let (pos1, neg1) = descriptor_separation(&net, &probe, cfg.cell_radius).unwrap();
    println!(
        "joint total: {:.4} -> {:.4}; descriptor: {:.4} -> {:.4}; dot(pos) {pos0:.3} -> {pos1:.3}, dot(neg) {neg0:.3} -> {neg1:.3}",
        mean(&totals[..5]),
        mean(&totals[25..]),
        mean(&descs[..5]),
        mean(&descs[25..])
    );
    assert!(mean(&totals[25..]) < 0.7 * mean(&totals[..5]));
    assert!(mean(&descs[25..]) < 0.7 * mean(&descs[..5]));
    // The heavily weighted positives (λ_d = 250) are satisfied first: corresponding cells become
    // more similar. (Negatives separate later, beyond what a test this short can show.)
    assert!(
        pos1 > pos0 + 0.03,
        "corresponding cells did not become more similar: {pos0} -> {pos1}"
    );
}

#[test]
fn infonce_joint_training_separates_corresponding_from_other_cells() {
    // The CPU recipe's objective: both images random warps of the crop, InfoNCE on sampled points.
    tch::manual_seed(0);
    let mut cfg = superpoint_train::config::Config::cpu().train;
    cfg.batch_size = 3;
    let net = SuperPointNet::new(Device::Cpu, true);
    let mut adam = Adam::new(&net.vs, 1e-3);
    let mut rng = Pcg64::seed_from_u64(1);
    let photos = batch(&synth(), 5, 0, 6, false);
    let make = |rng: &mut Pcg64, step: usize| {
        let idx = [step % 6, (step + 2) % 6, (step + 4) % 6];
        let crops: Vec<&[f32]> = idx.iter().map(|&i| photos[i].image.as_slice()).collect();
        let labels: Vec<Vec<[f32; 2]>> = idx.iter().map(|&i| photos[i].keypoints.clone()).collect();
        pair_batch(&crops, &labels, 48, 64, &cfg, rng, Device::Cpu).unwrap()
    };
    let probe = make(&mut Pcg64::seed_from_u64(99), 0);
    assert!(probe.points_valid.sum(tch::Kind::Float).double_value(&[]) > 30.0);
    let (pos0, neg0) = descriptor_separation(&net, &probe, cfg.cell_radius).unwrap();
    let mut descs = Vec::new();
    for step in 0..30 {
        let b = make(&mut rng, step);
        descs.push(joint_step(&net, &mut adam, &b, &cfg).unwrap().descriptor);
    }
    let (pos1, neg1) = descriptor_separation(&net, &probe, cfg.cell_radius).unwrap();
    println!(
        "infonce: {:.4} -> {:.4}; separation {:.3} -> {:.3}",
        mean(&descs[..5]),
        mean(&descs[25..]),
        pos0 - neg0,
        pos1 - neg1
    );
    assert!(mean(&descs[25..]) < 0.8 * mean(&descs[..5]));
    assert!(
        pos1 - neg1 > pos0 - neg0 + 0.1,
        "separation did not grow: {:.3} -> {:.3}",
        pos0 - neg0,
        pos1 - neg1
    );
}
