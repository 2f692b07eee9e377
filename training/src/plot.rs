//! Line charts as PNG (loss curves, precision-recall curves) with plotters. Text needs a TrueType
//! font: DejaVu Sans (Debian's fonts-dejavu-core) or `SUPERPOINT_PLOT_FONT`; without one the
//! chart is drawn without labels.

use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;

/// One curve.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend entry.
    pub name: String,
    /// Points (x, y).
    pub points: Vec<(f64, f64)>,
}

fn font_available() -> bool {
    static FONT: OnceLock<bool> = OnceLock::new();
    *FONT.get_or_init(|| {
        let mut candidates: Vec<std::path::PathBuf> = Vec::new();
        if let Some(p) = std::env::var_os("SUPERPOINT_PLOT_FONT") {
            candidates.push(p.into());
        }
        for p in [
            "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
            "/usr/share/fonts/dejavu/DejaVuSans.ttf",
            "/usr/share/fonts/TTF/DejaVuSans.ttf",
        ] {
            candidates.push(p.into());
        }
        for c in candidates {
            if let Ok(bytes) = std::fs::read(&c) {
                let leaked: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font("sans-serif", FontStyle::Normal, leaked).is_ok() {
                    return true;
                }
            }
        }
        false
    })
}

const COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// Draws `series` into a PNG at `path`; `log_y` uses a logarithmic y axis (non-positive values
/// are skipped).
pub fn line_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    log_y: bool,
) -> anyhow::Result<()> {
    let text = font_available();
    let pts = |s: &Series| -> Vec<(f64, f64)> {
        s.points
            .iter()
            .copied()
            .filter(|p| p.0.is_finite() && p.1.is_finite() && (!log_y || p.1 > 0.0))
            .collect()
    };
    let all: Vec<(f64, f64)> = series.iter().flat_map(pts).collect();
    anyhow::ensure!(!all.is_empty(), "nothing to plot for {}", path.display());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in &all {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    if y1 <= y0 {
        y1 = y0 + y0.abs().max(1e-3);
    }
    let err = |e: &dyn std::fmt::Display| anyhow::anyhow!("cannot draw {}: {e}", path.display());
    let (width, height) = (800u32, 500u32);
    let mut buffer = vec![0u8; (width * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buffer, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let mut builder = ChartBuilder::on(&root);
        builder.margin(15);
        if text {
            builder
                .caption(title, ("sans-serif", 22))
                .x_label_area_size(40)
                .y_label_area_size(70);
        }
        macro_rules! draw {
            ($chart:expr) => {{
                let mut chart = $chart;
                let mut mesh = chart.configure_mesh();
                if text {
                    mesh.x_desc(x_label).y_desc(y_label);
                } else {
                    mesh.x_labels(0).y_labels(0);
                }
                mesh.draw().map_err(|e| err(&e))?;
                for (i, s) in series.iter().enumerate() {
                    let color = COLORS[i % COLORS.len()];
                    let ann = chart
                        .draw_series(LineSeries::new(pts(s), color.stroke_width(2)))
                        .map_err(|e| err(&e))?;
                    if text {
                        ann.label(s.name.clone()).legend(move |(x, y)| {
                            PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                        });
                    }
                }
                if text && series.len() > 1 {
                    chart
                        .configure_series_labels()
                        .background_style(WHITE.mix(0.8))
                        .border_style(BLACK)
                        .draw()
                        .map_err(|e| err(&e))?;
                }
            }};
        }
        if log_y {
            draw!(
                builder
                    .build_cartesian_2d(x0..x1, (y0 * 0.9..y1 * 1.1).log_scale())
                    .map_err(|e| err(&e))?
            );
        } else {
            draw!(
                builder
                    .build_cartesian_2d(x0..x1, y0..y1)
                    .map_err(|e| err(&e))?
            );
        }
        root.present().map_err(|e| err(&e))?;
    }
    image::RgbImage::from_raw(width, height, buffer)
        .ok_or_else(|| anyhow::anyhow!("plot buffer has the wrong size"))?
        .save(path)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_png() {
        let dir = std::env::temp_dir().join(format!("sp-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("c.png");
        let s = Series {
            name: "loss".into(),
            points: (1..50).map(|i| (i as f64, 1.0 / i as f64)).collect(),
        };
        line_chart(&f, "t", "step", "loss", &[s.clone(), s], true).unwrap();
        let img = image::open(&f).unwrap();
        assert_eq!((img.width(), img.height()), (800, 500));
        let empty = Series {
            name: "e".into(),
            points: vec![],
        };
        assert!(line_chart(&f, "t", "x", "y", &[empty], false).is_err());
        std::fs::remove_dir_all(dir).ok();
    }
}
