//! HPatches-style evaluation: dataset loading, synthetic datasets from photos, feature sources
//! (the SuperPoint model, or JSON files of any detector), aggregation into a [`Report`] with a
//! text table, and a PNG plot of MMA against the threshold.
//!
//! **Layout.** A dataset folder holds one folder per sequence (or is itself one sequence). A
//! sequence holds images `1.ppm`, `2.ppm`, ... (or `.png`, `.jpg`, `.pgm`) and, for every image
//! `k >= 2`, a text file `H_1_k` with the 3x3 homography (9 numbers, row-major) mapping pixels of
//! image 1 to pixels of image k. OpenCV matrix files (`<data>` of an `opencv-matrix` in XML) are
//! accepted too. Sequences named `i_*` are illumination changes, `v_*` viewpoint changes (as in
//! HPatches); results are reported for all pairs and for each of the two groups.
//!
//! **External detections.** `DIR/<sequence>/<k>.json` per image, in the
//! [`crate::json::DetectionFile`] format, evaluated through the same code as the model.
//!
//! **Synthetic datasets.** [`generate_synthetic`] turns a folder of photos into viewpoint sequences
//! `v_syn_<photo>`: the photo (grey, longer side reduced to [`SyntheticParams::max_side`]) as image 1
//! and [`SyntheticParams::warps`] warps by random homographies drawn with
//! [`crate::sampling::sample_homography`] (amplitudes in [`SyntheticParams::homography`]) from a
//! generator seeded with [`SyntheticParams::seed`] and the photo's position in name order.
//!
//! Modules: [`dataset`] (loading), [`synthetic`] (sequences from photos), [`source`] (feature
//! sources), [`report`] (evaluation, aggregation, table) and [`plot`] (the MMA plot).

pub mod dataset;
#[cfg(feature = "plot")]
pub mod plot;
pub mod report;
pub mod source;
pub mod synthetic;

pub use dataset::{
    Dataset, IMAGE_EXTENSIONS, Sequence, SequenceKind, load_dataset, load_sequence,
    parse_homography, read_homography, write_homography,
};
#[cfg(feature = "plot")]
pub use plot::plot_mma;
pub use report::{PairMetricsRecord, Report, Summary, evaluate};
pub use source::{DetectorSource, FeatureSource, JsonSource};
pub use synthetic::{SyntheticParams, generate_synthetic};
