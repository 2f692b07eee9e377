//! `superpointdetect` reads the luma of camera formats directly: packed 4:2:2 (YUY2, UYVY,
//! YVYU), planar and semi-planar YUV (NV21, YV12, Y42B, Y444), 16-bit grey and 10-bit YUV
//! (P010_10LE, I420_10LE), at the strides and offsets of the buffer's `GstVideoMeta`.

mod common;

use gst::prelude::*;
use gst_video::VideoFormat as F;
use gstsuperpoint::meta::SuperPointKeypointsMeta;
use superpoint::{Detections, Detector, DetectorConfig, EngineOptions, Frame, PixelLayout};

/// Library result on one plane, for equality with the element.
fn library_detect(
    data: &[u8],
    w: usize,
    h: usize,
    stride: usize,
    layout: PixelLayout,
) -> Detections {
    let mut det = Detector::new(
        &common::random_model(),
        &EngineOptions::default(),
        DetectorConfig::default(),
    )
    .unwrap();
    let mut out = Detections::default();
    det.detect(&Frame::new(data, w, h, stride, layout).unwrap(), &mut out)
        .unwrap();
    out
}

/// The planes of a `w` x `h` frame of `format` whose luma is `gray` (8-bit formats), `gray * 257`
/// (16-bit grey) or `gray * 4` (10-bit YUV), with chroma 128 (8-bit) or 512 (10-bit), and the
/// bytes per row and rows of each plane.
fn planes_of(format: F, gray: &[u8], w: usize, h: usize) -> (Vec<Vec<u8>>, Vec<usize>, Vec<usize>) {
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let u16s = |v: &mut dyn Iterator<Item = u16>, be: bool| -> Vec<u8> {
        v.flat_map(|s| if be { s.to_be_bytes() } else { s.to_le_bytes() })
            .collect()
    };
    let grey8 = gray.to_vec();
    let c8 = |n: usize| vec![128u8; n];
    match format {
        F::Nv21 => (vec![grey8, c8(cw * 2 * ch)], vec![w, cw * 2], vec![h, ch]),
        F::Yv12 => (
            vec![grey8, c8(cw * ch), c8(cw * ch)],
            vec![w, cw, cw],
            vec![h, ch, ch],
        ),
        F::Y42b => (
            vec![grey8, c8(cw * h), c8(cw * h)],
            vec![w, cw, cw],
            vec![h, h, h],
        ),
        F::Y444 => (
            vec![grey8, c8(w * h), c8(w * h)],
            vec![w, w, w],
            vec![h, h, h],
        ),
        F::Yuy2 | F::Uyvy | F::Yvyu => {
            let y = if format == F::Uyvy { 1 } else { 0 };
            let mut plane = vec![0u8; cw * 4 * h];
            for row in 0..h {
                for x in 0..cw * 2 {
                    let group = &mut plane[row * cw * 4 + x / 2 * 4..][..4];
                    // Chroma bytes differ from the luma so that a wrong offset shows.
                    group[1 - y] = 40;
                    group[3 - y] = 220;
                    group[y + 2 * (x % 2)] = gray[row * w + x.min(w - 1)];
                }
            }
            (vec![plane], vec![cw * 4], vec![h])
        }
        F::Gray16Le | F::Gray16Be => (
            vec![u16s(
                &mut gray.iter().map(|&g| g as u16 * 257),
                format == F::Gray16Be,
            )],
            vec![w * 2],
            vec![h],
        ),
        F::I42010le => (
            vec![
                u16s(&mut gray.iter().map(|&g| g as u16 * 4), false),
                u16s(&mut std::iter::repeat_n(512, cw * ch), false),
                u16s(&mut std::iter::repeat_n(512, cw * ch), false),
            ],
            vec![w * 2, cw * 2, cw * 2],
            vec![h, ch, ch],
        ),
        F::P01010le => (
            vec![
                u16s(&mut gray.iter().map(|&g| (g as u16 * 4) << 6), false),
                u16s(&mut std::iter::repeat_n(512 << 6, cw * 2 * ch), false),
            ],
            vec![w * 2, cw * 4],
            vec![h, ch],
        ),
        other => panic!("no planes for {other:?}"),
    }
}

/// Keypoints the element finds on `format` frames whose luma is `gray`, for each of three
/// `GstVideoMeta` layouts (no padding, a lead and row padding), checking the pixels pass through.
fn element_keypoints(format: F, gray: &[u8], w: usize, h: usize) -> Vec<Vec<superpoint::Keypoint>> {
    let (planes, row_bytes, heights) = planes_of(format, gray, w, h);
    let mut hs = common::harness(
        "superpointdetect",
        &[("model", common::random_model().to_str().unwrap())],
        &common::caps(format.to_str(), w as u32, h as u32),
    );
    [(0, 0), (100, 31), (7, 64)]
        .into_iter()
        .map(|(lead, pad)| {
            let buf = common::buffer_with_video_meta(
                format,
                (w as u32, h as u32),
                &planes,
                &row_bytes,
                &heights,
                lead,
                pad,
            );
            let bytes = buf.map_readable().unwrap().to_vec();
            let out = hs.push_and_pull(buf).unwrap();
            assert_eq!(out.map_readable().unwrap().as_slice(), bytes, "{format:?}");
            let meta = out
                .meta::<SuperPointKeypointsMeta>()
                .expect("SuperPointKeypointsMeta on the buffer");
            assert_eq!((meta.width(), meta.height()), (w as u32, h as u32));
            meta.keypoints().to_vec()
        })
        .collect()
}

#[test]
fn eight_bit_and_sixteen_bit_formats_give_the_keypoints_of_gray8() {
    // Odd width: packed 4:2:2 rows end in a half-used group, chroma planes round up.
    let (w, h) = (161usize, 120usize);
    let gray = common::luma_of(&common::graf_rgb(w, h));
    let want = library_detect(&gray, w, h, w, PixelLayout::Gray).keypoints;
    assert!(want.len() > 20, "{} keypoints", want.len());
    for format in [
        F::Nv21,
        F::Yv12,
        F::Y42b,
        F::Y444,
        F::Yuy2,
        F::Uyvy,
        F::Yvyu,
        F::Gray16Le,
        F::Gray16Be,
    ] {
        for kps in element_keypoints(format, &gray, w, h) {
            assert_eq!(kps, want, "{format:?}");
        }
    }
}

#[test]
fn ten_bit_formats_give_the_keypoints_of_their_ten_bit_luma() {
    let (w, h) = (160usize, 120usize);
    let gray = common::luma_of(&common::graf_rgb(w, h));
    // The same image at 10 bits (luma g * 4 / 1023), in the library and in both formats.
    let (planes, row_bytes, _) = planes_of(F::I42010le, &gray, w, h);
    let want = library_detect(&planes[0], w, h, row_bytes[0], PixelLayout::I42010le).keypoints;
    assert!(want.len() > 20, "{} keypoints", want.len());
    for format in [F::I42010le, F::P01010le] {
        for kps in element_keypoints(format, &gray, w, h) {
            assert_eq!(kps, want, "{format:?}");
        }
    }
    // The image scaled by 1020/1023 keeps the keypoints of the 8-bit frame, within 0.01 px.
    let eight = library_detect(&gray, w, h, w, PixelLayout::Gray).keypoints;
    assert_eq!(want.len(), eight.len());
    for k in &want {
        let d = eight
            .iter()
            .map(|e| (e.x - k.x).hypot(e.y - k.y))
            .fold(f32::INFINITY, f32::min);
        assert!(d < 0.01, "{k:?} is {d} px from the 8-bit keypoints");
    }
}

#[test]
fn camera_formats_negotiate_from_videotestsrc_and_overlay_keeps_its_formats() {
    common::init();
    for format in [
        "YUY2",
        "UYVY",
        "GRAY16_BE",
        "P010_10LE",
        "I420_10LE",
        "Y42B",
    ] {
        let model = common::random_model();
        let counts = common::run_to_eos(
            &format!(
                "videotestsrc num-buffers=2 pattern=checkers-8 ! video/x-raw,format={format},width=64,height=48 ! superpointdetect name=det model={} ! fakesink name=sink",
                model.display()
            ),
            "sink",
            30,
            |buf| {
                buf.meta::<SuperPointKeypointsMeta>()
                    .map(|m| m.keypoints().len())
            },
        );
        assert_eq!(counts.len(), 2, "{format}");
        assert!(
            counts.iter().all(|c| c.is_some_and(|n| n > 0)),
            "{format}: {counts:?}"
        );
    }
    // Drawing and warping stay on GRAY8, packed RGB, I420 and NV12: videoconvert first.
    for factory in ["superpointoverlay", "homographicwarp"] {
        let el = gst::ElementFactory::make(factory).build().unwrap();
        let caps = el.static_pad("sink").unwrap().pad_template_caps();
        let yuy2 = gst::Caps::builder("video/x-raw")
            .field("format", "YUY2")
            .build();
        assert!(!caps.can_intersect(&yuy2), "{factory}: {caps}");
        let nv12 = gst::Caps::builder("video/x-raw")
            .field("format", "NV12")
            .build();
        assert!(caps.can_intersect(&nv12), "{factory}: {caps}");
    }
}
