//! GStreamer plugin `superpoint`: SuperPoint keypoint detection (`superpointdetect`), matching
//! (`superpointmatch`), homographic warping (`homographicwarp`), drawing (`superpointoverlay`) and
//! publishing the results to a JSON Lines file or an MQTT broker (`superpointpublish`).
//!
//! Applications read the results with the metas in [`meta`] (keypoints, matches, homography)
//! and the bus messages in [`messages`].
#![allow(clippy::non_send_fields_in_send_ty)]

use gst::glib;

pub mod formats;
pub mod homographicwarp;
pub mod messages;
pub mod meta;
pub mod superpointdetect;
pub mod superpointmatch;
pub mod superpointoverlay;
pub mod superpointpublish;

/// The model of `superpointdetect`'s `model` and `superpointmatch`'s `reference-model` when unset:
/// [`superpoint::default_model_path`] (`$SUPERPOINT_MODEL`, else the source tree's
/// `models/superpoint.onnx`) as a property string.
pub(crate) fn default_model() -> String {
    superpoint::default_model_path()
        .to_string_lossy()
        .into_owned()
}

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    superpointdetect::register(plugin)?;
    superpointmatch::register(plugin)?;
    homographicwarp::register(plugin)?;
    superpointoverlay::register(plugin)?;
    superpointpublish::register(plugin)?;
    Ok(())
}

gst::plugin_define!(
    superpoint,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    "MIT/X11",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_REPOSITORY"),
    env!("BUILD_REL_DATE")
);
