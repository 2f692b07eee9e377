//! GStreamer plugin `superpoint`: SuperPoint keypoint detection (`superpointdetect`), matching
//! (`superpointmatch`), homographic warping (`homographicwarp`) and drawing (`superpointoverlay`).
//!
//! Applications read the results with the metas in [`meta`].
#![allow(clippy::non_send_fields_in_send_ty)]

use gst::glib;

pub mod homographicwarp;
pub mod match_meta;
pub mod meta;
pub mod superpointdetect;
pub mod superpointmatch;
pub mod superpointoverlay;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    superpointdetect::register(plugin)?;
    superpointmatch::register(plugin)?;
    homographicwarp::register(plugin)?;
    superpointoverlay::register(plugin)?;
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
