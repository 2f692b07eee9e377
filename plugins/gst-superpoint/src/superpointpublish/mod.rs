//! `superpointpublish`: a pass-through element that writes, per frame, every SuperPoint meta on
//! the buffer as one JSON object ([`superpoint::json::FrameRecord`], schema version 1,
//! `schemas/frame-record-v1.json`): keypoints (and with `descriptors=true` the descriptors in
//! base64), and from `superpointmatch` the matches, status, homographies and track ids.
//!
//! Outputs (either or both):
//! - `location`: a JSON Lines file, one line per frame, each written whole or not at all and
//!   flushed per frame ([`superpoint::jsonl::JsonLinesWriter`]). A write error is posted once, the
//!   stream stops with an error, and the element can be restarted.
//! - `broker=mqtt://host:port`: one MQTT message per frame on `topic`, with `qos` 0 or 1,
//!   `client-id`, optional `username`/`password`. The streaming thread never waits on the network:
//!   records wait in a queue of at most `queue-size` records (the oldest dropped when full) that
//!   a thread of the element sends to the broker. A broker that is absent at start or lost later
//!   is reported once per loss with a warning and retried with backoff (0.1 s doubling to 5 s);
//!   dropped records are counted in the read-only `dropped` property. Stopping waits up to 3 s
//!   for queued records to reach the broker.
//!
//! Frames without a `SuperPointKeypointsMeta` pass without a record (one warning).

use gst::glib;
use gst::prelude::*;

mod imp;
mod mqtt;

glib::wrapper! {
    /// The `superpointpublish` element.
    pub struct SuperPointPublish(ObjectSubclass<imp::SuperPointPublish>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

/// Registers the element.
pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "superpointpublish",
        gst::Rank::NONE,
        SuperPointPublish::static_type(),
    )
}
