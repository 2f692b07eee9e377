//! Self-supervised training of SuperPoint on libtorch (tch): Synthetic Shapes, MagicPoint,
//! Homographic Adaptation, joint training and ONNX export through the `superpoint` library.
#![warn(missing_docs)]

pub mod adapt;
pub mod augment;
pub mod batch;
pub mod config;
pub mod detector_eval;
pub mod export;
pub mod joint;
pub mod losses;
pub mod magicpoint;
pub mod model;
pub mod optim;
pub mod pairs;
pub mod photos;
pub mod pipeline;
pub mod plot;
pub mod runlog;
pub mod runtime;
pub mod stage;
pub mod synth;
pub mod validate;
pub mod warp;
