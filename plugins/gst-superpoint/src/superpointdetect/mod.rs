//! `superpointdetect`: runs SuperPoint on each frame and attaches
//! [`SuperPointKeypointsMeta`](crate::meta::SuperPointKeypointsMeta); pixels pass through untouched.
//!
//! Frames are read at the strides and offsets of the buffer's `GstVideoMeta` (else the caps).
//! The luma is read directly from GRAY8, 8-bit planar and semi-planar YUV (I420, YV12, NV12,
//! NV21, Y42B, Y444), packed 4:2:2 (YUY2, UYVY, YVYU), GRAY16_LE/BE and 10-bit YUV (P010_10LE,
//! I420_10LE), and computed (BT.601) from the RGB family; any other format needs `videoconvert`
//! before the element.
//! Keypoint positions are refined below the heatmap's pixel grid (`subpixel`, default soft-argmax
//! over 5x5; `subpixel=none` keeps integer heatmap pixels). Keypoints, `border` and `nms-radius`
//! are in frame pixels whatever `inference-width` x
//! `inference-height` the network runs at. Settings changed while playing apply at the next frame
//! once they are valid together; until then the last valid ones stay in use and one warning is
//! posted. `json-location` lines are flushed per frame and on EOS.

use gst::glib;
use gst::prelude::*;

mod imp;
mod settings;
mod state;
mod timing;

glib::wrapper! {
    /// The `superpointdetect` element.
    pub struct SuperPointDetect(ObjectSubclass<imp::SuperPointDetect>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

/// Execution provider choices of the `provider` property.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstSuperPointProvider")]
pub enum Provider {
    /// ONNX Runtime on the CPU.
    #[default]
    #[enum_value(name = "CPU (ONNX Runtime)", nick = "cpu")]
    Cpu = 0,
    /// A CUDA GPU: the libtorch engine when the plugin is built with the `torch` feature, else
    /// ONNX Runtime's CUDA provider; falls back to CPU with a warning when it cannot load.
    #[enum_value(
        name = "CUDA GPU (falls back to CPU with a warning if unavailable)",
        nick = "cuda"
    )]
    Cuda = 1,
}

/// Choices of the `subpixel` property: how keypoint positions are refined below the heatmap's
/// pixel grid (see [`superpoint::subpixel::Subpixel`]; the nicks are the names the `superpoint`
/// CLI's `--subpixel` accepts).
#[derive(Debug, Eq, PartialEq, Hash, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstSuperPointSubpixel")]
pub enum Subpixel {
    /// Integer heatmap pixels (the original SuperPoint behaviour).
    #[enum_value(name = "Integer heatmap pixels (no refinement)", nick = "none")]
    None = 0,
    /// Extremum of a quadratic fit of the log-probability over 3x3.
    #[enum_value(
        name = "Quadratic fit of the log-probability over 3x3 (SIFT's refinement)",
        nick = "quadratic"
    )]
    Quadratic = 1,
    /// Probability-weighted mean over 3x3.
    #[enum_value(name = "Soft-argmax over 3x3", nick = "soft-argmax-3")]
    SoftArgmax3 = 2,
    /// Probability-weighted mean over 5x5: the best MMA@1 on the real pairs.
    #[default]
    #[enum_value(
        name = "Soft-argmax over 5x5 (best on real pairs)",
        nick = "soft-argmax-5"
    )]
    SoftArgmax5 = 3,
    /// Probability-weighted mean over 7x7.
    #[enum_value(name = "Soft-argmax over 7x7", nick = "soft-argmax-7")]
    SoftArgmax7 = 4,
    /// Probability-weighted mean over 9x9.
    #[enum_value(name = "Soft-argmax over 9x9", nick = "soft-argmax-9")]
    SoftArgmax9 = 5,
}

impl From<Subpixel> for superpoint::subpixel::Subpixel {
    fn from(s: Subpixel) -> Self {
        use superpoint::subpixel::Subpixel as Lib;
        match s {
            Subpixel::None => Lib::None,
            Subpixel::Quadratic => Lib::Quadratic,
            Subpixel::SoftArgmax3 => Lib::SoftArgmax { radius: 1 },
            Subpixel::SoftArgmax5 => Lib::SoftArgmax { radius: 2 },
            Subpixel::SoftArgmax7 => Lib::SoftArgmax { radius: 3 },
            Subpixel::SoftArgmax9 => Lib::SoftArgmax { radius: 4 },
        }
    }
}

/// Registers the element.
pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    #[cfg(feature = "doc")]
    Provider::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    #[cfg(feature = "doc")]
    Subpixel::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(
        Some(plugin),
        "superpointdetect",
        gst::Rank::NONE,
        SuperPointDetect::static_type(),
    )
}
