//! `superpoint-train`: the self-supervised SuperPoint recipe as subcommands.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Parser, Subcommand};
use superpoint_train::config::Config;
use superpoint_train::runlog::LossLog;
use superpoint_train::runtime::{Runtime, parse_device};
use superpoint_train::synth;
use superpoint_train::validate::ValidationData;
use superpoint_train::{adapt, detector_eval, joint, magicpoint, photos, pipeline};
use tch::Device;

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
        /// The tiny configuration of `pipeline --small` (same as `--preset small`).
        #[arg(long)]
        small: bool,
        /// A named configuration: paper (the defaults), cpu (the whole recipe in about two hours
        /// on two CPU cores), cpu-v2 (its second round, for `refine`) or small.
        #[arg(long)]
        preset: Option<String>,
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
        /// Leave out photos under a folder (or file) of this name, e.g. the held-back
        /// evaluation photos; repeatable.
        #[arg(long)]
        exclude: Vec<String>,
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
        /// Held-back photos (a flat folder) to validate on every train.val_every steps:
        /// synthetic pairs through the library's metrics, written to val.csv and val.png.
        #[arg(long)]
        val_photos: Option<PathBuf>,
        /// Real pairs with true homographies (HPatches layout; repeatable) to validate on every
        /// train.val_every steps; the best checkpoint there (H@1 + H@3 + MMA@3) is kept in
        /// OUT/best. Never train on them.
        #[arg(long)]
        val_pairs: Vec<PathBuf>,
    },
    /// A further round from a trained SuperPoint (the paper's second round of Homographic
    /// Adaptation): adapt the photos with MODEL, train from MODEL, export the best checkpoint on
    /// --val-pairs (else the last) to OUT/superpoint.onnx. Resumes when run again.
    Refine {
        /// The trained SuperPoint (.onnx, checkpoint folder or .safetensors).
        #[arg(long)]
        model: PathBuf,
        /// A named configuration instead of --config (e.g. cpu-v2).
        #[arg(long)]
        preset: Option<String>,
        /// Photos for adaptation and joint training (searched recursively).
        #[arg(long)]
        photos: PathBuf,
        /// Only photos with this licence_class in PHOTOS/MANIFEST.tsv.
        #[arg(long)]
        licence: Option<String>,
        /// Leave out photos under a folder (or file) of this name; repeatable.
        #[arg(long)]
        exclude: Vec<String>,
        /// Held-back photos to validate on (see `train --val-photos`).
        #[arg(long)]
        val_photos: Option<PathBuf>,
        /// Real pairs to validate on and choose the checkpoint by (see `train --val-pairs`).
        #[arg(long)]
        val_pairs: Vec<PathBuf>,
        /// Model identifier of the export.
        #[arg(long, default_value = "superpoint-refined")]
        model_id: String,
        /// Output folder (adapt/, superpoint/, superpoint.onnx).
        #[arg(long)]
        out: PathBuf,
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
    /// Redraw a chart from a loss.csv or val.csv (e.g. with other columns).
    Plot {
        /// CSV written by a training stage (first column: step).
        csv: PathBuf,
        /// Columns to draw (default: all).
        #[arg(long, value_delimiter = ',')]
        columns: Vec<String>,
        /// Chart title.
        #[arg(long, default_value = "")]
        title: String,
        /// Vertical axis label.
        #[arg(long, default_value = "value")]
        y_label: String,
        /// Logarithmic vertical axis.
        #[arg(long)]
        log_y: bool,
        /// Output PNG.
        #[arg(long)]
        out: PathBuf,
    },
    /// Every stage end to end: synth previews, MagicPoint, evaluation, export, adaptation, joint
    /// training, export.
    Pipeline {
        /// Tiny configuration that finishes in minutes on a CPU (ignores --config).
        #[arg(long)]
        small: bool,
        /// A named configuration instead of --config: paper, cpu or small.
        #[arg(long)]
        preset: Option<String>,
        /// Leave out photos under a folder (or file) of this name; repeatable.
        #[arg(long)]
        exclude: Vec<String>,
        /// Held-back photos to validate joint training on (see `train --val-photos`).
        #[arg(long)]
        val_photos: Option<PathBuf>,
        /// Real pairs to validate joint training on (see `train --val-pairs`).
        #[arg(long)]
        val_pairs: Vec<PathBuf>,
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
        Cmd::Config { small, preset } => {
            if small {
                cfg = Config::small();
            }
            if let Some(p) = preset {
                cfg = Config::preset(&p)?;
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
                pipeline::write_previews(&cfg, &dir, count, seed, clean)?;
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
            let report = detector_eval::evaluate(&net, &cfg.synth, &cfg.eval)?;
            detector_eval::write_report(&report, &out)?;
            pipeline::print_eval(&report, &out);
        }
        Cmd::Adapt {
            model,
            photos: dir,
            licence,
            out,
            previews,
            num_homographies,
            max_photos,
            exclude,
        } => {
            if let Some(n) = num_homographies {
                cfg.adapt.num_homographies = n;
            }
            if let Some(n) = max_photos {
                cfg.adapt.max_photos = n;
            }
            cfg.validate()?;
            let list = photos::exclude(photos::list_photos(&dir, licence.as_deref())?, &exclude);
            anyhow::ensure!(
                !list.is_empty(),
                "no photos left in {} after --exclude",
                dir.display()
            );
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
            val_photos,
            val_pairs,
        } => {
            if let Some(s) = steps {
                cfg.train.steps = s;
            }
            let val = ValidationData {
                photos: val_photos.as_deref(),
                pairs: &val_pairs,
            };
            joint::train(&cfg, &rt, &labels, init.as_deref(), &out, resume, &val)?;
        }
        Cmd::Refine {
            model,
            preset,
            photos: dir,
            licence,
            exclude,
            val_photos,
            val_pairs,
            model_id,
            out,
        } => {
            if let Some(p) = preset {
                cfg = Config::preset(&p)?;
            }
            let sel = pipeline::PhotoSelection {
                dir: Some(&dir),
                licence: licence.as_deref(),
                exclude: &exclude,
                val_photos: val_photos.as_deref(),
                val_pairs: &val_pairs,
            };
            pipeline::refine(&cfg, &rt, &model, &out, &sel, &model_id)?;
        }
        Cmd::Plot {
            csv,
            columns,
            title,
            y_label,
            log_y,
            out,
        } => {
            let log = LossLog::read(&csv)?;
            let wanted: Vec<&str> = if columns.is_empty() {
                log.columns().iter().skip(1).map(String::as_str).collect()
            } else {
                columns.iter().map(String::as_str).collect()
            };
            log.plot(&out, &title, &wanted, &y_label, log_y)?;
            println!("plot: wrote {}", out.display());
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
            pipeline::export_checked(
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
            preset,
            exclude,
            val_photos,
            val_pairs,
        } => {
            if small {
                cfg = Config::small();
            }
            if let Some(p) = preset {
                cfg = Config::preset(&p)?;
            }
            let photos = pipeline::PhotoSelection {
                dir: dir.as_deref(),
                licence: licence.as_deref(),
                exclude: &exclude,
                val_photos: val_photos.as_deref(),
                val_pairs: &val_pairs,
            };
            pipeline::pipeline(&cfg, &rt, &out, &photos, small)?;
        }
    }
    Ok(())
}
