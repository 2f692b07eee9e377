//! The `superpoint` CLI never overwrites its own outputs: `detect` with images whose results
//! would share a file, or whose result would replace an input image, and `eval --synthetic` with
//! photos that would share a sequence folder, fail with a clear message before writing anything;
//! `eval --json` and `--plot` must differ; `bench --xfeat` without XFeat's venv fails before timing
//! anything, saying how to install it.

use std::path::{Path, PathBuf};
use std::process::Output;

use superpoint::json::DetectionFile;
use superpoint::onnx::SuperPointWeights;

mod common;

fn temp_dir(name: &str) -> PathBuf {
    common::temp_dir("cli", name)
}

fn superpoint(args: &[&Path]) -> Output {
    common::superpoint_command()
        .args(args)
        .output()
        .expect("run the superpoint binary")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A textured grey image (`seed` varies it), saved in the format of the extension.
fn write_image(path: &Path, seed: u32) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image::GrayImage::from_fn(64, 48, |x, y| {
        image::Luma(
            [((x * 7 + y * 13 + seed * 31) % 256) as u8 ^ ((x / 8 + y / 8) % 2 * 200) as u8],
        )
    })
    .save(path)
    .unwrap();
}

fn random_model(dir: &Path) -> PathBuf {
    let path = dir.join("random.onnx");
    SuperPointWeights::write_random_model(&path, 1, true, "random-cli").unwrap();
    path
}

fn p(s: &str) -> PathBuf {
    PathBuf::from(s)
}

#[test]
fn detect_refuses_images_whose_results_would_share_a_file() {
    let root = temp_dir("clash");
    let model = random_model(&root);
    let (ax_png, bx_png, ax_jpg) = (
        root.join("a/x.png"),
        root.join("b/x.png"),
        root.join("a/x.jpg"),
    );
    write_image(&ax_png, 1);
    write_image(&bx_png, 2);
    write_image(&ax_jpg, 3);
    let out_dir = root.join("OUT");
    let out = superpoint(&[
        &p("detect"),
        &ax_png,
        &bx_png,
        &ax_jpg,
        &p("--model"),
        &model,
        &p("--json"),
        &out_dir,
    ]);
    assert!(!out.status.success(), "exit 0 with clashing outputs");
    let e = stderr(&out);
    assert!(
        e.contains(&format!(
            "{}, {}, {} would all be written to {}",
            ax_png.display(),
            bx_png.display(),
            ax_jpg.display(),
            out_dir.join("x.json").display()
        )) && e.contains("Nothing was written"),
        "{e}"
    );
    assert!(!out_dir.exists(), "something was written");

    // The same image twice, with an existing result folder: refused, the folder left alone.
    std::fs::create_dir_all(&out_dir).unwrap();
    std::fs::write(out_dir.join("x.json"), "earlier").unwrap();
    let out = superpoint(&[
        &p("detect"),
        &ax_png,
        &ax_png,
        &p("--model"),
        &model,
        &p("--json"),
        &out_dir,
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("would all be written to"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(out_dir.join("x.json")).unwrap(),
        "earlier"
    );

    // Distinct names: one file each, each the detections of its own image.
    let (by_png, ay_jpg) = (root.join("b/y.png"), root.join("a/z.jpg"));
    write_image(&by_png, 2);
    write_image(&ay_jpg, 3);
    let out = superpoint(&[
        &p("detect"),
        &ax_png,
        &by_png,
        &ay_jpg,
        &p("--model"),
        &model,
        &p("--json"),
        &out_dir,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let results: Vec<DetectionFile> = ["x", "y", "z"]
        .iter()
        .map(|s| {
            serde_json::from_str(
                &std::fs::read_to_string(out_dir.join(format!("{s}.json"))).unwrap(),
            )
            .unwrap()
        })
        .collect();
    for r in &results {
        assert_eq!((r.width, r.height), (64, 48));
        assert!(!r.keypoints.is_empty());
    }
    assert_ne!(results[0].keypoints, results[1].keypoints);
    assert_ne!(results[1].keypoints, results[2].keypoints);
    std::fs::remove_dir_all(root).ok();
}

#[test]
fn detect_refuses_to_write_over_an_input_image() {
    let root = temp_dir("over-input");
    let model = random_model(&root);
    let image = root.join("x.png");
    write_image(&image, 4);
    let before = std::fs::read(&image).unwrap();
    let out = superpoint(&[
        &p("detect"),
        &image,
        &p("--model"),
        &model,
        &p("--json"),
        &image,
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("would overwrite the input image"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(&image).unwrap(), before);
    std::fs::remove_dir_all(root).ok();
}

#[test]
fn eval_synthetic_refuses_photos_that_would_share_a_sequence() {
    let root = temp_dir("syn-clash");
    let photos = root.join("photos");
    write_image(&photos.join("x.png"), 1);
    write_image(&photos.join("x.jpg"), 2);
    write_image(&photos.join("a b.png"), 3);
    write_image(&photos.join("a_b.png"), 4);
    write_image(&photos.join("c.png"), 5);
    let data = root.join("data");
    let out = superpoint(&[
        &p("eval"),
        &data,
        &p("--synthetic"),
        &photos,
        &p("--generate-only"),
    ]);
    assert!(!out.status.success(), "exit 0 with clashing sequence names");
    let e = stderr(&out);
    assert!(e.contains("would all become v_syn_x"), "{e}");
    assert!(e.contains("would all become v_syn_a_b"), "{e}");
    assert!(!data.exists(), "something was written");
    std::fs::remove_dir_all(root).ok();
}

#[test]
fn eval_refuses_the_same_file_for_report_and_plot() {
    let root = temp_dir("json-plot");
    let report = root.join("r.json");
    let out = superpoint(&[
        &p("eval"),
        &root,
        &p("--detections"),
        &root,
        &p("--json"),
        &report,
        &p("--plot"),
        &report,
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("--json and --plot both name"),
        "{}",
        stderr(&out)
    );
    assert!(!report.exists());
    std::fs::remove_dir_all(root).ok();
}

#[test]
fn detect_scales_writes_a_scale_per_keypoint_and_refuses_bad_values() {
    let root = temp_dir("scales");
    let model = random_model(&root);
    let image = root.join("in/x.png");
    write_image(&image, 4);
    let run = |scales: &str, json: &Path| {
        superpoint(&[
            &p("detect"),
            &image,
            &p("--model"),
            &model,
            &p("--scales"),
            &p(scales),
            &p("--json"),
            json,
        ])
    };
    let out = run("1,0.5", &root.join("multi.json"));
    assert!(out.status.success(), "{}", stderr(&out));
    let file: DetectionFile =
        serde_json::from_str(&std::fs::read_to_string(root.join("multi.json")).unwrap()).unwrap();
    assert!(!file.keypoints.is_empty());
    assert_eq!(file.scales.len(), file.keypoints.len());
    assert!(file.scales.iter().all(|&s| s == 1.0 || s == 0.5));

    // One scale: the field is left out.
    let out = run("1", &root.join("single.json"));
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(root.join("single.json")).unwrap();
    assert!(!text.contains("scales"), "{text}");

    let out = run("1,abc", &root.join("bad.json"));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("give comma-separated factors such as 1,0.71,0.5"),
        "{}",
        stderr(&out)
    );
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn bench_xfeat_without_its_venv_says_how_to_install_it() {
    let root = temp_dir("bench-xfeat");
    let model = random_model(&root);
    let python = root.join("no-venv/bin/python");
    let out = superpoint(&[
        &p("bench"),
        &p("--model"),
        &model,
        &p("--xfeat"),
        &p("--xfeat-python"),
        &python,
        &p("--sizes"),
        &p("64x48"),
    ]);
    assert!(!out.status.success());
    assert_eq!(
        stderr(&out).trim(),
        format!(
            "superpoint: error: --xfeat: {} not found: run scripts/xfeat.sh setup (XFeat from PyPI in .deps/xfeat-venv), or give --xfeat-python",
            python.display()
        )
    );
    // Nothing was timed: no table on stdout.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("engine ms"), "{stdout}");
    std::fs::remove_dir_all(root).ok();
}

#[test]
fn detect_write_failures_name_the_file_and_leave_no_partial_result() {
    let root = temp_dir("full");
    let model = random_model(&root);
    let image = root.join("a.png");
    write_image(&image, 1);
    let (detect, model_flag, json_flag, full) =
        (p("detect"), p("--model"), p("--json"), p("/dev/full"));
    let out = superpoint(&[&detect, &model_flag, &model, &image, &json_flag, &full]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).ends_with(
            "superpoint: error: cannot write /dev/full: No space left on device (os error 28)\n"
        ),
        "{}",
        stderr(&out)
    );
    // A result that cannot replace what is there (a folder of that name): named, and nothing
    // else is left in the output folder.
    let out_dir = root.join("out");
    std::fs::create_dir_all(out_dir.join("a.json/taken")).unwrap();
    let out = superpoint(&[&detect, &model_flag, &model, &image, &json_flag, &out_dir]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!(
            "superpoint: error: cannot write {}: ",
            out_dir.join("a.json").display()
        )),
        "{}",
        stderr(&out)
    );
    let names: Vec<_> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["a.json"]);
}
