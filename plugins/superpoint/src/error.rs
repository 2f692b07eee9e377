//! The crate's error type: one enum whose message says what is wrong and, where it can, how to fix
//! it, cheap to clone so that one failure can be handed to every stream of a batching group.

use std::sync::Arc;

/// The error an [`Error::Io`] wraps: shared, so that one failure can be handed to every stream of
/// a batching group (`Error` is `Clone`). It dereferences to the wrapped error itself, so
/// [`std::error::Error::source`] of an [`Error`] can be downcast to e.g. [`std::io::Error`].
#[derive(Clone)]
pub struct ErrorSource(Arc<dyn std::error::Error + Send + Sync>);

impl ErrorSource {
    /// Shares `source`.
    pub fn new(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        ErrorSource(Arc::new(source))
    }
}

// Not `std::error::Error` itself: `thiserror` then reaches the wrapped error through `Deref`
// (`Arc<dyn Error>` is an error of its own type, which downcasting would see instead).
impl std::ops::Deref for ErrorSource {
    type Target = dyn std::error::Error + Send + Sync;

    fn deref(&self) -> &Self::Target {
        self.0.as_ref()
    }
}

impl std::fmt::Debug for ErrorSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Errors of this crate; each message says what is wrong and, where it can, how to fix it.
///
/// `Display` is the message; [`std::error::Error::source`] is the wrapped error of
/// [`Error::Io`] (itself, not a wrapper, so it can be downcast to e.g. [`std::io::Error`]).
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// A file could not be read, decoded or written. `message` says which file and what was being
    /// done, then the cause; `source` is the error that caused it (I/O, image codec), when there
    /// is one.
    #[error("{message}")]
    Io {
        /// What failed, including the cause's text.
        message: String,
        /// The underlying error.
        #[source]
        source: Option<ErrorSource>,
    },
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
            source: Some(ErrorSource::new(source)),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_keep_their_cause_as_source() {
        let missing = std::path::Path::new("/nonexistent/graf1.png");
        let err = crate::image_io::OwnedImage::load(missing).unwrap_err();
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
