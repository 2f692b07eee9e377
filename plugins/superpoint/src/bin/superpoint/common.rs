//! Options shared by the subcommands that run the model.

use std::path::PathBuf;

use clap::Args;
use superpoint::postprocess::{
    DEFAULT_BORDER, DEFAULT_MAX_KEYPOINTS, DEFAULT_NMS_RADIUS, DEFAULT_THRESHOLD,
};
use superpoint::scales::Scales;
use superpoint::subpixel::Subpixel;
use superpoint::{DetectorConfig, EngineOptions, PostParams, Provider};

/// Model and detection options (the same as `superpointdetect`'s properties).
#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// SuperPoint ONNX model.
    #[arg(long, default_value_os_t = superpoint::default_model_path())]
    pub model: PathBuf,
    /// Execution provider: cpu or cuda.
    #[arg(long, default_value = "cpu", value_parser = parse_provider)]
    pub provider: Provider,
    /// Inference threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Minimum heatmap probability of a keypoint.
    #[arg(long, default_value_t = DEFAULT_THRESHOLD)]
    pub threshold: f32,
    /// Non-maximum suppression radius in image pixels (also with --inference-width/height).
    #[arg(long, default_value_t = DEFAULT_NMS_RADIUS)]
    pub nms_radius: usize,
    /// Drop keypoints closer than this many image pixels to the image edge (also with
    /// --inference-width/height).
    #[arg(long, default_value_t = DEFAULT_BORDER)]
    pub border: usize,
    /// Keep at most this many keypoints (0 = all).
    #[arg(long, default_value_t = DEFAULT_MAX_KEYPOINTS)]
    pub max_keypoints: usize,
    /// Sub-pixel keypoint refinement on the heatmap: none, quadratic (log-probability fit on
    /// 3x3), soft-argmax-3/5/7/9 (probability-weighted mean over that window).
    #[arg(long, default_value_t = Subpixel::default(), value_parser = parse_subpixel)]
    pub subpixel: Subpixel,
    /// Network input width (0 = native size padded to a multiple of 8); give both or neither.
    /// Keypoints are reported in image pixels either way.
    #[arg(long, default_value_t = 0)]
    pub inference_width: usize,
    /// Network input height (0 = native size).
    #[arg(long, default_value_t = 0)]
    pub inference_height: usize,
    /// Multi-scale detection: comma-separated factors the image (or the inference size) is
    /// resized by, e.g. 1,0.71,0.5; one network run each, keypoints merged with NMS across
    /// scales in image pixels. Default 1 (one run).
    #[arg(long, default_value_t = Scales::default(), value_parser = parse_scales)]
    pub scales: Scales,
}

fn parse_scales(s: &str) -> Result<Scales, String> {
    s.parse().map_err(|e: superpoint::Error| e.to_string())
}

fn parse_subpixel(s: &str) -> Result<Subpixel, String> {
    s.parse().map_err(|e: superpoint::Error| e.to_string())
}

fn parse_provider(s: &str) -> Result<Provider, String> {
    match s {
        "cpu" => Ok(Provider::Cpu),
        "cuda" => Ok(Provider::Cuda),
        _ => Err(format!("unknown provider {s:?}: use cpu or cuda")),
    }
}

impl ModelArgs {
    /// Engine options.
    pub fn engine_options(&self) -> EngineOptions {
        EngineOptions {
            provider: self.provider,
            device_id: 0,
            threads: self.threads,
        }
    }

    /// Detector configuration.
    pub fn detector_config(&self, descriptors: bool) -> DetectorConfig {
        DetectorConfig {
            post: PostParams {
                threshold: self.threshold,
                nms_radius: self.nms_radius,
                border: self.border,
                max_keypoints: self.max_keypoints,
                subpixel: self.subpixel,
            },
            inference_width: self.inference_width,
            inference_height: self.inference_height,
            descriptors,
            scales: self.scales,
        }
    }
}

/// Tells the user on stderr when `model` is marked untrained (random weights: `write-random-model`),
/// saying what its output is still good for (`purpose`); trained models pass silently.
pub fn warn_if_untrained(
    model: &std::path::Path,
    info: &superpoint::onnx::ModelInfo,
    purpose: &str,
) {
    if !info.trained {
        eprintln!(
            "warning: {} ({}) has RANDOM, untrained weights: {purpose}",
            model.display(),
            info.model_id
        );
    }
}
