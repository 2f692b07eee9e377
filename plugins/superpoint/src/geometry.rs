//! Homographies: the 3x3 matrix type shared by matching, warping, training and evaluation; and
//! the one mapping of pixel coordinates between two sizes of an image ([`rescale_coordinate`],
//! [`PixelScale`]).

use std::ops::{Add, Mul, Sub};

use serde::{Deserialize, Serialize};

/// A pixel coordinate `v` of an image mapped into the same image scaled by `scale` (new pixels
/// per old pixel), with (0, 0) the centre of the top-left pixel in both: pixel edges, not centres,
/// scale, so `v` maps to `(v + 0.5) * scale - 0.5`. The one definition of this mapping; generic so
/// that `f32` callers keep `f32` arithmetic.
#[inline]
pub fn rescale_coordinate<T>(v: T, scale: T) -> T
where
    T: Copy + Add<Output = T> + Sub<Output = T> + Mul<Output = T> + From<f32>,
{
    let half = T::from(0.5);
    (v + half) * scale - half
}

/// How pixel coordinates of a frame map into the same frame at another size: new pixels per old
/// pixel, horizontally and vertically (see [`rescale_coordinate`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PixelScale {
    /// Horizontal factor.
    pub x: f64,
    /// Vertical factor.
    pub y: f64,
}

impl PixelScale {
    /// The factors from a `from` = (width, height) frame to a `to` frame, pixels (a zero side of
    /// `from` counts as 1).
    pub fn between(from: (u32, u32), to: (u32, u32)) -> Self {
        PixelScale {
            x: to.0 as f64 / from.0.max(1) as f64,
            y: to.1 as f64 / from.1.max(1) as f64,
        }
    }

    /// Maps the point `(x, y)`.
    pub fn apply(&self, x: f64, y: f64) -> (f64, f64) {
        (rescale_coordinate(x, self.x), rescale_coordinate(y, self.y))
    }

    /// Maps the `f32` point `(x, y)` in `f32` arithmetic (the precision of keypoint positions).
    /// The factors rounded to `f32` equal the `f32` quotient of the sides (a quotient rounded
    /// from `f64` to `f32` is correctly rounded).
    pub fn apply_f32(&self, x: f32, y: f32) -> (f32, f32) {
        (
            rescale_coordinate(x, self.x as f32),
            rescale_coordinate(y, self.y as f32),
        )
    }

    /// The map as a homography ([`Homography::scaling`]).
    pub fn homography(&self) -> Homography {
        Homography::scaling(self.x, self.y)
    }
}

/// A 3x3 projective transform acting on pixel coordinates ((0,0) = centre of the top-left pixel),
/// row-major, mapping `(x, y, 1)` to `H * (x, y, 1)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Homography(pub [f64; 9]);

impl Default for Homography {
    fn default() -> Self {
        Self::IDENTITY
    }
}

impl Homography {
    /// The identity.
    pub const IDENTITY: Homography = Homography([1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]);

    /// From 9 row-major values, normalised so that `h[8] == 1` when possible.
    pub fn from_row_major(m: [f64; 9]) -> Self {
        Homography(m).normalized()
    }

    /// Scales the matrix so that the bottom-right entry is 1 (left as is when it is ~0).
    pub fn normalized(self) -> Self {
        let s = self.0[8];
        if s.abs() > 1e-12 {
            Homography(self.0.map(|v| v / s))
        } else {
            self
        }
    }

    /// Applies the homography to a point; `None` when it maps to infinity.
    pub fn apply(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        let m = &self.0;
        let w = m[6] * x + m[7] * y + m[8];
        if w.abs() < 1e-12 || !w.is_finite() {
            return None;
        }
        Some((
            (m[0] * x + m[1] * y + m[2]) / w,
            (m[3] * x + m[4] * y + m[5]) / w,
        ))
    }

    /// `self * other`: apply `other` first, then `self`.
    pub fn compose(&self, other: &Homography) -> Homography {
        let (a, b) = (&self.0, &other.0);
        let mut c = [0.0; 9];
        for i in 0..3 {
            for j in 0..3 {
                c[i * 3 + j] = (0..3).map(|k| a[i * 3 + k] * b[k * 3 + j]).sum();
            }
        }
        Homography(c).normalized()
    }

    /// Determinant.
    pub fn determinant(&self) -> f64 {
        let m = &self.0;
        m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6])
            + m[2] * (m[3] * m[7] - m[4] * m[6])
    }

    /// The inverse; `None` for a singular or non-finite matrix.
    pub fn inverse(&self) -> Option<Homography> {
        let m = &self.0;
        if m.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let det = self.determinant();
        let scale = m.iter().map(|v| v.abs()).fold(0.0, f64::max);
        if det.abs() <= 1e-12 * scale.powi(3) || det == 0.0 {
            return None;
        }
        let inv = [
            m[4] * m[8] - m[5] * m[7],
            m[2] * m[7] - m[1] * m[8],
            m[1] * m[5] - m[2] * m[4],
            m[5] * m[6] - m[3] * m[8],
            m[0] * m[8] - m[2] * m[6],
            m[2] * m[3] - m[0] * m[5],
            m[3] * m[7] - m[4] * m[6],
            m[1] * m[6] - m[0] * m[7],
            m[0] * m[4] - m[1] * m[3],
        ];
        Some(Homography(inv.map(|v| v / det)).normalized())
    }

    /// Whether all entries are finite and the matrix is invertible.
    pub fn is_valid(&self) -> bool {
        self.inverse().is_some()
    }

    /// The exact homography mapping four points `src[i]` to `dst[i]`; `None` when three of them
    /// are collinear (the system is singular).
    pub fn from_4_points(src: &[(f64, f64); 4], dst: &[(f64, f64); 4]) -> Option<Homography> {
        // h = (h0..h7), h8 = 1: two linear equations per correspondence.
        let mut a = [[0.0f64; 9]; 8];
        for (i, (&(x, y), &(u, v))) in src.iter().zip(dst).enumerate() {
            a[2 * i] = [x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y, u];
            a[2 * i + 1] = [0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y, v];
        }
        // LU with partial pivoting (nalgebra) on the 8x8 system; a pivot below 1e-12 means three
        // collinear points.
        let m = nalgebra::SMatrix::<f64, 8, 8>::from_fn(|r, c| a[r][c]);
        let rhs = nalgebra::SVector::<f64, 8>::from_fn(|r, _| a[r][8]);
        let lu = m.lu();
        if lu.u().diagonal().iter().any(|p| p.abs() < 1e-12) {
            return None;
        }
        let x = lu.solve(&rhs)?;
        let mut h = [1.0; 9];
        h[..8].copy_from_slice(x.as_slice());
        let h = Homography(h);
        h.0.iter().all(|v| v.is_finite()).then_some(h)
    }

    /// The map from pixel coordinates of an image to those of the same image scaled by
    /// `(sx, sy)`, pixel centres kept at half-pixel offsets: `p' = s * (p + 0.5) - 0.5`.
    pub fn scaling(sx: f64, sy: f64) -> Homography {
        Homography([
            sx,
            0.0,
            rescale_coordinate(0.0, sx),
            0.0,
            sy,
            rescale_coordinate(0.0, sy),
            0.0,
            0.0,
            1.0,
        ])
    }

    /// The same transform expressed in coordinates scaled by `(sx, sy)` (e.g. 0.5 for a chroma
    /// plane subsampled by 2): `S * H * S^-1`, with pixel centres kept at half-pixel offsets.
    pub fn rescaled(&self, sx: f64, sy: f64) -> Homography {
        let s = Homography::scaling(sx, sy);
        let s_inv = s.inverse().expect("non-zero scale");
        s.compose(self).compose(&s_inv)
    }

    /// Mean distance between the four image corners mapped by `self` and by `truth`
    /// (the HPatches homography-accuracy error); `None` when a corner maps to infinity.
    pub fn corner_error(&self, truth: &Homography, width: f64, height: f64) -> Option<f64> {
        let corners = [
            (0.0, 0.0),
            (width - 1.0, 0.0),
            (0.0, height - 1.0),
            (width - 1.0, height - 1.0),
        ];
        let mut sum = 0.0;
        for (x, y) in corners {
            let (ax, ay) = self.apply(x, y)?;
            let (bx, by) = truth.apply(x, y)?;
            sum += ((ax - bx).powi(2) + (ay - by).powi(2)).sqrt();
        }
        Some(sum / 4.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_and_compose() {
        let h = Homography([1.1, 0.05, 3.0, -0.02, 0.95, -7.0, 1e-4, -2e-4, 1.0]);
        let i = h.inverse().unwrap();
        let id = h.compose(&i);
        for (a, b) in id.0.iter().zip(Homography::IDENTITY.0.iter()) {
            assert!((a - b).abs() < 1e-9);
        }
        let (x, y) = h.apply(10.0, 20.0).unwrap();
        let (bx, by) = i.apply(x, y).unwrap();
        assert!((bx - 10.0).abs() < 1e-9 && (by - 20.0).abs() < 1e-9);
    }

    #[test]
    fn singular_and_non_finite_have_no_inverse() {
        assert!(
            Homography([1.0, 2.0, 3.0, 2.0, 4.0, 6.0, 0.0, 0.0, 1.0])
                .inverse()
                .is_none()
        );
        assert!(
            Homography([f64::NAN, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0])
                .inverse()
                .is_none()
        );
    }

    #[test]
    fn four_point_solve_recovers_a_known_homography() {
        let h = Homography([0.9, 0.1, 5.0, -0.05, 1.1, -3.0, 2e-4, 1e-4, 1.0]);
        let src = [(0.0, 0.0), (100.0, 0.0), (0.0, 80.0), (100.0, 80.0)];
        let dst = src.map(|(x, y)| h.apply(x, y).unwrap());
        let got = Homography::from_4_points(&src, &dst).unwrap();
        for (a, b) in got.0.iter().zip(h.0.iter()) {
            assert!((a - b).abs() < 1e-9, "{got:?}");
        }
        let collinear = [(0.0, 0.0), (1.0, 1.0), (2.0, 2.0), (5.0, 1.0)];
        assert!(Homography::from_4_points(&collinear, &dst).is_none());
    }

    #[test]
    fn rescaled_identity_and_shift() {
        let t = Homography([1.0, 0.0, 4.0, 0.0, 1.0, 2.0, 0.0, 0.0, 1.0]);
        let c = t.rescaled(0.5, 0.5);
        let (x, y) = c.apply(10.0, 10.0).unwrap();
        assert!((x - 12.0).abs() < 1e-9 && (y - 11.0).abs() < 1e-9);
    }

    #[test]
    fn pixel_scale_keeps_pixel_centres_and_matches_its_homography() {
        // A 10x10 frame shown at 20x5: the top-left pixel centre moves by half a new pixel.
        let s = PixelScale::between((10, 10), (20, 5));
        assert_eq!((s.x, s.y), (2.0, 0.5));
        assert_eq!(s.apply(0.0, 9.0), (0.5, 4.25));
        assert_eq!(s.apply_f32(0.0, 9.0), (0.5, 4.25));
        let (x, y) = s.homography().apply(3.0, 7.0).unwrap();
        assert_eq!((x, y), s.apply(3.0, 7.0));
        // The f32 path uses the f32 quotient of the sides, as the keypoint code always did.
        let odd = PixelScale::between((641, 479), (1280, 720));
        assert_eq!(odd.x as f32, 1280.0f32 / 641.0f32);
        assert_eq!(odd.y as f32, 720.0f32 / 479.0f32);
        // A zero-sized source counts as one pixel.
        assert_eq!(PixelScale::between((0, 0), (4, 4)).x, 4.0);
        assert_eq!(rescale_coordinate(1.0f64, 1.0), 1.0);
    }

    #[test]
    fn corner_error_of_a_shift() {
        let t = Homography([1.0, 0.0, 3.0, 0.0, 1.0, 4.0, 0.0, 0.0, 1.0]);
        let e = t.corner_error(&Homography::IDENTITY, 640.0, 480.0).unwrap();
        assert!((e - 5.0).abs() < 1e-12);
    }
}
