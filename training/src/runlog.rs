//! Run bookkeeping shared by the training stages: progress lines (step/s, loss, ETA), the loss
//! CSV and its PNG chart, and checkpoints (weights, optimiser moments, step) that runs resume from.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::model::{SuperPointNet, WEIGHTS_FILE};
use crate::optim::Adam;
use crate::plot::{Series, line_chart};

/// Prints a line at most every `every` (and always for the last step).
#[derive(Debug)]
pub struct Progress {
    stage: String,
    total: usize,
    first: usize,
    start: Instant,
    last: Option<Instant>,
    every: Duration,
}

impl Progress {
    /// Progress of `stage` from step `first` to `total`.
    pub fn new(stage: &str, first: usize, total: usize, every: Duration) -> Self {
        Progress {
            stage: stage.to_string(),
            total,
            first,
            start: Instant::now(),
            last: None,
            every,
        }
    }

    /// Reports that `done` steps are finished; `msg` is appended (e.g. the loss).
    pub fn update(&mut self, done: usize, msg: &str) {
        let now = Instant::now();
        if done < self.total && self.last.is_some_and(|l| now - l < self.every) {
            return;
        }
        self.last = Some(now);
        let elapsed = (now - self.start).as_secs_f64();
        let rate = (done - self.first) as f64 / elapsed.max(1e-9);
        let eta = if rate > 0.0 {
            (self.total - done) as f64 / rate
        } else {
            0.0
        };
        println!(
            "[{}] {done}/{} ({:.1}%) {rate:.2} step/s, {} elapsed, ETA {}  {msg}",
            self.stage,
            self.total,
            100.0 * done as f64 / self.total.max(1) as f64,
            hms(elapsed),
            hms(eta)
        );
    }

    /// Seconds since the start.
    pub fn elapsed(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }
}

/// `1h02m03s` style duration.
pub fn hms(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}h{:02}m{:02}s", s / 3600, (s / 60) % 60, s % 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// A CSV of named columns, appended to as training goes (a resumed run drops rows past its step).
#[derive(Debug)]
pub struct LossLog {
    path: PathBuf,
    columns: Vec<String>,
}

impl LossLog {
    /// Opens `path`: created with a header when missing or when `keep_until` is None; otherwise
    /// rows with a step above `keep_until` are dropped (they come from after the last checkpoint).
    pub fn open(path: &Path, columns: &[&str], keep_until: Option<usize>) -> anyhow::Result<Self> {
        let header = columns.join(",");
        let mut kept = vec![header.clone()];
        // Read only when resuming (the file may be large, or a device that never ends).
        if let Some((limit, Ok(text))) = keep_until.map(|l| (l, std::fs::read_to_string(path))) {
            let mut lines = text.lines();
            anyhow::ensure!(
                lines.next() == Some(header.as_str()),
                "{} has other columns than {header}: remove it or use another output directory",
                path.display()
            );
            kept.extend(
                lines
                    .filter(|l| {
                        l.split(',')
                            .next()
                            .and_then(|s| s.parse::<usize>().ok())
                            .is_some_and(|s| s <= limit)
                    })
                    .map(str::to_string),
            );
        }
        // Whole or not at all: a failed rewrite keeps the previous log.
        // (The message already holds the cause: no source chain to repeat it.)
        superpoint::files::write_atomic(path, (kept.join("\n") + "\n").as_bytes())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(LossLog {
            path: path.to_path_buf(),
            columns: columns.iter().map(|s| s.to_string()).collect(),
        })
    }

    /// Opens an existing CSV written by a stage (`loss.csv`, `val.csv`) for reading and plotting.
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let header = text.lines().next().unwrap_or_default();
        anyhow::ensure!(
            header.starts_with("step,"),
            "{} is not a training CSV (its first column must be `step`)",
            path.display()
        );
        Ok(LossLog {
            path: path.to_path_buf(),
            columns: header.split(',').map(str::to_string).collect(),
        })
    }

    /// Column names, `step` first.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Appends one row (step first), whole or not at all: the line is written in one piece, and
    /// a failed write (a full disk) cuts the file back to its previous end, so it never holds a
    /// torn row. Errors name the file.
    pub fn append(&self, step: usize, values: &[f64]) -> anyhow::Result<()> {
        anyhow::ensure!(
            values.len() + 1 == self.columns.len(),
            "loss log: wrong column count"
        );
        let cannot = || format!("cannot append to {}", self.path.display());
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.path)
            .with_context(cannot)?;
        let row: Vec<String> = std::iter::once(step.to_string())
            .chain(values.iter().map(|v| format!("{v:.6}")))
            .collect();
        let line = row.join(",") + "\n";
        let end = f.metadata().with_context(cannot)?.len();
        if let Err(e) = f.write_all(line.as_bytes()).and_then(|()| f.flush()) {
            if f.metadata().is_ok_and(|m| m.is_file()) {
                let _ = f.set_len(end);
            }
            return Err(e).with_context(cannot);
        }
        Ok(())
    }

    /// Reads the rows back: (step, values).
    pub fn rows(&self) -> anyhow::Result<Vec<(usize, Vec<f64>)>> {
        let text = std::fs::read_to_string(&self.path)
            .with_context(|| format!("cannot read {}", self.path.display()))?;
        Ok(text
            .lines()
            .skip(1)
            .filter_map(|l| {
                let mut it = l.split(',');
                let step = it.next()?.parse().ok()?;
                Some((step, it.filter_map(|v| v.parse().ok()).collect()))
            })
            .collect())
    }

    /// Draws the columns named in `which` against the step into `png`, with `y_label` on the
    /// vertical axis.
    pub fn plot(
        &self,
        png: &Path,
        title: &str,
        which: &[&str],
        y_label: &str,
        log_y: bool,
    ) -> anyhow::Result<()> {
        let rows = self.rows()?;
        let series = which
            .iter()
            .map(|name| {
                let idx = self
                    .columns
                    .iter()
                    .position(|c| c == name)
                    .and_then(|i| i.checked_sub(1))
                    .ok_or_else(|| {
                        anyhow::anyhow!(
                            "{} has no column {name:?} (columns: {})",
                            self.path.display(),
                            self.columns.join(", ")
                        )
                    })?;
                // Figures a run did not measure are NaN: left out of the chart.
                Ok(Series::new(
                    name.to_string(),
                    rows.iter()
                        .filter_map(|(s, v)| v.get(idx).map(|y| (*s as f64, *y)))
                        .filter(|p| p.1.is_finite())
                        .collect(),
                ))
            })
            .collect::<anyhow::Result<Vec<_>>>()?
            .into_iter()
            .filter(|s| !s.points.is_empty())
            .collect::<Vec<_>>();
        line_chart(png, title, "step", y_label, &series, log_y)
    }
}

/// Contents of `state.json` in a checkpoint directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointState {
    /// Stage that wrote it (`magicpoint` or `train`).
    pub stage: String,
    /// Steps done.
    pub step: usize,
    /// Whether the network has the descriptor head.
    pub descriptor: bool,
}

/// Name of the optimiser state file in a checkpoint directory.
pub const ADAM_FILE: &str = "adam.safetensors";
/// Name of the state file in a checkpoint directory.
pub const STATE_FILE: &str = "state.json";

/// Writes weights, optimiser state and step into `dir` (atomically: a temporary directory is
/// renamed, so an interrupted write leaves the previous checkpoint intact).
pub fn save_checkpoint(
    dir: &Path,
    net: &SuperPointNet,
    adam: &Adam,
    state: &CheckpointState,
) -> anyhow::Result<()> {
    replace_dir(dir, |tmp| {
        write_weights_and_state(tmp, net, state)?;
        adam.save(&tmp.join(ADAM_FILE))
    })
}

/// Writes weights and `state.json` (no optimiser state: not resumable, but a model for `export`,
/// `train --init` and `adapt --model`) into `dir`, atomically like [`save_checkpoint`], plus the
/// `extra` files (name, contents).
pub fn save_weights(
    dir: &Path,
    net: &SuperPointNet,
    state: &CheckpointState,
    extra: &[(&str, String)],
) -> anyhow::Result<()> {
    replace_dir(dir, |tmp| {
        write_weights_and_state(tmp, net, state)?;
        for (name, text) in extra {
            std::fs::write(tmp.join(name), text)
                .with_context(|| format!("cannot write {}", tmp.join(name).display()))?;
        }
        Ok(())
    })
}

fn write_weights_and_state(
    dir: &Path,
    net: &SuperPointNet,
    state: &CheckpointState,
) -> anyhow::Result<()> {
    net.save(&dir.join(WEIGHTS_FILE))?;
    std::fs::write(dir.join(STATE_FILE), serde_json::to_string_pretty(state)?)
        .with_context(|| format!("cannot write {}", dir.join(STATE_FILE).display()))
}

/// Fills a temporary sibling of `dir` with `fill`, then replaces `dir` by it.
fn replace_dir(dir: &Path, fill: impl FnOnce(&Path) -> anyhow::Result<()>) -> anyhow::Result<()> {
    let tmp = dir.with_extension("tmp");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).with_context(|| format!("cannot clear {}", tmp.display()))?;
    }
    std::fs::create_dir_all(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    // A failed fill (a full disk) leaves `dir` as it was and removes the partial copy.
    if let Err(e) = fill(&tmp) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    if dir.exists() {
        std::fs::remove_dir_all(dir)
            .with_context(|| format!("cannot replace {}", dir.display()))?;
    }
    std::fs::rename(&tmp, dir).with_context(|| format!("cannot move {} into place", dir.display()))
}

/// Reads `state.json` of a checkpoint directory.
pub fn read_state(dir: &Path) -> anyhow::Result<CheckpointState> {
    let f = dir.join(STATE_FILE);
    let text =
        std::fs::read_to_string(&f).with_context(|| format!("cannot read {}", f.display()))?;
    serde_json::from_str(&text).with_context(|| format!("bad checkpoint state {}", f.display()))
}

/// Restores weights and optimiser state from `dir` into `net` and `adam`; returns the step.
pub fn load_checkpoint(
    dir: &Path,
    stage: &str,
    net: &mut SuperPointNet,
    adam: &mut Adam,
) -> anyhow::Result<usize> {
    let state = read_state(dir)?;
    anyhow::ensure!(
        state.stage == stage && state.descriptor == net.has_descriptor(),
        "{} is a `{}` checkpoint, cannot resume `{stage}` from it",
        dir.display(),
        state.stage
    );
    let w = dir.join(WEIGHTS_FILE);
    net.vs
        .load(&w)
        .with_context(|| format!("cannot load {}", w.display()))?;
    adam.load(&dir.join(ADAM_FILE), state.step as i64)?;
    Ok(state.step)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_log_writes_whole_rows_or_fail_naming_the_file() {
        let missing =
            std::env::temp_dir().join(format!("sp-no-such-{}/loss.csv", std::process::id()));
        let err = LossLog::open(&missing, &["step", "loss"], None).unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            format!(
                "cannot write {}: No such file or directory (os error 2)",
                missing.display()
            )
        );
        let full = LossLog {
            path: PathBuf::from("/dev/full"),
            columns: vec!["step".into(), "loss".into()],
        };
        let err = full.append(10, &[0.5]).unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "cannot append to /dev/full: No space left on device (os error 28)"
        );
        // A checkpoint whose writing fails leaves the previous one and no partial copy.
        let dir = std::env::temp_dir().join(format!("sp-ckpt-fail-{}", std::process::id()));
        let ckpt = dir.join("ckpt");
        std::fs::create_dir_all(&ckpt).unwrap();
        std::fs::write(ckpt.join("state.json"), "old").unwrap();
        let err = replace_dir(&ckpt, |tmp| {
            std::fs::write(tmp.join("state.json"), "half")?;
            anyhow::bail!("disk full")
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "disk full");
        assert_eq!(
            std::fs::read_to_string(ckpt.join("state.json")).unwrap(),
            "old"
        );
        assert!(!ckpt.with_extension("tmp").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn loss_log_resume_drops_rows_after_checkpoint() {
        let dir = std::env::temp_dir().join(format!("sp-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("loss.csv");
        let log = LossLog::open(&f, &["step", "loss"], None).unwrap();
        for s in [10, 20, 30] {
            log.append(s, &[1.0 / s as f64]).unwrap();
        }
        let log = LossLog::open(&f, &["step", "loss"], Some(20)).unwrap();
        let rows = log.rows().unwrap();
        assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), vec![10, 20]);
        assert!(LossLog::open(&f, &["step", "other"], Some(20)).is_err());
        assert!(log.append(40, &[1.0, 2.0]).is_err());
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn hms_formats() {
        assert_eq!(hms(5.2), "5s");
        assert_eq!(hms(65.0), "1m05s");
        assert_eq!(hms(3723.0), "1h02m03s");
    }
}
