//! The named presets of [`Config`]: `paper` (the defaults), `cpu`, `cpu-v2` and `small`.

use superpoint::sampling::HomographyParams;

use super::{Config, DescriptorLoss, HomographicConfig};

impl Config {
    /// A tiny configuration that runs every stage in a few minutes on two CPU cores
    /// (`pipeline --small`): it checks the plumbing and that losses go down, nothing more.
    pub fn small() -> Self {
        let mut c = Config::default();
        c.synth.height = 64;
        c.synth.width = 80;
        c.magicpoint.batch_size = 16;
        c.magicpoint.steps = 300;
        c.magicpoint.log_every = 10;
        c.magicpoint.checkpoint_every = 100;
        c.eval.images = 64;
        c.eval.batch_size = 16;
        c.adapt.height = 120;
        c.adapt.width = 160;
        c.adapt.num_homographies = 8;
        c.adapt.batch_size = 9;
        c.adapt.max_photos = 12;
        // A 300-step MagicPoint is far less confident than a trained one.
        c.adapt.threshold = 0.005;
        c.train.batch_size = 4;
        c.train.steps = 40;
        c.train.log_every = 5;
        c.train.checkpoint_every = 20;
        c.train.val_every = 20;
        // The objective and pairs of the CPU recipe, so that CI runs the path the shipped model
        // was trained with.
        let cpu = Config::cpu().train;
        c.train.lambda = cpu.lambda;
        c.train.descriptor_loss = cpu.descriptor_loss;
        c.train.homographic = cpu.homographic;
        c.train.view_homographic = cpu.view_homographic;
        c
    }

    /// The CPU recipe: every stage end to end in about two hours on two CPU cores, chosen for
    /// sample efficiency by short measured runs (training/README.md, "The CPU recipe").
    pub fn cpu() -> Self {
        let mut c = Config::default();
        // MagicPoint at 96x128 in batches of 16 (3.5 steps/s on 2 cores with --bf16
        // --channels-last, 1.1 without), the learning rate decaying to 5% so the last steps
        // settle instead of oscillating.
        c.synth.height = 96;
        c.synth.width = 128;
        c.magicpoint.batch_size = 16;
        c.magicpoint.steps = 5_000;
        c.magicpoint.lr_final_fraction = 0.05;
        c.magicpoint.log_every = 20;
        c.magicpoint.checkpoint_every = 100;
        c.eval.images = 256;
        c.eval.batch_size = 16;
        // Homographic Adaptation on many photos with few warps: a random 120x160 crop of each
        // photo resized to cover 240x320 (photo detail at about the scale of evaluation).
        c.adapt.height = 120;
        c.adapt.width = 160;
        c.adapt.cover_height = 240;
        c.adapt.cover_width = 320;
        c.adapt.num_homographies = 12;
        c.adapt.batch_size = 13;
        // Joint training: both images of a pair are random warps of the labelled crop, with the
        // rotations of the evaluation (±30°, not ±90°), and the InfoNCE descriptor loss.
        c.train.batch_size = 8;
        c.train.steps = 3_000;
        c.train.lr_final_fraction = 0.05;
        c.train.lambda = 1.0;
        c.train.descriptor_loss = DescriptorLoss::Infonce;
        c.train.homographic.params = HomographyParams::default();
        c.train.view_homographic = HomographicConfig {
            enable: true,
            params: HomographyParams {
                perspective: 0.1,
                scale: 0.25,
                rotation: 0.2,
                translation: 1.0,
                patch_ratio: 0.85,
            },
            valid_border_margin: 2,
        };
        c.train.log_every = 10;
        c.train.checkpoint_every = 50;
        c.train.val_every = 250;
        c
    }

    /// The second round of the CPU recipe (`superpoint-cpu-v2`, made with `refine` from the
    /// first round's model): Homographic Adaptation by that model at 240x320 (random 240x320 crops
    /// of photos resized to cover 480x640: the detail of 640-pixel images; identity + 8 warps, 1,200 photos), then joint training
    /// from it on 120x160 views zoomed 0.5x to 2x each (scale ratios up to 4x within a pair),
    /// rotated up to ±45° against each other, with BatchNorm frozen (the model's is folded).
    pub fn cpu_v2() -> Self {
        let mut c = Config::cpu();
        c.adapt.height = 240;
        c.adapt.width = 320;
        c.adapt.cover_height = 480;
        c.adapt.cover_width = 640;
        c.adapt.num_homographies = 8;
        c.adapt.batch_size = 9;
        // 1,200 of the photos (a seeded draw from every folder): adaptation at 240x320 costs
        // about 4x the first round's per photo, and 15,000 steps of 8 pairs see each about 100
        // times.
        c.adapt.max_photos = 1_200;
        let t = &mut c.train;
        t.view_height = 120;
        t.view_width = 160;
        t.view_zoom = [0.5, 2.0];
        t.freeze_batchnorm = true;
        t.learning_rate = 3e-4;
        t.lr_warmup_steps = 500;
        t.steps = 15_000;
        t.view_homographic.params = HomographyParams {
            perspective: 0.1,
            scale: 0.1,
            rotation: 0.2,
            translation: 1.0,
            patch_ratio: 1.0,
        };
        t.homographic.params = HomographyParams {
            perspective: 0.2,
            scale: 0.1,
            rotation: std::f64::consts::FRAC_PI_4,
            translation: 1.0,
            patch_ratio: 1.0,
        };
        t.checkpoint_every = 100;
        t.val_every = 500;
        c
    }

    /// A named preset: `paper` (the defaults), `cpu`, `cpu-v2` or `small`.
    pub fn preset(name: &str) -> anyhow::Result<Self> {
        match name {
            "paper" => Ok(Config::default()),
            "cpu" => Ok(Config::cpu()),
            "cpu-v2" => Ok(Config::cpu_v2()),
            "small" => Ok(Config::small()),
            other => anyhow::bail!("unknown preset {other:?}: choose paper, cpu, cpu-v2 or small"),
        }
    }
}
