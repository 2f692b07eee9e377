//! The properties of `superpointdetect` as one value, and the detector configuration they make.

use superpoint::postprocess::{
    DEFAULT_BORDER, DEFAULT_MAX_KEYPOINTS, DEFAULT_NMS_RADIUS, DEFAULT_THRESHOLD,
};
use superpoint::scales::Scales;
use superpoint::{DetectorConfig, PostParams};

use super::{Provider, Subpixel};
use crate::default_model;

#[derive(Debug, Clone)]
pub(super) struct Settings {
    pub(super) model: String,
    pub(super) provider: Provider,
    pub(super) device_id: i32,
    pub(super) provider_fallback: bool,
    pub(super) threads: u32,
    pub(super) threshold: f32,
    pub(super) nms_radius: u32,
    pub(super) border: u32,
    pub(super) max_keypoints: u32,
    pub(super) subpixel: Subpixel,
    pub(super) scales: Scales,
    pub(super) inference_width: u32,
    pub(super) inference_height: u32,
    pub(super) descriptors: bool,
    pub(super) post_messages: bool,
    pub(super) message_descriptors: bool,
    pub(super) json_location: Option<String>,
    pub(super) batch_group: Option<String>,
    pub(super) batch_size: u32,
    pub(super) max_latency_us: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            model: default_model(),
            provider: Provider::Cpu,
            device_id: 0,
            provider_fallback: true,
            threads: 0,
            threshold: DEFAULT_THRESHOLD,
            nms_radius: DEFAULT_NMS_RADIUS as u32,
            border: DEFAULT_BORDER as u32,
            max_keypoints: DEFAULT_MAX_KEYPOINTS as u32,
            subpixel: Subpixel::default(),
            scales: Scales::default(),
            inference_width: 0,
            inference_height: 0,
            descriptors: true,
            post_messages: false,
            message_descriptors: false,
            json_location: None,
            batch_group: None,
            batch_size: 4,
            max_latency_us: 10_000,
        }
    }
}

/// The settings a frame needs, taken per frame without cloning [`Settings`]' strings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct FrameSettings {
    pub(super) detector: DetectorConfig,
    pub(super) post_messages: bool,
    pub(super) message_descriptors: bool,
}

impl Settings {
    pub(super) fn per_frame(&self) -> FrameSettings {
        FrameSettings {
            detector: self.detector_config(),
            post_messages: self.post_messages,
            message_descriptors: self.message_descriptors,
        }
    }

    pub(super) fn detector_config(&self) -> DetectorConfig {
        DetectorConfig {
            post: PostParams {
                threshold: self.threshold,
                nms_radius: self.nms_radius as usize,
                border: self.border as usize,
                max_keypoints: self.max_keypoints as usize,
                subpixel: self.subpixel.into(),
            },
            inference_width: self.inference_width as usize,
            inference_height: self.inference_height as usize,
            descriptors: self.descriptors,
            scales: self.scales,
        }
    }
}
