//! `superpointdetect`: runs SuperPoint on each frame and attaches
//! [`SuperPointKeypointsMeta`](crate::meta::SuperPointKeypointsMeta); pixels pass through untouched.
//!
//! Frames are read at the strides and offsets of the buffer's `GstVideoMeta` (else the caps).
//! Keypoints, `border` and `nms-radius` are in frame pixels whatever `inference-width` x
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

/// Registers the element.
pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    #[cfg(feature = "doc")]
    Provider::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(
        Some(plugin),
        "superpointdetect",
        gst::Rank::NONE,
        SuperPointDetect::static_type(),
    )
}
