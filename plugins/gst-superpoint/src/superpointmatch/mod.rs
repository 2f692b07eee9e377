//! `superpointmatch`: matches the SuperPoint descriptors of each frame against the previous frame
//! or a reference, estimates the homography with RANSAC and attaches
//! [`SuperPointMatchesMeta`](crate::meta::SuperPointMatchesMeta); pixels pass through.
//!
//! Needs [`SuperPointKeypointsMeta`](crate::meta::SuperPointKeypointsMeta) with descriptors on
//! every buffer, i.e. `superpointdetect` upstream.
//!
//! The reference of `mode=reference` is the first frame, the next frame after the `set-reference`
//! action signal, or an image file (`reference-location`). An image file is detected by the
//! element itself with its own `reference-model` and `reference-*` detection properties (defaults
//! equal to `superpointdetect`'s), loaded when the element starts; set them to the upstream
//! detector's values. A warning is posted when the model id of the reference differs from the one
//! upstream.
//!
//! After a flushing seek (`FLUSH_STOP`) or at a new stream (`STREAM_START`), `mode=previous`
//! starts a new chain: the next frame is not matched against one from before. In
//! `mode=reference` a first-frame reference survives a seek (same stream) and is replaced by the
//! first frame of a new stream; a `reference-location` image is always kept.

use gst::glib;
use gst::prelude::*;

mod imp;
mod reference;

glib::wrapper! {
    /// The `superpointmatch` element.
    pub struct SuperPointMatch(ObjectSubclass<imp::SuperPointMatch>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

/// What each frame is matched against (`mode` property).
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstSuperPointMatchMode")]
pub enum MatchMode {
    /// The previous frame; the homography to the reference is composed along the chain.
    #[default]
    #[enum_value(
        name = "Previous frame (frame-to-frame motion, composed to the first frame)",
        nick = "previous"
    )]
    Previous = 0,
    /// A fixed reference: first frame, `reference-location` image, or `set-reference`.
    #[enum_value(
        name = "Reference (first frame, reference-location image, or set-reference signal)",
        nick = "reference"
    )]
    Reference = 1,
}

/// Registers the element.
pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    #[cfg(feature = "doc")]
    MatchMode::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(
        Some(plugin),
        "superpointmatch",
        gst::Rank::NONE,
        SuperPointMatch::static_type(),
    )
}
