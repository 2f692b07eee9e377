//! `homographicwarp`: warps video frames by a 3x3 homography (bilinear or nearest sampling, a
//! border colour for pixels that see no source pixel).
//!
//! The homography comes from the `matrix` property (`mode=fixed`), from upstream
//! [`SuperPointMatchesMeta`](crate::meta::SuperPointMatchesMeta) (`mode=stabilize`: smoothed
//! camera path; `mode=rectify`: onto the reference), or is sampled per frame (`mode=random`, like
//! the training augmentation). Each output buffer carries a
//! [`HomographyMeta`](crate::meta::HomographyMeta) with the homography applied, composed with
//! any upstream one, so a downstream `superpointmatch` can compare its estimate with the truth.
//!
//! Keypoint and match metas describe the input geometry and are not copied to the output: put
//! `superpointoverlay` before the warp, or detect again after it.
//!
//! Every plane is read and written at the strides and offsets of the buffers' `GstVideoMeta`
//! (else the caps). After a flushing seek (`FLUSH_STOP`) or at a new stream (`STREAM_START`) the
//! smoothed camera path (`stabilize`) and the held homography (`rectify`) start afresh; the random
//! sequence goes on.

use gst::glib;
use gst::prelude::*;

mod imp;
mod matrix;

glib::wrapper! {
    /// The `homographicwarp` element.
    pub struct HomographicWarp(ObjectSubclass<imp::HomographicWarp>) @extends gst_video::VideoFilter, gst_base::BaseTransform, gst::Element, gst::Object;
}

/// Where the homography comes from (`mode` property).
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstHomographicWarpMode")]
pub enum WarpMode {
    /// The `matrix` property.
    #[default]
    #[enum_value(name = "Fixed: the matrix property", nick = "fixed")]
    Fixed = 0,
    /// Smooth the camera path of upstream `SuperPointMatchesMeta` and warp by the correction.
    #[enum_value(
        name = "Stabilize: smooth the camera path from superpointmatch over `smoothing` frames",
        nick = "stabilize"
    )]
    Stabilize = 1,
    /// Map every frame onto the reference with the composed homography of `SuperPointMatchesMeta`.
    #[enum_value(
        name = "Rectify: map every frame onto superpointmatch's reference",
        nick = "rectify"
    )]
    Rectify = 2,
    /// A random homography per frame (perspective, scale, rotation, translation, seed).
    #[enum_value(
        name = "Random: a random homography per frame, attached as HomographyMeta",
        nick = "random"
    )]
    Random = 3,
}

/// Sampling method (`interpolation` property).
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstHomographicWarpInterpolation")]
pub enum Interpolation {
    /// Bilinear interpolation.
    #[default]
    #[enum_value(name = "Bilinear", nick = "bilinear")]
    Bilinear = 0,
    /// Nearest pixel.
    #[enum_value(name = "Nearest neighbour", nick = "nearest")]
    Nearest = 1,
}

/// Registers the element.
pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    #[cfg(feature = "doc")]
    {
        WarpMode::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
        Interpolation::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    }
    gst::Element::register(
        Some(plugin),
        "homographicwarp",
        gst::Rank::NONE,
        HomographicWarp::static_type(),
    )
}
