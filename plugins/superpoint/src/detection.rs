//! What a detection is, independent of the engine that runs the network: the configuration
//! ([`DetectorConfig`]), the result ([`Detections`]) and the decode step from network outputs to
//! keypoints and descriptors in frame pixels ([`decode`]: threshold, NMS, border, top-k, sub-pixel
//! refinement and descriptor sampling, see [`crate::postprocess`]).
//!
//! Both engines ([`crate::backend`]: ONNX Runtime, and libtorch with the `torch` feature) and the
//! [`Detector`](crate::Detector) build on this module; it imports none of them.

use crate::finite::NonFiniteOutput;
use crate::frame::InputGeometry;
use crate::onnx::{CELL, DESCRIPTOR_DIM};
use crate::postprocess::{self, Keypoint, KeypointScratch, PostParams};
use crate::scales::Scales;
use crate::{Error, MIN_FRAME_SIDE};

/// What to detect and at which size. Pixel-valued settings (`post.border`, `post.nms_radius`) are
/// frame pixels, also when `inference_width` x `inference_height` resizes the frame.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct DetectorConfig {
    /// Post-processing.
    pub post: PostParams,
    /// Network input width; 0 = native frame size (padded to a multiple of 8).
    pub inference_width: usize,
    /// Network input height; 0 = native frame size.
    pub inference_height: usize,
    /// Compute descriptors.
    pub descriptors: bool,
    /// Factors the frame (or the inference size, when set) is resized by before the network;
    /// several run the network once each and merge the keypoints with NMS across scales in frame
    /// pixels ([`crate::scales`], done by [`crate::Detector::detect`]; an
    /// [`InferenceBackend`](crate::InferenceBackend) runs one scale). Default: the single scale 1.
    pub scales: Scales,
}

impl DetectorConfig {
    /// Checks value ranges: [`PostParams::validate`], an inference size that is 0 x 0 (native)
    /// or at least [`MIN_FRAME_SIDE`] on both sides, and the scales ([`Scales::new`]); errors are
    /// [`Error::Config`] saying which.
    pub fn validate(&self) -> Result<(), Error> {
        self.post.validate()?;
        for (name, v) in [
            ("inference-width", self.inference_width),
            ("inference-height", self.inference_height),
        ] {
            if v != 0 && v < MIN_FRAME_SIDE {
                return Err(Error::Config(format!(
                    "{name} must be 0 (native size) or at least {MIN_FRAME_SIDE}, got {v}"
                )));
            }
        }
        Scales::new(self.scales.as_slice())?;
        if (self.inference_width == 0) != (self.inference_height == 0) {
            return Err(Error::Config(
                "set both inference-width and inference-height, or neither".into(),
            ));
        }
        Ok(())
    }

    /// The network input size asked for, `(width, height)`; `(0, 0)` = native frame size.
    pub fn inference_size(&self) -> (usize, usize) {
        (self.inference_width, self.inference_height)
    }
}

/// Keypoints and descriptors of one frame, in frame pixels.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Detections {
    /// Frame width.
    pub width: u32,
    /// Frame height.
    pub height: u32,
    /// Keypoints sorted by descending score.
    pub keypoints: Vec<Keypoint>,
    /// `keypoints.len()` x 256 unit-norm descriptors, row-major (empty when not computed).
    pub descriptors: Vec<f32>,
    /// Per keypoint, the scale it was detected at (network pixels per frame pixel, e.g. 0.5 for
    /// a keypoint of the half-size pass); empty when the frame was run at one scale only.
    pub scales: Vec<f32>,
}

impl Detections {
    /// The descriptor of keypoint `i` (256 values). Panics when `i` is out of range or the
    /// descriptors were not computed.
    pub fn descriptor(&self, i: usize) -> &[f32] {
        &self.descriptors[i * DESCRIPTOR_DIM..(i + 1) * DESCRIPTOR_DIM]
    }

    /// Empties `self` for a frame of `frame_size` pixels, keeping the allocations.
    pub fn reset(&mut self, frame_size: (usize, usize)) {
        self.width = frame_size.0 as u32;
        self.height = frame_size.1 as u32;
        self.keypoints.clear();
        self.descriptors.clear();
        self.scales.clear();
    }
}

/// Turns one image's network outputs (`scores` `[H, W]` and `descriptors` `[256, H/8, W/8]` for
/// the network input size of `geo`; `descriptors` may be empty when `cfg.descriptors` is false)
/// into keypoints and descriptors in frame pixels. The post-processing distances of `cfg`
/// (`border`, `nms_radius`) are frame pixels whatever the network input size; descriptors are
/// sampled at the (sub-pixel refined) keypoint positions.
///
/// Errors when an output holds NaN or infinite values ([`crate::finite::check_outputs`]: whole on
/// the first call with `scratch`, cheaply after that); `out` is then left empty. Callers name the
/// model with [`NonFiniteOutput::into_error`].
pub fn decode(
    scores: &[f32],
    descriptors: &[f32],
    geo: &InputGeometry,
    frame_size: (usize, usize),
    cfg: &DetectorConfig,
    scratch: &mut DecodeScratch,
    out: &mut Detections,
) -> Result<(), NonFiniteOutput> {
    out.reset(frame_size);
    // border and nms-radius are frame pixels, also when the network input is resized.
    postprocess::extract_keypoints_in_frame(
        scores,
        geo,
        frame_size,
        &cfg.post,
        &mut scratch.keypoints,
        &mut scratch.raw,
    );
    if cfg.descriptors {
        postprocess::sample_descriptors(
            descriptors,
            geo.height / CELL,
            geo.width / CELL,
            scratch.raw.iter().map(|k| (k.x, k.y)),
            &mut out.descriptors,
        );
    }
    let dense = if cfg.descriptors { descriptors } else { &[] };
    let checked =
        crate::finite::check_outputs(scores, dense, &out.descriptors, !scratch.outputs_checked);
    scratch.outputs_checked = true;
    if let Err(e) = checked {
        out.descriptors.clear();
        return Err(e);
    }
    out.keypoints
        .extend(scratch.raw.iter().map(|k| to_frame(geo, k)));
    Ok(())
}

/// A keypoint in network-input pixels mapped to frame pixels (score unchanged).
pub fn to_frame(geo: &InputGeometry, k: &Keypoint) -> Keypoint {
    let (x, y) = geo.to_frame(k.x, k.y);
    Keypoint {
        x,
        y,
        score: k.score,
    }
}

/// Buffers reused by [`decode`] from frame to frame.
#[derive(Debug, Default)]
pub struct DecodeScratch {
    keypoints: KeypointScratch,
    raw: Vec<Keypoint>,
    /// Whether a first frame's outputs were checked whole for non-finite values.
    outputs_checked: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subpixel::Subpixel;

    fn geo(w: usize, h: usize, scale: f32) -> InputGeometry {
        InputGeometry {
            width: w,
            height: h,
            valid_width: w,
            valid_height: h,
            scale_x: scale,
            scale_y: scale,
        }
    }

    /// Dense descriptors whose cell (cy, cx) is the unit vector along channel `cy * wc + cx`.
    fn one_hot_cells(hc: usize, wc: usize) -> Vec<f32> {
        let mut d = vec![0.0; DESCRIPTOR_DIM * hc * wc];
        for c in 0..hc * wc {
            d[c * hc * wc + c] = 1.0;
        }
        d
    }

    #[test]
    fn decode_maps_keypoints_to_frame_pixels_and_samples_their_descriptors() {
        // A 32x32 network input of a 64x64 frame (scale 2) with two equal neighbouring peaks.
        let g = geo(32, 32, 2.0);
        let mut scores = vec![0.0; 32 * 32];
        scores[19 * 32 + 11] = 0.9;
        scores[19 * 32 + 12] = 0.9;
        let cfg = DetectorConfig {
            post: PostParams {
                subpixel: Subpixel::SoftArgmax { radius: 1 },
                ..Default::default()
            },
            descriptors: true,
            ..Default::default()
        };
        let (hc, wc) = (4, 4);
        let dense = one_hot_cells(hc, wc);
        let mut out = Detections::default();
        decode(
            &scores,
            &dense,
            &g,
            (64, 64),
            &cfg,
            &mut DecodeScratch::default(),
            &mut out,
        )
        .unwrap();
        assert_eq!((out.width, out.height), (64, 64));
        // NMS keeps the first of the tie (row-major), soft-argmax moves it half-way to the twin:
        // network (11.5, 19) -> frame ((11.5 + 0.5) * 2 - 0.5, (19 + 0.5) * 2 - 0.5).
        assert_eq!(
            out.keypoints,
            vec![Keypoint {
                x: 23.5,
                y: 38.5,
                score: 0.9
            }]
        );
        // Sampled at network (11.5, 19): u = (11.5 - 3.5) / 8 = 1, v = (19 - 3.5) / 8 = 1.9375,
        // so cells (1, 1) and (2, 1) weighted 0.0625 and 0.9375, then L2-normalised.
        let d = out.descriptor(0);
        let n = (0.0625f32.powi(2) + 0.9375f32.powi(2)).sqrt();
        assert!((d[wc + 1] - 0.0625 / n).abs() < 1e-6, "{}", d[wc + 1]);
        assert!(
            (d[2 * wc + 1] - 0.9375 / n).abs() < 1e-6,
            "{}",
            d[2 * wc + 1]
        );
        assert_eq!(d.iter().filter(|v| **v != 0.0).count(), 2);
    }

    #[test]
    fn decode_without_descriptors_leaves_them_empty_and_reuses_the_output() {
        let g = geo(24, 24, 1.0);
        let mut scores = vec![0.0; 24 * 24];
        scores[10 * 24 + 10] = 0.5;
        let cfg = DetectorConfig {
            post: PostParams {
                subpixel: Subpixel::None,
                ..Default::default()
            },
            ..Default::default()
        };
        let mut out = Detections {
            width: 1,
            height: 1,
            keypoints: vec![Keypoint {
                x: 0.0,
                y: 0.0,
                score: 1.0,
            }],
            descriptors: vec![1.0; DESCRIPTOR_DIM],
            scales: vec![1.0],
        };
        decode(
            &scores,
            &[],
            &g,
            (24, 24),
            &cfg,
            &mut DecodeScratch::default(),
            &mut out,
        )
        .unwrap();
        assert_eq!(
            out,
            Detections {
                width: 24,
                height: 24,
                keypoints: vec![Keypoint {
                    x: 10.0,
                    y: 10.0,
                    score: 0.5
                }],
                descriptors: Vec::new(),
                scales: Vec::new(),
            }
        );
    }

    #[test]
    fn config_validation_names_the_bad_setting() {
        let ok = DetectorConfig::default();
        assert!(ok.validate().is_ok());
        let half = DetectorConfig {
            inference_width: 64,
            ..ok
        };
        assert!(half.validate().unwrap_err().to_string().contains("both"));
        let small = DetectorConfig {
            inference_width: 8,
            inference_height: 64,
            ..ok
        };
        assert!(
            small
                .validate()
                .unwrap_err()
                .to_string()
                .contains("inference-width must be 0")
        );
        assert_eq!(
            DetectorConfig {
                inference_width: 64,
                inference_height: 48,
                ..ok
            }
            .inference_size(),
            (64, 48)
        );
    }
}
