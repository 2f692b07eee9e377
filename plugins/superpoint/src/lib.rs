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
pub mod subpixel;
#[cfg(feature = "torch")]
pub mod torch;
pub mod tracking;
pub mod views;
pub mod warp;

pub use detector::{Detections, Detector, DetectorConfig};
pub use engine::{Engine, EngineOptions, Provider};
pub use frame::{Frame, PixelLayout};
pub use geometry::Homography;
pub use postprocess::{Keypoint, PostParams};

/// The error an [`Error`] wraps: shared, so that one failure can be handed to every stream of a
/// batching group (`Error` is `Clone`).
pub type ErrorSource = std::sync::Arc<dyn std::error::Error + Send + Sync>;

/// Errors of this crate; each message says what is wrong and, where it can, how to fix it.
///
/// `Display` is the message; [`std::error::Error::source`] is the wrapped error of
/// [`Error::Io`] (itself, not a wrapper, so it can be downcast to e.g. [`std::io::Error`]).
#[derive(Debug, Clone)]
pub enum Error {
    /// A file could not be read, decoded or written. `message` says which file and what was being
    /// done, then the cause; `source` is the error that caused it (I/O, image codec), when there
    /// is one.
    Io {
        /// What failed, including the cause's text.
        message: String,
        /// The underlying error.
        source: Option<ErrorSource>,
    },
    /// The model file is missing, not ONNX, or does not follow the SuperPoint contract.
    Model(String),
    /// ONNX Runtime could not be loaded or failed.
    Runtime(String),
    /// The requested execution provider cannot be used.
    ProviderUnavailable(String),
    /// Bad input data (frame too small, wrong size).
    Input(String),
    /// Bad parameter values.
    Config(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Io { message, .. } => f.write_str(message),
            Error::Model(m)
            | Error::Runtime(m)
            | Error::ProviderUnavailable(m)
            | Error::Input(m)
            | Error::Config(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io {
                source: Some(source),
                ..
            } => Some(source.as_ref()),
            _ => None,
        }
    }
}

impl Error {
    /// [`Error::Io`] for `what` (e.g. "cannot read /x.png") caused by `source`: the message is
    /// "`what`: `source`", and `source` stays reachable through [`std::error::Error::source`].
    pub fn io(
        what: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        let what = what.into();
        Error::Io {
            message: format!("{what}: {source}"),
            source: Some(std::sync::Arc::new(source)),
        }
    }

    /// [`Error::Io`] with no underlying error.
    pub fn io_message(message: impl Into<String>) -> Self {
        Error::Io {
            message: message.into(),
            source: None,
        }
    }
}

/// Errors compare by kind and message (their sources are not comparable).
impl PartialEq for Error {
    fn eq(&self, other: &Self) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
            && self.to_string() == other.to_string()
    }
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

#[cfg(test)]
mod error_tests {
    use super::*;

    #[test]
    fn io_errors_keep_their_cause_as_source() {
        let missing = std::path::Path::new("/nonexistent/graf1.png");
        let err = image_io::OwnedImage::load(missing).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot open image /nonexistent/graf1.png: "),
            "{err}"
        );
        let source = std::error::Error::source(&err).expect("the I/O error");
        let io = source
            .downcast_ref::<std::io::Error>()
            .expect("an std::io::Error");
        assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
        // Clones share the source; comparison is by kind and message.
        assert_eq!(err.clone(), err);
        assert_ne!(
            err,
            Error::io_message(err.to_string().replace("open", "read"))
        );
        assert!(std::error::Error::source(&Error::io_message("x")).is_none());
    }
}
