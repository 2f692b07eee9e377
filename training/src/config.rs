//! Training configuration: one TOML file with a section per stage; every field has the paper's
//! (or the reference implementation's) default, so a file only needs the values it changes.
//! `superpoint-train config` prints the defaults.

use std::path::Path;

use serde::{Deserialize, Serialize};
use superpoint::postprocess::{DEFAULT_BORDER, DEFAULT_NMS_RADIUS, DEFAULT_THRESHOLD};
use superpoint::sampling::HomographyParams;

use crate::synth::SynthConfig;

mod presets;

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Synthetic Shapes generator.
    pub synth: SynthConfig,
    /// MagicPoint training on Synthetic Shapes.
    pub magicpoint: MagicPointConfig,
    /// MagicPoint evaluation on held-out Synthetic Shapes.
    pub eval: EvalConfig,
    /// Homographic Adaptation (pseudo-labels for photos).
    pub adapt: AdaptConfig,
    /// Joint SuperPoint training on photos.
    pub train: JointConfig,
}

/// Photometric augmentation (values as in the reference implementation, intensities in [0, 1]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PhotometricConfig {
    /// Master switch.
    pub enable: bool,
    /// Probability that each of the operations below is applied to an image.
    pub probability: f64,
    /// Brightness shift drawn in [-brightness, brightness].
    pub brightness: f64,
    /// Contrast factor range around the image mean.
    pub contrast: [f64; 2],
    /// Additive Gaussian noise: std drawn in [0, noise_std].
    pub noise_std: f64,
    /// Salt-and-pepper noise: fraction of pixels drawn in [0, speckle].
    pub speckle: f64,
    /// Multiplicative low-frequency shading of amplitude up to `shade`.
    pub shade: f64,
    /// Motion blur: odd kernel sizes up to this (1 disables).
    pub motion_blur_max_kernel: usize,
}

impl Default for PhotometricConfig {
    fn default() -> Self {
        PhotometricConfig {
            enable: true,
            probability: 0.5,
            brightness: 0.2,
            contrast: [0.5, 1.5],
            noise_std: 0.04,
            speckle: 0.0035,
            shade: 0.5,
            motion_blur_max_kernel: 7,
        }
    }
}

impl PhotometricConfig {
    /// Checks value ranges.
    pub fn validate(&self, section: &str) -> anyhow::Result<()> {
        anyhow::ensure!(
            (0.0..=1.0).contains(&self.probability),
            "{section}.photometric.probability must be within [0, 1], got {}",
            self.probability
        );
        anyhow::ensure!(
            (0.0..=1.0).contains(&self.brightness)
                && self.contrast[0] > 0.0
                && self.contrast[0] <= self.contrast[1]
                && self.contrast[1] <= 5.0
                && (0.0..=0.5).contains(&self.noise_std)
                && (0.0..=0.5).contains(&self.speckle)
                && (0.0..=0.95).contains(&self.shade)
                && self.motion_blur_max_kernel <= 31,
            "{section}.photometric: brightness in [0,1], 0 < contrast[0] <= contrast[1] <= 5, noise_std and speckle in [0,0.5], shade in [0,0.95], motion_blur_max_kernel <= 31"
        );
        Ok(())
    }
}

/// Random homographies used as augmentation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HomographicConfig {
    /// Master switch.
    pub enable: bool,
    /// Amplitudes (see `superpoint::sampling`).
    pub params: HomographyParams,
    /// Cells within this many pixels of the warped image border are ignored by the loss.
    pub valid_border_margin: usize,
}

impl Default for HomographicConfig {
    fn default() -> Self {
        HomographicConfig {
            enable: true,
            params: HomographyParams {
                perspective: 0.2,
                scale: 0.2,
                rotation: std::f64::consts::FRAC_PI_2,
                translation: 1.0,
                patch_ratio: 0.8,
            },
            valid_border_margin: 2,
        }
    }
}

/// MagicPoint training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MagicPointConfig {
    /// Images per step.
    pub batch_size: usize,
    /// Optimiser steps.
    pub steps: usize,
    /// Adam learning rate.
    pub learning_rate: f64,
    /// The learning rate decays (cosine) to `learning_rate * lr_final_fraction` at the last step;
    /// 1 keeps it constant.
    pub lr_final_fraction: f64,
    /// Seed of the synthetic stream, the augmentation and the initial weights.
    pub seed: u64,
    /// Average and log the loss every this many steps.
    pub log_every: usize,
    /// Write a checkpoint every this many steps (and at the end).
    pub checkpoint_every: usize,
    /// Homographic augmentation of the synthetic images.
    pub homographic: HomographicConfig,
    /// Photometric augmentation.
    pub photometric: PhotometricConfig,
}

impl Default for MagicPointConfig {
    fn default() -> Self {
        MagicPointConfig {
            batch_size: 64,
            steps: 200_000,
            learning_rate: 1e-3,
            lr_final_fraction: 1.0,
            seed: 0,
            log_every: 100,
            checkpoint_every: 5_000,
            homographic: HomographicConfig::default(),
            photometric: PhotometricConfig::default(),
        }
    }
}

/// MagicPoint evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvalConfig {
    /// Held-out images.
    pub images: usize,
    /// Seed of the held-out stream (must differ from the training seed).
    pub seed: u64,
    /// Detections below this probability are not considered.
    pub threshold: f32,
    /// NMS radius (pixels).
    pub nms_radius: usize,
    /// Detections closer than this to the border are dropped.
    pub border: usize,
    /// A detection is correct within this distance (pixels) of an unmatched label.
    pub correct_distance: f64,
    /// Images per forward pass.
    pub batch_size: usize,
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig {
            images: 1000,
            seed: 0x5EED_E7A1,
            threshold: 0.001,
            nms_radius: DEFAULT_NMS_RADIUS,
            border: 0,
            correct_distance: 2.0,
            batch_size: 32,
        }
    }
}

/// Homographic Adaptation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdaptConfig {
    /// Photos are resized to cover this size and centre-cropped (joint training uses the same).
    pub height: usize,
    /// See `height`.
    pub width: usize,
    /// When larger than `height` (`width`), photos are resized to cover
    /// `cover_width` x `cover_height` and a random `width` x `height` crop is labelled (its
    /// position is saved with the labels), so pixels keep more of the photo's detail; 0 = a
    /// centre crop of the photo resized to cover `width` x `height`.
    pub cover_height: usize,
    /// See `cover_height`.
    pub cover_width: usize,
    /// Random homographies per photo (the identity is added).
    pub num_homographies: usize,
    /// Warped images per forward pass.
    pub batch_size: usize,
    /// Homography amplitudes.
    pub homography: HomographyParams,
    /// Detections within this margin of a warped image's border are ignored.
    pub border_margin: usize,
    /// Threshold on the aggregated heatmap.
    pub threshold: f32,
    /// NMS radius (pixels).
    pub nms_radius: usize,
    /// Pseudo-labels closer than this to the border are dropped.
    pub border: usize,
    /// Keep at most this many pseudo-labels per photo (0 = all).
    pub max_keypoints: usize,
    /// Use at most this many photos (0 = all).
    pub max_photos: usize,
    /// Seed of the homographies.
    pub seed: u64,
}

impl Default for AdaptConfig {
    fn default() -> Self {
        AdaptConfig {
            height: 240,
            width: 320,
            cover_height: 0,
            cover_width: 0,
            num_homographies: 100,
            batch_size: 25,
            homography: HomographyParams::default(),
            border_margin: 3,
            threshold: DEFAULT_THRESHOLD,
            nms_radius: DEFAULT_NMS_RADIUS,
            border: DEFAULT_BORDER,
            max_keypoints: 0,
            max_photos: 0,
            seed: 0,
        }
    }
}

/// The descriptor objective of joint training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DescriptorLoss {
    /// The paper's hinge loss over all pairs of cells (λ_d, m_p, m_n, cell_radius).
    Hinge,
    /// Symmetric InfoNCE on one point per cell of image 1 (jittered inside the cell) and its
    /// position in image 2, sampled as the detector samples descriptors (temperature,
    /// negative_radius).
    Infonce,
}

/// Joint SuperPoint training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JointConfig {
    /// Image pairs per step.
    pub batch_size: usize,
    /// Optimiser steps.
    pub steps: usize,
    /// Adam learning rate.
    pub learning_rate: f64,
    /// The learning rate decays (cosine) to `learning_rate * lr_final_fraction` at the last step;
    /// 1 keeps it constant.
    pub lr_final_fraction: f64,
    /// Steps of linear learning-rate warm-up before the cosine schedule (0 = none); for
    /// fine-tuning a trained network.
    pub lr_warmup_steps: usize,
    /// Weight of the descriptor loss (λ).
    pub lambda: f64,
    /// Descriptor objective: `hinge` (the paper's) or `infonce`.
    pub descriptor_loss: DescriptorLoss,
    /// InfoNCE softmax temperature.
    pub temperature: f64,
    /// InfoNCE: points closer than this (pixels) to a positive are not its negatives.
    pub negative_radius: f64,
    /// Weight of positive pairs in the descriptor hinge loss (λ_d).
    pub lambda_d: f64,
    /// Positive margin (m_p).
    pub positive_margin: f64,
    /// Negative margin (m_n).
    pub negative_margin: f64,
    /// Cells correspond when their centres are closer than this under H (pixels).
    pub cell_radius: f64,
    /// Seed of sampling and augmentation.
    pub seed: u64,
    /// Average and log the losses every this many steps.
    pub log_every: usize,
    /// Write a checkpoint every this many steps (and at the end).
    pub checkpoint_every: usize,
    /// Homographies between the two images of a pair.
    pub homographic: HomographicConfig,
    /// When enabled, the first image of a pair is itself a random warp of the labelled crop
    /// (another patch, scale and angle at every step) instead of the crop as it is.
    pub view_homographic: HomographicConfig,
    /// Height of the training views (both images of a pair), a multiple of 8; 0 = the labelled
    /// crop's height. Views smaller than the crop leave room for zooming out of it.
    pub view_height: usize,
    /// Width of the training views; 0 = the labelled crop's width.
    pub view_width: usize,
    /// Zoom of each view, drawn log-uniformly in [min, max]: view pixels per crop pixel (2 = the
    /// view shows the crop twice as large); the two views of a pair draw their own, so their
    /// scales differ by up to max / min. [0, 0] = no zoom: each view's patch is
    /// `patch_ratio` of the crop (the paper's augmentation).
    pub view_zoom: [f64; 2],
    /// Keep BatchNorm in inference mode (its running statistics, not the batch's): for
    /// fine-tuning a network whose BatchNorm was folded into its convolutions (initialised from an
    /// ONNX model, where BatchNorm starts as the identity), so that training starts from exactly
    /// that network.
    pub freeze_batchnorm: bool,
    /// Photometric augmentation (independently on both images).
    pub photometric: PhotometricConfig,
    /// Validate every this many steps (0 = never) when held-back photos are given.
    pub val_every: usize,
    /// Validation: warped images per held-back photo.
    pub val_warps: usize,
    /// Validation: held-back photos are downscaled to this longer side.
    pub val_max_side: usize,
}

impl Default for JointConfig {
    fn default() -> Self {
        JointConfig {
            batch_size: 16,
            steps: 100_000,
            learning_rate: 1e-3,
            lr_final_fraction: 1.0,
            lr_warmup_steps: 0,
            lambda: 1e-4,
            descriptor_loss: DescriptorLoss::Hinge,
            temperature: 0.1,
            negative_radius: 4.0,
            lambda_d: 250.0,
            positive_margin: 1.0,
            negative_margin: 0.2,
            cell_radius: 8.0,
            seed: 0,
            log_every: 100,
            checkpoint_every: 5_000,
            homographic: HomographicConfig {
                params: HomographyParams {
                    patch_ratio: 0.85,
                    ..HomographicConfig::default().params
                },
                ..HomographicConfig::default()
            },
            view_homographic: HomographicConfig {
                enable: false,
                ..HomographicConfig::default()
            },
            view_height: 0,
            view_width: 0,
            view_zoom: [0.0, 0.0],
            freeze_batchnorm: false,
            photometric: PhotometricConfig {
                motion_blur_max_kernel: 3,
                ..PhotometricConfig::default()
            },
            val_every: 0,
            val_warps: 2,
            val_max_side: 320,
        }
    }
}

impl JointConfig {
    /// Size (height, width) of the training views for labelled crops of `crop` = (h, w).
    pub fn view_size(&self, crop: (usize, usize)) -> (usize, usize) {
        (
            if self.view_height == 0 {
                crop.0
            } else {
                self.view_height
            },
            if self.view_width == 0 {
                crop.1
            } else {
                self.view_width
            },
        )
    }
}

impl Config {
    /// Reads a TOML file; missing fields keep their defaults, unknown fields are errors.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read config {}: {e}", path.display()))?;
        let cfg: Config = toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("bad config {}: {e}", path.display()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// The configuration as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot serialise: {e}\n"))
    }

    /// Checks every section.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.synth.validate()?;
        let m = &self.magicpoint;
        check_sizes("synth", self.synth.height, self.synth.width)?;
        check_training(
            "magicpoint",
            m.batch_size,
            m.steps,
            (m.learning_rate, m.lr_final_fraction),
            m.log_every,
        )?;
        m.photometric.validate("magicpoint")?;
        m.homographic
            .params
            .validate()
            .map_err(|e| anyhow::anyhow!("magicpoint.homographic.params: {e}"))?;
        let e = &self.eval;
        anyhow::ensure!(
            e.images > 0 && e.batch_size > 0,
            "eval.images and eval.batch_size must be positive"
        );
        anyhow::ensure!(
            (0.0..=1.0).contains(&e.threshold) && e.correct_distance > 0.0 && e.nms_radius <= 64,
            "eval: threshold in [0,1], correct_distance > 0, nms_radius <= 64"
        );
        let a = &self.adapt;
        check_sizes("adapt", a.height, a.width)?;
        anyhow::ensure!(
            a.batch_size > 0 && a.num_homographies <= 10_000,
            "adapt.batch_size must be positive and num_homographies <= 10000"
        );
        anyhow::ensure!(
            (0.0..=1.0).contains(&a.threshold) && a.nms_radius <= 64,
            "adapt: threshold in [0,1], nms_radius <= 64"
        );
        a.homography
            .validate()
            .map_err(|e| anyhow::anyhow!("adapt.homography: {e}"))?;
        let t = &self.train;
        check_training(
            "train",
            t.batch_size,
            t.steps,
            (t.learning_rate, t.lr_final_fraction),
            t.log_every,
        )?;
        anyhow::ensure!(
            t.lambda >= 0.0
                && t.lambda_d >= 0.0
                && t.cell_radius > 0.0
                && t.positive_margin.is_finite()
                && t.negative_margin.is_finite(),
            "train: lambda, lambda_d >= 0, cell_radius > 0, finite margins"
        );
        anyhow::ensure!(
            t.temperature > 0.0 && t.negative_radius >= 0.0,
            "train: temperature > 0 and negative_radius >= 0"
        );
        let z = t.view_zoom;
        anyhow::ensure!(
            z == [0.0, 0.0] || (z[0] > 0.0 && z[0] <= z[1] && z[1] <= 8.0),
            "train.view_zoom must be [0, 0] (off) or [min, max] with 0 < min <= max <= 8, got {z:?}"
        );
        anyhow::ensure!(
            (t.view_height == 0 || (t.view_height.is_multiple_of(8) && t.view_height >= 32))
                && (t.view_width == 0 || (t.view_width.is_multiple_of(8) && t.view_width >= 32)),
            "train.view_height and view_width must be 0 (the crop size) or multiples of 8 of at least 32, got {}x{}",
            t.view_width,
            t.view_height
        );
        anyhow::ensure!(
            t.val_warps > 0 && t.val_max_side >= 64,
            "train: val_warps > 0 and val_max_side >= 64"
        );
        t.view_homographic
            .params
            .validate()
            .map_err(|e| anyhow::anyhow!("train.view_homographic.params: {e}"))?;
        t.photometric.validate("train")?;
        t.homographic
            .params
            .validate()
            .map_err(|e| anyhow::anyhow!("train.homographic.params: {e}"))?;
        Ok(())
    }
}

fn check_sizes(section: &str, h: usize, w: usize) -> anyhow::Result<()> {
    anyhow::ensure!(
        h.is_multiple_of(8) && w.is_multiple_of(8) && h >= 32 && w >= 32,
        "{section}: height and width must be multiples of 8 and at least 32, got {w}x{h}"
    );
    Ok(())
}

fn check_training(
    section: &str,
    batch: usize,
    steps: usize,
    (lr, final_fraction): (f64, f64),
    log_every: usize,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        (0.0..=1.0).contains(&final_fraction),
        "{section}.lr_final_fraction must be within [0, 1], got {final_fraction}"
    );
    anyhow::ensure!(batch > 0, "{section}.batch_size must be positive");
    anyhow::ensure!(steps > 0, "{section}.steps must be positive");
    anyhow::ensure!(
        lr > 0.0 && lr < 1.0,
        "{section}.learning_rate must be within (0, 1), got {lr}"
    );
    anyhow::ensure!(log_every > 0, "{section}.log_every must be positive");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_round_trip_through_toml() {
        let c = Config::default();
        let back: Config = toml::from_str(&c.to_toml()).unwrap();
        assert_eq!(back, c);
        c.validate().unwrap();
        Config::small().validate().unwrap();
        Config::cpu().validate().unwrap();
        Config::cpu_v2().validate().unwrap();
        assert!(
            Config::preset("gpu")
                .unwrap_err()
                .to_string()
                .contains("paper, cpu, cpu-v2 or small")
        );
    }

    #[test]
    fn partial_file_keeps_defaults_and_unknown_fields_fail() {
        let c: Config = toml::from_str("[train]\nbatch_size = 3\n").unwrap();
        assert_eq!(c.train.batch_size, 3);
        assert_eq!(c.train.lambda_d, 250.0);
        assert!(toml::from_str::<Config>("[train]\nbatch = 3\n").is_err());
    }

    #[test]
    fn bad_values_name_the_field() {
        let mut c = Config::default();
        c.adapt.width = 100;
        assert!(c.validate().unwrap_err().to_string().contains("adapt"));
        let mut c = Config::default();
        c.train.learning_rate = -1.0;
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("train.learning_rate")
        );
    }
}
