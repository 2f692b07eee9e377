//! A JSON Lines writer that never leaves a torn line: used by `superpointdetect json-location` and
//! `superpointpublish location` (one writer, one [`FrameRecord`](crate::json::FrameRecord) per
//! line).
//!
//! Each record is serialised into a memory buffer first, then written with one `write_all` of the
//! whole line and flushed (so a line reaches the file before its buffer goes downstream, and a
//! killed process loses at most the line in flight). When a write fails part-way (a disk that
//! fills up), the output is cut back to the end of the last whole line. After the first failure
//! the writer reports the error once and writes nothing more: there is no buffered data that a
//! later flush could fail on, so closing never fails.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::Error;

/// An output that can be cut back to a length after a failed write.
pub trait Truncate {
    /// Drops everything after the first `len` bytes and continues writing there. Best effort:
    /// outputs that cannot be truncated (a character device such as `/dev/full`) return an error
    /// that the writer ignores.
    fn truncate_to(&mut self, len: u64) -> std::io::Result<()>;
}

impl Truncate for File {
    fn truncate_to(&mut self, len: u64) -> std::io::Result<()> {
        self.set_len(len)?;
        self.seek(SeekFrom::Start(len)).map(|_| ())
    }
}

impl Truncate for Vec<u8> {
    fn truncate_to(&mut self, len: u64) -> std::io::Result<()> {
        self.truncate(len as usize);
        Ok(())
    }
}

/// What [`JsonLinesWriter::write`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// The line is in the output, flushed.
    Line,
    /// Nothing: an earlier write failed (and was reported) and the writer has stopped.
    Stopped,
}

/// Writes one JSON value per line to `W`, each line whole or not at all. See the
/// [module documentation](self).
#[derive(Debug)]
pub struct JsonLinesWriter<W: Write + Truncate> {
    out: W,
    path: PathBuf,
    line: Vec<u8>,
    /// Bytes of whole lines written.
    committed: u64,
    stopped: bool,
}

impl JsonLinesWriter<File> {
    /// Creates (or truncates) the file at `path`. Errors name the file and the fix.
    pub fn create(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let file = File::create(path).map_err(|e| Error::Io {
            message: format!(
                "cannot create {}: {e} (check that the folder exists and is writable)",
                path.display()
            ),
            source: Some(crate::ErrorSource::new(e)),
        })?;
        Ok(Self::new(file, path))
    }
}

impl<W: Write + Truncate> JsonLinesWriter<W> {
    /// A writer to `out`, named `path` in error messages, starting at offset 0.
    pub fn new(out: W, path: impl Into<PathBuf>) -> Self {
        JsonLinesWriter {
            out,
            path: path.into(),
            line: Vec::with_capacity(4096),
            committed: 0,
            stopped: false,
        }
    }

    /// The file name used in messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether a write failed and the writer has stopped.
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    /// The output.
    pub fn get_ref(&self) -> &W {
        &self.out
    }

    /// Writes `record` as one line and flushes it. The first failure returns an error that
    /// names the file, the cause and the fix, cuts the output back to its last whole line and
    /// stops the writer; later calls return [`Written::Stopped`] without writing.
    pub fn write<T: Serialize>(&mut self, record: &T) -> Result<Written, Error> {
        if self.stopped {
            return Ok(Written::Stopped);
        }
        self.line.clear();
        serde_json::to_writer(&mut self.line, record).map_err(|e| {
            self.stopped = true;
            Error::Io {
                message: format!("cannot serialise a record for {}: {e}", self.path.display()),
                source: Some(crate::ErrorSource::new(e)),
            }
        })?;
        self.line.push(b'\n');
        match self
            .out
            .write_all(&self.line)
            .and_then(|()| self.out.flush())
        {
            Ok(()) => {
                self.committed += self.line.len() as u64;
                Ok(Written::Line)
            }
            Err(e) => {
                self.stopped = true;
                // Best effort: a device that cannot be truncated received nothing anyway.
                let _ = self.out.truncate_to(self.committed);
                Err(Error::Io {
                    message: format!(
                        "cannot write {}: {e} (check the disk space and the permissions); no more lines are written to it",
                        self.path.display()
                    ),
                    source: Some(crate::ErrorSource::new(e)),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Accepts `budget` bytes, then writes part of the next chunk and fails (a disk filling up).
    struct Filling {
        data: Vec<u8>,
        budget: usize,
    }

    impl Write for Filling {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.budget == 0 {
                return Err(std::io::Error::from_raw_os_error(28));
            }
            let n = buf.len().min(self.budget);
            self.data.extend_from_slice(&buf[..n]);
            self.budget -= n;
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Truncate for Filling {
        fn truncate_to(&mut self, len: u64) -> std::io::Result<()> {
            self.data.truncate_to(len)
        }
    }

    #[derive(Serialize)]
    struct Rec {
        frame: u32,
        text: &'static str,
    }

    #[test]
    fn a_failure_at_any_frame_leaves_only_whole_lines_and_is_reported_once() {
        let line_len = r#"{"frame":0,"text":"abcdef"}"#.len() + 1;
        for k in 0..4 {
            // The disk fills up in the middle of line k.
            let out = Filling {
                data: Vec::new(),
                budget: k * line_len + line_len / 2,
            };
            let mut w = JsonLinesWriter::new(out, "/tmp/x.jsonl");
            let mut results = Vec::new();
            for frame in 0..6 {
                let r = Rec {
                    frame,
                    text: "abcdef",
                };
                results.push(w.write(&r).map_err(|e| e.to_string()));
            }
            let errors: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
            assert_eq!(errors.len(), 1, "frame {k}: {results:?}");
            assert!(
                errors[0].starts_with("cannot write /tmp/x.jsonl: No space left on device")
                    && errors[0].contains("check the disk space"),
                "{}",
                errors[0]
            );
            assert_eq!(results[..k], vec![Ok(Written::Line); k][..]);
            assert!(results[k + 1..].iter().all(|r| *r == Ok(Written::Stopped)));
            assert!(w.stopped());
            let text = String::from_utf8(w.get_ref().data.clone()).unwrap();
            assert_eq!(text.len(), k * line_len, "{text:?}");
            assert_eq!(text.lines().count(), k);
            for (i, line) in text.lines().enumerate() {
                assert_eq!(line, format!(r#"{{"frame":{i},"text":"abcdef"}}"#));
            }
        }
    }

    #[test]
    fn lines_reach_a_file_whole_and_dev_full_fails_once() {
        let dir = std::env::temp_dir().join(format!("jsonl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.jsonl");
        let mut w = JsonLinesWriter::create(&path).unwrap();
        for frame in 0..3 {
            assert_eq!(w.write(&Rec { frame, text: "t" }).unwrap(), Written::Line);
            // Flushed per line: the file already holds it.
            let text = std::fs::read_to_string(&path).unwrap();
            assert_eq!(text.lines().count(), frame as usize + 1);
        }
        std::fs::remove_dir_all(&dir).unwrap();
        let e = JsonLinesWriter::create("/nonexistent-dir/a.jsonl").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("cannot create /nonexistent-dir/a.jsonl")
        );
        if Path::new("/dev/full").exists() {
            let mut w = JsonLinesWriter::create("/dev/full").unwrap();
            let e = w
                .write(&Rec {
                    frame: 0,
                    text: "t",
                })
                .unwrap_err();
            assert!(e.to_string().contains("No space left on device"), "{e}");
            assert_eq!(
                w.write(&Rec {
                    frame: 1,
                    text: "t"
                })
                .unwrap(),
                Written::Stopped
            );
        }
    }
}
