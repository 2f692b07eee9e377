//! Evaluation over a dataset, aggregation into a [`Report`], and its text table.

use serde::{Deserialize, Serialize};

use super::dataset::{Sequence, SequenceKind};
use super::source::FeatureSource;
use crate::Error;
use crate::matching::Matcher;
use crate::metrics::{MMA_THRESHOLDS, MetricParams, PairMetrics, evaluate_pair};
use crate::views::{ViewSpec, best_view};

/// Means of one group of pairs.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Summary {
    /// `all`, `illumination`, `viewpoint`, or a source folder's name.
    pub split: String,
    /// Sequences in the group.
    pub sequences: usize,
    /// Pairs in the group.
    pub pairs: usize,
    /// Mean keypoints per image used for matching (top N).
    pub keypoints: f64,
    /// Mean repeatability for each `k` (`[k, value]`); pairs without a shared view are skipped.
    pub repeatability: Vec<(usize, Option<f64>)>,
    /// Mean localisation error of repeated points at the first `k`, pixels.
    pub localization_error: Option<f64>,
    /// Mean matching score.
    pub matching_score: Option<f64>,
    /// Mean MMA at 1..10 px.
    pub mma: Vec<f64>,
    /// Mean matches per pair.
    pub matches: f64,
    /// Mean RANSAC inliers per pair.
    pub inliers: f64,
    /// Fraction of pairs whose estimated homography is within each ε (`[ε, fraction]`).
    pub homography_accuracy: Vec<(f64, f64)>,
    /// Median corner error over the pairs with an estimate, pixels.
    pub median_corner_error: Option<f64>,
    /// Pairs where no homography could be estimated.
    pub homography_failures: usize,
    /// Mean detection time per image, milliseconds (when measured).
    pub detect_ms: Option<f64>,
    /// Mean matching + RANSAC time per pair, milliseconds.
    pub match_ms: f64,
}

/// The result of an evaluation: parameters, per-group means and per-pair metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Method name (model id, or the detections folder).
    pub method: String,
    /// Dataset folder.
    pub dataset: String,
    /// Metric parameters.
    pub params: MetricParams,
    /// `all`, then `illumination` and `viewpoint` when the dataset has such sequences, then one
    /// per source folder when sequences are nested (`oxford/bark`: `oxford`).
    pub summaries: Vec<Summary>,
    /// Every pair.
    pub pairs: Vec<PairMetricsRecord>,
}

/// A pair's metrics with its sequence kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairMetricsRecord {
    /// Illumination / viewpoint.
    pub kind: SequenceKind,
    /// The view of image 1 that matched best, with `reference_views` (else absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_view: Option<ViewSpec>,
    /// The metrics.
    #[serde(flatten)]
    pub metrics: PairMetrics,
}

fn mean(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    let (mut sum, mut n) = (0.0, 0usize);
    for v in values {
        sum += v;
        n += 1;
    }
    (n > 0).then(|| sum / n as f64)
}

fn summarize(split: &str, pairs: &[&PairMetricsRecord], params: &MetricParams) -> Summary {
    let mut seqs: Vec<&str> = pairs.iter().map(|p| p.metrics.sequence.as_str()).collect();
    seqs.dedup();
    let m = |p: &&PairMetricsRecord| p.metrics.clone();
    let all: Vec<PairMetrics> = pairs.iter().map(m).collect();
    let repeatability = params
        .repeatability_keypoints
        .iter()
        .enumerate()
        .map(|(i, &k)| {
            (
                k,
                mean(
                    all.iter()
                        .filter_map(|p| p.repeatability.get(i).and_then(|r| r.value)),
                ),
            )
        })
        .collect();
    let mut corner: Vec<f64> = all.iter().filter_map(|p| p.corner_error).collect();
    corner.sort_by(f64::total_cmp);
    let median_corner_error = (!corner.is_empty()).then(|| {
        let n = corner.len();
        if n % 2 == 1 {
            corner[n / 2]
        } else {
            (corner[n / 2 - 1] + corner[n / 2]) / 2.0
        }
    });
    Summary {
        split: split.to_string(),
        sequences: seqs.len(),
        pairs: all.len(),
        keypoints: mean(
            all.iter()
                .flat_map(|p| [p.keypoints_a as f64, p.keypoints_b as f64]),
        )
        .unwrap_or(0.0),
        repeatability,
        localization_error: mean(
            all.iter()
                .filter_map(|p| p.repeatability.first().and_then(|r| r.localization_error)),
        ),
        matching_score: mean(all.iter().filter_map(|p| p.matching_score)),
        mma: (0..MMA_THRESHOLDS.len())
            .map(|i| mean(all.iter().map(|p| p.mma.get(i).copied().unwrap_or(0.0))).unwrap_or(0.0))
            .collect(),
        matches: mean(all.iter().map(|p| p.matches as f64)).unwrap_or(0.0),
        inliers: mean(all.iter().map(|p| p.inliers as f64)).unwrap_or(0.0),
        homography_accuracy: params
            .homography_epsilons
            .iter()
            .enumerate()
            .map(|(i, &e)| {
                (
                    e,
                    mean(all.iter().map(|p| {
                        if p.homography_correct.get(i).copied().unwrap_or(false) {
                            1.0
                        } else {
                            0.0
                        }
                    }))
                    .unwrap_or(0.0),
                )
            })
            .collect(),
        median_corner_error,
        homography_failures: all.iter().filter(|p| p.homography.is_none()).count(),
        detect_ms: mean(all.iter().filter_map(|p| p.detect_ms)),
        match_ms: mean(all.iter().map(|p| p.match_ms)).unwrap_or(0.0),
    }
}

/// Evaluates `source` on every pair (1, k) of every sequence. `progress` receives one line per
/// sequence.
pub fn evaluate(
    dataset: &str,
    sequences: &[Sequence],
    source: &mut dyn FeatureSource,
    params: &MetricParams,
    progress: &mut dyn FnMut(&str),
) -> Result<Report, Error> {
    params.validate()?;
    let mut matcher = Matcher::new();
    let mut pairs = Vec::new();
    for seq in sequences {
        let (a, ms_a) = source.features(seq, 1)?;
        let views = match params.reference_views.is_single() {
            true => Vec::new(),
            false => source.reference_views(seq, &params.reference_views)?,
        };
        let mut line = format!("{}: image 1 {} keypoints", seq.name, a.len());
        for (k, truth) in seq.pairs() {
            let (b, ms_b) = source.features(seq, k)?;
            // With views of image 1, the best one stands in for it (image 1 itself when no view
            // gives a homography).
            let best = best_view(
                &views,
                &b,
                params.num_keypoints,
                &params.matching,
                &params.ransac,
                &mut matcher,
            )?;
            let a = best.map_or(&a, |v| &views[v.index].features);
            let mut m = evaluate_pair(a, &b, truth, params, &mut matcher)
                .map_err(|e| Error::Input(format!("{} pair (1, {k}): {e}", seq.name)))?;
            m.sequence = seq.name.clone();
            m.image = k;
            m.detect_ms = match (k == seq.numbers[1], ms_a, ms_b) {
                // Image 1's time is folded into the first pair's mean.
                (true, Some(x), Some(y)) => Some((x + y) / 2.0),
                (_, _, y) => y,
            };
            line.push_str(&format!(
                " | {k}: {} matches, corner error {}",
                m.matches,
                m.corner_error
                    .map_or_else(|| "-".to_string(), |e| format!("{e:.1}"))
            ));
            pairs.push(PairMetricsRecord {
                kind: seq.kind,
                reference_view: best.map(|v| views[v.index].spec),
                metrics: m,
            });
        }
        progress(&line);
    }
    let mut summaries = Vec::new();
    let refs: Vec<&PairMetricsRecord> = pairs.iter().collect();
    summaries.push(summarize("all", &refs, params));
    for (kind, name) in [
        (SequenceKind::Illumination, "illumination"),
        (SequenceKind::Viewpoint, "viewpoint"),
    ] {
        let group: Vec<&PairMetricsRecord> = pairs.iter().filter(|p| p.kind == kind).collect();
        if !group.is_empty() {
            summaries.push(summarize(name, &group, params));
        }
    }
    // A dataset of sources (`oxford/bark`, `evd/cat`): one summary per source too.
    let mut sources: Vec<&str> = pairs
        .iter()
        .filter_map(|p| p.metrics.sequence.split_once('/').map(|s| s.0))
        .collect();
    sources.dedup();
    for source in sources {
        let group: Vec<&PairMetricsRecord> = pairs
            .iter()
            .filter(|p| p.metrics.sequence.split_once('/').map(|s| s.0) == Some(source))
            .collect();
        summaries.push(summarize(source, &group, params));
    }
    Ok(Report {
        method: source.name(),
        dataset: dataset.to_string(),
        params: params.clone(),
        summaries,
        pairs,
    })
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".to_string(), |x| format!("{x:.digits$}"))
}

impl Report {
    /// A plain-text table of the summaries.
    pub fn table(&self) -> String {
        let mut s = format!("method: {}\ndataset: {}\n", self.method, self.dataset);
        let p = &self.params;
        s.push_str(&format!(
            "protocol: top {} keypoints, repeatability/matching score at {} px, mutual NN{}{}, RANSAC {} px\n\n",
            if p.num_keypoints == 0 {
                "all".to_string()
            } else {
                p.num_keypoints.to_string()
            },
            p.epsilon,
            if p.matching.ratio < 1.0 {
                format!(", ratio {}", p.matching.ratio)
            } else {
                String::new()
            },
            if p.matching.max_distance.is_finite() {
                format!(", max distance {}", p.matching.max_distance)
            } else {
                String::new()
            },
            p.ransac.threshold
        ));
        let mut header = vec!["split".to_string(), "pairs".into(), "kpts".into()];
        if let Some(first) = self.summaries.first() {
            for (k, _) in &first.repeatability {
                header.push(if *k == 0 {
                    "rep@all".to_string()
                } else {
                    format!("rep@{k}")
                });
            }
            header.push("loc.err".into());
            header.push("M.score".into());
            for t in [1usize, 3, 5, 10] {
                header.push(format!("MMA@{t}"));
            }
            for (e, _) in &first.homography_accuracy {
                header.push(format!("H@{e}"));
            }
            for h in [
                "med.corner",
                "H.fail",
                "matches",
                "inliers",
                "det.ms/img",
                "match.ms/pair",
            ] {
                header.push(h.into());
            }
        }
        let mut rows = vec![header];
        for sm in &self.summaries {
            let mut r = vec![
                sm.split.clone(),
                sm.pairs.to_string(),
                format!("{:.0}", sm.keypoints),
            ];
            for (_, v) in &sm.repeatability {
                r.push(opt(*v, 3));
            }
            r.push(opt(sm.localization_error, 2));
            r.push(opt(sm.matching_score, 3));
            for t in [1usize, 3, 5, 10] {
                r.push(format!("{:.3}", sm.mma.get(t - 1).copied().unwrap_or(0.0)));
            }
            for (_, a) in &sm.homography_accuracy {
                r.push(format!("{a:.3}"));
            }
            r.push(opt(sm.median_corner_error, 2));
            r.push(sm.homography_failures.to_string());
            r.push(format!("{:.0}", sm.matches));
            r.push(format!("{:.0}", sm.inliers));
            r.push(opt(sm.detect_ms, 1));
            r.push(format!("{:.2}", sm.match_ms));
            rows.push(r);
        }
        let cols = rows[0].len();
        let widths: Vec<usize> = (0..cols)
            .map(|c| {
                rows.iter()
                    .map(|r| r.get(c).map_or(0, String::len))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for r in &rows {
            let line: Vec<String> = r
                .iter()
                .enumerate()
                .map(|(c, v)| {
                    if c == 0 {
                        format!("{v:<w$}", w = widths[c])
                    } else {
                        format!("{v:>w$}", w = widths[c])
                    }
                })
                .collect();
            s.push_str(line.join("  ").trim_end());
            s.push('\n');
        }
        if let Some(all) = self.summaries.first() {
            s.push_str("\nMMA at 1..10 px (all): ");
            let v: Vec<String> = all.mma.iter().map(|x| format!("{x:.3}")).collect();
            s.push_str(&v.join(" "));
            s.push('\n');
        }
        s
    }

    /// The MMA curves of this report, one per split, labelled `<method> <split>`.
    /// A group holding every pair (a dataset of only viewpoint sequences) repeats `all` and is
    /// left out.
    pub fn mma_series(&self) -> Vec<(String, Vec<f64>)> {
        let total = self.summaries.first().map_or(0, |s| s.pairs);
        self.summaries
            .iter()
            .enumerate()
            .filter(|(i, s)| *i == 0 || s.pairs != total)
            .map(|(_, s)| (format!("{} {}", self.method, s.split), s.mma.clone()))
            .collect()
    }
}
