//! Line charts as PNG files, drawn with `plotters` (the evaluation's MMA plot; the trainer's loss
//! and precision-recall curves can use the same path).
//!
//! Text needs a TrueType font: DejaVu Sans (Debian's `fonts-dejavu-core`) or the file named by
//! `SUPERPOINT_PLOT_FONT`; without one the chart is drawn without title, labels and legend.

use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;

use crate::Error;

/// Colours of the series, in order (the matplotlib "tab10" palette).
pub const PALETTE: [(u8, u8, u8); 8] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
];

/// How a series' line is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dash {
    /// A continuous line.
    #[default]
    Solid,
    /// Long dashes.
    Dashed,
    /// Short dashes.
    Dotted,
}

/// One curve.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    /// Legend entry.
    pub name: String,
    /// Points `(x, y)`; non-finite ones (and non-positive `y` on a logarithmic axis) are skipped.
    pub points: Vec<(f64, f64)>,
    /// Index into [`PALETTE`] (modulo its length); `None` = the series' position.
    pub color: Option<usize>,
    /// Line pattern.
    pub dash: Dash,
    /// A square marker on every point.
    pub markers: bool,
}

impl Series {
    /// A solid line without markers, coloured by its position.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Series {
            name: name.into(),
            points,
            ..Series::default()
        }
    }
}

/// Layout of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart<'a> {
    /// Title above the plot.
    pub title: &'a str,
    /// Label of the x axis.
    pub x_label: &'a str,
    /// Label of the y axis.
    pub y_label: &'a str,
    /// Image size in pixels.
    pub size: (u32, u32),
    /// Logarithmic y axis.
    pub log_y: bool,
    /// Fixed x range; `None` = the points' range.
    pub x_range: Option<(f64, f64)>,
    /// Fixed y range; `None` = the points' range.
    pub y_range: Option<(f64, f64)>,
}

impl Default for Chart<'_> {
    /// 800x500, no title or labels, linear axes fitted to the points.
    fn default() -> Self {
        Chart {
            title: "",
            x_label: "",
            y_label: "",
            size: (800, 500),
            log_y: false,
            x_range: None,
            y_range: None,
        }
    }
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
        candidates.into_iter().any(|c| {
            std::fs::read(&c).is_ok_and(|bytes| {
                let leaked: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                plotters::style::register_font("sans-serif", FontStyle::Normal, leaked).is_ok()
            })
        })
    })
}

/// The `(min, max)` of `values`, widened when empty of extent.
fn extent(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if hi > lo {
        (lo, hi)
    } else {
        (lo, lo + lo.abs().max(1e-3))
    }
}

/// Draws `series` into a PNG at `path`. Errors when no series has a point to draw, or when the
/// file cannot be written.
pub fn line_chart(path: &Path, chart: &Chart<'_>, series: &[Series]) -> Result<(), Error> {
    let text = font_available();
    let log_y = chart.log_y;
    let pts = |s: &Series| -> Vec<(f64, f64)> {
        s.points
            .iter()
            .copied()
            .filter(|p| p.0.is_finite() && p.1.is_finite() && (!log_y || p.1 > 0.0))
            .collect()
    };
    let all: Vec<(f64, f64)> = series.iter().flat_map(pts).collect();
    if all.is_empty() {
        return Err(Error::Input(format!(
            "nothing to plot for {}",
            path.display()
        )));
    }
    let (x0, x1) = chart
        .x_range
        .unwrap_or_else(|| extent(all.iter().map(|p| p.0)));
    let (y0, y1) = chart
        .y_range
        .unwrap_or_else(|| extent(all.iter().map(|p| p.1)));
    let err = |e: &dyn std::fmt::Display| {
        Error::io_message(format!("cannot draw {}: {e}", path.display()))
    };
    let (width, height) = chart.size;
    let mut buffer = vec![0u8; (width * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buffer, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let mut builder = ChartBuilder::on(&root);
        builder.margin(15);
        if text {
            builder
                .caption(chart.title, ("sans-serif", 22))
                .x_label_area_size(40)
                .y_label_area_size(70);
        }
        macro_rules! draw {
            ($chart:expr) => {{
                let mut plot = $chart;
                let mut mesh = plot.configure_mesh();
                if text {
                    mesh.x_desc(chart.x_label).y_desc(chart.y_label);
                } else {
                    mesh.x_labels(0).y_labels(0);
                }
                mesh.draw().map_err(|e| err(&e))?;
                for (i, s) in series.iter().enumerate() {
                    let (r, g, b) = PALETTE[s.color.unwrap_or(i) % PALETTE.len()];
                    let style = RGBColor(r, g, b).stroke_width(3);
                    let points = pts(s);
                    let drawn = match s.dash {
                        Dash::Solid => plot.draw_series(LineSeries::new(points.clone(), style)),
                        Dash::Dashed => {
                            plot.draw_series(DashedLineSeries::new(points.clone(), 10, 6, style))
                        }
                        Dash::Dotted => {
                            plot.draw_series(DashedLineSeries::new(points.clone(), 3, 4, style))
                        }
                    }
                    .map_err(|e| err(&e))?;
                    if text {
                        let dash = s.dash;
                        drawn.label(s.name.clone()).legend(move |(x, y)| {
                            let end = if dash == Dash::Solid { 20 } else { 12 };
                            PathElement::new(vec![(x, y), (x + end, y)], style)
                        });
                    }
                    if s.markers {
                        plot.draw_series(points.iter().map(|&p| {
                            EmptyElement::at(p)
                                + Rectangle::new([(-3, -3), (3, 3)], RGBColor(r, g, b).filled())
                        }))
                        .map_err(|e| err(&e))?;
                    }
                }
                if text && series.len() > 1 {
                    plot.configure_series_labels()
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
    // Encoded in memory (in the format of the extension, PNG by default), then written whole.
    let mut png = std::io::Cursor::new(Vec::new());
    image::RgbImage::from_raw(width, height, buffer)
        .ok_or_else(|| Error::io_message("plot buffer has the wrong size"))?
        .write_to(
            &mut png,
            image::ImageFormat::from_path(path).unwrap_or(image::ImageFormat::Png),
        )
        .map_err(|e| Error::io(format!("cannot encode plot {}", path.display()), e))?;
    crate::files::write_atomic(path, png.get_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_png_with_the_series_colours() {
        let dir = std::env::temp_dir().join(format!("sp-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("c.png");
        let s = Series {
            markers: true,
            ..Series::new(
                "loss",
                (1..50).map(|i| (i as f64, 1.0 / i as f64)).collect(),
            )
        };
        let dashed = Series {
            dash: Dash::Dashed,
            color: Some(3),
            ..s.clone()
        };
        let chart = Chart {
            title: "t",
            log_y: true,
            ..Chart::default()
        };
        line_chart(&f, &chart, &[s, dashed]).unwrap();
        let img = image::open(&f).unwrap().to_rgb8();
        assert_eq!((img.width(), img.height()), (800, 500));
        for (r, g, b) in [PALETTE[0], PALETTE[3]] {
            assert!(img.pixels().any(|px| px.0 == [r, g, b]));
        }
        let empty = Series::new("e", vec![(f64::NAN, 1.0)]);
        assert!(line_chart(&f, &Chart::default(), &[empty]).is_err());
        std::fs::remove_dir_all(dir).ok();
    }
}
