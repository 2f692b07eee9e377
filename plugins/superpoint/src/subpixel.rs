//! Sub-pixel keypoint positions from the heatmap around each kept peak.
//!
//! SuperPoint's heatmap gives a probability per pixel, so NMS peaks sit on integer pixels. The
//! true corner lies between pixels about as often as on one, which costs up to half a pixel of
//! localisation (MMA@1, homography accuracy at 1 px). Two refinements are offered:
//!
//! - **soft-argmax**: the probability-weighted mean position over a `(2r+1)²` window around the
//!   peak (the integral regression of Sun et al., "Integral Human Pose Regression", ECCV 2018,
//!   as used for keypoints by e.g. ALIKED). Robust; pulled slightly towards strong neighbours.
//! - **quadratic**: the extremum of the second-order Taylor expansion of the log-probability at
//!   the peak (3x3 finite differences), the refinement of SIFT (Lowe, IJCV 2004, section 4,
//!   after Brown & Lowe 2002). Exact for Gaussian-shaped peaks; falls back to the pixel when the
//!   fit is not a maximum within half a pixel.
//!
//! Both read only heatmap pixels inside the valid (unpadded) area, and move a keypoint by at most
//! the window radius (soft-argmax) or half a pixel (quadratic).

use std::fmt;
use std::str::FromStr;

use crate::Error;

/// How keypoint positions are refined below the heatmap's pixel grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subpixel {
    /// Integer heatmap pixels (the original SuperPoint behaviour).
    None,
    /// Probability-weighted mean over the `(2 radius + 1)²` window around the peak.
    SoftArgmax {
        /// Window radius in heatmap pixels (1 to 4).
        radius: u8,
    },
    /// Extremum of a quadratic fit of the log-probability over the 3x3 neighbourhood.
    Quadratic,
}

impl Default for Subpixel {
    /// Soft-argmax over 5x5: on the 35 Oxford and HPatches real pairs with `superpoint-cpu-v1` it
    /// gave the best MMA@1 (0.406 against 0.350 without refinement and 0.388 with the quadratic
    /// fit) and H@1 0.486 (0.457 without); measured with `superpoint eval --subpixel ...`.
    fn default() -> Self {
        Subpixel::SoftArgmax { radius: 2 }
    }
}

impl Subpixel {
    /// Every accepted name, for help texts and errors.
    pub const NAMES: &'static str = "none, quadratic, soft-argmax (5x5), soft-argmax-3, soft-argmax-5, soft-argmax-7, soft-argmax-9";

    /// Checks the window radius.
    pub fn validate(&self) -> Result<(), Error> {
        match *self {
            Subpixel::SoftArgmax { radius } if !(1..=4).contains(&radius) => Err(Error::Config(
                format!("the soft-argmax window radius must be 1 to 4, got {radius}"),
            )),
            _ => Ok(()),
        }
    }

    /// Heatmap pixels read on each side of a peak: the soft-argmax radius, 1 for the quadratic
    /// fit (3x3), 0 for none.
    pub fn window_radius(&self) -> usize {
        match *self {
            Subpixel::None => 0,
            Subpixel::Quadratic => 1,
            Subpixel::SoftArgmax { radius } => radius as usize,
        }
    }

    /// Values per window: `(2 r + 1)²` for `r` = [`Self::window_radius`].
    pub fn window_len(&self) -> usize {
        let side = 2 * self.window_radius() + 1;
        side * side
    }

    /// Whether a heatmap with `valid_width` x `valid_height` content is refined at all (none is
    /// below 3x3).
    pub fn applies(&self, valid_width: usize, valid_height: usize) -> bool {
        *self != Subpixel::None && valid_width >= 3 && valid_height >= 3
    }

    /// Copies the `(2r+1)²` heatmap values around `peak` (row-major, `r` =
    /// [`Self::window_radius`]) into `window`, NaN where the window leaves the valid
    /// `valid.0` x `valid.1` area. The libtorch engine gathers the same windows on the device.
    pub fn window(
        &self,
        scores: &[f32],
        width: usize,
        valid: (usize, usize),
        peak: (usize, usize),
        window: &mut [f32],
    ) {
        let r = self.window_radius() as isize;
        let side = 2 * r + 1;
        debug_assert_eq!(window.len(), (side * side) as usize);
        for dy in -r..=r {
            for dx in -r..=r {
                let (x, y) = (peak.0 as isize + dx, peak.1 as isize + dy);
                let inside = x >= 0 && y >= 0 && (x as usize) < valid.0 && (y as usize) < valid.1;
                window[((dy + r) * side + dx + r) as usize] = if inside {
                    scores[y as usize * width + x as usize]
                } else {
                    f32::NAN
                };
            }
        }
    }

    /// The offset `(dx, dy)` in heatmap pixels from the peak at the centre of `window` (as
    /// [`Self::window`] fills it: `(2r+1)²` values, NaN outside the valid area) to the refined
    /// position. Soft-argmax: the weighted mean offset over the valid values (negative values
    /// count 0; no weight, no move). Quadratic: see [`Subpixel::Quadratic`], a missing neighbour
    /// mirrored from the other side; (0, 0) when the fit is refused.
    pub fn refine_window(&self, window: &[f32]) -> (f32, f32) {
        let r = self.window_radius();
        let side = 2 * r + 1;
        debug_assert_eq!(window.len(), side * side);
        match *self {
            Subpixel::None => (0.0, 0.0),
            Subpixel::SoftArgmax { .. } => {
                let (mut sw, mut sx, mut sy) = (0f32, 0f32, 0f32);
                for (i, &v) in window.iter().enumerate() {
                    if v.is_nan() {
                        continue;
                    }
                    let w = v.max(0.0);
                    sw += w;
                    sx += w * ((i % side) as f32 - r as f32);
                    sy += w * ((i / side) as f32 - r as f32);
                }
                if sw > 0.0 {
                    (sx / sw, sy / sw)
                } else {
                    (0.0, 0.0)
                }
            }
            Subpixel::Quadratic => {
                // 3x3: offsets -1, 0, +1 are indices 0, 1, 2. Mirror at the edges of the valid
                // area (a peak on the edge stays there).
                let at = |dx: usize, dy: usize| window[dy * 3 + dx];
                let (xm, xp) = match (at(0, 1).is_nan(), at(2, 1).is_nan()) {
                    (false, false) => (0, 2),
                    (true, _) => (2, 2),
                    (false, true) => (0, 0),
                };
                let (ym, yp) = match (at(1, 0).is_nan(), at(1, 2).is_nan()) {
                    (false, false) => (0, 2),
                    (true, _) => (2, 2),
                    (false, true) => (0, 0),
                };
                let l = |dx: usize, dy: usize| at(dx, dy).max(1e-12).ln();
                let c = l(1, 1);
                let gx = (l(xp, 1) - l(xm, 1)) / 2.0;
                let gy = (l(1, yp) - l(1, ym)) / 2.0;
                let hxx = l(xp, 1) - 2.0 * c + l(xm, 1);
                let hyy = l(1, yp) - 2.0 * c + l(1, ym);
                let hxy = (l(xp, yp) - l(xp, ym) - l(xm, yp) + l(xm, ym)) / 4.0;
                quadratic_offset(gx, gy, hxx, hyy, hxy)
            }
        }
    }
}

/// The most values a window has: soft-argmax 9x9.
pub const MAX_WINDOW: usize = 81;

/// The offset `-H⁻¹ g` to the extremum of `f(d) = g·d + ½ dᵀ H d`, or (0, 0) when it is not a
/// maximum (H not negative definite) or lies more than half a pixel away along an axis.
fn quadratic_offset(gx: f32, gy: f32, hxx: f32, hyy: f32, hxy: f32) -> (f32, f32) {
    let det = hxx * hyy - hxy * hxy;
    if !(hxx < 0.0 && det > 0.0) {
        return (0.0, 0.0);
    }
    let dx = -(hyy * gx - hxy * gy) / det;
    let dy = -(hxx * gy - hxy * gx) / det;
    if dx.is_finite() && dy.is_finite() && dx.abs() <= 0.5 && dy.abs() <= 0.5 {
        (dx, dy)
    } else {
        (0.0, 0.0)
    }
}

impl fmt::Display for Subpixel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subpixel::None => f.write_str("none"),
            Subpixel::Quadratic => f.write_str("quadratic"),
            Subpixel::SoftArgmax { radius } => write!(f, "soft-argmax-{}", 2 * radius + 1),
        }
    }
}

impl FromStr for Subpixel {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let window = match s {
            "none" => return Ok(Subpixel::None),
            "quadratic" => return Ok(Subpixel::Quadratic),
            "soft-argmax" => 5,
            _ => s
                .strip_prefix("soft-argmax-")
                .and_then(|w| w.parse::<u8>().ok())
                .filter(|w| w % 2 == 1 && (3..=9).contains(w))
                .ok_or_else(|| {
                    Error::Config(format!(
                        "unknown sub-pixel refinement {s:?}: choose {}",
                        Subpixel::NAMES
                    ))
                })?,
        };
        Ok(Subpixel::SoftArgmax {
            radius: (window - 1) / 2,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Gaussian blob centred at (cx, cy) on a `w` x `h` heatmap.
    fn blob(w: usize, h: usize, cx: f32, cy: f32, sigma: f32) -> Vec<f32> {
        (0..w * h)
            .map(|i| {
                let (x, y) = ((i % w) as f32, (i / w) as f32);
                0.5 * (-((x - cx).powi(2) + (y - cy).powi(2)) / (2.0 * sigma * sigma)).exp()
            })
            .collect()
    }

    /// The refined position of the peak at (x, y) of a `w` x `h` heatmap.
    fn refine(s: Subpixel, scores: &[f32], w: usize, h: usize, x: f32, y: f32) -> (f32, f32) {
        if !s.applies(w, h) {
            return (x, y);
        }
        let mut window = vec![0.0; s.window_len()];
        s.window(scores, w, (w, h), (x as usize, y as usize), &mut window);
        let (dx, dy) = s.refine_window(&window);
        (x + dx, y + dy)
    }

    #[test]
    fn quadratic_recovers_a_gaussian_peak_exactly() {
        let s = blob(20, 16, 9.3, 7.8, 1.0);
        let (x, y) = refine(Subpixel::Quadratic, &s, 20, 16, 9.0, 8.0);
        assert!((x - 9.3).abs() < 1e-3 && (y - 7.8).abs() < 1e-3, "{x} {y}");
    }

    #[test]
    fn soft_argmax_moves_towards_the_true_peak() {
        let s = blob(20, 16, 9.3, 7.8, 1.0);
        for radius in 1..=3 {
            let (x, y) = refine(Subpixel::SoftArgmax { radius }, &s, 20, 16, 9.0, 8.0);
            assert!(
                (x - 9.3).abs() < 0.3 && (y - 7.8).abs() < 0.2 && x > 9.0 && y < 8.0,
                "radius {radius}: {x} {y}"
            );
        }
        // A symmetric peak stays where it is.
        let s = blob(20, 16, 9.0, 8.0, 1.0);
        let (x, y) = refine(Subpixel::SoftArgmax { radius: 2 }, &s, 20, 16, 9.0, 8.0);
        assert!((x - 9.0).abs() < 1e-5 && (y - 8.0).abs() < 1e-5);
    }

    #[test]
    fn none_and_non_maxima_leave_positions_alone() {
        let s = blob(20, 16, 9.3, 7.8, 1.0);
        assert_eq!(refine(Subpixel::None, &s, 20, 16, 9.0, 8.0), (9.0, 8.0));
        // A saddle / slope (not a maximum at the pixel): the quadratic fit is refused.
        let ramp: Vec<f32> = (0..20 * 16)
            .map(|i| 0.01 + (i % 20) as f32 * 0.01)
            .collect();
        assert_eq!(
            refine(Subpixel::Quadratic, &ramp, 20, 16, 9.0, 8.0),
            (9.0, 8.0)
        );
        // Edges of the valid area are mirrored, never read beyond.
        let s = blob(20, 16, 0.0, 0.0, 1.0);
        assert_eq!(
            refine(Subpixel::Quadratic, &s, 20, 16, 0.0, 0.0),
            (0.0, 0.0)
        );
        let (x, y) = refine(Subpixel::SoftArgmax { radius: 2 }, &s, 20, 16, 0.0, 0.0);
        assert!(x > 0.0 && y > 0.0 && x < 1.0 && y < 1.0);
    }

    #[test]
    fn windows_are_nan_outside_the_valid_area() {
        // A 6-wide heatmap with 4x3 valid pixels; the 3x3 window at (3, 0).
        let scores: Vec<f32> = (0..6 * 4).map(|i| i as f32).collect();
        let s = Subpixel::SoftArgmax { radius: 1 };
        assert_eq!((s.window_radius(), s.window_len()), (1, 9));
        let mut w = [0.0; 9];
        s.window(&scores, 6, (4, 3), (3, 0), &mut w);
        let shown: Vec<Option<f32>> = w.iter().map(|v| (!v.is_nan()).then_some(*v)).collect();
        let (n, v) = (None, Some);
        assert_eq!(
            shown,
            vec![n, n, n, v(2.0), v(3.0), n, v(8.0), v(9.0), n],
            "row above and column 4 (padding) are outside"
        );
        // Soft-argmax over the valid values: weights 2, 3, 8, 9 at offsets (-1|0, 0|1).
        let (dx, dy) = s.refine_window(&w);
        assert_eq!((dx, dy), ((-2.0 - 8.0) / 22.0, (8.0 + 9.0) / 22.0));
        assert_eq!(Subpixel::None.window_len(), 1);
        assert_eq!(Subpixel::Quadratic.window_radius(), 1);
        assert!(!Subpixel::Quadratic.applies(2, 40) && Subpixel::Quadratic.applies(3, 3));
    }

    #[test]
    fn names_round_trip_and_bad_names_list_the_choices() {
        for s in [
            Subpixel::None,
            Subpixel::Quadratic,
            Subpixel::SoftArgmax { radius: 1 },
            Subpixel::SoftArgmax { radius: 4 },
        ] {
            assert_eq!(s.to_string().parse::<Subpixel>().unwrap(), s);
        }
        assert_eq!(
            "soft-argmax".parse::<Subpixel>().unwrap(),
            Subpixel::SoftArgmax { radius: 2 }
        );
        let e = "soft-argmax-4".parse::<Subpixel>().unwrap_err().to_string();
        assert!(
            e.contains("quadratic") && e.contains("soft-argmax-3"),
            "{e}"
        );
        assert!(Subpixel::SoftArgmax { radius: 5 }.validate().is_err());
    }
}
