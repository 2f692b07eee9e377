//! SuperPoint keypoint detection and description without GStreamer: ONNX model I/O, the ONNX
//! Runtime engine, pre- and post-processing, and the JSON formats shared by the GStreamer elements,
//! the `superpoint` CLI and the training tools.
#![warn(missing_docs)]

pub mod batching;
pub mod checkpoint;
pub mod detector;
pub mod draw;
pub mod engine;
pub mod eval;
pub mod frame;
pub mod geometry;
pub mod image_io;
pub mod json;
pub mod locate;
pub mod matching;
pub mod metrics;
pub mod onnx;
pub mod pixel;
pub mod plot;
pub mod postprocess;
pub mod ransac;
pub mod sampling;
pub mod smoothing;
#[cfg(feature = "torch")]
pub mod torch;
pub mod tracking;
pub mod warp;

pub use detector::{Detections, Detector, DetectorConfig};
pub use engine::{Engine, EngineOptions, Provider};
pub use frame::{Frame, PixelLayout};
pub use geometry::Homography;
pub use postprocess::{Keypoint, PostParams};

/// Errors of this crate; each message says what is wrong and, where it can, how to fix it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{0}")]
    Io(String),
    /// The model file is missing, not ONNX, or does not follow the SuperPoint contract.
    #[error("{0}")]
    Model(String),
    /// ONNX Runtime could not be loaded or failed.
    #[error("{0}")]
    Runtime(String),
    /// The requested execution provider cannot be used.
    #[error("{0}")]
    ProviderUnavailable(String),
    /// Bad input data (frame too small, wrong size).
    #[error("{0}")]
    Input(String),
    /// Bad parameter values.
    #[error("{0}")]
    Config(String),
}

/// The model used when none is given (shared by the elements and the CLI), searched in the order
/// of [`locate`]: `$SUPERPOINT_MODEL`, `$XDG_DATA_HOME` (or `~/.local/share`)`/gst-superpoint/`,
/// each of `$XDG_DATA_DIRS` (or `/usr/local/share:/usr/share`)`/gst-superpoint/`, then the source
/// tree's `models/`. When no file exists it is the source tree's path, and loading it fails with
/// an error listing every place searched ([`locate::missing_model_note`]).
pub fn default_model_path() -> std::path::PathBuf {
    locate::find_model(&locate::SearchEnv::from_process()).path()
}

/// Smallest frame side the detector accepts (two detector cells).
pub const MIN_FRAME_SIDE: usize = 16;
