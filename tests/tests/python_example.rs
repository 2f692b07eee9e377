//! `examples/superpoint_summary.py` (PyGObject, Debian's `/usr/bin/python3`) on `vtest.avi`:
//! keypoints, descriptors and homographies read from the bus in Python, one summary per frame.

use std::path::Path;
use std::process::Command;

const VTEST: &str = "/usr/share/doc/opencv-doc/examples/data/vtest.avi";
/// Debian's Python, which has `gi` (python3-gi, python3-gst-1.0); a pyenv `python3` may not.
const PYTHON: &str = "/usr/bin/python3";

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn example() -> Command {
    assert!(
        Path::new(VTEST).exists(),
        "{VTEST} missing: install opencv-doc (scripts/setup.sh)"
    );
    let mut cmd = Command::new(PYTHON);
    cmd.arg(root().join("examples/superpoint_summary.py"))
        .env("GST_PLUGIN_PATH", integration_tests::plugin_dir())
        .env(
            "GST_REGISTRY",
            std::env::temp_dir().join(format!("sp-python-registry-{}.bin", std::process::id())),
        )
        .env_remove("SUPERPOINT_MODEL");
    cmd
}

#[test]
fn python_example_reads_keypoints_descriptors_and_homographies() {
    let frames = 4;
    let out = example()
        .args([VTEST, "--json", "--frames", &frames.to_string()])
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {PYTHON}: {e} (scripts/setup.sh installs python3-gi)")
        });
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "example failed:\n{stdout}\n{stderr}");
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l}: {e}")))
        .collect();
    let (records, last) = lines.split_at(lines.len() - 1);
    assert_eq!(last[0]["frames"], frames, "{stdout}");
    assert_eq!(records.len(), frames, "{stdout}");
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r["frame"], i, "{r}");
        let n = r["keypoints"].as_u64().unwrap();
        assert!(n > 100, "frame {i}: {n} keypoints");
        assert_eq!(r["descriptor_shape"], serde_json::json!([n, 256]), "{r}");
        for key in ["descriptor_norm_min", "descriptor_norm_max"] {
            let norm = r[key].as_f64().unwrap();
            assert!((norm - 1.0).abs() < 1e-3, "frame {i}: {key} {norm}");
        }
        let h = r["homography"].as_array();
        if i == 0 {
            assert_eq!(r["status"], "reference", "{r}");
        } else {
            // A static camera: each frame matches the previous one, close to the identity.
            assert_eq!(r["status"], "ok", "{r}");
            assert!(r["inliers"].as_u64().unwrap() > 50, "{r}");
            let h: Vec<f64> = h.unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
            assert_eq!(h.len(), 9);
            assert!(
                (h[0] - 1.0).abs() < 0.05 && (h[4] - 1.0).abs() < 0.05,
                "{h:?}"
            );
            assert!(h[2].abs() < 5.0 && h[5].abs() < 5.0, "{h:?}");
        }
    }
    // The default text output: one line per frame and a closing count.
    let out = example().args([VTEST, "--frames", "2"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text: Vec<&str> = stdout.lines().collect();
    assert_eq!(text.len(), 3, "{stdout}");
    assert!(
        text[0].starts_with("frame 0 ") && text[0].contains("x256 (norm 1.000..1.000)"),
        "{stdout}"
    );
    assert!(
        text[1].contains("previous ok:") && text[1].contains("H ["),
        "{stdout}"
    );
    assert_eq!(text[2], "2 frames");
}

#[test]
fn python_example_names_a_missing_plugin() {
    let out = Command::new(PYTHON)
        .arg(root().join("examples/superpoint_summary.py"))
        .args([VTEST, "--frames", "1"])
        .env("GST_PLUGIN_PATH", "/nonexistent")
        .env("GST_PLUGIN_SYSTEM_PATH", "/nonexistent")
        .env(
            "GST_REGISTRY",
            std::env::temp_dir().join(format!("sp-python-empty-{}.bin", std::process::id())),
        )
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("superpointdetect not found") && stderr.contains(".deps/env.sh"),
        "{stderr}"
    );
}
