//! The `matrix` property of `homographicwarp`: 9 row-major values checked for use as a warp.

use superpoint::Homography;

/// Checks 9 row-major values for use as a warp.
pub(super) fn parse_matrix(values: &[f64]) -> Result<Homography, String> {
    let m: [f64; 9] = values.try_into().map_err(|_| {
        format!(
            "matrix needs 9 row-major values, got {}: e.g. matrix=\"<1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0>\"",
            values.len()
        )
    })?;
    if let Some(v) = m.iter().find(|v| !v.is_finite()) {
        return Err(format!(
            "matrix {values:?} has an entry that is not a finite number ({v}): give 9 finite numbers"
        ));
    }
    let h = Homography(m);
    if !h.is_valid() {
        return Err(format!(
            "matrix {m:?} is singular (determinant {:e}): a warp needs an invertible 3x3 matrix",
            h.determinant()
        ));
    }
    Ok(h)
}
