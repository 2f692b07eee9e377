//! Charts of the training stages (loss, validation, precision-recall), drawn by the library's one
//! plotting path (`superpoint::plot`, plotters).

use std::path::Path;

pub use superpoint::plot::Series;
use superpoint::plot::{Chart, line_chart as draw};

/// Draws `series` against x into a PNG at `path` (800x500, optional logarithmic y axis).
/// Errors when no series has a point to draw, or when the file cannot be written.
pub fn line_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    log_y: bool,
) -> anyhow::Result<()> {
    let chart = Chart {
        title,
        x_label,
        y_label,
        log_y,
        ..Chart::default()
    };
    draw(path, &chart, series).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}
