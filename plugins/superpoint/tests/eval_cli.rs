//! End-to-end tests of `superpoint eval` through the built binary, on synthetic HPatches-layout
//! data made by `--synthetic` from procedurally drawn photos: the dataset layout and determinism,
//! a perfect external detector (repeatability 1, corner error ~0, MMA 1), the same detector with
//! shuffled descriptors (MMA ~0), the model path with a random (untrained) model as plumbing only,
//! the JSON report, the PNG plot, `--compare`, and clear errors on bad input.

use std::path::{Path, PathBuf};
use std::process::Output;

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use serde_json::Value;
use superpoint::eval::{load_dataset, read_homography};
use superpoint::json::DetectionFile;
use superpoint::metrics::inside;
use superpoint::onnx::SuperPointWeights;

mod common;

fn temp_dir(name: &str) -> PathBuf {
    common::temp_dir("eval", name)
}

fn superpoint(args: &[&str]) -> Output {
    common::superpoint_command()
        .args(args)
        .output()
        .expect("run the superpoint binary")
}

fn ok(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "superpoint failed\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn err(out: &Output) -> String {
    assert!(!out.status.success(), "expected a failure");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A grey "photo" with rectangles and discs of random levels over a noisy gradient.
fn write_photo(path: &Path, seed: u64, w: u32, h: u32) {
    let mut rng = Pcg64::seed_from_u64(seed);
    let mut img = image::GrayImage::from_fn(w, h, |x, y| {
        image::Luma([((x + y) * 100 / (w + h)) as u8 + rng.random_range(0..20)])
    });
    for _ in 0..40 {
        let (cx, cy) = (rng.random_range(0..w) as i64, rng.random_range(0..h) as i64);
        let (rx, ry) = (rng.random_range(5..40i64), rng.random_range(5..40i64));
        let level: u8 = rng.random_range(0..=255);
        let disc = rng.random_bool(0.5);
        for y in (cy - ry).max(0)..(cy + ry).min(h as i64) {
            for x in (cx - rx).max(0)..(cx + rx).min(w as i64) {
                let (dx, dy) = ((x - cx) as f64 / rx as f64, (y - cy) as f64 / ry as f64);
                if !disc || dx * dx + dy * dy <= 1.0 {
                    img.put_pixel(x as u32, y as u32, image::Luma([level]));
                }
            }
        }
    }
    img.save(path).unwrap();
}

fn make_synthetic(root: &Path) -> PathBuf {
    let photos = root.join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    write_photo(&photos.join("alpha.png"), 1, 320, 256);
    write_photo(&photos.join("beta.png"), 2, 400, 300);
    std::fs::write(photos.join("notes.txt"), "not an image").unwrap();
    let data = root.join("syn");
    ok(&superpoint(&[
        "eval",
        data.to_str().unwrap(),
        "--synthetic",
        photos.to_str().unwrap(),
        "--generate-only",
    ]));
    data
}

/// Detections that follow the true homographies exactly: random points on image 1, mapped into
/// every other image (kept when inside), each carrying the same random descriptor.
fn write_perfect_detections(data: &Path, out: &Path, shuffle: bool) {
    let mut rng = Pcg64::seed_from_u64(5);
    for seq in load_dataset(data).unwrap().sequences {
        let dir = out.join(&seq.name);
        std::fs::create_dir_all(&dir).unwrap();
        let (w, h) = image::image_dimensions(&seq.images[0]).unwrap();
        let n = 400;
        let pts: Vec<(f32, f32)> = (0..n)
            .map(|_| {
                (
                    rng.random_range(4.0..(w - 5) as f32),
                    rng.random_range(4.0..(h - 5) as f32),
                )
            })
            .collect();
        let desc: Vec<Vec<f32>> = (0..n)
            .map(|_| (0..32).map(|_| rng.random_range(-1.0..1.0f32)).collect())
            .collect();
        for (i, &k) in seq.numbers.iter().enumerate() {
            let hk = seq.homographies[i];
            let (wk, hk_h) = image::image_dimensions(&seq.images[i]).unwrap();
            let mut f = DetectionFile {
                width: wk,
                height: hk_h,
                keypoints: Vec::new(),
                descriptors: Vec::new(),
                scales: Vec::new(),
            };
            for (i, &(x, y)) in pts.iter().enumerate() {
                let (u, v) = hk.apply(x as f64, y as f64).unwrap();
                if inside(u, v, wk, hk_h) {
                    f.keypoints
                        .push([u as f32, v as f32, 1.0 - i as f32 / n as f32]);
                    f.descriptors.push(desc[i].clone());
                }
            }
            if shuffle && k > 1 {
                f.descriptors.rotate_left(3);
            }
            std::fs::write(
                dir.join(format!("{k}.json")),
                serde_json::to_string(&f).unwrap(),
            )
            .unwrap();
        }
    }
}

fn summary<'a>(report: &'a Value, split: &str) -> &'a Value {
    report["summaries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["split"] == split)
        .unwrap_or_else(|| panic!("no {split} summary"))
}

#[test]
fn synthetic_dataset_layout_and_determinism() {
    let root = temp_dir("layout");
    let data = make_synthetic(&root);
    let seqs = load_dataset(&data).unwrap().sequences;
    assert_eq!(
        seqs.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["v_syn_alpha", "v_syn_beta"]
    );
    for s in &seqs {
        assert_eq!(s.images.len(), 6);
        assert_eq!(s.kind, superpoint::eval::SequenceKind::Viewpoint);
        // Each warp is a real change of view that keeps the image inside the photo.
        for hk in &s.homographies[1..] {
            let (w, h) = image::image_dimensions(&s.images[0]).unwrap();
            let inv = hk.inverse().unwrap();
            for (x, y) in [(0.0, 0.0), (w as f64 - 1.0, h as f64 - 1.0)] {
                let (sx, sy) = inv.apply(x, y).unwrap();
                let tol = 1e-6;
                assert!(
                    sx >= -tol
                        && sy >= -tol
                        && sx <= w as f64 - 1.0 + tol
                        && sy <= h as f64 - 1.0 + tol
                );
            }
            assert!(
                hk.corner_error(&superpoint::Homography::IDENTITY, w as f64, h as f64)
                    .unwrap()
                    > 5.0
            );
        }
    }
    assert!(data.join("synthetic.json").is_file());
    // The same photos and seed give the same homographies and pixels.
    let h_before = read_homography(&data.join("v_syn_beta/H_1_4")).unwrap();
    let px_before = std::fs::read(data.join("v_syn_beta/4.png")).unwrap();
    make_synthetic(&root);
    assert_eq!(
        read_homography(&data.join("v_syn_beta/H_1_4")).unwrap(),
        h_before
    );
    assert_eq!(
        std::fs::read(data.join("v_syn_beta/4.png")).unwrap(),
        px_before
    );
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn perfect_and_shuffled_external_detections() {
    let root = temp_dir("perfect");
    let data = make_synthetic(&root);
    // A copy named like an HPatches illumination sequence, to check the i_/v_ split.
    let (from, to) = (data.join("v_syn_alpha"), data.join("i_alpha"));
    std::fs::create_dir_all(&to).unwrap();
    for entry in std::fs::read_dir(&from).unwrap() {
        let p = entry.unwrap().path();
        std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
    }
    let perfect = root.join("perfect");
    write_perfect_detections(&data, &perfect, false);
    let report_path = root.join("perfect.json");
    let plot = root.join("mma.png");
    let table = ok(&superpoint(&[
        "eval",
        data.to_str().unwrap(),
        "--detections",
        perfect.to_str().unwrap(),
        "--json",
        report_path.to_str().unwrap(),
        "--plot",
        plot.to_str().unwrap(),
        "-q",
    ]));
    assert!(table.contains("method: perfect"), "{table}");
    assert!(
        table.contains("viewpoint") && table.contains("rep@300"),
        "{table}"
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&report_path).unwrap()).unwrap();
    assert_eq!(report["pairs"].as_array().unwrap().len(), 15);
    assert_eq!(summary(&report, "illumination")["pairs"], 5);
    assert_eq!(summary(&report, "viewpoint")["pairs"], 10);
    assert!(table.contains("illumination"), "{table}");
    let all = summary(&report, "all");
    assert_eq!(all["pairs"], 15);
    assert_eq!(all["sequences"], 3);
    for r in all["repeatability"].as_array().unwrap() {
        assert!((r[1].as_f64().unwrap() - 1.0).abs() < 1e-9, "{r}");
    }
    assert!(all["localization_error"].as_f64().unwrap() < 0.01);
    for v in all["mma"].as_array().unwrap() {
        assert!((v.as_f64().unwrap() - 1.0).abs() < 1e-9);
    }
    assert!(all["median_corner_error"].as_f64().unwrap() < 0.05);
    for a in all["homography_accuracy"].as_array().unwrap() {
        assert_eq!(a[1].as_f64().unwrap(), 1.0, "{a}");
    }
    let img = image::open(&plot).unwrap();
    assert_eq!((img.width(), img.height()), (960, 560));

    // Shuffled descriptors: the same points, every match wrong.
    let shuffled = root.join("shuffled");
    write_perfect_detections(&data, &shuffled, true);
    let report2 = root.join("shuffled.json");
    ok(&superpoint(&[
        "eval",
        data.to_str().unwrap(),
        "--detections",
        shuffled.to_str().unwrap(),
        "--json",
        report2.to_str().unwrap(),
        "--compare",
        report_path.to_str().unwrap(),
        "--plot",
        plot.to_str().unwrap(),
        "-q",
    ]));
    let r2: Value = serde_json::from_str(&std::fs::read_to_string(&report2).unwrap()).unwrap();
    let all2 = summary(&r2, "all");
    assert!(all2["mma"][9].as_f64().unwrap() < 0.05, "{}", all2["mma"]);
    assert!(all2["matching_score"].as_f64().unwrap() < 0.05);
    assert_eq!(all2["homography_accuracy"][2][1].as_f64().unwrap(), 0.0);
    // Repeatability only looks at positions.
    assert!((all2["repeatability"][0][1].as_f64().unwrap() - 1.0).abs() < 1e-9);
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn random_model_runs_through_the_pipeline() {
    // Random weights: plumbing only, no quality is asserted.
    let root = temp_dir("model");
    let data = make_synthetic(&root);
    let model = root.join("random.onnx");
    SuperPointWeights::write_random_model(&model, 3, true, "random-eval-test").unwrap();
    let report_path = root.join("model.json");
    let out = superpoint(&[
        "eval",
        data.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--threads",
        "1",
        "-n",
        "300",
        "--json",
        report_path.to_str().unwrap(),
    ]);
    let table = ok(&out);
    assert!(table.contains("method: random-eval-test"), "{table}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("untrained"), "{stderr}");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&report_path).unwrap()).unwrap();
    assert_eq!(report["pairs"].as_array().unwrap().len(), 10);
    let all = summary(&report, "all");
    assert!(all["detect_ms"].as_f64().unwrap() > 0.0);
    assert!(all["keypoints"].as_f64().unwrap() <= 300.0);
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn bad_input_gives_clear_errors() {
    let root = temp_dir("errors");
    let missing = root.join("nope");
    let e = err(&superpoint(&[
        "eval",
        missing.to_str().unwrap(),
        "--detections",
        "x",
    ]));
    assert!(e.contains("does not exist"), "{e}");

    let data = make_synthetic(&root);
    let e = err(&superpoint(&[
        "eval",
        data.to_str().unwrap(),
        "--detections",
        root.join("absent").to_str().unwrap(),
    ]));
    assert!(
        e.contains("detections folder") && e.contains("does not exist"),
        "{e}"
    );

    // A detections folder missing files names the file and the layout.
    let partial = root.join("partial");
    std::fs::create_dir_all(partial.join("v_syn_alpha")).unwrap();
    let e = err(&superpoint(&[
        "eval",
        data.to_str().unwrap(),
        "--detections",
        partial.to_str().unwrap(),
    ]));
    assert!(e.contains("v_syn_alpha") && e.contains("1.json"), "{e}");

    // Detections computed on a resized image are refused.
    let det = DetectionFile {
        width: 10,
        height: 10,
        keypoints: vec![],
        descriptors: vec![],
        scales: vec![],
    };
    std::fs::write(
        partial.join("v_syn_alpha/1.json"),
        serde_json::to_string(&det).unwrap(),
    )
    .unwrap();
    let e = err(&superpoint(&[
        "eval",
        data.to_str().unwrap(),
        "--detections",
        partial.to_str().unwrap(),
    ]));
    assert!(e.contains("10x10"), "{e}");

    // Broken JSON.
    std::fs::write(partial.join("v_syn_alpha/1.json"), "{\"width\": 3").unwrap();
    let e = err(&superpoint(&[
        "eval",
        data.to_str().unwrap(),
        "--detections",
        partial.to_str().unwrap(),
    ]));
    assert!(e.contains("not a detection file"), "{e}");

    let e = err(&superpoint(&[
        "eval",
        data.to_str().unwrap(),
        "--generate-only",
    ]));
    assert!(e.contains("--synthetic"), "{e}");

    let bad = root.join("bad.json");
    std::fs::write(&bad, "[]").unwrap();
    let e = err(&superpoint(&[
        "eval",
        data.to_str().unwrap(),
        "--detections",
        partial.to_str().unwrap(),
        "--compare",
        bad.to_str().unwrap(),
    ]));
    assert!(e.contains("not a `superpoint eval --json` report"), "{e}");

    let e = err(&superpoint(&[
        "eval",
        data.to_str().unwrap(),
        "--model",
        root.join("missing.onnx").to_str().unwrap(),
    ]));
    assert!(e.contains("missing.onnx"), "{e}");

    // A malformed homography file names the file.
    std::fs::write(data.join("v_syn_alpha/H_1_3"), "1 0 0\n0 1\n").unwrap();
    let e = err(&superpoint(&[
        "eval",
        data.to_str().unwrap(),
        "--detections",
        partial.to_str().unwrap(),
    ]));
    assert!(e.contains("H_1_3") && e.contains("9 numbers"), "{e}");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn missing_images_are_named_and_nested_sources_are_found() {
    // realpairs-like layout: DATASET/<source>/<sequence>, with image 3 of one sequence removed
    // (its H_1_3 kept): 4 + 5 pairs evaluated, and a warning naming the skipped pair.
    let root = temp_dir("gaps");
    let data = make_synthetic(&root);
    let nested = root.join("nested");
    for (src, seq) in [("oxford", "v_syn_alpha"), ("hpatches", "v_syn_beta")] {
        let to = nested.join(src).join(seq);
        std::fs::create_dir_all(&to).unwrap();
        for entry in std::fs::read_dir(data.join(seq)).unwrap() {
            let p = entry.unwrap().path();
            std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
        }
    }
    std::fs::remove_file(nested.join("oxford/v_syn_alpha/3.png")).unwrap();
    let perfect = root.join("perfect");
    write_perfect_detections(&nested, &perfect, false);
    let report_path = root.join("gaps.json");
    let out = superpoint(&[
        "eval",
        nested.to_str().unwrap(),
        "--detections",
        perfect.to_str().unwrap(),
        "--json",
        report_path.to_str().unwrap(),
        "-q",
    ]);
    ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning: oxford/v_syn_alpha: skipping pair (1, 3)")
            && stderr.contains("H_1_3"),
        "{stderr}"
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&report_path).unwrap()).unwrap();
    let pairs = report["pairs"].as_array().unwrap();
    assert_eq!(pairs.len(), 9);
    let alpha: Vec<u64> = pairs
        .iter()
        .filter(|p| p["sequence"] == "oxford/v_syn_alpha")
        .map(|p| p["image"].as_u64().unwrap())
        .collect();
    assert_eq!(alpha, vec![2, 4, 5, 6]);
    assert_eq!(summary(&report, "all")["sequences"], 2);
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn report_and_plot_write_failures_name_the_file() {
    let root = temp_dir("full");
    let data = make_synthetic(&root);
    let perfect = root.join("perfect");
    write_perfect_detections(&data, &perfect, false);
    for (flag, other) in [("--json", "--plot"), ("--plot", "--json")] {
        let kept = root.join(if flag == "--json" {
            "mma.png"
        } else {
            "r.json"
        });
        let out = superpoint(&[
            "eval",
            data.to_str().unwrap(),
            "--detections",
            perfect.to_str().unwrap(),
            flag,
            "/dev/full",
            other,
            kept.to_str().unwrap(),
            "-q",
        ]);
        assert_eq!(out.status.code(), Some(1), "{flag}");
        assert!(
            err(&out).ends_with(
                "superpoint: error: cannot write /dev/full: No space left on device (os error 28)\n"
            ),
            "{flag}: {}",
            err(&out)
        );
    }
}
