//! `superpointoverlay` with gstreamer-check's Harness: keypoints, match lines, tracks, the
//! reference outline and the lost-frame border on every format, properties, and buffers without
//! metas.

mod common;

use std::str::FromStr;
use std::sync::Arc;

use gst::prelude::*;
use gst_video::prelude::*;
use gstsuperpoint::meta::{
    KeypointsData, MatchPair, MatchStatus, MatchTarget, MatchesData, SuperPointKeypointsMeta,
    SuperPointMatchesMeta,
};
use superpoint::draw::Rgba;
use superpoint::tracking::KeypointTrack;
use superpoint::{Homography, Keypoint};

const W: u32 = 48;
const H: u32 = 32;

fn caps(format: &str) -> String {
    common::caps(format, W, H)
}

fn harness(props: &[(&str, &str)], format: &str) -> gst_check::Harness {
    common::harness("superpointoverlay", props, &caps(format))
}

fn info(format: &str) -> gst_video::VideoInfo {
    common::init();
    gst_video::VideoInfo::from_caps(&gst::Caps::from_str(&caps(format)).unwrap()).unwrap()
}

/// A black frame (limited-range black for YUV) with the given metas.
fn frame(format: &str, kp: Option<KeypointsData>, m: Option<MatchesData>) -> gst::Buffer {
    let vi = info(format);
    let buf = gst::Buffer::with_size(vi.size()).unwrap();
    let mut f = gst_video::VideoFrame::from_buffer_writable(buf, &vi).unwrap();
    let yuv = format == "I420" || format == "NV12";
    for p in 0..f.n_planes() {
        let fill = if yuv {
            if p == 0 { 16 } else { 128 }
        } else {
            0
        };
        f.plane_data_mut(p).unwrap().fill(fill);
    }
    let mut buf = f.into_buffer();
    {
        let b = buf.get_mut().unwrap();
        if let Some(kp) = kp {
            SuperPointKeypointsMeta::add(b, Arc::new(kp));
        }
        if let Some(m) = m {
            SuperPointMatchesMeta::add(b, Arc::new(m));
        }
    }
    buf
}

fn keypoints(points: &[(f32, f32)]) -> KeypointsData {
    KeypointsData {
        width: W,
        height: H,
        keypoints: points
            .iter()
            .map(|&(x, y)| Keypoint { x, y, score: 0.5 })
            .collect(),
        descriptors: vec![0.0; points.len() * 256],
        model_id: "test".into(),
        scales: Vec::new(),
    }
}

/// (point in the matched frame, point in this frame, inlier)
type PointPair = ((f32, f32), (f32, f32), bool);

fn matches(
    pairs: &[PointPair],
    target: MatchTarget,
    status: MatchStatus,
    to_reference: Option<Homography>,
) -> MatchesData {
    MatchesData {
        frame: 1,
        width: W,
        height: H,
        target,
        target_size: (W, H),
        reference_size: (20, 10),
        pairs: pairs
            .iter()
            .enumerate()
            .map(|(i, (a, b, _))| MatchPair {
                matched: i as u32,
                current: i as u32,
                distance: 0.1,
                matched_point: [a.0, a.1],
                current_point: [b.0, b.1],
            })
            .collect(),
        inliers: pairs.iter().map(|p| p.2).collect(),
        num_inliers: pairs.iter().filter(|p| p.2).count() as u32,
        rms_error: 0.0,
        homography: to_reference.and_then(|h| h.inverse()),
        to_reference,
        status,
        // Pair i continues the track of id i from frame to frame.
        tracks: (0..pairs.len() as u64)
            .map(|id| KeypointTrack { id, age: 1 })
            .collect(),
    }
}

/// RGB of pixel (x, y) in an RGB frame.
fn rgb_at(buf: &gst::BufferRef, x: usize, y: usize) -> [u8; 3] {
    let vi = info("RGB");
    let f = gst_video::VideoFrameRef::from_buffer_ref_readable(buf, &vi).unwrap();
    let stride = f.plane_stride()[0] as usize;
    let d = f.plane_data(0).unwrap();
    let o = y * stride + x * 3;
    [d[o], d[o + 1], d[o + 2]]
}

fn lit_pixels(buf: &gst::BufferRef) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for y in 0..H as usize {
        for x in 0..W as usize {
            if rgb_at(buf, x, y) != [0, 0, 0] {
                out.push((x, y));
            }
        }
    }
    out
}

#[test]
fn keypoints_are_drawn_where_they_are() {
    let mut hs = harness(&[("keypoint-radius", "0")], "RGB");
    let out = hs
        .push_and_pull(frame(
            "RGB",
            Some(keypoints(&[(3.0, 4.0), (20.2, 10.7), (47.0, 31.0)])),
            None,
        ))
        .unwrap();
    assert_eq!(lit_pixels(&out), [(3, 4), (20, 11), (47, 31)]);
    assert_eq!(rgb_at(&out, 3, 4), [0, 255, 0]);
    // Circles: radius 2 ring around the point, centre untouched.
    let mut hs = harness(&[("keypoint-color", "0xffff00ff")], "RGB");
    let out = hs
        .push_and_pull(frame("RGB", Some(keypoints(&[(20.0, 15.0)])), None))
        .unwrap();
    assert_eq!(rgb_at(&out, 22, 15), [255, 0, 255]);
    assert_eq!(rgb_at(&out, 20, 13), [255, 0, 255]);
    assert_eq!(rgb_at(&out, 20, 15), [0, 0, 0]);
    assert!(
        lit_pixels(&out)
            .iter()
            .all(|&(x, y)| x.abs_diff(20) <= 3 && y.abs_diff(15) <= 3)
    );
}

#[test]
fn inlier_matches_are_lines_outliers_only_on_request() {
    let m = matches(
        &[
            ((10.0, 5.0), (30.0, 5.0), true),
            ((10.0, 20.0), (30.0, 25.0), false),
        ],
        MatchTarget::Reference,
        MatchStatus::Ok,
        Some(Homography([
            1.0, 0.0, 100.0, 0.0, 1.0, 100.0, 0.0, 0.0, 1.0,
        ])),
    );
    let mut hs = harness(&[("draw-keypoints", "false")], "RGB");
    let out = hs
        .push_and_pull(frame("RGB", None, Some(m.clone())))
        .unwrap();
    let lit = lit_pixels(&out);
    assert_eq!(lit, (10..=30).map(|x| (x, 5)).collect::<Vec<_>>());
    assert_eq!(rgb_at(&out, 20, 5), [255, 255, 0]);
    let mut hs = harness(
        &[("draw-keypoints", "false"), ("draw-outliers", "true")],
        "RGB",
    );
    let out = hs.push_and_pull(frame("RGB", None, Some(m))).unwrap();
    assert_eq!(rgb_at(&out, 10, 20), [255, 0, 0]);
    assert_eq!(rgb_at(&out, 30, 25), [255, 0, 0]);
}

#[test]
fn tracks_follow_keypoints_across_frames() {
    let mut hs = harness(
        &[("draw-keypoints", "false"), ("draw-outline", "false")],
        "RGB",
    );
    // A keypoint moving right by 5 px per frame: frame k has it at x = 5 + 5k.
    let step = |k: usize| {
        let a = (5.0 + 5.0 * k as f32, 10.0);
        let b = (10.0 + 5.0 * k as f32, 10.0);
        matches(
            &[(a, b, true)],
            MatchTarget::Previous,
            MatchStatus::Ok,
            Some(Homography::IDENTITY),
        )
    };
    let mut out = None;
    for k in 0..4 {
        out = Some(hs.push_and_pull(frame("RGB", None, Some(step(k)))).unwrap());
    }
    let lit = lit_pixels(&out.unwrap());
    // The track spans all four steps: x = 5 ..= 25 on row 10.
    assert_eq!(lit, (5..=25).map(|x| (x, 10)).collect::<Vec<_>>());
    // track-length=1 keeps only the last segment.
    hs.element().unwrap().set_property("track-length", 1u32);
    let out = hs.push_and_pull(frame("RGB", None, Some(step(4)))).unwrap();
    assert_eq!(
        lit_pixels(&out),
        (25..=30).map(|x| (x, 10)).collect::<Vec<_>>()
    );
    // A lost frame ends the tracks and draws the red border.
    let lost = matches(&[], MatchTarget::Previous, MatchStatus::Lost, None);
    let out = hs.push_and_pull(frame("RGB", None, Some(lost))).unwrap();
    assert_eq!(rgb_at(&out, 0, 0), [255, 0, 0]);
    assert_eq!(rgb_at(&out, 47, 31), [255, 0, 0]);
    assert_eq!(rgb_at(&out, 20, 10), [0, 0, 0]);
}

#[test]
fn reference_outline_is_the_mapped_reference_rectangle() {
    // The 20x10 reference appears shifted by (5, 8) in the current frame.
    let to_ref = Homography([1.0, 0.0, -5.0, 0.0, 1.0, -8.0, 0.0, 0.0, 1.0]);
    let m = matches(&[], MatchTarget::Reference, MatchStatus::Ok, Some(to_ref));
    let mut hs = harness(&[], "RGB");
    let out = hs.push_and_pull(frame("RGB", None, Some(m))).unwrap();
    let lit = lit_pixels(&out);
    let mut want = Vec::new();
    for y in 8..=17 {
        for x in 5..=24 {
            if y == 8 || y == 17 || x == 5 || x == 24 {
                want.push((x, y));
            }
        }
    }
    assert_eq!(lit, want);
    assert_eq!(rgb_at(&out, 5, 8), [0, 255, 255]);
}

#[test]
fn every_format_gets_the_colour() {
    let red = Rgba::from_argb(0xffff0000);
    let (ry, ru, rv) = red.yuv();
    for (format, bpp, offsets) in [
        ("RGB", 3, [0, 1, 2]),
        ("BGR", 3, [2, 1, 0]),
        ("RGBx", 4, [0, 1, 2]),
        ("BGRx", 4, [2, 1, 0]),
        ("xRGB", 4, [1, 2, 3]),
        ("xBGR", 4, [3, 2, 1]),
        ("RGBA", 4, [0, 1, 2]),
        ("BGRA", 4, [2, 1, 0]),
        ("ARGB", 4, [1, 2, 3]),
        ("ABGR", 4, [3, 2, 1]),
    ] {
        let mut hs = harness(
            &[("keypoint-radius", "0"), ("keypoint-color", "0xffff0000")],
            format,
        );
        let out = hs
            .push_and_pull(frame(format, Some(keypoints(&[(7.0, 3.0)])), None))
            .unwrap();
        let vi = info(format);
        let f = gst_video::VideoFrameRef::from_buffer_ref_readable(out.as_ref(), &vi).unwrap();
        let o = 3 * f.plane_stride()[0] as usize + 7 * bpp;
        let d = f.plane_data(0).unwrap();
        assert_eq!(
            [d[o + offsets[0]], d[o + offsets[1]], d[o + offsets[2]]],
            [255, 0, 0],
            "{format}"
        );
        if format.contains('A') {
            let a = if format.starts_with('A') { o } else { o + 3 };
            assert_eq!(d[a], 255, "{format} alpha");
        }
    }
    for format in ["I420", "NV12", "GRAY8"] {
        let mut hs = harness(
            &[("keypoint-radius", "0"), ("keypoint-color", "0xffff0000")],
            format,
        );
        let out = hs
            .push_and_pull(frame(format, Some(keypoints(&[(7.0, 3.0)])), None))
            .unwrap();
        let vi = info(format);
        let f = gst_video::VideoFrameRef::from_buffer_ref_readable(out.as_ref(), &vi).unwrap();
        let y = f.plane_data(0).unwrap()[3 * f.plane_stride()[0] as usize + 7];
        match format {
            "GRAY8" => assert_eq!(y, red.gray()),
            "I420" => {
                assert_eq!(y, ry);
                assert_eq!(
                    f.plane_data(1).unwrap()[f.plane_stride()[1] as usize + 3],
                    ru
                );
                assert_eq!(
                    f.plane_data(2).unwrap()[f.plane_stride()[2] as usize + 3],
                    rv
                );
            }
            _ => {
                assert_eq!(y, ry);
                let o = f.plane_stride()[1] as usize + 6;
                assert_eq!(&f.plane_data(1).unwrap()[o..o + 2], &[ru, rv]);
            }
        }
    }
}

#[test]
fn buffers_without_metas_pass_unchanged_with_one_warning() {
    let mut hs = harness(&[], "RGB");
    let bus = gst::Bus::new();
    hs.element().unwrap().set_bus(Some(&bus));
    for _ in 0..3 {
        let out = hs.push_and_pull(frame("RGB", None, None)).unwrap();
        assert!(lit_pixels(&out).is_empty());
    }
    let mut warnings = Vec::new();
    while let Some(m) = bus.pop_filtered(&[gst::MessageType::Warning]) {
        if let gst::MessageView::Warning(w) = m.view() {
            warnings.push(w.error().to_string());
        }
    }
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("insert superpointdetect"),
        "{warnings:?}"
    );
}

#[test]
fn caps_changes_mid_stream_and_far_away_geometry() {
    let mut hs = harness(&[("thickness", "3")], "I420");
    // Outline corners far outside the frame, and non-finite keypoints: clipped, no panic.
    let to_ref = Homography([1e-3, 0.0, 0.0, 0.0, 1e-3, 0.0, 0.0, 0.0, 1.0]);
    let mut kp = keypoints(&[(f32::NAN, 3.0), (1e9, -1e9), (5.0, 5.0)]);
    kp.width = W;
    let m = matches(
        &[((f32::INFINITY, 0.0), (5.0, 5.0), true)],
        MatchTarget::Reference,
        MatchStatus::Ok,
        Some(to_ref),
    );
    hs.push_and_pull(frame("I420", Some(kp.clone()), Some(m)))
        .unwrap();
    hs.set_src_caps_str(&caps("BGRx"));
    let out = hs.push_and_pull(frame("BGRx", Some(kp), None)).unwrap();
    assert_eq!(out.size(), info("BGRx").size());
}

#[test]
fn properties_have_documented_defaults() {
    common::init();
    let el = gst::ElementFactory::make("superpointoverlay")
        .build()
        .unwrap();
    assert!(el.property::<bool>("draw-keypoints"));
    assert!(el.property::<bool>("draw-matches"));
    assert!(!el.property::<bool>("draw-outliers"));
    assert!(el.property::<bool>("draw-outline"));
    assert!(el.property::<bool>("draw-status"));
    assert_eq!(el.property::<u32>("keypoint-radius"), 2);
    assert_eq!(el.property::<u32>("keypoint-color"), 0xff00ff00);
    assert_eq!(el.property::<u32>("match-color"), 0xffffff00);
    assert_eq!(el.property::<u32>("outlier-color"), 0xffff0000);
    assert_eq!(el.property::<u32>("outline-color"), 0xff00ffff);
    assert_eq!(el.property::<u32>("lost-color"), 0xffff0000);
    assert_eq!(el.property::<u32>("track-length"), 10);
    assert_eq!(el.property::<u32>("thickness"), 1);
    common::assert_blurbs(&el);
}

#[test]
fn thickness_and_switches() {
    let m = matches(
        &[((10.0, 10.0), (30.0, 10.0), true)],
        MatchTarget::Reference,
        MatchStatus::Ok,
        None,
    );
    let mut hs = harness(&[("draw-keypoints", "false"), ("thickness", "3")], "RGB");
    let lit = lit_pixels(
        &hs.push_and_pull(frame("RGB", None, Some(m.clone())))
            .unwrap(),
    );
    let want: Vec<(usize, usize)> = (9..=11)
        .flat_map(|y| (9..=31).map(move |x| (x, y)))
        .collect();
    let mut lit_sorted = lit.clone();
    lit_sorted.sort_by_key(|&(x, y)| (y, x));
    assert_eq!(lit_sorted, want);
    let mut hs = harness(
        &[("draw-keypoints", "false"), ("draw-matches", "false")],
        "RGB",
    );
    assert!(lit_pixels(&hs.push_and_pull(frame("RGB", None, Some(m))).unwrap()).is_empty());
    let lost = matches(&[], MatchTarget::Previous, MatchStatus::Lost, None);
    let mut hs = harness(&[("draw-status", "false")], "RGB");
    assert!(
        lit_pixels(
            &hs.push_and_pull(frame("RGB", None, Some(lost.clone())))
                .unwrap()
        )
        .is_empty()
    );
    let mut hs = harness(&[("lost-color", "0xff0000ff")], "RGB");
    let out = hs.push_and_pull(frame("RGB", None, Some(lost))).unwrap();
    assert_eq!(rgb_at(&out, 1, 1), [0, 0, 255]);
    assert_eq!(rgb_at(&out, 3, 3), [0, 0, 0], "3 px border");
}

#[test]
fn video_meta_strides_and_offsets_are_used_in_every_format() {
    // The same drawing on a caps-layout buffer and on one whose GstVideoMeta gives other strides
    // and offsets (as decoders and cameras attach): equal pixels, padding left alone.
    for format in [
        "RGB", "BGR", "RGBx", "BGRx", "xRGB", "xBGR", "RGBA", "BGRA", "ARGB", "ABGR", "I420",
        "NV12", "GRAY8",
    ] {
        let vi = info(format);
        let m = matches(
            &[((3.0, 5.0), (40.0, 27.0), true)],
            MatchTarget::Reference,
            MatchStatus::Ok,
            Some(Homography([1.0, 0.0, -5.0, 0.0, 1.0, -8.0, 0.0, 0.0, 1.0])),
        );
        let input = frame(
            format,
            Some(keypoints(&[(10.0, 10.0), (30.5, 20.5), (47.0, 0.0)])),
            Some(m),
        );
        let blank = common::packed_planes(&input, &vi).0;
        let want = harness(&[], format).push_and_pull(input.clone()).unwrap();
        let want = common::packed_planes(&want, &vi).0;
        assert_ne!(want, blank, "{format}: nothing drawn");
        for (lead, pad) in [(0, 5), (64, 37)] {
            let relaid = common::relaid_with_video_meta(&input, &vi, lead, pad);
            assert!(relaid.meta::<SuperPointKeypointsMeta>().is_some());
            let out = harness(&[], format).push_and_pull(relaid).unwrap();
            assert_eq!(
                common::packed_planes(&out, &vi).0,
                want,
                "{format} lead {lead} pad {pad}"
            );
            assert!(
                common::padding_untouched(&out, &vi),
                "{format}: drawn into the row padding"
            );
        }
    }
}

#[test]
fn tracks_restart_after_a_flush_and_at_a_new_stream() {
    let mut hs = harness(
        &[("draw-keypoints", "false"), ("draw-outline", "false")],
        "RGB",
    );
    let step = |k: usize| {
        let a = (5.0 + 5.0 * k as f32, 10.0);
        let b = (10.0 + 5.0 * k as f32, 10.0);
        matches(
            &[(a, b, true)],
            MatchTarget::Previous,
            MatchStatus::Ok,
            Some(Homography::IDENTITY),
        )
    };
    for k in 0..3 {
        hs.push_and_pull(frame("RGB", None, Some(step(k)))).unwrap();
    }
    // What a flushing seek sends: the track of the frames before it ends there.
    assert!(hs.push_event(gst::event::FlushStart::new()));
    assert!(hs.push_event(gst::event::FlushStop::new(true)));
    assert!(
        hs.push_event(gst::event::Segment::new(&gst::FormattedSegment::<
            gst::ClockTime,
        >::new()))
    );
    let out = hs.push_and_pull(frame("RGB", None, Some(step(3)))).unwrap();
    assert_eq!(
        lit_pixels(&out),
        (20..=25).map(|x| (x, 10)).collect::<Vec<_>>()
    );
    let out = hs.push_and_pull(frame("RGB", None, Some(step(4)))).unwrap();
    assert_eq!(
        lit_pixels(&out),
        (20..=30).map(|x| (x, 10)).collect::<Vec<_>>()
    );
    // A new stream likewise.
    assert!(hs.push_event(gst::event::StreamStart::new("second")));
    let out = hs.push_and_pull(frame("RGB", None, Some(step(5)))).unwrap();
    assert_eq!(
        lit_pixels(&out),
        (30..=35).map(|x| (x, 10)).collect::<Vec<_>>()
    );
}
