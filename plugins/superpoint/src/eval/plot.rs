//! The PNG plot of MMA against the matching threshold, drawn with [`crate::plot`].

use std::path::Path;

use crate::Error;
use crate::metrics::MMA_THRESHOLDS;
use crate::plot::{Chart, Dash, Series, line_chart};

/// Draws MMA curves (one per `(label, values at 1..10 px)`, e.g. from
/// [`Report::mma_series`](super::Report::mma_series)) into a 960x560 PNG file. Series that share
/// the text before the last space (the method) share a colour; the last word (the split) picks
/// the line: `all` solid, `illumination` dashed, `viewpoint` dotted. Errors when there is nothing
/// to draw or the file cannot be written.
pub fn plot_mma(series: &[(String, Vec<f64>)], path: &Path) -> Result<(), Error> {
    let mut methods: Vec<&str> = Vec::new();
    let lines: Vec<Series> = series
        .iter()
        .map(|(label, values)| {
            let (method, split) = label.rsplit_once(' ').unwrap_or((label.as_str(), "all"));
            let color = methods
                .iter()
                .position(|m| *m == method)
                .unwrap_or_else(|| {
                    methods.push(method);
                    methods.len() - 1
                });
            Series {
                name: label.clone(),
                points: values
                    .iter()
                    .zip(MMA_THRESHOLDS)
                    .map(|(&v, t)| (t, v.clamp(0.0, 1.0)))
                    .collect(),
                color: Some(color),
                dash: match split {
                    "illumination" => Dash::Dashed,
                    "viewpoint" => Dash::Dotted,
                    _ => Dash::Solid,
                },
                markers: true,
            }
        })
        .collect();
    let chart = Chart {
        title: "MMA vs threshold",
        x_label: "threshold (px)",
        y_label: "MMA",
        size: (960, 560),
        log_y: false,
        x_range: Some((MMA_THRESHOLDS[0], MMA_THRESHOLDS[MMA_THRESHOLDS.len() - 1])),
        y_range: Some((0.0, 1.0)),
    };
    line_chart(path, &chart, &lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plot_renders_a_png() {
        let p = std::env::temp_dir().join(format!("sp-eval-plot-{}.png", std::process::id()));
        let series = vec![
            (
                "sift all".to_string(),
                (1..=10).map(|i| i as f64 / 10.0).collect(),
            ),
            ("sift viewpoint".to_string(), vec![0.5; 10]),
        ];
        plot_mma(&series, &p).unwrap();
        let img = image::open(&p).unwrap().to_rgb8();
        assert_eq!((img.width(), img.height()), (960, 560));
        // The first series' colour is on the canvas.
        assert!(img.pixels().any(|px| px.0 == [31, 119, 180]));
        std::fs::remove_file(&p).unwrap();
    }
}
