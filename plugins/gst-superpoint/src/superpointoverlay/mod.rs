//! `superpointoverlay`: draws SuperPoint keypoints, match lines or tracks and the reference
//! outline onto the video, from [`SuperPointKeypointsMeta`](crate::meta::SuperPointKeypointsMeta)
//! and [`SuperPointMatchesMeta`](crate::meta::SuperPointMatchesMeta) on each buffer.
//!
//! Place it after `superpointdetect` (keypoints) and `superpointmatch` (matches, tracks, outline,
//! a red frame border on lost frames), and before any `homographicwarp` (which moves the pixels).
//!
//! Planes are drawn at the strides and offsets of the buffer's `GstVideoMeta` (else the caps);
//! tracks start afresh after a flushing seek (`FLUSH_STOP`) and at a new stream (`STREAM_START`).

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    /// The `superpointoverlay` element.
    pub struct SuperPointOverlay(ObjectSubclass<imp::SuperPointOverlay>) @extends gst_video::VideoFilter, gst_base::BaseTransform, gst::Element, gst::Object;
}

/// Registers the element.
pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "superpointoverlay",
        gst::Rank::NONE,
        SuperPointOverlay::static_type(),
    )
}
