//! SuperPoint keypoint detection and description without GStreamer: ONNX model I/O, the ONNX
//! Runtime engine, pre- and post-processing, and the JSON formats shared by the GStreamer elements,
//! the `superpoint` CLI and the training tools.
#![warn(missing_docs)]

pub mod batching;
pub mod detector;
pub mod draw;
pub mod engine;
pub mod eval;
pub mod frame;
pub mod geometry;
pub mod image_io;
pub mod json;
pub mod matching;
pub mod metrics;
pub mod onnx;
pub mod pixel;
pub mod plot;
pub mod postprocess;
pub mod ransac;
pub mod sampling;
pub mod smoothing;
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

/// The model used when none is given: `$SUPERPOINT_MODEL`, else `models/superpoint.onnx` of the
/// source tree this was built from (shared by the elements and the CLI).
pub fn default_model_path() -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("SUPERPOINT_MODEL") {
        return p.into();
    }
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    // plugins/superpoint -> repository root.
    let root = manifest
        .parent()
        .and_then(|p| p.parent())
        .unwrap_or(manifest);
    root.join("models").join("superpoint.onnx")
}

/// Smallest frame side the detector accepts (two detector cells).
pub const MIN_FRAME_SIDE: usize = 16;
