//! The Debian package: `scripts/package-deb.sh --no-build` packages the release build,
//! `dpkg -x` unpacks it into a temporary root, and with nothing set but the variables GStreamer
//! and the XDG base directories honour (no `ORT_DYLIB_PATH`, no `SUPERPOINT_MODEL`, no
//! `.deps/env.sh`), `gst-inspect-1.0` finds the element, a pipeline detects keypoints with the
//! packaged model and the packaged ONNX Runtime (checked with the dynamic loader's `LD_DEBUG`),
//! and so does the packaged `superpoint` CLI.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use superpoint::json::FrameRecord;

const GRAF: &str = "/usr/share/doc/opencv-doc/examples/data/graf1.png";
const SYSTEM_PLUGINS: &str = "/usr/lib/x86_64-linux-gnu/gstreamer-1.0";

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A command with a cleared environment: `PATH` of the system tools only, an empty home and user
/// data directory, and GStreamer's and XDG's variables pointing into the unpacked package.
fn installed(program: impl AsRef<std::ffi::OsStr>, pkg: &Path, tmp: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", tmp.join("home"))
        .env("XDG_DATA_HOME", tmp.join("home/.local/share"))
        .env("XDG_DATA_DIRS", pkg.join("usr/share"))
        .env(
            "GST_PLUGIN_SYSTEM_PATH",
            format!(
                "{}:{SYSTEM_PLUGINS}",
                pkg.join("usr/lib/x86_64-linux-gnu/gstreamer-1.0").display()
            ),
        )
        .env("GST_REGISTRY", tmp.join("registry.bin"));
    cmd
}

/// The ONNX Runtime files the dynamic loader reports loading (`LD_DEBUG=files` lines
/// `file=PATH [0];  dynamically loaded by ...`).
fn loaded_onnxruntime(stderr: &str) -> Vec<PathBuf> {
    stderr
        .lines()
        .filter(|l| l.contains("dynamically loaded by"))
        .filter_map(|l| l.split("file=").nth(1)?.split_whitespace().next())
        .filter(|f| f.contains("libonnxruntime"))
        .map(PathBuf::from)
        .collect()
}

#[test]
fn deb_installs_a_plugin_that_runs_with_nothing_set() {
    assert!(
        Path::new(GRAF).exists(),
        "{GRAF} missing: install opencv-doc (scripts/setup.sh)"
    );
    let tmp = std::env::temp_dir().join(format!("sp-deb-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(tmp.join("home")).unwrap();

    // 1. Package the release build (scripts/setup.sh built it; cargo test --release reuses it).
    let pack = Command::new("bash")
        .arg(root().join("scripts/package-deb.sh"))
        .args(["--no-build", "--fast", "--output"])
        .arg(&tmp)
        .output()
        .unwrap();
    assert!(
        pack.status.success(),
        "package-deb.sh failed: {}",
        text(&pack)
    );
    let deb = std::fs::read_dir(&tmp)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with("gst-plugin-superpoint_") && name.ends_with("_amd64.deb")
        })
        .unwrap_or_else(|| panic!("no .deb in {}: {}", tmp.display(), text(&pack)));

    // 2. Unpack it into a temporary root.
    let pkg = tmp.join("root");
    let x = Command::new("dpkg")
        .arg("-x")
        .arg(&deb)
        .arg(&pkg)
        .output()
        .unwrap();
    assert!(x.status.success(), "dpkg -x failed: {}", text(&x));
    let plugin = pkg.join("usr/lib/x86_64-linux-gnu/gstreamer-1.0/libgstsuperpoint.so");
    let ort = pkg.join("usr/lib/x86_64-linux-gnu/gst-superpoint/libonnxruntime.so.1.31.1");
    let model = pkg.join("usr/share/gst-superpoint/superpoint.onnx");
    for f in [
        &plugin,
        &ort,
        &model,
        &pkg.join("usr/share/gst-superpoint/MODEL_CARD.md"),
        &pkg.join("usr/bin/superpoint"),
    ] {
        assert!(f.is_file(), "{} not in the package", f.display());
    }
    let control = Command::new("dpkg-deb")
        .args(["-f"])
        .arg(&deb)
        .arg("Depends")
        .output()
        .unwrap();
    let depends = text(&control);
    assert!(depends.contains("libgstreamer1.0-0"), "Depends: {depends}");

    // 3-4. gst-inspect-1.0 finds the element in the package's plugin folder, its default model
    //      is the package's (found through XDG_DATA_DIRS, before the source tree's), and two
    //      frames of graf1.png through the detector load the package's ONNX Runtime.
    let records = run_installed(
        &|tool| installed(tool, &pkg, &tmp),
        &plugin,
        &model,
        &ort,
        &tmp,
        2,
    );
    assert_eq!(records.len(), 2, "{records:?}");
    for r in &records {
        assert_eq!((r.width, r.height), (800, 640));
        assert_eq!(r.model, "superpoint-cpu-v1");
        assert!(r.keypoints.len() > 100, "{} keypoints", r.keypoints.len());
    }

    // 5. The packaged CLI finds the same model and library from /usr/bin's neighbours.
    let out = tmp.join("graf.json");
    let cli = installed(pkg.join("usr/bin/superpoint"), &pkg, &tmp)
        .env("LD_DEBUG", "files")
        .args(["detect", GRAF, "--json"])
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&cli.stderr);
    assert!(
        cli.status.success(),
        "superpoint detect failed: {}",
        text(&cli)
    );
    assert_eq!(loaded_onnxruntime(&stderr), vec![ort.clone()]);
    let detection: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert!(detection["keypoints"].as_array().unwrap().len() > 100);

    std::fs::remove_dir_all(&tmp).unwrap();
}

/// The README's user install: the plugin in `$XDG_DATA_HOME/gstreamer-1.0/plugins`, ONNX Runtime in
/// `$XDG_DATA_HOME/gst-superpoint/lib`, the model in `$XDG_DATA_HOME/gst-superpoint`, nothing else
/// set: GStreamer finds the plugin in its default user folder and the plugin finds the rest.
#[test]
fn user_install_runs_with_nothing_set() {
    let tmp = std::env::temp_dir().join(format!("sp-user-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let data = tmp.join("home/.local/share");
    let plugins = data.join("gstreamer-1.0/plugins");
    let own = data.join("gst-superpoint");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::create_dir_all(own.join("lib")).unwrap();
    let release = integration_tests::plugin_dir();
    let ort_source = root().join(".deps/onnxruntime/libonnxruntime.so.1.31.1");
    assert!(ort_source.is_file(), "run scripts/setup.sh first");
    let plugin = plugins.join("libgstsuperpoint.so");
    let ort = own.join("lib/libonnxruntime.so.1.31.1");
    let model = own.join("superpoint.onnx");
    std::fs::copy(release.join("libgstsuperpoint.so"), &plugin).unwrap();
    std::fs::copy(&ort_source, &ort).unwrap();
    std::fs::copy(root().join("models/superpoint.onnx"), &model).unwrap();

    let user = |tool: &str| {
        let mut cmd = Command::new(tool);
        cmd.env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", tmp.join("home"))
            .env("GST_REGISTRY", tmp.join("registry.bin"));
        cmd
    };
    let records = run_installed(&user, &plugin, &model, &ort, &tmp, 1);
    assert_eq!(records.len(), 1, "{records:?}");
    assert!(records[0].keypoints.len() > 100, "{records:?}");
    std::fs::remove_dir_all(&tmp).unwrap();
}

/// What both installs must do with only the environment `tool` gives: `gst-inspect-1.0` finds
/// the element in `plugin` with `model` as its default, and `frames` frames of graf1.png through
/// `superpointdetect` (its defaults) run on the ONNX Runtime `ort`. Returns the JSON records.
fn run_installed(
    tool: &dyn Fn(&str) -> Command,
    plugin: &Path,
    model: &Path,
    ort: &Path,
    tmp: &Path,
    frames: usize,
) -> Vec<FrameRecord> {
    let inspect = tool("gst-inspect-1.0")
        .arg("superpointdetect")
        .output()
        .unwrap();
    let all = text(&inspect);
    assert!(inspect.status.success(), "gst-inspect-1.0 failed: {all}");
    assert!(all.contains(&plugin.display().to_string()), "{all}");
    assert!(
        all.contains(&format!("Default: \"{}\"", model.display())),
        "the default model is not the installed {}: {all}",
        model.display()
    );
    let json = tmp.join("graf.jsonl");
    let launch = tool("gst-launch-1.0")
        .env("LD_DEBUG", "files")
        .args(["filesrc", &format!("location={GRAF}"), "!", "pngdec", "!"])
        .args(["videoconvert", "!", "imagefreeze"])
        .arg(format!("num-buffers={frames}"))
        .args([
            "!",
            "superpointdetect",
            &format!("json-location={}", json.display()),
        ])
        .args(["!", "fakesink", "sync=false"])
        .output()
        .unwrap();
    assert!(
        launch.status.success(),
        "gst-launch-1.0 failed: {}",
        text(&launch)
    );
    assert_eq!(
        loaded_onnxruntime(&String::from_utf8_lossy(&launch.stderr)),
        vec![ort.to_path_buf()],
        "ONNX Runtime must come from the install"
    );
    std::fs::read_to_string(&json)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
