//! `superpoint-train`: the self-supervised SuperPoint recipe as subcommands.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand};
use superpoint::onnx::ModelInfo;
use superpoint_train::config::Config;
use superpoint_train::runtime::{Runtime, parse_device};
use superpoint_train::synth::{self, preview_rgb};
use superpoint_train::{adapt, export, joint, magicpoint, photos};
use tch::{Device, Kind, Tensor};

#[derive(Parser, Debug)]
#[command(
    name = "superpoint-train",
    version,
    about = "Self-supervised SuperPoint training (Synthetic Shapes -> MagicPoint -> Homographic Adaptation -> SuperPoint -> ONNX)"
)]
struct Cli {
    /// TOML configuration (missing fields take the paper's defaults; see `config`).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// cpu, cuda or cuda:N.
    #[arg(long, global = true, default_value = "cpu")]
    device: String,
    /// bfloat16 mixed precision for the convolutions (GPU).
    #[arg(long, global = true)]
    bf16: bool,
    /// Channels-last memory layout (GPU).
    #[arg(long, global = true)]
    channels_last: bool,
    /// libtorch intra-op threads (0 = libtorch's default, one per core).
    #[arg(long, global = true, default_value_t = 0)]
    threads: usize,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Print the configuration in effect (defaults, or --config) as TOML.
    Config {
        /// The tiny configuration of `pipeline --small`.
        #[arg(long)]
        small: bool,
    },
    /// Synthetic Shapes: write previews with labels drawn, or measure the generator's speed.
    Synth {
        /// Write PNG previews (labels as red crosses) into this folder.
        #[arg(long)]
        preview: Option<PathBuf>,
        /// Number of previews.
        #[arg(long, default_value_t = 32)]
        count: usize,
        /// Stream seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Skip the final blur and noise.
        #[arg(long)]
        clean: bool,
        /// Generate this many images and report images/s.
        #[arg(long)]
        bench: Option<usize>,
    },
    /// Train MagicPoint on Synthetic Shapes.
    Magicpoint {
        /// Output folder (checkpoint/, loss.csv, loss.png, config.toml).
        #[arg(long)]
        out: PathBuf,
        /// Continue from out/checkpoint.
        #[arg(long)]
        resume: bool,
        /// Override magicpoint.steps.
        #[arg(long)]
        steps: Option<usize>,
    },
    /// Evaluate a MagicPoint (checkpoint or ONNX) on held-out Synthetic Shapes: PR curve and AP.
    EvalMagicpoint {
        /// Checkpoint folder, .safetensors or .onnx.
        #[arg(long)]
        model: PathBuf,
        /// Output folder (eval.json, pr_curve.png).
        #[arg(long)]
        out: PathBuf,
        /// Override eval.images.
        #[arg(long)]
        images: Option<usize>,
    },
    /// Homographic Adaptation: pseudo-labels for a folder of photos.
    Adapt {
        /// Detector (checkpoint folder, .safetensors or .onnx).
        #[arg(long)]
        model: PathBuf,
        /// Folder of photos (searched recursively).
        #[arg(long)]
        photos: PathBuf,
        /// Only photos with this licence_class in PHOTOS/MANIFEST.tsv (e.g. permissive).
        #[arg(long)]
        licence: Option<String>,
        /// Output folder (labels.json, preview/).
        #[arg(long)]
        out: PathBuf,
        /// Write previews of the first N photos.
        #[arg(long, default_value_t = 8)]
        previews: usize,
        /// Override adapt.num_homographies.
        #[arg(long)]
        num_homographies: Option<usize>,
        /// Override adapt.max_photos.
        #[arg(long)]
        max_photos: Option<usize>,
    },
    /// Joint SuperPoint training on pseudo-labelled photos.
    Train {
        /// labels.json written by `adapt`.
        #[arg(long)]
        labels: PathBuf,
        /// Output folder (checkpoint/, loss.csv, loss.png, config.toml).
        #[arg(long)]
        out: PathBuf,
        /// Initialise encoder and detector from a MagicPoint (checkpoint folder or .onnx).
        #[arg(long)]
        init: Option<PathBuf>,
        /// Continue from out/checkpoint.
        #[arg(long)]
        resume: bool,
        /// Override train.steps.
        #[arg(long)]
        steps: Option<usize>,
    },
    /// Export a checkpoint to ONNX (BatchNorm folded) and check it against ONNX Runtime.
    Export {
        /// Checkpoint folder or .safetensors.
        #[arg(long)]
        model: PathBuf,
        /// Output .onnx file.
        #[arg(long)]
        out: PathBuf,
        /// Model identifier stored in the metadata.
        #[arg(long)]
        model_id: Option<String>,
        /// Description (recipe, data) stored as the doc string.
        #[arg(long, default_value = "")]
        description: String,
        /// Skip the comparison with ONNX Runtime (ORT_DYLIB_PATH).
        #[arg(long)]
        no_verify: bool,
    },
    /// Every stage end to end: synth previews, MagicPoint, evaluation, export, adaptation, joint
    /// training, export.
    Pipeline {
        /// Tiny configuration that finishes in minutes on a CPU (ignores --config).
        #[arg(long)]
        small: bool,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
        /// Photos for adaptation and joint training; without it, `--small` renders stand-in
        /// images with the generator.
        #[arg(long)]
        photos: Option<PathBuf>,
        /// Only photos with this licence_class in PHOTOS/MANIFEST.tsv.
        #[arg(long)]
        licence: Option<String>,
    },
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("superpoint-train: error: {e:#}");
        std::process::exit(1);
    }
}

fn load_config(path: Option<&Path>) -> anyhow::Result<Config> {
    match path {
        Some(p) => Config::load(p),
        None => Ok(Config::default()),
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    if cli.threads > 0 {
        tch::set_num_threads(cli.threads as i32);
    }
    let rt = Runtime {
        device: parse_device(&cli.device)?,
        bf16: cli.bf16,
        channels_last: cli.channels_last,
    };
    let mut cfg = load_config(cli.config.as_deref())?;
    match cli.cmd {
        Cmd::Config { small } => {
            if small {
                cfg = Config::small();
            }
            print!("{}", cfg.to_toml());
        }
        Cmd::Synth {
            preview,
            count,
            seed,
            clean,
            bench,
        } => {
            anyhow::ensure!(
                preview.is_some() || bench.is_some(),
                "synth needs --preview DIR and/or --bench N"
            );
            cfg.synth.validate()?;
            if let Some(dir) = preview {
                write_previews(&cfg, &dir, count, seed, clean)?;
            }
            if let Some(n) = bench {
                anyhow::ensure!(n > 0, "--bench needs a positive count");
                let t = Instant::now();
                let mut labels = 0;
                for start in (0..n).step_by(256) {
                    let k = 256.min(n - start);
                    labels += synth::batch(&cfg.synth, seed, start as u64, k, false)
                        .iter()
                        .map(|s| s.keypoints.len())
                        .sum::<usize>();
                }
                let secs = t.elapsed().as_secs_f64();
                println!(
                    "synth: {n} images of {}x{} in {secs:.2} s = {:.0} images/s on {} threads ({:.1} labels/image)",
                    cfg.synth.width,
                    cfg.synth.height,
                    n as f64 / secs,
                    rayon::current_num_threads(),
                    labels as f64 / n as f64
                );
            }
        }
        Cmd::Magicpoint { out, resume, steps } => {
            if let Some(s) = steps {
                cfg.magicpoint.steps = s;
            }
            magicpoint::train(&cfg, &rt, &out, resume)?;
        }
        Cmd::EvalMagicpoint { model, out, images } => {
            if let Some(n) = images {
                cfg.eval.images = n;
            }
            cfg.validate()?;
            let net = rt.load_net(&model, None)?;
            let report = magicpoint::evaluate(&net, &cfg.synth, &cfg.eval)?;
            magicpoint::write_report(&report, &out)?;
            print_eval(&report, &out);
        }
        Cmd::Adapt {
            model,
            photos: dir,
            licence,
            out,
            previews,
            num_homographies,
            max_photos,
        } => {
            if let Some(n) = num_homographies {
                cfg.adapt.num_homographies = n;
            }
            if let Some(n) = max_photos {
                cfg.adapt.max_photos = n;
            }
            cfg.validate()?;
            let list = photos::list_photos(&dir, licence.as_deref())?;
            println!("[adapt] {} photos in {}", list.len(), dir.display());
            let net = rt.load_net(&model, None)?;
            adapt::adapt(
                &net,
                &model.display().to_string(),
                &list,
                &cfg.adapt,
                &out,
                previews,
            )?;
        }
        Cmd::Train {
            labels,
            out,
            init,
            resume,
            steps,
        } => {
            if let Some(s) = steps {
                cfg.train.steps = s;
            }
            joint::train(&cfg, &rt, &labels, init.as_deref(), &out, resume)?;
        }
        Cmd::Export {
            model,
            out,
            model_id,
            description,
            no_verify,
        } => {
            let net = superpoint_train::model::SuperPointNet::load(&model, Device::Cpu, None)?;
            let id = model_id.unwrap_or_else(|| {
                if net.has_descriptor() {
                    "superpoint"
                } else {
                    "magicpoint"
                }
                .to_string()
            });
            do_export(
                &net,
                &out,
                &id,
                &description,
                !no_verify,
                (cfg.adapt.height, cfg.adapt.width),
            )?;
        }
        Cmd::Pipeline {
            small,
            out,
            photos: dir,
            licence,
        } => {
            if small {
                cfg = Config::small();
            }
            pipeline(&cfg, &rt, &out, dir.as_deref(), licence.as_deref(), small)?;
        }
    }
    Ok(())
}

fn write_previews(
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

fn print_eval(r: &magicpoint::EvalReport, out: &Path) {
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
fn do_export(
    net: &superpoint_train::model::SuperPointNet,
    out: &Path,
    model_id: &str,
    description: &str,
    verify: bool,
    (h, w): (usize, usize),
) -> anyhow::Result<Option<(f64, f64)>> {
    let info = ModelInfo {
        model_id: model_id.to_string(),
        trained: true,
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

fn pipeline(
    cfg: &Config,
    rt: &Runtime,
    out: &Path,
    photo_dir: Option<&Path>,
    licence: Option<&str>,
    small: bool,
) -> anyhow::Result<()> {
    cfg.validate()?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut summary = serde_json::Map::new();
    let mut stage = |name: &str, t: Instant| {
        let s = t.elapsed().as_secs_f64();
        println!("[pipeline] {name}: {s:.1} s");
        summary.insert(format!("{name}_seconds"), serde_json::json!(s));
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
    let report = magicpoint::evaluate(&mp, &cfg.synth, &cfg.eval)?;
    magicpoint::write_report(&report, &mp_dir.join("eval"))?;
    print_eval(&report, &mp_dir.join("eval"));
    stage("eval_magicpoint", t);

    let t = Instant::now();
    let mp_cpu = superpoint_train::model::SuperPointNet::load(&mp_ckpt, Device::Cpu, None)?;
    let mp_diff = do_export(
        &mp_cpu,
        &out.join("magicpoint.onnx"),
        "magicpoint",
        "MagicPoint trained on Synthetic Shapes by superpoint-train",
        true,
        (cfg.adapt.height, cfg.adapt.width),
    )?;
    stage("export_magicpoint", t);

    let t = Instant::now();
    let photo_dir = match photo_dir {
        Some(d) => d.to_path_buf(),
        None => {
            anyhow::ensure!(
                small,
                "pipeline needs --photos DIR (only --small can run on stand-in images)"
            );
            let d = out.join("standin-photos");
            standin_photos(cfg, &d, cfg.adapt.max_photos.max(8))?;
            println!(
                "[pipeline] no --photos: rendered stand-in images into {}",
                d.display()
            );
            d
        }
    };
    let list = photos::list_photos(&photo_dir, licence)?;
    let labels = adapt::adapt(&mp, "magicpoint", &list, &cfg.adapt, &out.join("adapt"), 8)?;
    drop(labels);
    stage("adapt", t);

    let t = Instant::now();
    let sp_dir = out.join("superpoint");
    let resume = sp_dir.join("checkpoint").exists();
    let sp_ckpt = joint::train(
        cfg,
        rt,
        &out.join("adapt/labels.json"),
        Some(&mp_ckpt),
        &sp_dir,
        resume,
    )?;
    stage("train", t);

    let t = Instant::now();
    let sp_cpu = superpoint_train::model::SuperPointNet::load(&sp_ckpt, Device::Cpu, None)?;
    let sp_diff = do_export(
        &sp_cpu,
        &out.join("superpoint.onnx"),
        "superpoint",
        "SuperPoint trained by superpoint-train",
        true,
        (cfg.adapt.height, cfg.adapt.width),
    )?;
    stage("export_superpoint", t);

    let csv_first_last = |f: &Path| -> serde_json::Value {
        let text = std::fs::read_to_string(f).unwrap_or_default();
        let rows: Vec<&str> = text.lines().skip(1).collect();
        serde_json::json!({"first": rows.first(), "last": rows.last()})
    };
    summary.insert("small".into(), serde_json::json!(small));
    summary.insert(
        "magicpoint_loss".into(),
        csv_first_last(&mp_dir.join("loss.csv")),
    );
    summary.insert(
        "train_loss".into(),
        csv_first_last(&sp_dir.join("loss.csv")),
    );
    summary.insert(
        "magicpoint_ap".into(),
        serde_json::json!(report.overall.average_precision),
    );
    summary.insert(
        "magicpoint_map".into(),
        serde_json::json!(report.mean_average_precision),
    );
    summary.insert(
        "magicpoint_onnx_max_abs_diff".into(),
        serde_json::json!(mp_diff),
    );
    summary.insert(
        "superpoint_onnx_max_abs_diff".into(),
        serde_json::json!(sp_diff),
    );
    let f = out.join("pipeline.json");
    std::fs::write(&f, serde_json::to_string_pretty(&summary)?)?;
    println!("[pipeline] done: {}", f.display());
    Ok(())
}
