//! Writing output files whole or not at all: the bytes go to a temporary file beside the target,
//! which is renamed over it once complete, so a failed write (a full disk, a read-only folder)
//! never leaves a torn file and keeps any previous version in place.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::Error;

/// The temporary file beside `path` that [`write_atomic`] writes first:
/// `.<name>.partial-<pid>` in the same folder (a rename within a folder is atomic).
fn partial_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.partial-{}", std::process::id()))
}

/// Writes `bytes` to `path` whole or not at all: into a temporary file in the same folder, flushed
/// to disk, then renamed over `path`. An existing `path` that is not a regular file (a device such
/// as `/dev/stdout`, a pipe) is written directly. Errors name `path` and the cause ("cannot write
/// out.json: No space left on device"); the temporary file is removed and `path` left as it was.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let special = std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir());
    let cannot = |e: std::io::Error| Error::io(format!("cannot write {}", path.display()), e);
    if special {
        return std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|mut f| f.write_all(bytes).and_then(|()| f.flush()))
            .map_err(cannot);
    }
    let partial = partial_path(path);
    let written = std::fs::File::create(&partial)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&partial, path));
    written.map_err(|e| {
        std::fs::remove_file(&partial).ok();
        cannot(e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_writes_name_the_file_and_leave_nothing_torn() {
        let dir = std::env::temp_dir().join(format!("sp-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.json");
        write_atomic(&path, b"first").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        // A device that is always full: the error names it.
        let err = write_atomic(Path::new("/dev/full"), b"x").unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot write /dev/full: No space left on device (os error 28)"
        );
        // A target that cannot be replaced (a folder): the error names it, the temporary file
        // is gone and the folder is untouched.
        let folder = dir.join("taken");
        std::fs::create_dir_all(folder.join("inside")).unwrap();
        let err = write_atomic(&folder, b"x").unwrap_err();
        assert!(
            err.to_string()
                .starts_with(&format!("cannot write {}: ", folder.display())),
            "{err}"
        );
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["out.json", "taken"]);
        assert!(folder.join("inside").is_dir());
        // A missing folder.
        let err = write_atomic(&dir.join("no/such/out.json"), b"x").unwrap_err();
        assert!(err.to_string().contains("no/such/out.json"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
