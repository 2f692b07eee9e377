//! `pipeline`: every stage of the recipe end to end, and the helpers the CLI's subcommands share
//! with it (previews, evaluation printout, export with the ONNX Runtime check).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use superpoint::onnx::ModelInfo;
use tch::{Device, Kind, Tensor};

use crate::config::Config;
use crate::model::SuperPointNet;
use crate::runtime::Runtime;
use crate::synth::{self, preview_rgb};
use crate::validate::ValidationData;
use crate::{adapt, detector_eval, export, joint, magicpoint, photos};

/// Writes `count` Synthetic Shapes previews (labels drawn) into `dir`.
pub fn write_previews(
    cfg: &Config,
    dir: &Path,
    count: usize,
    seed: u64,
    clean: bool,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let samples = synth::batch(&cfg.synth, seed, 0, count, clean);
    for (i, s) in samples.iter().enumerate() {
        let f = dir.join(format!("{i:04}_{}.png", s.primitive.name()));
        preview_rgb(s, 3)
            .save(&f)
            .with_context(|| format!("cannot write {}", f.display()))?;
    }
    println!("synth: {count} previews in {}", dir.display());
    Ok(())
}

/// Prints a MagicPoint evaluation report.
pub fn print_eval(r: &detector_eval::EvalReport, out: &Path) {
    println!(
        "[eval-magicpoint] {} images: AP {:.4}, mAP over primitives {:.4}, localisation error {:.2} px, precision/recall at 0.015: {:.3}/{:.3}",
        r.images,
        r.overall.average_precision,
        r.mean_average_precision,
        r.localization_error,
        r.precision_at_0_015,
        r.recall_at_0_015
    );
    for (name, c) in &r.per_primitive {
        println!(
            "  {name:<18} labels {:>6}  AP {:.4}",
            c.labels, c.average_precision
        );
    }
    println!(
        "[eval-magicpoint] wrote {}/eval.json and pr_curve.png",
        out.display()
    );
}

/// Exports and, with `verify`, compares ONNX Runtime with tch on a random image; returns the
/// differences (scores, descriptors) when verified.
pub fn export_checked(
    net: &SuperPointNet,
    out: &Path,
    model_id: &str,
    description: &str,
    verify: bool,
    (h, w): (usize, usize),
) -> anyhow::Result<Option<(f64, f64)>> {
    let info = ModelInfo {
        model_id: model_id.to_string(),
        trained: true,
        licence: None,
        description: description.to_string(),
    };
    export::export(net, out, &info)?;
    println!("[export] wrote {} ({model_id})", out.display());
    if !verify {
        return Ok(None);
    }
    tch::manual_seed(0);
    let x = Tensor::rand([2, 1, h as i64, w as i64], (Kind::Float, Device::Cpu));
    match export::compare_with_onnxruntime(net, out, &x) {
        Ok((ds, dd)) => {
            println!(
                "[export] ONNX Runtime vs tch on 2x1x{h}x{w}: max |diff| scores {ds:.2e}, descriptors {dd:.2e}"
            );
            anyhow::ensure!(
                ds < 1e-4 && dd < 1e-3,
                "exported model differs from the tch network (scores {ds}, descriptors {dd})"
            );
            Ok(Some((ds, dd)))
        }
        Err(e) => {
            eprintln!(
                "[export] warning: not verified with ONNX Runtime: {e} (set ORT_DYLIB_PATH, see scripts/setup.sh)"
            );
            Ok(None)
        }
    }
}

/// Renders stand-in "photos" (synthetic images at twice the adaptation size) for `pipeline --small`
/// when no photo folder is given.
fn standin_photos(cfg: &Config, dir: &Path, n: usize) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut s = cfg.synth.clone();
    s.height = cfg.adapt.height * 2;
    s.width = cfg.adapt.width * 2;
    for (i, sample) in synth::batch(&s, 0xF0705, 0, n, false).iter().enumerate() {
        let bytes: Vec<u8> = sample
            .image
            .iter()
            .map(|v| (v * 255.0).round() as u8)
            .collect();
        let img = image::GrayImage::from_raw(s.width as u32, s.height as u32, bytes)
            .context("bad image size")?;
        img.save(dir.join(format!("{i:04}.png")))?;
    }
    Ok(())
}

/// The photos of a `pipeline` run.
#[derive(Debug, Clone, Copy, Default)]
pub struct PhotoSelection<'a> {
    /// Folder of photos (searched recursively); `None` renders stand-in images (`--small` only).
    pub dir: Option<&'a Path>,
    /// Keep only this `licence_class` of the folder's `MANIFEST.tsv`.
    pub licence: Option<&'a str>,
    /// Leave out paths with a component of one of these names.
    pub exclude: &'a [String],
    /// Held-back photos for validation during joint training.
    pub val_photos: Option<&'a Path>,
    /// Real pairs (HPatches layout) for validation during joint training; they choose the best
    /// checkpoint.
    pub val_pairs: &'a [PathBuf],
}

impl PhotoSelection<'_> {
    fn validation(&self) -> ValidationData<'_> {
        ValidationData {
            photos: self.val_photos,
            pairs: self.val_pairs,
        }
    }
}

/// Homographic Adaptation of the selected photos by `net` into `dir/labels.json`, unless that file
/// exists already (a resumed run reuses it). `small` allows rendered stand-in photos.
fn adapt_stage(
    cfg: &Config,
    net: &SuperPointNet,
    model_name: &str,
    dir: &Path,
    sel: &PhotoSelection<'_>,
    small: bool,
) -> anyhow::Result<PathBuf> {
    let labels_file = dir.join("labels.json");
    if labels_file.is_file() {
        println!("[pipeline] reusing {}", labels_file.display());
        return Ok(labels_file);
    }
    let photo_dir = match sel.dir {
        Some(d) => d.to_path_buf(),
        None => {
            anyhow::ensure!(
                small,
                "this needs --photos DIR (only pipeline --small can run on stand-in images)"
            );
            let d = dir.with_file_name("standin-photos");
            standin_photos(cfg, &d, cfg.adapt.max_photos.max(8))?;
            println!(
                "[pipeline] no --photos: rendered stand-in images into {}",
                d.display()
            );
            d
        }
    };
    let list = photos::exclude(photos::list_photos(&photo_dir, sel.licence)?, sel.exclude);
    anyhow::ensure!(!list.is_empty(), "no photos left after --exclude");
    adapt::adapt(net, model_name, &list, &cfg.adapt, dir, 8)?;
    Ok(labels_file)
}

/// A further round of the recipe from a trained SuperPoint `model` (checkpoint or ONNX file), the
/// paper's second round of Homographic Adaptation: the photos labelled by `model`
/// (`out/adapt/labels.json`), joint training initialised from it (`out/superpoint/`), and the
/// export of the best checkpoint on the real validation pairs (`out/superpoint/best/`, else the
/// last checkpoint) to `out/superpoint.onnx` as `model_id`. Run again with the same `out`, it
/// resumes. Returns the exported file.
pub fn refine(
    cfg: &Config,
    rt: &Runtime,
    model: &Path,
    out: &Path,
    sel: &PhotoSelection<'_>,
    model_id: &str,
) -> anyhow::Result<PathBuf> {
    cfg.validate()?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let t = Instant::now();
    let labels = {
        let net = rt.load_net(model, Some(true))?;
        adapt_stage(
            cfg,
            &net,
            &model.display().to_string(),
            &out.join("adapt"),
            sel,
            false,
        )?
    };
    println!("[refine] adapt: {:.1} s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let sp_dir = out.join("superpoint");
    let resume = sp_dir.join("checkpoint").exists();
    let last = joint::train(
        cfg,
        rt,
        &labels,
        Some(model),
        &sp_dir,
        resume,
        &sel.validation(),
    )?;
    println!("[refine] train: {:.1} s", t.elapsed().as_secs_f64());
    let best = sp_dir.join("best");
    let chosen = if best.is_dir() { best } else { last };
    let onnx = out.join("superpoint.onnx");
    let net = SuperPointNet::load(&chosen, Device::Cpu, None)?;
    export_checked(
        &net,
        &onnx,
        model_id,
        &format!(
            "SuperPoint refined by superpoint-train refine from {} ({})",
            model.display(),
            chosen.display()
        ),
        true,
        (cfg.adapt.height, cfg.adapt.width),
    )?;
    Ok(onnx)
}

/// First and last rows of a loss CSV (`step,values...`), as written.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct LossEnds {
    /// First row.
    pub first: Option<String>,
    /// Last row.
    pub last: Option<String>,
}

impl LossEnds {
    fn read(f: &Path) -> Self {
        let text = std::fs::read_to_string(f).unwrap_or_default();
        let rows: Vec<&str> = text.lines().skip(1).collect();
        LossEnds {
            first: rows.first().map(|s| s.to_string()),
            last: rows.last().map(|s| s.to_string()),
        }
    }
}

/// What `pipeline` writes to `pipeline.json`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PipelineSummary {
    /// Whether the tiny configuration ran.
    pub small: bool,
    /// Wall time of each stage, seconds, in order.
    pub stage_seconds: Vec<(String, f64)>,
    /// MagicPoint loss rows.
    pub magicpoint_loss: LossEnds,
    /// Joint training loss rows.
    pub train_loss: LossEnds,
    /// MagicPoint AP on held-out Synthetic Shapes.
    pub magicpoint_ap: f64,
    /// MagicPoint mAP over primitives.
    pub magicpoint_map: f64,
    /// ONNX Runtime vs tch max |diff| (scores, descriptors) of the MagicPoint export.
    pub magicpoint_onnx_max_abs_diff: Option<(f64, f64)>,
    /// The same for the SuperPoint export.
    pub superpoint_onnx_max_abs_diff: Option<(f64, f64)>,
}

/// Every stage end to end into `out`: previews, MagicPoint (+ evaluation, export), Homographic
/// Adaptation, joint training, export. Stages with a checkpoint in `out` resume. Writes
/// `out/pipeline.json` and returns the summary.
pub fn pipeline(
    cfg: &Config,
    rt: &Runtime,
    out: &Path,
    sel: &PhotoSelection<'_>,
    small: bool,
) -> anyhow::Result<PipelineSummary> {
    cfg.validate()?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut summary = PipelineSummary {
        small,
        ..Default::default()
    };
    let mut stage = |name: &str, t: Instant| {
        let s = t.elapsed().as_secs_f64();
        println!("[pipeline] {name}: {s:.1} s");
        summary.stage_seconds.push((name.to_string(), s));
    };
    let t = Instant::now();
    write_previews(cfg, &out.join("synth-preview"), 16, 0, false)?;
    stage("synth", t);

    let t = Instant::now();
    let mp_dir = out.join("magicpoint");
    let resume = mp_dir.join("checkpoint").exists();
    let mp_ckpt = magicpoint::train(cfg, rt, &mp_dir, resume)?;
    stage("magicpoint", t);

    let t = Instant::now();
    let mp = rt.load_net(&mp_ckpt, None)?;
    let report = detector_eval::evaluate(&mp, &cfg.synth, &cfg.eval)?;
    detector_eval::write_report(&report, &mp_dir.join("eval"))?;
    print_eval(&report, &mp_dir.join("eval"));
    stage("eval_magicpoint", t);

    let t = Instant::now();
    let mp_cpu = SuperPointNet::load(&mp_ckpt, Device::Cpu, None)?;
    let mp_diff = export_checked(
        &mp_cpu,
        &out.join("magicpoint.onnx"),
        "magicpoint",
        "MagicPoint trained on Synthetic Shapes by superpoint-train",
        true,
        (cfg.adapt.height, cfg.adapt.width),
    )?;
    stage("export_magicpoint", t);

    let t = Instant::now();
    let labels_file = adapt_stage(cfg, &mp, "magicpoint", &out.join("adapt"), sel, small)?;
    stage("adapt", t);

    let t = Instant::now();
    let sp_dir = out.join("superpoint");
    let resume = sp_dir.join("checkpoint").exists();
    let sp_ckpt = joint::train(
        cfg,
        rt,
        &labels_file,
        Some(&mp_ckpt),
        &sp_dir,
        resume,
        &sel.validation(),
    )?;
    stage("train", t);

    let t = Instant::now();
    let sp_cpu = SuperPointNet::load(&sp_ckpt, Device::Cpu, None)?;
    let sp_diff = export_checked(
        &sp_cpu,
        &out.join("superpoint.onnx"),
        "superpoint",
        "SuperPoint trained by superpoint-train",
        true,
        (cfg.adapt.height, cfg.adapt.width),
    )?;
    stage("export_superpoint", t);

    summary.magicpoint_loss = LossEnds::read(&mp_dir.join("loss.csv"));
    summary.train_loss = LossEnds::read(&sp_dir.join("loss.csv"));
    summary.magicpoint_ap = report.overall.average_precision;
    summary.magicpoint_map = report.mean_average_precision;
    summary.magicpoint_onnx_max_abs_diff = mp_diff;
    summary.superpoint_onnx_max_abs_diff = sp_diff;
    let f = out.join("pipeline.json");
    std::fs::write(&f, serde_json::to_string_pretty(&summary)?)
        .with_context(|| format!("cannot write {}", f.display()))?;
    println!("[pipeline] done: {}", f.display());
    Ok(summary)
}
