//! Where an installed plugin or CLI finds its files: the default model and the ONNX Runtime
//! library, each in a documented search order, so that a `.deb` install, a user install into
//! `~/.local/share` and a source build all work without setting variables.
//!
//! Default model ([`find_model`], used by [`default_model_path`]):
//! 1. `$SUPERPOINT_MODEL` (taken as given, even when the file is missing);
//! 2. the user's data directory: `$XDG_DATA_HOME` (default `~/.local/share`)`/gst-superpoint/superpoint.onnx`;
//! 3. the system data directories: each of `$XDG_DATA_DIRS` (default
//!    `/usr/local/share:/usr/share`)`/gst-superpoint/superpoint.onnx`;
//! 4. the source tree this was built from: `models/superpoint.onnx`.
//!
//! ONNX Runtime library ([`find_ort_library`], used by [`crate::engine::ort_library_path`]):
//! 1. `$ORT_DYLIB_PATH` (taken as given);
//! 2. beside the loaded plugin or executable (its directory `D`, found in `/proc/self/maps`, and
//!    the running executable's): `D/../gst-superpoint/` (the plugin in `<libdir>/gstreamer-1.0/`,
//!    the library in `<libdir>/gst-superpoint/`, as the `.deb` installs them) and
//!    `D/../lib/<arch>-linux-gnu/gst-superpoint/` (the CLI in `/usr/bin`);
//! 3. the user's data directory: `$XDG_DATA_HOME` (default `~/.local/share`)`/gst-superpoint/lib/`
//!    (the user install);
//! 4. the source tree's `.deps/onnxruntime/` (what `scripts/setup.sh` fills);
//!
//! each holding [`ORT_LIBRARY_FILE`]; else 5. the system's `libonnxruntime.so`, found by the
//! dynamic loader (`LD_LIBRARY_PATH`, `/etc/ld.so.cache`).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Folder name of this project's files under a data directory or a library directory.
pub const DATA_SUBDIR: &str = "gst-superpoint";
/// File name of the default model.
pub const MODEL_FILE: &str = "superpoint.onnx";
/// ONNX Runtime version the engine is built and tested against.
pub const ORT_VERSION: &str = "1.31.1";
/// File name of the ONNX Runtime library searched beside the plugin, in the user's data directory
/// and in the source tree.
pub const ORT_LIBRARY_FILE: &str = "libonnxruntime.so.1.31.1";
/// Name handed to the dynamic loader when no candidate file exists.
pub const ORT_SYSTEM_LIBRARY: &str = "libonnxruntime.so";

/// The environment the searches read, captured once so tests can supply their own.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchEnv {
    /// `$SUPERPOINT_MODEL`.
    pub superpoint_model: Option<OsString>,
    /// `$ORT_DYLIB_PATH`.
    pub ort_dylib_path: Option<OsString>,
    /// `$XDG_DATA_HOME`.
    pub xdg_data_home: Option<OsString>,
    /// `$HOME`.
    pub home: Option<OsString>,
    /// `$XDG_DATA_DIRS`.
    pub xdg_data_dirs: Option<OsString>,
    /// Root of the source tree this was built from (holds `models/` and `.deps/`).
    pub source_root: PathBuf,
    /// Directories of the loaded plugin or executable (see [`loaded_object_dirs`]).
    pub object_dirs: Vec<PathBuf>,
}

/// Empty variables count as unset, as the XDG base directory specification says.
fn var(name: &str) -> Option<OsString> {
    std::env::var_os(name).filter(|v| !v.is_empty())
}

/// The source tree's root: `plugins/superpoint/../..` at build time.
pub fn source_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .and_then(|p| p.parent())
        .unwrap_or(manifest)
        .to_path_buf()
}

impl SearchEnv {
    /// This process's variables, the build's source tree and the loaded object's directories.
    pub fn from_process() -> Self {
        SearchEnv {
            superpoint_model: var("SUPERPOINT_MODEL"),
            ort_dylib_path: var("ORT_DYLIB_PATH"),
            xdg_data_home: var("XDG_DATA_HOME"),
            home: var("HOME"),
            xdg_data_dirs: var("XDG_DATA_DIRS"),
            source_root: source_root(),
            object_dirs: loaded_object_dirs(),
        }
    }

    /// `$XDG_DATA_HOME`, else `$HOME/.local/share`; `None` without either.
    pub fn user_data_dir(&self) -> Option<PathBuf> {
        match (&self.xdg_data_home, &self.home) {
            (Some(d), _) => Some(PathBuf::from(d)),
            (None, Some(h)) => Some(Path::new(h).join(".local").join("share")),
            (None, None) => None,
        }
    }

    /// The entries of `$XDG_DATA_DIRS` (empty entries skipped), else `/usr/local/share` and
    /// `/usr/share`.
    pub fn system_data_dirs(&self) -> Vec<PathBuf> {
        match &self.xdg_data_dirs {
            Some(dirs) => std::env::split_paths(dirs)
                .filter(|p| !p.as_os_str().is_empty())
                .collect(),
            None => vec!["/usr/local/share".into(), "/usr/share".into()],
        }
    }
}

/// Where the default model was found, or every place looked at.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelSearch {
    /// `$SUPERPOINT_MODEL`, taken as given.
    FromEnv(PathBuf),
    /// The first existing candidate.
    Found(PathBuf),
    /// No candidate exists; the candidates in search order.
    NotFound(Vec<PathBuf>),
}

impl ModelSearch {
    /// The path to use: the one set or found, else the last candidate (the source tree's), whose
    /// absence [`missing_model_note`] explains.
    pub fn path(&self) -> PathBuf {
        match self {
            ModelSearch::FromEnv(p) | ModelSearch::Found(p) => p.clone(),
            ModelSearch::NotFound(c) => c.last().cloned().unwrap_or_default(),
        }
    }
}

/// The model files searched after `$SUPERPOINT_MODEL`, in order (see the module documentation).
pub fn model_candidates(env: &SearchEnv) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = env.user_data_dir().into_iter().collect();
    dirs.extend(env.system_data_dirs());
    let mut candidates: Vec<PathBuf> = dirs
        .into_iter()
        .map(|d| d.join(DATA_SUBDIR).join(MODEL_FILE))
        .collect();
    candidates.push(env.source_root.join("models").join(MODEL_FILE));
    candidates
}

/// Searches the default model in the documented order.
pub fn find_model(env: &SearchEnv) -> ModelSearch {
    if let Some(p) = &env.superpoint_model {
        return ModelSearch::FromEnv(PathBuf::from(p));
    }
    let candidates = model_candidates(env);
    match candidates.iter().find(|p| p.is_file()) {
        Some(p) => ModelSearch::Found(p.clone()),
        None => ModelSearch::NotFound(candidates),
    }
}

/// The model used when none is given (shared by the elements and the CLI), searched in the order
/// of this module: `$SUPERPOINT_MODEL`, `$XDG_DATA_HOME` (or `~/.local/share`)`/gst-superpoint/`,
/// each of `$XDG_DATA_DIRS` (or `/usr/local/share:/usr/share`)`/gst-superpoint/`, then the source
/// tree's `models/`. When no file exists it is the source tree's path, and loading it fails with
/// an error listing every place searched ([`missing_model_note`]).
pub fn default_model_path() -> PathBuf {
    find_model(&SearchEnv::from_process()).path()
}

/// When `missing` (a model path that does not exist) is the default model of this process, the
/// explanation of where the default was looked for and how to provide one; else `None`.
pub fn missing_model_note(missing: &Path) -> Option<String> {
    missing_model_note_in(&SearchEnv::from_process(), missing)
}

/// [`missing_model_note`] for a given environment.
pub fn missing_model_note_in(env: &SearchEnv, missing: &Path) -> Option<String> {
    match find_model(env) {
        ModelSearch::FromEnv(p) if p == missing => Some(format!(
            "it is the default model from $SUPERPOINT_MODEL ({}): point SUPERPOINT_MODEL at a \
             SuperPoint ONNX file or unset it",
            p.display()
        )),
        ModelSearch::NotFound(candidates)
            if candidates.last().map(PathBuf::as_path) == Some(missing) =>
        {
            let list: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
            Some(format!(
                "no model was given and no default model was found; searched $SUPERPOINT_MODEL \
                 (unset), then {}. Install the package's models (/usr/share/{DATA_SUBDIR}/), copy \
                 {MODEL_FILE} into one of these places, set SUPERPOINT_MODEL, or give the model",
                list.join(", ")
            ))
        }
        _ => None,
    }
}

/// The ONNX Runtime library files searched after `$ORT_DYLIB_PATH`, in order (see the module
/// documentation); the system library name [`ORT_SYSTEM_LIBRARY`] comes after them.
pub fn ort_library_candidates(env: &SearchEnv) -> Vec<PathBuf> {
    let multiarch = format!("{}-linux-gnu", std::env::consts::ARCH);
    let mut dirs: Vec<PathBuf> = Vec::new();
    for up in env.object_dirs.iter().filter_map(|d| d.parent()) {
        dirs.push(up.join(DATA_SUBDIR));
        dirs.push(up.join("lib").join(&multiarch).join(DATA_SUBDIR));
    }
    if let Some(user) = env.user_data_dir() {
        dirs.push(user.join(DATA_SUBDIR).join("lib"));
    }
    dirs.push(env.source_root.join(".deps").join("onnxruntime"));
    let mut candidates: Vec<PathBuf> = Vec::new();
    for d in dirs {
        let file = d.join(ORT_LIBRARY_FILE);
        if !candidates.contains(&file) {
            candidates.push(file);
        }
    }
    candidates
}

/// The ONNX Runtime library to load: `$ORT_DYLIB_PATH`, else the first existing candidate of
/// [`ort_library_candidates`], else [`ORT_SYSTEM_LIBRARY`] for the dynamic loader to find.
pub fn find_ort_library(env: &SearchEnv) -> PathBuf {
    if let Some(p) = &env.ort_dylib_path {
        return PathBuf::from(p);
    }
    ort_library_candidates(env)
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(ORT_SYSTEM_LIBRARY))
}

/// The directories of the shared object holding this code (the GStreamer plugin when loaded by
/// GStreamer, the executable for the CLI) and of the running executable (`/proc/self/exe`),
/// without duplicates.
pub fn loaded_object_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    let object = this_object_path();
    let exe = std::env::current_exe().ok();
    for path in [object, exe].into_iter().flatten() {
        if let Some(d) = path.parent()
            && !dirs.iter().any(|x: &PathBuf| x == d)
        {
            dirs.push(d.to_path_buf());
        }
    }
    dirs
}

/// Path of the file mapped at the address of this function: the shared object (or executable)
/// holding this code. Read from `/proc/self/maps` (what `dladdr` would answer, without unsafe
/// code), whose lines are `start-end perms offset dev inode path` with hexadecimal addresses.
fn this_object_path() -> Option<PathBuf> {
    let address = this_object_path as fn() -> Option<PathBuf> as usize;
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    object_at(&maps, address)
}

/// The absolute path of the mapping in `maps` (the text of `/proc/self/maps`) that holds
/// `address`.
fn object_at(maps: &str, address: usize) -> Option<PathBuf> {
    maps.lines().find_map(|line| {
        let mut fields = line.splitn(6, ' ');
        let (start, end) = fields.next()?.split_once('-')?;
        let (start, end) = (
            usize::from_str_radix(start, 16).ok()?,
            usize::from_str_radix(end, 16).ok()?,
        );
        let path = fields.nth(4)?.trim_start();
        (start <= address && address < end && path.starts_with('/')).then(|| PathBuf::from(path))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("sp-locate-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn touch(p: &Path) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b"x").unwrap();
    }

    fn env_in(root: &Path) -> SearchEnv {
        SearchEnv {
            superpoint_model: None,
            ort_dylib_path: None,
            xdg_data_home: None,
            home: Some(root.join("home").into()),
            xdg_data_dirs: Some(
                std::env::join_paths([root.join("sys1"), root.join("sys2")]).unwrap(),
            ),
            source_root: root.join("src"),
            object_dirs: vec![root.join("usr/lib/x86_64-linux-gnu/gstreamer-1.0")],
        }
    }

    #[test]
    fn model_search_order_env_user_system_source() {
        let root = temp_dir("model");
        let mut env = env_in(&root);
        let user = root.join("home/.local/share/gst-superpoint/superpoint.onnx");
        let sys1 = root.join("sys1/gst-superpoint/superpoint.onnx");
        let sys2 = root.join("sys2/gst-superpoint/superpoint.onnx");
        let source = root.join("src/models/superpoint.onnx");
        assert_eq!(
            model_candidates(&env),
            vec![user.clone(), sys1.clone(), sys2.clone(), source.clone()]
        );
        // Nothing exists: every candidate is listed, the source tree's is the fallback path.
        assert_eq!(
            find_model(&env),
            ModelSearch::NotFound(model_candidates(&env))
        );
        assert_eq!(find_model(&env).path(), source);
        // Each existing file wins over those after it.
        for (file, expected) in [
            (&source, &source),
            (&sys2, &sys2),
            (&sys1, &sys1),
            (&user, &user),
        ] {
            touch(file);
            assert_eq!(find_model(&env), ModelSearch::Found(expected.clone()));
        }
        // $XDG_DATA_HOME replaces ~/.local/share.
        env.xdg_data_home = Some(root.join("xdg-home").into());
        assert_eq!(find_model(&env), ModelSearch::Found(sys1.clone()));
        // $SUPERPOINT_MODEL is taken as given, existing or not.
        env.superpoint_model = Some(root.join("nowhere.onnx").into());
        assert_eq!(
            find_model(&env),
            ModelSearch::FromEnv(root.join("nowhere.onnx"))
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn default_system_data_dirs_and_no_home() {
        let env = SearchEnv {
            source_root: "/src".into(),
            ..SearchEnv::default()
        };
        assert_eq!(
            model_candidates(&env),
            vec![
                PathBuf::from("/usr/local/share/gst-superpoint/superpoint.onnx"),
                PathBuf::from("/usr/share/gst-superpoint/superpoint.onnx"),
                PathBuf::from("/src/models/superpoint.onnx"),
            ]
        );
    }

    #[test]
    fn missing_default_model_note_lists_every_place() {
        let root = temp_dir("note");
        let env = env_in(&root);
        let fallback = find_model(&env).path();
        let note = missing_model_note_in(&env, &fallback).unwrap();
        for c in model_candidates(&env) {
            assert!(note.contains(&c.display().to_string()), "{note}");
        }
        assert!(note.contains("SUPERPOINT_MODEL"), "{note}");
        // A model the user named is not the default: no note.
        assert_eq!(missing_model_note_in(&env, Path::new("/x/y.onnx")), None);
        let env = SearchEnv {
            superpoint_model: Some("/x/y.onnx".into()),
            ..env
        };
        let note = missing_model_note_in(&env, Path::new("/x/y.onnx")).unwrap();
        assert!(note.contains("$SUPERPOINT_MODEL (/x/y.onnx)"), "{note}");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn ort_library_search_order() {
        let root = temp_dir("ort");
        let mut env = env_in(&root);
        let private = root
            .join("usr/lib/x86_64-linux-gnu/gst-superpoint")
            .join(ORT_LIBRARY_FILE);
        let user = root
            .join("home/.local/share/gst-superpoint/lib")
            .join(ORT_LIBRARY_FILE);
        let source = root.join("src/.deps/onnxruntime").join(ORT_LIBRARY_FILE);
        let candidates = ort_library_candidates(&env);
        assert_eq!(candidates.first(), Some(&private));
        assert_eq!(
            &candidates[candidates.len() - 2..],
            [user.clone(), source.clone()]
        );
        assert_eq!(find_ort_library(&env), PathBuf::from(ORT_SYSTEM_LIBRARY));
        for file in [&source, &user, &private] {
            touch(file);
            assert_eq!(&find_ort_library(&env), file);
        }
        env.ort_dylib_path = Some("/opt/ort/libonnxruntime.so".into());
        assert_eq!(
            find_ort_library(&env),
            PathBuf::from("/opt/ort/libonnxruntime.so")
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn object_at_reads_proc_maps_lines() {
        let maps = "00400000-00452000 r-xp 00000000 08:02 173521      /usr/bin/gst-launch-1.0\n\
                    7f00a000-7f00c000 r-xp 00001000 08:02 12345       /usr/lib/x86_64-linux-gnu/gstreamer-1.0/libgstsuperpoint.so\n\
                    7f00c000-7f00d000 rw-p 00000000 00:00 0 \n\
                    7ffd000-7ffe000 rw-p 00000000 00:00 0          [stack]";
        assert_eq!(
            object_at(maps, 0x7f00b123),
            Some(PathBuf::from(
                "/usr/lib/x86_64-linux-gnu/gstreamer-1.0/libgstsuperpoint.so"
            ))
        );
        assert_eq!(
            object_at(maps, 0x400000),
            Some("/usr/bin/gst-launch-1.0".into())
        );
        assert_eq!(object_at(maps, 0x7f00c800), None);
        assert_eq!(object_at(maps, 0x7ffd800), None);
        assert_eq!(object_at(maps, 0x10), None);
    }

    #[test]
    fn loaded_object_dirs_are_absolute() {
        let dirs = loaded_object_dirs();
        assert!(!dirs.is_empty());
        assert!(dirs.iter().all(|d| d.is_absolute()), "{dirs:?}");
    }
}
