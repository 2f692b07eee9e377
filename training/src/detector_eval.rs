//! Detector evaluation on held-out Synthetic Shapes (`eval-magicpoint`): greedy matching of
//! detections to the exact labels, precision-recall curves, AP and mAP (mean over primitives),
//! localisation error; written to `eval.json` and `pr_curve.png`.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use superpoint::postprocess::{DEFAULT_THRESHOLD, KeypointScratch, PostParams, extract_keypoints};
use superpoint::subpixel::Subpixel;
use tch::{Device, Kind};

use crate::batch::images_tensor;
use crate::config::EvalConfig;
use crate::model::{SuperPointNet, heatmap};
use crate::plot::{Series, line_chart};
use crate::runlog::Progress;
use crate::synth::{self, Primitive, SynthConfig};

/// Precision-recall of one set of detections.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PrCurve {
    /// Labels.
    pub labels: usize,
    /// Detections considered.
    pub detections: usize,
    /// Average precision (area under the interpolated precision-recall curve).
    pub average_precision: f64,
    /// Highest recall reached.
    pub max_recall: f64,
    /// (threshold, precision, recall), thinned to at most ~200 points.
    pub curve: Vec<[f64; 3]>,
}

/// Computes the curve from (score, correct) pairs and the number of labels.
pub fn pr_curve(mut dets: Vec<(f32, bool)>, labels: usize) -> PrCurve {
    dets.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (mut tp, mut fp) = (0usize, 0usize);
    let mut pts: Vec<[f64; 3]> = Vec::with_capacity(dets.len());
    for &(s, ok) in &dets {
        if ok {
            tp += 1;
        } else {
            fp += 1;
        }
        pts.push([
            s as f64,
            tp as f64 / (tp + fp) as f64,
            if labels > 0 {
                tp as f64 / labels as f64
            } else {
                0.0
            },
        ]);
    }
    // Interpolated precision: the best precision at any higher recall.
    let mut interp: Vec<f64> = pts.iter().map(|p| p[1]).collect();
    for i in (0..interp.len().saturating_sub(1)).rev() {
        interp[i] = interp[i].max(interp[i + 1]);
    }
    let mut ap = 0.0;
    let mut prev_r = 0.0;
    for (p, ip) in pts.iter().zip(&interp) {
        ap += (p[2] - prev_r) * ip;
        prev_r = p[2];
    }
    let stride = (pts.len() / 200).max(1);
    let mut curve: Vec<[f64; 3]> = pts.iter().step_by(stride).copied().collect();
    if let Some(l) = pts.last()
        && curve.last() != Some(l)
    {
        curve.push(*l);
    }
    PrCurve {
        labels,
        detections: dets.len(),
        average_precision: ap,
        max_recall: prev_r,
        curve,
    }
}

/// Evaluation results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Held-out images.
    pub images: usize,
    /// Settings used.
    pub config: EvalConfig,
    /// All primitives pooled.
    pub overall: PrCurve,
    /// Mean of the per-primitive APs (primitives with labels).
    pub mean_average_precision: f64,
    /// Per primitive.
    pub per_primitive: std::collections::BTreeMap<String, PrCurve>,
    /// Mean distance of correct detections to their label (pixels).
    pub localization_error: f64,
    /// Precision and recall when thresholding at the deployment default 0.015.
    pub precision_at_0_015: f64,
    /// See `precision_at_0_015`.
    pub recall_at_0_015: f64,
}

/// Matches detections (sorted by score) to labels greedily: a detection is correct when an
/// unmatched label lies within `dist`. Returns (score, correct, distance) per detection.
pub fn match_detections(
    dets: &[(f32, f32, f32)],
    labels: &[[f32; 2]],
    dist: f64,
) -> Vec<(f32, bool, f64)> {
    let mut used = vec![false; labels.len()];
    dets.iter()
        .map(|&(x, y, s)| {
            let best = labels
                .iter()
                .enumerate()
                .filter(|(i, _)| !used[*i])
                .map(|(i, l)| (i, ((l[0] - x) as f64).hypot((l[1] - y) as f64)))
                .filter(|&(_, d)| d <= dist)
                .min_by(|a, b| a.1.total_cmp(&b.1));
            match best {
                Some((i, d)) => {
                    used[i] = true;
                    (s, true, d)
                }
                None => (s, false, f64::NAN),
            }
        })
        .collect()
}

/// Evaluates `net` on `ev.images` held-out synthetic images (with noise, without homographic
/// warps).
pub fn evaluate(
    net: &SuperPointNet,
    synth_cfg: &SynthConfig,
    ev: &EvalConfig,
) -> anyhow::Result<EvalReport> {
    anyhow::ensure!(
        synth_cfg.height.is_multiple_of(8) && synth_cfg.width.is_multiple_of(8),
        "synth size must be a multiple of 8"
    );
    let (h, w) = (synth_cfg.height, synth_cfg.width);
    let post = PostParams {
        threshold: ev.threshold,
        nms_radius: ev.nms_radius,
        border: ev.border,
        max_keypoints: 0,
        // Labels sit on pixels; the evaluation counts detections within 2 px of them.
        subpixel: Subpixel::None,
    };
    let mut pooled: Vec<(f32, bool)> = Vec::new();
    let mut per: std::collections::BTreeMap<Primitive, (Vec<(f32, bool)>, usize)> =
        Default::default();
    let (mut loc_sum, mut loc_n, mut n_labels) = (0.0, 0usize, 0usize);
    let (mut tp015, mut det015) = (0usize, 0usize);
    let mut scratch = KeypointScratch::default();
    let mut kps = Vec::new();
    let mut progress = Progress::new("eval-magicpoint", 0, ev.images, Duration::from_secs(10));
    let mut done = 0;
    while done < ev.images {
        let n = ev.batch_size.min(ev.images - done);
        let samples = synth::batch(synth_cfg, ev.seed, done as u64, n, false);
        let imgs: Vec<&[f32]> = samples.iter().map(|s| s.image.as_slice()).collect();
        let x = images_tensor(&imgs, h, w, net.device());
        let heat = tch::no_grad(|| heatmap(&net.forward_t(&x, false).logits))
            .to_device(Device::Cpu)
            .to_kind(Kind::Float)
            .contiguous();
        let heat = Vec::<f32>::try_from(heat.flatten(0, -1))?;
        for (i, s) in samples.iter().enumerate() {
            extract_keypoints(
                &heat[i * h * w..(i + 1) * h * w],
                w,
                w,
                h,
                &post,
                &mut scratch,
                &mut kps,
            );
            let dets: Vec<(f32, f32, f32)> = kps.iter().map(|k| (k.x, k.y, k.score)).collect();
            let m = match_detections(&dets, &s.keypoints, ev.correct_distance);
            let entry = per.entry(s.primitive).or_default();
            entry.1 += s.keypoints.len();
            n_labels += s.keypoints.len();
            for &(score, ok, d) in &m {
                pooled.push((score, ok));
                entry.0.push((score, ok));
                if ok {
                    loc_sum += d;
                    loc_n += 1;
                }
                if score >= DEFAULT_THRESHOLD {
                    det015 += 1;
                    tp015 += usize::from(ok);
                }
            }
        }
        done += n;
        progress.update(done, "");
    }
    let per_primitive: std::collections::BTreeMap<String, PrCurve> = per
        .into_iter()
        .map(|(p, (d, l))| (p.name().to_string(), pr_curve(d, l)))
        .collect();
    let with_labels: Vec<f64> = per_primitive
        .values()
        .filter(|c| c.labels > 0)
        .map(|c| c.average_precision)
        .collect();
    Ok(EvalReport {
        images: ev.images,
        config: ev.clone(),
        overall: pr_curve(pooled, n_labels),
        mean_average_precision: with_labels.iter().sum::<f64>() / with_labels.len().max(1) as f64,
        per_primitive,
        localization_error: if loc_n > 0 {
            loc_sum / loc_n as f64
        } else {
            f64::NAN
        },
        precision_at_0_015: if det015 > 0 {
            tp015 as f64 / det015 as f64
        } else {
            0.0
        },
        recall_at_0_015: if n_labels > 0 {
            tp015 as f64 / n_labels as f64
        } else {
            0.0
        },
    })
}

/// Writes `eval.json` and `pr_curve.png` into `dir`.
pub fn write_report(report: &EvalReport, dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let json = dir.join("eval.json");
    std::fs::write(&json, serde_json::to_string_pretty(report)?)
        .with_context(|| format!("cannot write {}", json.display()))?;
    let mut series = vec![Series::new(
        format!("all (AP {:.3})", report.overall.average_precision),
        report.overall.curve.iter().map(|c| (c[2], c[1])).collect(),
    )];
    for (name, c) in &report.per_primitive {
        if c.labels > 0 {
            series.push(Series::new(
                format!("{name} ({:.3})", c.average_precision),
                c.curve.iter().map(|p| (p[2], p[1])).collect(),
            ));
        }
    }
    series.retain(|s| !s.points.is_empty());
    if series.is_empty() {
        eprintln!("[eval-magicpoint] warning: no detections, no PR curve drawn");
        return Ok(());
    }
    line_chart(
        &dir.join("pr_curve.png"),
        "MagicPoint on held-out Synthetic Shapes",
        "recall",
        "precision",
        &series,
        false,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pr_curve_and_ap() {
        // Perfect ranking: AP 1 when all labels are found.
        let c = pr_curve(vec![(0.9, true), (0.8, true), (0.1, false)], 2);
        assert!((c.average_precision - 1.0).abs() < 1e-12);
        // One false positive on top: precision 1/2 then 2/3 at recall 1.
        let c = pr_curve(vec![(0.9, false), (0.8, true), (0.7, true)], 2);
        assert!(
            (c.average_precision - 2.0 / 3.0).abs() < 1e-12,
            "{}",
            c.average_precision
        );
        // Half the labels never found.
        let c = pr_curve(vec![(0.5, true)], 2);
        assert!((c.average_precision - 0.5).abs() < 1e-12);
        assert_eq!(pr_curve(vec![], 3).average_precision, 0.0);
    }

    #[test]
    fn matching_is_one_to_one_within_distance() {
        let labels = [[10.0, 10.0], [30.0, 30.0]];
        let dets = [(10.5, 10.0, 0.9), (11.0, 10.0, 0.8), (33.0, 30.0, 0.7)];
        let m = match_detections(&dets, &labels, 2.0);
        assert!(m[0].1 && !m[1].1 && !m[2].1);
        assert!((m[0].2 - 0.5).abs() < 1e-9);
    }
}
