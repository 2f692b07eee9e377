//! Checks that the network's outputs are finite. A model with a NaN or infinite weight (a broken
//! export, a diverged training run) gives NaN scores, which silently give zero keypoints, or NaN
//! descriptors, which would be written as `null` and match nothing. The first frame's outputs are
//! checked whole; later frames cheaply: the score map's sum (one pass, no branch per value) and the
//! sampled descriptors of the kept keypoints (a NaN anywhere in a descriptor's 256 values makes its
//! norm NaN, and normalisation leaves it in).

use std::path::Path;

use crate::Error;

/// Which network output holds a non-finite value: `"scores"` or `"descriptors"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NonFiniteOutput(pub &'static str);

impl NonFiniteOutput {
    /// The error to report, naming `model` and the output.
    pub fn into_error(self, model: &Path) -> Error {
        Error::Model(format!(
            "{}: the network output `{}` holds NaN or infinite values, so its keypoints and descriptors would be garbage: the model is broken (non-finite weights from a failed export or a diverged training run); re-export or retrain it",
            model.display(),
            self.0
        ))
    }
}

/// Whether every value of `values` is finite: their sum is finite (scores and descriptors are
/// bounded, so the sum cannot overflow).
fn all_finite(values: &[f32]) -> bool {
    values.iter().sum::<f32>().is_finite()
}

/// Checks one image's outputs: `scores` (the `[H, W]` map) always; `dense_descriptors` (the
/// `[256, H/8, W/8]` map) only when `full` (the first frame); `sampled` (the kept keypoints'
/// descriptors) always. Empty slices pass.
pub fn check_outputs(
    scores: &[f32],
    dense_descriptors: &[f32],
    sampled: &[f32],
    full: bool,
) -> Result<(), NonFiniteOutput> {
    if !all_finite(scores) {
        return Err(NonFiniteOutput("scores"));
    }
    if (full && !all_finite(dense_descriptors)) || !all_finite(sampled) {
        return Err(NonFiniteOutput("descriptors"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_values_name_their_output() {
        let ok = vec![0.5f32; 64];
        assert_eq!(check_outputs(&ok, &ok, &ok, true), Ok(()));
        assert_eq!(check_outputs(&ok, &[], &[], false), Ok(()));
        let mut bad = ok.clone();
        bad[63] = f32::NAN;
        assert_eq!(
            check_outputs(&bad, &ok, &ok, false),
            Err(NonFiniteOutput("scores"))
        );
        assert_eq!(
            check_outputs(&ok, &bad, &ok, true),
            Err(NonFiniteOutput("descriptors"))
        );
        // After the first frame only the sampled descriptors are checked.
        assert_eq!(check_outputs(&ok, &bad, &ok, false), Ok(()));
        assert_eq!(
            check_outputs(&ok, &ok, &bad, false),
            Err(NonFiniteOutput("descriptors"))
        );
        bad[63] = f32::INFINITY;
        assert_eq!(
            check_outputs(&bad, &[], &[], false),
            Err(NonFiniteOutput("scores"))
        );
        assert_eq!(
            NonFiniteOutput("scores")
                .into_error(Path::new("m.onnx"))
                .to_string(),
            "m.onnx: the network output `scores` holds NaN or infinite values, so its keypoints and descriptors would be garbage: the model is broken (non-finite weights from a failed export or a diverged training run); re-export or retrain it"
        );
    }
}
