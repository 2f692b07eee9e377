//! SuperPoint keypoint detection and description without GStreamer: ONNX model I/O, the ONNX
//! Runtime engine, pre- and post-processing, and the JSON formats shared by the GStreamer elements,
//! the `superpoint` CLI and the training tools.
//!
//! Features: `cli` (default; the `superpoint` binary) turns on `plot` (PNG line charts:
//! [`plot`], [`eval::plot_mma`]) and `checkpoint` (import of PyTorch checkpoints: [`checkpoint`]),
//! which only the CLI and the offline tools use; the GStreamer plugin builds without them.
//! `torch` adds the libtorch engine ([`torch`]).
#![warn(missing_docs)]

pub mod backend;
pub mod batching;
#[cfg(feature = "checkpoint")]
pub mod checkpoint;
pub mod detection;
pub mod detector;
pub mod draw;
pub mod engine;
pub mod error;
pub mod eval;
pub mod features;
pub mod files;
pub mod finite;
pub mod frame;
pub mod geometry;
pub mod image_io;
pub mod json;
pub mod jsonl;
pub mod locate;
pub mod matching;
pub mod metrics;
pub mod onnx;
pub mod pixel;
#[cfg(feature = "plot")]
pub mod plot;
pub mod postprocess;
pub mod ransac;
pub mod sampling;
pub mod scales;
pub mod smoothing;
pub mod subpixel;
#[cfg(feature = "torch")]
pub mod torch;
pub mod tracking;
pub mod views;
pub mod warp;

pub use backend::InferenceBackend;
pub use detection::{Detections, DetectorConfig};
pub use detector::Detector;
pub use engine::{Engine, EngineOptions, InputShape, Provider};
pub use error::{Error, ErrorSource};
pub use frame::{Frame, MIN_FRAME_SIDE, PixelLayout};
pub use geometry::Homography;
pub use locate::default_model_path;
pub use postprocess::{Keypoint, PostParams};
