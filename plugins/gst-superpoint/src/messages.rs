//! Typed element messages: [`KeypointsMessage`] (`superpoint-keypoints`, posted by
//! `superpointdetect post-messages=true`) and [`MatchMessage`] (`superpoint-match`, posted by
//! `superpointmatch post-messages=true`), with conversions from and to [`gst::Structure`], so
//! applications read fields by name in Rust rather than by string.
//!
//! Reading them on the bus:
//! ```no_run
//! use gstsuperpoint::messages::{KeypointsMessage, MatchMessage};
//! # fn on_message(msg: &gst::Message) {
//! if let Some(Ok(k)) = KeypointsMessage::from_message(msg) {
//!     println!("frame {}: {} keypoints", k.frame, k.keypoints.len());
//! }
//! if let Some(Ok(m)) = MatchMessage::from_message(msg) {
//!     println!("frame {}: {} ({} inliers)", m.frame, m.status.as_str(), m.inliers);
//! }
//! # }
//! ```

use std::fmt;

use gst::glib;
use gst::prelude::*;
use superpoint::{Homography, Keypoint};

use crate::meta::{MatchStatus, MatchTarget, MatchesData};

/// Why a structure is not a well-formed message of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageError {
    /// The structure name the message needs.
    pub message: &'static str,
    /// The field that is missing or malformed (empty for the structure name).
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for MessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "not a {} message: {}", self.message, self.reason)
        } else {
            write!(
                f,
                "{} message, field {}: {}",
                self.message, self.field, self.reason
            )
        }
    }
}

impl std::error::Error for MessageError {}

/// Reads fields of one structure, naming the message and field in errors.
struct Fields<'a> {
    s: &'a gst::StructureRef,
    message: &'static str,
}

impl<'a> Fields<'a> {
    fn new(s: &'a gst::StructureRef, message: &'static str) -> Result<Self, MessageError> {
        if s.name() != message {
            return Err(MessageError {
                message,
                field: "",
                reason: format!("the structure is named {}", s.name()),
            });
        }
        Ok(Fields { s, message })
    }

    fn error(&self, field: &'static str, reason: impl fmt::Display) -> MessageError {
        MessageError {
            message: self.message,
            field,
            reason: reason.to_string(),
        }
    }

    fn get<T: glib::value::FromValue<'a>>(&self, field: &'static str) -> Result<T, MessageError> {
        self.s.get::<T>(field).map_err(|e| self.error(field, e))
    }

    /// `None` when the field is absent; an error when it is present with another type.
    fn optional<T: glib::value::FromValue<'a>>(
        &self,
        field: &'static str,
    ) -> Result<Option<T>, MessageError> {
        self.s
            .get_optional::<T>(field)
            .map_err(|e| self.error(field, e))
    }

    /// The values of an optional array field (empty when absent).
    fn list<T: for<'v> glib::value::FromValue<'v> + 'static>(
        &self,
        field: &'static str,
    ) -> Result<Vec<T>, MessageError> {
        let Some(array) = self.optional::<gst::Array>(field)? else {
            return Ok(Vec::new());
        };
        array
            .iter()
            .map(|v| v.get::<T>().map_err(|e| self.error(field, e)))
            .collect()
    }

    fn homography(&self, field: &'static str) -> Result<Option<Homography>, MessageError> {
        let Some(array) = self.optional::<gst::Array>(field)? else {
            return Ok(None);
        };
        let values = array
            .iter()
            .map(|v| v.get::<f64>())
            .collect::<Result<Vec<f64>, _>>()
            .map_err(|e| self.error(field, e))?;
        let m: [f64; 9] = values
            .try_into()
            .map_err(|v: Vec<f64>| self.error(field, format!("{} values, not 9", v.len())))?;
        Ok(Some(Homography(m)))
    }
}

impl Fields<'_> {
    /// The optional `descriptors` buffer with its `descriptor-size`, checked against `count`.
    fn descriptors(&self, count: usize) -> Result<Option<MessageDescriptors>, MessageError> {
        let Some(buffer) = self.optional::<gst::Buffer>("descriptors")? else {
            return Ok(None);
        };
        let size = self.get::<u32>("descriptor-size")?;
        let map = buffer
            .map_readable()
            .map_err(|e| self.error("descriptors", e))?;
        let expected = count * size as usize * std::mem::size_of::<f32>();
        if map.len() != expected {
            return Err(self.error(
                "descriptors",
                format!(
                    "{} bytes, not {count} keypoints x {size} float32 = {expected}",
                    map.len()
                ),
            ));
        }
        let data = map
            .chunks_exact(4)
            .map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Ok(Some(MessageDescriptors { size, data }))
    }
}

fn matrix_array(h: &Homography) -> gst::Array {
    gst::Array::new(h.0)
}

/// The `superpoint-keypoints` message: the keypoints of one frame, in frame pixels.
///
/// Structure fields: `pts` (`GstClockTime`, may be none), `frame` (`u64`, frames since the
/// element started), `count` (`u32`), `keypoints` (array of `[x, y, score]` float arrays, best
/// first); with `message-descriptors=true` (on frames that have descriptors) also `descriptors`
/// (a `GstBuffer` of `count` x `descriptor-size` float32 in native byte order, row-major: row `i`
/// is keypoint `i`'s unit-norm descriptor) and `descriptor-size` (`u32`, 256).
#[derive(Debug, Clone, PartialEq)]
pub struct KeypointsMessage {
    /// Presentation time of the buffer.
    pub pts: Option<gst::ClockTime>,
    /// Frame number since the element started.
    pub frame: u64,
    /// Keypoints in frame pixels ((0,0) = centre of the top-left pixel), best first.
    pub keypoints: Vec<Keypoint>,
    /// The keypoints' descriptors (`message-descriptors=true`), else `None`.
    pub descriptors: Option<MessageDescriptors>,
    /// Per keypoint, the scale it was detected at (the `scales` field, an array of floats, present
    /// only with multi-scale detection, `superpointdetect scales`); empty otherwise.
    pub scales: Vec<f32>,
}

/// The descriptors payload of a [`KeypointsMessage`]: `size` float32 per keypoint, row-major
/// (`data.len()` = keypoints x `size`), each row of unit L2 norm.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageDescriptors {
    /// Floats per descriptor (the `descriptor-size` field; 256 for SuperPoint).
    pub size: u32,
    /// Row-major `[keypoints, size]` descriptors.
    pub data: Vec<f32>,
}

impl MessageDescriptors {
    /// The descriptor of keypoint `i`, if there is one.
    pub fn row(&self, i: usize) -> Option<&[f32]> {
        let size = self.size as usize;
        self.data.get(i * size..(i + 1) * size)
    }
}

impl KeypointsMessage {
    /// Structure name.
    pub const NAME: &'static str = "superpoint-keypoints";

    /// The `count` field: the number of keypoints.
    pub fn count(&self) -> u32 {
        self.keypoints.len() as u32
    }

    /// The structure posted on the bus.
    pub fn to_structure(&self) -> gst::Structure {
        let keypoints = gst::Array::new(
            self.keypoints
                .iter()
                .map(|k| gst::Array::new([k.x, k.y, k.score]).to_send_value()),
        );
        let mut s = gst::Structure::builder(Self::NAME)
            .field("pts", self.pts)
            .field("frame", self.frame)
            .field("count", self.count())
            .field("keypoints", keypoints)
            .build();
        if let Some(d) = &self.descriptors {
            let bytes: Vec<u8> = d.data.iter().flat_map(|v| v.to_ne_bytes()).collect();
            s.set("descriptors", gst::Buffer::from_mut_slice(bytes));
            s.set("descriptor-size", d.size);
        }
        if !self.scales.is_empty() {
            s.set("scales", gst::Array::new(self.scales.iter().copied()));
        }
        s
    }

    /// Reads a `superpoint-keypoints` structure; errors name the missing or malformed field
    /// (`count` must equal the number of keypoints, `descriptors` hold `count` x
    /// `descriptor-size` float32).
    pub fn from_structure(s: &gst::StructureRef) -> Result<Self, MessageError> {
        let f = Fields::new(s, Self::NAME)?;
        let count = f.get::<u32>("count")?;
        let keypoints = f
            .get::<gst::Array>("keypoints")?
            .iter()
            .map(|v| {
                let a = v.get::<gst::Array>().map_err(|e| e.to_string())?;
                let xys = a
                    .iter()
                    .map(|c| c.get::<f32>())
                    .collect::<Result<Vec<f32>, _>>()
                    .map_err(|e| e.to_string())?;
                match xys[..] {
                    [x, y, score] => Ok(Keypoint { x, y, score }),
                    _ => Err(format!(
                        "a keypoint of {} values, not [x, y, score]",
                        xys.len()
                    )),
                }
            })
            .collect::<Result<Vec<Keypoint>, String>>()
            .map_err(|e| f.error("keypoints", e))?;
        if keypoints.len() != count as usize {
            return Err(f.error(
                "count",
                format!("{count}, but {} keypoints", keypoints.len()),
            ));
        }
        let descriptors = f.descriptors(keypoints.len())?;
        let scales = match s.get_optional::<gst::Array>("scales") {
            Ok(None) => Vec::new(),
            Ok(Some(a)) => a
                .iter()
                .map(|v| v.get::<f32>())
                .collect::<Result<Vec<f32>, _>>()
                .map_err(|e| f.error("scales", e.to_string()))?,
            Err(e) => return Err(f.error("scales", e.to_string())),
        };
        if !scales.is_empty() && scales.len() != keypoints.len() {
            return Err(f.error(
                "scales",
                format!("{} scales for {} keypoints", scales.len(), keypoints.len()),
            ));
        }
        Ok(KeypointsMessage {
            pts: f.get("pts")?,
            frame: f.get("frame")?,
            keypoints,
            descriptors,
            scales,
        })
    }

    /// `None` when `msg` is not a `superpoint-keypoints` element message, else the parsed message.
    pub fn from_message(msg: &gst::MessageRef) -> Option<Result<Self, MessageError>> {
        let s = msg.structure().filter(|s| s.name() == Self::NAME)?;
        Some(Self::from_structure(s))
    }
}

impl From<&KeypointsMessage> for gst::Structure {
    fn from(m: &KeypointsMessage) -> Self {
        m.to_structure()
    }
}

impl TryFrom<&gst::StructureRef> for KeypointsMessage {
    type Error = MessageError;
    fn try_from(s: &gst::StructureRef) -> Result<Self, MessageError> {
        Self::from_structure(s)
    }
}

/// The `superpoint-match` message: the matching result of one frame.
///
/// Structure fields: `pts` (`GstClockTime`), `frame` (`u64`), `mode` (`"previous"` or
/// `"reference"`), `status` (`"reference"`, `"ok"` or `"lost"`), `matches` and `inliers` (`u32`),
/// `rms-error` (`f64`, pixels); when present: `homography` and `to-reference` (9 row-major
/// doubles), `reason` (why the frame is lost), `true-homography` (9 doubles, from a
/// `HomographyMeta` ground truth) and `corner-error` (`f64`, mean corner distance in pixels between
/// `homography` and `true-homography`); in `mode=previous`, `track-ids` (`u64`) and `track-ages`
/// (`u32`), arrays with one entry per keypoint of the frame (see
/// [`superpoint::tracking::TrackIds`]).
#[derive(Debug, Clone, PartialEq)]
pub struct MatchMessage {
    /// Presentation time of the buffer.
    pub pts: Option<gst::ClockTime>,
    /// Frame number since the element started.
    pub frame: u64,
    /// What the frame was matched against.
    pub mode: MatchTarget,
    /// Ok, lost, or reference.
    pub status: MatchStatus,
    /// Number of descriptor matches.
    pub matches: u32,
    /// Number of RANSAC inliers.
    pub inliers: u32,
    /// Root mean square reprojection error of the inliers, pixels.
    pub rms_error: f64,
    /// Matched frame -> current frame; `None` when lost.
    pub homography: Option<Homography>,
    /// Current frame -> reference; `None` when lost.
    pub to_reference: Option<Homography>,
    /// Why the frame is lost.
    pub reason: Option<String>,
    /// Matched frame -> current frame from the `HomographyMeta` ground truth of both frames.
    pub true_homography: Option<Homography>,
    /// Mean distance in pixels of the matched frame's corners mapped by `homography` and by
    /// `true_homography`.
    pub corner_error: Option<f64>,
    /// Track id per keypoint of the frame (`mode=previous`; empty otherwise).
    pub track_ids: Vec<u64>,
    /// Track age per keypoint: earlier consecutive frames its track was followed through.
    pub track_ages: Vec<u32>,
}

impl MatchMessage {
    /// Structure name.
    pub const NAME: &'static str = "superpoint-match";

    /// The message of a frame's match result `data` at `pts`, with the lost `reason` and the
    /// ground truth `expected` (matched frame -> current frame) if known; `corner_error` is
    /// computed over the matched frame's corners.
    pub fn new(
        pts: Option<gst::ClockTime>,
        data: &MatchesData,
        expected: Option<Homography>,
        reason: Option<String>,
    ) -> Self {
        let corner_error = expected.and_then(|t| {
            data.homography.as_ref().and_then(|h| {
                h.corner_error(&t, data.target_size.0 as f64, data.target_size.1 as f64)
            })
        });
        MatchMessage {
            pts,
            frame: data.frame,
            mode: data.target,
            status: data.status,
            matches: data.pairs.len() as u32,
            inliers: data.num_inliers,
            rms_error: data.rms_error,
            homography: data.homography,
            to_reference: data.to_reference,
            reason,
            true_homography: expected,
            corner_error,
            track_ids: data.tracks.iter().map(|t| t.id).collect(),
            track_ages: data.tracks.iter().map(|t| t.age).collect(),
        }
    }

    /// The structure posted on the bus.
    pub fn to_structure(&self) -> gst::Structure {
        let mut s = gst::Structure::builder(Self::NAME)
            .field("pts", self.pts)
            .field("frame", self.frame)
            .field("mode", self.mode.as_str())
            .field("status", self.status.as_str())
            .field("matches", self.matches)
            .field("inliers", self.inliers)
            .field("rms-error", self.rms_error)
            .build();
        if let Some(h) = &self.homography {
            s.set("homography", matrix_array(h));
        }
        if let Some(h) = &self.to_reference {
            s.set("to-reference", matrix_array(h));
        }
        if let Some(reason) = &self.reason {
            s.set("reason", reason.as_str());
        }
        if let Some(t) = &self.true_homography {
            s.set("true-homography", matrix_array(t));
        }
        if let Some(e) = self.corner_error {
            s.set("corner-error", e);
        }
        if !self.track_ids.is_empty() {
            s.set("track-ids", gst::Array::new(&self.track_ids));
            s.set("track-ages", gst::Array::new(&self.track_ages));
        }
        s
    }

    /// Reads a `superpoint-match` structure; errors name the missing or malformed field.
    pub fn from_structure(s: &gst::StructureRef) -> Result<Self, MessageError> {
        let f = Fields::new(s, Self::NAME)?;
        let mode = f.get::<&str>("mode")?;
        let mode = MatchTarget::from_name(mode).ok_or_else(|| {
            f.error(
                "mode",
                format!("{mode:?} is neither \"previous\" nor \"reference\""),
            )
        })?;
        let status = f.get::<&str>("status")?;
        let status = MatchStatus::from_name(status).ok_or_else(|| {
            f.error(
                "status",
                format!("{status:?} is none of \"reference\", \"ok\", \"lost\""),
            )
        })?;
        Ok(MatchMessage {
            pts: f.get("pts")?,
            frame: f.get("frame")?,
            mode,
            status,
            matches: f.get("matches")?,
            inliers: f.get("inliers")?,
            rms_error: f.get("rms-error")?,
            homography: f.homography("homography")?,
            to_reference: f.homography("to-reference")?,
            reason: f.optional("reason")?,
            true_homography: f.homography("true-homography")?,
            corner_error: f.optional("corner-error")?,
            track_ids: f.list("track-ids")?,
            track_ages: f.list("track-ages")?,
        })
    }

    /// `None` when `msg` is not a `superpoint-match` element message, else the parsed message.
    pub fn from_message(msg: &gst::MessageRef) -> Option<Result<Self, MessageError>> {
        let s = msg.structure().filter(|s| s.name() == Self::NAME)?;
        Some(Self::from_structure(s))
    }
}

impl From<&MatchMessage> for gst::Structure {
    fn from(m: &MatchMessage) -> Self {
        m.to_structure()
    }
}

impl TryFrom<&gst::StructureRef> for MatchMessage {
    type Error = MessageError;
    fn try_from(s: &gst::StructureRef) -> Result<Self, MessageError> {
        Self::from_structure(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keypoints() -> KeypointsMessage {
        KeypointsMessage {
            pts: Some(gst::ClockTime::from_mseconds(40)),
            frame: 3,
            keypoints: vec![
                Keypoint {
                    x: 1.5,
                    y: 2.0,
                    score: 0.25,
                },
                Keypoint {
                    x: 10.0,
                    y: 20.0,
                    score: 0.125,
                },
            ],
            descriptors: None,
            scales: Vec::new(),
        }
    }

    fn matched() -> MatchMessage {
        MatchMessage {
            pts: None,
            frame: 7,
            mode: MatchTarget::Previous,
            status: MatchStatus::Ok,
            matches: 40,
            inliers: 31,
            rms_error: 0.5,
            homography: Some(Homography([1.0, 0.0, 3.0, 0.0, 1.0, 4.0, 0.0, 0.0, 1.0])),
            to_reference: Some(Homography::IDENTITY),
            reason: None,
            true_homography: Some(Homography::IDENTITY),
            corner_error: Some(5.0),
            track_ids: vec![4, 9],
            track_ages: vec![2, 0],
        }
    }

    #[test]
    fn keypoints_round_trip_with_the_documented_fields() {
        gst::init().unwrap();
        let m = keypoints();
        let s = gst::Structure::from(&m);
        assert_eq!(s.name(), "superpoint-keypoints");
        assert_eq!(s.get::<u32>("count").unwrap(), 2);
        assert_eq!(s.get::<u64>("frame").unwrap(), 3);
        assert_eq!(s.get::<gst::Array>("keypoints").unwrap().len(), 2);
        assert_eq!(KeypointsMessage::try_from(s.as_ref()).unwrap(), m);
    }

    #[test]
    fn keypoints_round_trip_with_scales_and_refuse_a_wrong_count() {
        gst::init().unwrap();
        let mut m = keypoints();
        assert!(!gst::Structure::from(&m).has_field("scales"));
        m.scales = vec![1.0, 0.5];
        let s = gst::Structure::from(&m);
        assert_eq!(s.get::<gst::Array>("scales").unwrap().len(), 2);
        assert_eq!(KeypointsMessage::try_from(s.as_ref()).unwrap(), m);
        let mut bad = s.clone();
        bad.set("scales", gst::Array::new([1.0f32]));
        let e = KeypointsMessage::try_from(bad.as_ref())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("scales") && e.contains("1 scales for 2 keypoints"),
            "{e}"
        );
    }

    #[test]
    fn keypoints_round_trip_with_descriptors() {
        gst::init().unwrap();
        let data: Vec<f32> = (0..2 * 256).map(|i| (i as f32 * 0.37).sin()).collect();
        let m = KeypointsMessage {
            descriptors: Some(MessageDescriptors {
                size: 256,
                data: data.clone(),
            }),
            ..keypoints()
        };
        let s = m.to_structure();
        assert_eq!(s.get::<u32>("descriptor-size").unwrap(), 256);
        let buffer = s.get::<gst::Buffer>("descriptors").unwrap();
        assert_eq!(buffer.size(), 2 * 256 * 4);
        let map = buffer.map_readable().unwrap();
        assert_eq!(&map[256 * 4..256 * 4 + 4], &data[256].to_ne_bytes());
        let back = KeypointsMessage::from_structure(&s).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.descriptors.unwrap().row(1), Some(&data[256..]));
        // Without the payload the fields are absent.
        let s = keypoints().to_structure();
        assert!(!s.has_field("descriptors") && !s.has_field("descriptor-size"));
        // A buffer of the wrong length, or without its size, is named.
        let mut s = m.to_structure();
        s.set("descriptor-size", 128u32);
        let e = KeypointsMessage::from_structure(&s).unwrap_err();
        assert_eq!(e.field, "descriptors");
        assert!(e.to_string().contains("2 keypoints x 128"), "{e}");
        let mut s = m.to_structure();
        s.remove_field("descriptor-size");
        let e = KeypointsMessage::from_structure(&s).unwrap_err();
        assert_eq!(e.field, "descriptor-size");
    }

    #[test]
    fn match_round_trips_with_and_without_optional_fields() {
        gst::init().unwrap();
        let m = matched();
        let s = m.to_structure();
        assert_eq!(s.get::<&str>("status").unwrap(), "ok");
        assert_eq!(s.get::<&str>("mode").unwrap(), "previous");
        assert_eq!(s.get::<gst::Array>("homography").unwrap().len(), 9);
        let ids: Vec<u64> = s
            .get::<gst::Array>("track-ids")
            .unwrap()
            .iter()
            .map(|v| v.get::<u64>().unwrap())
            .collect();
        assert_eq!(ids, [4, 9]);
        assert!(!s.has_field("reason"));
        assert_eq!(MatchMessage::from_structure(&s).unwrap(), m);
        let lost = MatchMessage {
            status: MatchStatus::Lost,
            mode: MatchTarget::Reference,
            homography: None,
            to_reference: None,
            reason: Some("3 matches, fewer than min-inliers=15".into()),
            true_homography: None,
            corner_error: None,
            ..m
        };
        let s = lost.to_structure();
        assert!(!s.has_field("homography") && !s.has_field("corner-error"));
        assert_eq!(MatchMessage::from_structure(&s).unwrap(), lost);
    }

    #[test]
    fn match_message_of_meta_data_computes_the_corner_error() {
        let data = MatchesData {
            frame: 2,
            width: 100,
            height: 50,
            target: MatchTarget::Reference,
            target_size: (100, 50),
            reference_size: (100, 50),
            pairs: Vec::new(),
            inliers: Vec::new(),
            num_inliers: 0,
            rms_error: 0.25,
            homography: Some(Homography([1.0, 0.0, 3.0, 0.0, 1.0, 4.0, 0.0, 0.0, 1.0])),
            to_reference: None,
            status: MatchStatus::Ok,
            tracks: Vec::new(),
        };
        let m = MatchMessage::new(None, &data, Some(Homography::IDENTITY), None);
        assert_eq!((m.frame, m.mode, m.matches), (2, MatchTarget::Reference, 0));
        assert!((m.corner_error.unwrap() - 5.0).abs() < 1e-9);
        let m = MatchMessage::new(None, &data, None, None);
        assert_eq!(m.corner_error, None);
    }

    #[test]
    fn malformed_structures_name_the_field() {
        gst::init().unwrap();
        let other = gst::Structure::builder("other").build();
        let e = KeypointsMessage::from_structure(&other).unwrap_err();
        assert!(e.to_string().contains("named other"), "{e}");
        let mut s = keypoints().to_structure();
        s.set("count", 5u32);
        let e = KeypointsMessage::from_structure(&s).unwrap_err();
        assert_eq!(e.field, "count");
        let mut s = matched().to_structure();
        s.set("status", "fine");
        let e = MatchMessage::from_structure(&s).unwrap_err();
        assert_eq!(e.field, "status");
        let mut s = matched().to_structure();
        s.set("homography", gst::Array::new([1.0f64, 2.0]));
        let e = MatchMessage::from_structure(&s).unwrap_err();
        assert!(e.to_string().contains("2 values"), "{e}");
        let mut s = matched().to_structure();
        s.remove_field("inliers");
        assert_eq!(
            MatchMessage::from_structure(&s).unwrap_err().field,
            "inliers"
        );
    }

    #[test]
    fn from_message_skips_other_messages() {
        gst::init().unwrap();
        let msg = gst::message::Element::new(keypoints().to_structure());
        assert_eq!(KeypointsMessage::from_message(&msg), Some(Ok(keypoints())));
        assert!(MatchMessage::from_message(&msg).is_none());
    }
}
