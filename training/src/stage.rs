//! The one training loop of the stages (the shape of candle's `mnist-training`): the resume
//! guard, `config.toml`, the loss CSV and its chart, progress lines, a per-step hook (validation)
//! and checkpoints. Each stage (MagicPoint, joint training) supplies only its step.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use crate::config::Config;
use crate::model::SuperPointNet;
use crate::optim::Adam;
use crate::runlog::{CheckpointState, LossLog, Progress, load_checkpoint, save_checkpoint};

/// What a stage logs and how often.
#[derive(Debug, Clone, Copy)]
pub struct StageOptions<'a> {
    /// Stage name: progress prefix and the checkpoint's `stage`.
    pub name: &'a str,
    /// Title of `loss.png`.
    pub title: &'a str,
    /// Names of the values a step returns (the first is the total loss); CSV columns after `step`.
    pub columns: &'a [&'a str],
    /// Steps of the whole run.
    pub steps: usize,
    /// Average and log the values every this many steps.
    pub log_every: usize,
    /// Write a checkpoint (and redraw `loss.png`) every this many steps, and at the end.
    pub checkpoint_every: usize,
}

/// An output folder of a training stage.
#[derive(Debug)]
pub struct Stage {
    out: PathBuf,
    checkpoint: PathBuf,
    resume: bool,
}

impl Stage {
    /// Creates `out` and writes `config.toml`; without `resume`, an existing checkpoint there is
    /// an error (never silently overwritten).
    pub fn open(out: &Path, resume: bool, cfg: &Config) -> anyhow::Result<Self> {
        std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
        let checkpoint = out.join("checkpoint");
        anyhow::ensure!(
            resume || !checkpoint.exists(),
            "{} already holds a checkpoint: pass --resume to continue it or choose another --out",
            out.display()
        );
        std::fs::write(out.join("config.toml"), cfg.to_toml())
            .with_context(|| format!("cannot write {}/config.toml", out.display()))?;
        Ok(Stage {
            out: out.to_path_buf(),
            checkpoint,
            resume,
        })
    }

    /// `out/checkpoint`.
    pub fn checkpoint_dir(&self) -> &Path {
        &self.checkpoint
    }

    /// The first step to run: restores `net` and `adam` from the checkpoint when resuming one
    /// of stage `name`, else 0.
    pub fn restore(
        &self,
        name: &str,
        net: &mut SuperPointNet,
        adam: &mut Adam,
    ) -> anyhow::Result<usize> {
        if self.resume && self.checkpoint.exists() {
            let s = load_checkpoint(&self.checkpoint, name, net, adam)?;
            println!("[{name}] resuming from step {s}");
            Ok(s)
        } else {
            Ok(0)
        }
    }

    /// Opens `loss.csv` (a resumed run keeps the rows up to `start`).
    pub fn loss_log(&self, opts: &StageOptions<'_>, start: usize) -> anyhow::Result<LossLog> {
        let columns: Vec<&str> = std::iter::once("step")
            .chain(opts.columns.iter().copied())
            .collect();
        LossLog::open(
            &self.out.join("loss.csv"),
            &columns,
            self.resume.then_some(start),
        )
    }

    /// Runs steps `start..opts.steps`: `step(i, net, adam)` trains on batch `i` and returns the
    /// values named by `opts.columns`; `after(done, net)` runs after each step (e.g. validation).
    /// Logs averages, prints progress, and checkpoints. Returns the checkpoint directory.
    pub fn run(
        &self,
        opts: &StageOptions<'_>,
        start: usize,
        net: &SuperPointNet,
        adam: &mut Adam,
        mut step: impl FnMut(usize, &SuperPointNet, &mut Adam) -> anyhow::Result<Vec<f64>>,
        mut after: impl FnMut(usize, &SuperPointNet) -> anyhow::Result<()>,
    ) -> anyhow::Result<PathBuf> {
        let name = opts.name;
        let log = self.loss_log(opts, start)?;
        if start >= opts.steps {
            println!("[{name}] already trained for {start} steps");
            return Ok(self.checkpoint.clone());
        }
        let k = opts.columns.len();
        let mut progress = Progress::new(name, start, opts.steps, Duration::from_secs(10));
        let (mut acc, mut n, mut last) = (vec![0.0; k], 0usize, vec![f64::NAN; k]);
        for i in start..opts.steps {
            let values = step(i, net, adam)?;
            anyhow::ensure!(
                values.len() == k,
                "[{name}] a step returned {} values, expected {k}",
                values.len()
            );
            anyhow::ensure!(
                values[0].is_finite(),
                "[{name}] loss is {} at step {i}: lower the learning rate or disable bf16",
                values[0]
            );
            for (a, v) in acc.iter_mut().zip(&values) {
                *a += v;
            }
            n += 1;
            let done = i + 1;
            if done % opts.log_every == 0 || done == opts.steps {
                last = acc.iter().map(|a| a / n as f64).collect();
                log.append(done, &last)?;
                acc.fill(0.0);
                n = 0;
            }
            let shown: Vec<f64> = if last[0].is_nan() {
                acc.iter().map(|a| a / n.max(1) as f64).collect()
            } else {
                last.clone()
            };
            let msg: Vec<String> = opts
                .columns
                .iter()
                .zip(&shown)
                .map(|(c, v)| format!("{c} {v:.4}"))
                .collect();
            progress.update(done, &msg.join(", "));
            after(done, net)?;
            if done % opts.checkpoint_every.max(1) == 0 || done == opts.steps {
                let state = CheckpointState {
                    stage: name.into(),
                    step: done,
                    descriptor: net.has_descriptor(),
                };
                save_checkpoint(&self.checkpoint, net, adam, &state)?;
                if let Err(e) = log.plot(
                    &self.out.join("loss.png"),
                    opts.title,
                    opts.columns,
                    "loss",
                    true,
                ) {
                    eprintln!("[{name}] warning: {e}");
                }
            }
        }
        println!(
            "[{name}] done: {} steps in {:.1} s, checkpoint {}",
            opts.steps - start,
            progress.elapsed(),
            self.checkpoint.display()
        );
        Ok(self.checkpoint.clone())
    }
}
