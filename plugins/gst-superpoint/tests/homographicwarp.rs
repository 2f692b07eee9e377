//! `homographicwarp` with gstreamer-check's Harness: every format against an independent
//! reference implementation on known matrices, identity losslessness, warp-then-inverse, border
//! colour, interpolation, the random mode's meta and reproducibility, stabilize and rectify from
//! match metas, meta composition, caps changes, and bad matrices.

mod common;

use std::sync::Arc;

use common::caps;
use gst::prelude::*;
use gst_video::prelude::*;
use gstsuperpoint::meta::{
    HomographyMeta, KeypointsData, MatchStatus, MatchTarget, MatchesData, SuperPointKeypointsMeta,
    SuperPointMatchesMeta, WarpKind,
};
use superpoint::Homography;

const FORMATS: [&str; 13] = [
    "GRAY8", "RGB", "BGR", "RGBx", "BGRx", "xRGB", "xBGR", "RGBA", "BGRA", "ARGB", "ABGR", "I420",
    "NV12",
];

fn info(format: &str, w: u32, h: u32) -> gst_video::VideoInfo {
    common::init();
    gst_video::VideoInfo::from_caps(&gst::Caps::from_str(&caps(format, w, h)).unwrap()).unwrap()
}

use std::str::FromStr;

/// Smooth texture value of plane `p`, pixel `(x, y)`, channel `c`.
fn texture(p: usize, x: usize, y: usize, c: usize) -> u8 {
    let (x, y) = (x as f64, y as f64);
    let v = 128.0
        + 70.0
            * ((x + 7.0 * c as f64) / (4.0 + p as f64)).sin()
            * ((y - 3.0 * c as f64) / 6.0).cos()
        + 30.0 * ((x + y) / 11.0).sin();
    v.round().clamp(0.0, 255.0) as u8
}

/// Planes of a format: (width, height, channels).
fn plane_dims(info: &gst_video::VideoInfo) -> Vec<(usize, usize, usize)> {
    let (w, h) = (info.width() as usize, info.height() as usize);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    match info.format() {
        gst_video::VideoFormat::Gray8 => vec![(w, h, 1)],
        gst_video::VideoFormat::Rgb | gst_video::VideoFormat::Bgr => vec![(w, h, 3)],
        gst_video::VideoFormat::I420 => vec![(w, h, 1), (cw, ch, 1), (cw, ch, 1)],
        gst_video::VideoFormat::Nv12 => vec![(w, h, 1), (cw, ch, 2)],
        _ => vec![(w, h, 4)],
    }
}

/// A buffer of `info` filled by `f(plane, x, y, channel)`.
fn make_buffer(
    info: &gst_video::VideoInfo,
    f: impl Fn(usize, usize, usize, usize) -> u8,
) -> gst::Buffer {
    let buf = gst::Buffer::with_size(info.size()).unwrap();
    let mut frame = gst_video::VideoFrame::from_buffer_writable(buf, info).unwrap();
    for (p, (pw, ph, ch)) in plane_dims(info).into_iter().enumerate() {
        let stride = frame.plane_stride()[p] as usize;
        let data = frame.plane_data_mut(p as u32).unwrap();
        for y in 0..ph {
            for x in 0..pw {
                for c in 0..ch {
                    data[y * stride + x * ch + c] = f(p, x, y, c);
                }
            }
        }
    }
    frame.into_buffer()
}

/// Packed copies of the planes of `buf` (strides removed).
fn planes(buf: &gst::BufferRef, info: &gst_video::VideoInfo) -> Vec<Vec<u8>> {
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buf, info).unwrap();
    plane_dims(info)
        .into_iter()
        .enumerate()
        .map(|(p, (pw, ph, ch))| {
            let stride = frame.plane_stride()[p] as usize;
            let data = frame.plane_data(p as u32).unwrap();
            (0..ph)
                .flat_map(|y| data[y * stride..y * stride + pw * ch].to_vec())
                .collect()
        })
        .collect()
}

fn inverse3(m: &[f64; 9]) -> [f64; 9] {
    let det = m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6])
        + m[2] * (m[3] * m[7] - m[4] * m[6]);
    [
        (m[4] * m[8] - m[5] * m[7]) / det,
        (m[2] * m[7] - m[1] * m[8]) / det,
        (m[1] * m[5] - m[2] * m[4]) / det,
        (m[5] * m[6] - m[3] * m[8]) / det,
        (m[0] * m[8] - m[2] * m[6]) / det,
        (m[2] * m[3] - m[0] * m[5]) / det,
        (m[3] * m[7] - m[4] * m[6]) / det,
        (m[1] * m[6] - m[0] * m[7]) / det,
        (m[0] * m[4] - m[1] * m[3]) / det,
    ]
}

fn mul3(a: &[f64; 9], b: &[f64; 9]) -> [f64; 9] {
    std::array::from_fn(|k| {
        let (i, j) = (k / 3, k % 3);
        (0..3).map(|t| a[i * 3 + t] * b[t * 3 + j]).sum()
    })
}

/// Reference warp of one packed plane, written independently of the library: inverse mapping,
/// bilinear (or nearest) sampling with edge clamping, `border` where the source is not seen.
#[allow(clippy::too_many_arguments)]
fn reference_warp(
    src: &[u8],
    w: usize,
    h: usize,
    ch: usize,
    m: &[f64; 9],
    nearest: bool,
    border: &[u8],
) -> Vec<u8> {
    let inv = inverse3(m);
    let mut out = vec![0u8; w * h * ch];
    for y in 0..h {
        for x in 0..w {
            let (xf, yf) = (x as f64, y as f64);
            let d = inv[6] * xf + inv[7] * yf + inv[8];
            let sx = (inv[0] * xf + inv[1] * yf + inv[2]) / d;
            let sy = (inv[3] * xf + inv[4] * yf + inv[5]) / d;
            let o = (y * w + x) * ch;
            if !(sx >= -0.5 && sy >= -0.5 && sx < w as f64 - 0.5 && sy < h as f64 - 0.5) {
                out[o..o + ch].copy_from_slice(border);
                continue;
            }
            for c in 0..ch {
                let px = |xi: usize, yi: usize| src[(yi * w + xi) * ch + c] as f64;
                out[o + c] = if nearest {
                    px(
                        (sx.round().max(0.0) as usize).min(w - 1),
                        (sy.round().max(0.0) as usize).min(h - 1),
                    ) as u8
                } else {
                    let cx = sx.clamp(0.0, (w - 1) as f64);
                    let cy = sy.clamp(0.0, (h - 1) as f64);
                    let (x0, y0) = (cx.floor() as usize, cy.floor() as usize);
                    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
                    let (fx, fy) = (cx - x0 as f64, cy - y0 as f64);
                    let v = px(x0, y0) * (1.0 - fx) * (1.0 - fy)
                        + px(x1, y0) * fx * (1.0 - fy)
                        + px(x0, y1) * (1.0 - fx) * fy
                        + px(x1, y1) * fx * fy;
                    v.round() as u8
                };
            }
        }
    }
    out
}

fn matrix_str(m: &[f64; 9]) -> String {
    format!(
        "<{}>",
        m.iter()
            .map(|v| format!("{v:.17e}"))
            .collect::<Vec<_>>()
            .join(",")
    )
}

fn warp_harness(props: &[(&str, &str)], format: &str, w: u32, h: u32) -> gst_check::Harness {
    common::harness("homographicwarp", props, &caps(format, w, h))
}

/// Border values per plane for opaque black as the element writes them.
fn black_border(format: &str) -> Vec<Vec<u8>> {
    match format {
        "GRAY8" => vec![vec![0]],
        "RGB" | "BGR" => vec![vec![0, 0, 0]],
        "RGBx" | "BGRx" | "RGBA" | "BGRA" => vec![vec![0, 0, 0, 255]],
        "xRGB" | "xBGR" | "ARGB" | "ABGR" => vec![vec![255, 0, 0, 0]],
        "I420" => vec![vec![16], vec![128], vec![128]],
        "NV12" => vec![vec![16], vec![128, 128]],
        _ => unreachable!(),
    }
}

const CHROMA: [f64; 9] = [0.5, 0.0, -0.25, 0.0, 0.5, -0.25, 0.0, 0.0, 1.0];

#[test]
fn all_formats_match_a_reference_implementation_on_known_matrices() {
    let (w, h) = (37u32, 29u32);
    let (cx, cy) = (18.0, 14.0);
    let (s, c) = 0.3f64.sin_cos();
    let matrices: [[f64; 9]; 4] = [
        [1.0, 0.0, 3.0, 0.0, 1.0, -2.0, 0.0, 0.0, 1.0],
        [1.0, 0.0, 2.37, 0.0, 1.0, 1.61, 0.0, 0.0, 1.0],
        // Rotation by 0.3 rad about the centre.
        [
            c,
            -s,
            cx - c * cx + s * cy,
            s,
            c,
            cy - s * cx - c * cy,
            0.0,
            0.0,
            1.0,
        ],
        [1.05, 0.08, -1.5, -0.04, 0.93, 2.2, 1.5e-3, -1.0e-3, 1.0],
    ];
    for format in FORMATS {
        let vi = info(format, w, h);
        let input = make_buffer(&vi, texture);
        let src = planes(&input, &vi);
        for m in &matrices {
            for nearest in [false, true] {
                let mut hs = warp_harness(
                    &[
                        ("matrix", &matrix_str(m)),
                        (
                            "interpolation",
                            if nearest { "nearest" } else { "bilinear" },
                        ),
                    ],
                    format,
                    w,
                    h,
                );
                let out = hs.push_and_pull(input.clone()).unwrap();
                let got = planes(&out, &vi);
                let dims = plane_dims(&vi);
                let mut bad = 0;
                let mut total = 0;
                for (p, (pw, ph, ch)) in dims.iter().enumerate() {
                    let pm = if p > 0 {
                        mul3(&mul3(&CHROMA, m), &inverse3(&CHROMA))
                    } else {
                        *m
                    };
                    let want = reference_warp(
                        &src[p],
                        *pw,
                        *ph,
                        *ch,
                        &pm,
                        nearest,
                        &black_border(format)[p],
                    );
                    for (a, b) in got[p].iter().zip(&want) {
                        total += 1;
                        if (*a as i32 - *b as i32).abs() > 1 {
                            bad += 1;
                        }
                    }
                }
                // Every value within one grey level of the reference (rounding).
                assert!(
                    bad == 0,
                    "{format} {m:?} nearest={nearest}: {bad} of {total} values differ by > 1"
                );
                let meta = out.meta::<HomographyMeta>().expect("HomographyMeta");
                assert_eq!(meta.data().kind, WarpKind::Fixed);
                assert_eq!(meta.data().applied.0, Homography(*m).0);
            }
        }
    }
}

#[test]
fn identity_is_lossless_for_every_format() {
    for format in FORMATS {
        for (w, h) in [(37u32, 23u32), (64, 48)] {
            let vi = info(format, w, h);
            let input = make_buffer(&vi, |p, x, y, c| (x * 31 + y * 17 + c * 5 + p * 3) as u8);
            for interpolation in ["bilinear", "nearest"] {
                let mut hs = warp_harness(&[("interpolation", interpolation)], format, w, h);
                let out = hs.push_and_pull(input.clone()).unwrap();
                assert_eq!(planes(&out, &vi), planes(&input, &vi), "{format} {w}x{h}");
            }
        }
    }
}

#[test]
fn warp_then_inverse_restores_the_interior() {
    common::init();
    let m = [1.04, 0.05, -3.0, -0.03, 0.97, 2.5, 2e-4, -1e-4, 1.0];
    let inv = inverse3(&m);
    for format in ["GRAY8", "RGBx", "I420", "NV12"] {
        let (w, h) = (96u32, 72u32);
        let vi = info(format, w, h);
        let input = make_buffer(&vi, texture);
        let mut hs = gst_check::Harness::new_parse(&format!(
            "homographicwarp matrix=\"{}\" ! homographicwarp matrix=\"{}\"",
            matrix_str(&m),
            matrix_str(&inv)
        ));
        hs.play();
        hs.set_src_caps_str(&caps(format, w, h));
        let out = hs.push_and_pull(input.clone()).unwrap();
        let (a, b) = (planes(&input, &vi), planes(&out, &vi));
        for (p, (pw, ph, ch)) in plane_dims(&vi).into_iter().enumerate() {
            let margin = if pw < w as usize { 5 } else { 10 };
            let mut max = 0;
            let mut sum = 0.0;
            let mut n = 0.0;
            for y in margin..ph - margin {
                for x in margin..pw - margin {
                    for c in 0..ch {
                        let i = (y * pw + x) * ch + c;
                        let d = (a[p][i] as i32 - b[p][i] as i32).abs();
                        max = max.max(d);
                        sum += d as f64;
                        n += 1.0;
                    }
                }
            }
            assert!(
                max <= 16 && sum / n < 3.0,
                "{format} plane {p}: max {max}, mean {}",
                sum / n
            );
        }
        // The output's meta composes both warps: identity.
        let meta = out.meta::<HomographyMeta>().unwrap();
        assert!(
            meta.homography()
                .corner_error(&Homography::IDENTITY, w as f64, h as f64)
                .unwrap()
                < 1e-9
        );
    }
}

#[test]
fn border_color_fills_uncovered_pixels() {
    // Shift by (10, 6): the first 10 columns and 6 rows see nothing.
    let shift = "<1.0, 0.0, 10.0, 0.0, 1.0, 6.0, 0.0, 0.0, 1.0>";
    let green = 0x8000ff00u32;
    let (gy, gu, gv) = superpoint::draw::Rgba::from_argb(green).yuv();
    for (format, first_pixel, yuv) in [
        ("RGB", vec![0u8, 255, 0], false),
        ("BGRA", vec![0, 255, 0, 0x80], false),
        ("ARGB", vec![0x80, 0, 255, 0], false),
        ("GRAY8", vec![150], false),
        ("I420", vec![gy], true),
        ("NV12", vec![gy], true),
    ] {
        let (w, h) = (32u32, 24u32);
        let vi = info(format, w, h);
        let mut hs = warp_harness(
            &[("matrix", shift), ("border-color", &green.to_string())],
            format,
            w,
            h,
        );
        let out = hs.push_and_pull(make_buffer(&vi, texture)).unwrap();
        let got = planes(&out, &vi);
        let ch = first_pixel.len();
        assert_eq!(&got[0][..ch], first_pixel.as_slice(), "{format}");
        // Row 10, column 20 is covered: the source pixel (10, 4).
        let src = planes(&make_buffer(&vi, texture), &vi);
        let (i, j) = ((10 * w as usize + 20) * ch, (4 * w as usize + 10) * ch);
        assert_eq!(got[0][i..i + ch], src[0][j..j + ch], "{format}");
        if yuv {
            let chroma: Vec<u8> = got[1..]
                .iter()
                .flat_map(|p| p[..p.len().min(2)].to_vec())
                .collect();
            assert!(
                chroma.contains(&gu) && chroma.contains(&gv),
                "{format} {chroma:?}"
            );
        }
    }
}

#[test]
fn nearest_copies_and_bilinear_averages_at_half_pixels() {
    let (w, h) = (16u32, 8u32);
    let vi = info("GRAY8", w, h);
    let input = make_buffer(&vi, |_, x, _, _| if x % 2 == 0 { 100 } else { 200 });
    let half = "<1.0, 0.0, 0.5, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0>";
    let mut hs = warp_harness(&[("matrix", half)], "GRAY8", w, h);
    let bil = planes(&hs.push_and_pull(input.clone()).unwrap(), &vi);
    assert!(bil[0][3 * 16 + 1..3 * 16 + 15].iter().all(|&v| v == 150));
    let mut hs = warp_harness(
        &[("matrix", half), ("interpolation", "nearest")],
        "GRAY8",
        w,
        h,
    );
    let near = planes(&hs.push_and_pull(input).unwrap(), &vi);
    assert!(
        near[0][3 * 16 + 1..3 * 16 + 15]
            .iter()
            .all(|&v| v == 100 || v == 200)
    );
}

fn start_error(matrix: &str) -> String {
    common::start_error("homographicwarp", &[("matrix", matrix)])
}

#[test]
fn singular_or_non_finite_matrices_are_clear_errors() {
    let singular = start_error("<1.0, 2.0, 0.0, 2.0, 4.0, 0.0, 0.0, 0.0, 1.0>");
    assert!(singular.contains("singular"), "{singular}");
    let zero = start_error("<0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0>");
    assert!(zero.contains("singular"), "{zero}");
    let nan = start_error("<1.0, 0.0, nan, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0>");
    assert!(nan.contains("not a finite number"), "{nan}");
    let inf = start_error("<1.0, 0.0, inf, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0>");
    assert!(inf.contains("not a finite number"), "{inf}");
    let text = start_error("<1.0, 0.0, abc, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0>");
    assert!(text.contains("not a finite number"), "{text}");
    let short = start_error("<1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0>");
    assert!(short.contains("9 row-major values, got 8"), "{short}");

    // Set while playing: a warning, and the previous matrix stays in use.
    let mut hs = warp_harness(&[], "GRAY8", 16, 16);
    let el = hs.element().unwrap();
    let bus = gst::Bus::new();
    el.set_bus(Some(&bus));
    el.set_property_from_str("matrix", "<1.0, 2.0, 0.0, 2.0, 4.0, 0.0, 0.0, 0.0, 1.0>");
    let msg = bus
        .pop_filtered(&[gst::MessageType::Warning])
        .expect("warning");
    let gst::MessageView::Warning(wm) = msg.view() else {
        unreachable!()
    };
    assert!(wm.error().to_string().contains("singular"), "{wm:?}");
    let kept: Vec<f64> = el
        .property::<gst::Array>("matrix")
        .iter()
        .map(|v| v.get::<f64>().unwrap())
        .collect();
    assert_eq!(kept, Homography::IDENTITY.0);
    let vi = info("GRAY8", 16, 16);
    let input = make_buffer(&vi, texture);
    let out = hs.push_and_pull(input.clone()).unwrap();
    assert_eq!(planes(&out, &vi), planes(&input, &vi));
}

#[test]
fn properties_have_documented_defaults() {
    common::init();
    let el = gst::ElementFactory::make("homographicwarp")
        .build()
        .unwrap();
    assert_eq!(el.property_value("mode").serialize().unwrap(), "fixed");
    assert_eq!(
        el.property_value("interpolation").serialize().unwrap(),
        "bilinear"
    );
    assert_eq!(el.property::<u32>("border-color"), 0xff000000);
    assert_eq!(el.property::<u32>("smoothing"), 15);
    assert_eq!(el.property::<f64>("perspective"), 0.2);
    assert_eq!(el.property::<f64>("scale"), 0.2);
    assert!((el.property::<f64>("rotation") - 30.0).abs() < 1e-9);
    assert_eq!(el.property::<f64>("translation"), 1.0);
    assert_eq!(el.property::<f64>("patch-ratio"), 0.85);
    assert_eq!(el.property::<u64>("seed"), 0);
    let m: Vec<f64> = el
        .property::<gst::Array>("matrix")
        .iter()
        .map(|v| v.get::<f64>().unwrap())
        .collect();
    assert_eq!(m, Homography::IDENTITY.0);
    // Integers in a launch-line array are read as doubles.
    el.set_property_from_str("matrix", "<2, 0, 1, 0, 2, 1, 0, 0, 1>");
    let m: Vec<f64> = el
        .property::<gst::Array>("matrix")
        .iter()
        .map(|v| v.get::<f64>().unwrap())
        .collect();
    assert_eq!(m, [2.0, 0.0, 1.0, 0.0, 2.0, 1.0, 0.0, 0.0, 1.0]);
    common::assert_blurbs(&el);
}

#[test]
fn random_mode_attaches_the_sampled_homography_and_is_reproducible() {
    let (w, h) = (64u32, 48u32);
    let vi = info("GRAY8", w, h);
    let input = make_buffer(&vi, texture);
    let run = |seed: &str| -> Vec<(Homography, Vec<u8>)> {
        let mut hs = warp_harness(&[("mode", "random"), ("seed", seed)], "GRAY8", w, h);
        (0..4)
            .map(|_| {
                let out = hs.push_and_pull(input.clone()).unwrap();
                let meta = out.meta::<HomographyMeta>().expect("HomographyMeta");
                assert_eq!(meta.data().kind, WarpKind::Random);
                assert_eq!(meta.data().homography, meta.data().applied);
                (meta.homography(), planes(&out, &vi).remove(0))
            })
            .collect()
    };
    let a = run("7");
    let b = run("7");
    let c = run("8");
    assert_eq!(a, b, "same seed, same homographies and pixels");
    assert_ne!(a[0].0, c[0].0);
    assert_ne!(a[0].0, a[1].0, "a new homography per frame");
    let src = planes(&input, &vi).remove(0);
    for (hm, pixels) in &a {
        assert!(hm.is_valid());
        // The pixels are exactly the library's warp by the attached homography.
        let mut want = vec![0u8; (w * h) as usize];
        superpoint::warp::warp_gray(
            &src,
            w as usize,
            h as usize,
            &mut want,
            w as usize,
            h as usize,
            hm,
            superpoint::warp::Interpolation::Bilinear,
            0,
        )
        .unwrap();
        assert_eq!(pixels, &want);
        // The sampled view stays inside the source: no border pixels.
        let inv = hm.inverse().unwrap();
        for (x, y) in [(0.0, 0.0), (63.0, 47.0), (0.0, 47.0), (63.0, 0.0)] {
            let (sx, sy) = inv.apply(x, y).unwrap();
            assert!((-1e-6..=63.0 + 1e-6).contains(&sx) && (-1e-6..=47.0 + 1e-6).contains(&sy));
        }
    }
}

fn matches_meta(to_reference: Option<Homography>, status: MatchStatus) -> MatchesData {
    MatchesData {
        frame: 0,
        width: 64,
        height: 48,
        target: MatchTarget::Previous,
        target_size: (64, 48),
        reference_size: (64, 48),
        pairs: Vec::new(),
        inliers: Vec::new(),
        num_inliers: 0,
        rms_error: 0.0,
        homography: to_reference.and_then(|h| h.inverse()),
        to_reference,
        status,
        tracks: Vec::new(),
    }
}

fn with_matches(buf: &gst::Buffer, m: MatchesData) -> gst::Buffer {
    let mut b = buf.copy();
    SuperPointMatchesMeta::add(b.get_mut().unwrap(), Arc::new(m));
    SuperPointKeypointsMeta::add(b.get_mut().unwrap(), Arc::new(KeypointsData::default()));
    b
}

fn shift(dx: f64, dy: f64) -> Homography {
    Homography([1.0, 0.0, dx, 0.0, 1.0, dy, 0.0, 0.0, 1.0])
}

#[test]
fn stabilize_and_rectify_need_superpointmatch_upstream() {
    for mode in ["stabilize", "rectify"] {
        let mut hs = warp_harness(&[("mode", mode)], "GRAY8", 64, 48);
        let bus = gst::Bus::new();
        hs.element().unwrap().set_bus(Some(&bus));
        let vi = info("GRAY8", 64, 48);
        assert_eq!(
            hs.push(make_buffer(&vi, texture)),
            Err(gst::FlowError::Error)
        );
        let msg = bus.pop_filtered(&[gst::MessageType::Error]).expect("error");
        let gst::MessageView::Error(e) = msg.view() else {
            unreachable!()
        };
        assert!(
            e.error()
                .to_string()
                .contains("superpointdetect ! superpointmatch"),
            "{e:?}"
        );
    }
}

#[test]
fn rectify_warps_onto_the_reference_and_holds_when_lost() {
    let vi = info("GRAY8", 64, 48);
    let input = make_buffer(&vi, texture);
    let mut hs = warp_harness(&[("mode", "rectify")], "GRAY8", 64, 48);
    let mut fixed = warp_harness(
        &[("matrix", "<1.0,0.0,-3.0,0.0,1.0,2.0,0.0,0.0,1.0>")],
        "GRAY8",
        64,
        48,
    );
    let want = planes(&fixed.push_and_pull(input.clone()).unwrap(), &vi);
    let to_ref = shift(-3.0, 2.0);
    for status in [MatchStatus::Ok, MatchStatus::Lost] {
        let m = matches_meta((status == MatchStatus::Ok).then_some(to_ref), status);
        let out = hs.push_and_pull(with_matches(&input, m)).unwrap();
        assert_eq!(planes(&out, &vi), want, "{status:?}");
        let meta = out.meta::<HomographyMeta>().unwrap();
        assert_eq!(meta.data().kind, WarpKind::Rectify);
        assert_eq!(meta.data().applied, to_ref);
        // Input-geometry metas are not carried over the warp.
        assert!(out.meta::<SuperPointMatchesMeta>().is_none());
        assert!(out.meta::<SuperPointKeypointsMeta>().is_none());
    }
}

#[test]
fn stabilize_cancels_jitter_of_the_camera_path() {
    let vi = info("I420", 64, 48);
    let input = make_buffer(&vi, texture);
    let mut hs = warp_harness(&[("mode", "stabilize"), ("smoothing", "4")], "I420", 64, 48);
    // The camera shakes +-3 px around a fixed position; frame 0 is the reference.
    let mut applied = Vec::new();
    for i in 0..12 {
        let dx = if i == 0 {
            0.0
        } else if i % 2 == 0 {
            3.0
        } else {
            -3.0
        };
        let camera = shift(dx, 0.0);
        let status = if i == 0 {
            MatchStatus::Reference
        } else {
            MatchStatus::Ok
        };
        let m = matches_meta(camera.inverse(), status);
        let out = hs.push_and_pull(with_matches(&input, m)).unwrap();
        let meta = out.meta::<HomographyMeta>().unwrap();
        assert_eq!(meta.data().kind, WarpKind::Stabilize);
        applied.push((dx, meta.data().applied));
    }
    for (dx, a) in &applied[4..] {
        // Smoothed position = mean of the window (0): the correction undoes the shake.
        assert!(
            a.corner_error(&shift(-dx, 0.0), 64.0, 48.0).unwrap() < 1e-6,
            "{dx} {a:?}"
        );
    }
    // A lost frame keeps the last pose; smoothing=1 disables stabilisation.
    let out = hs
        .push_and_pull(with_matches(&input, matches_meta(None, MatchStatus::Lost)))
        .unwrap();
    assert!(
        out.meta::<HomographyMeta>()
            .unwrap()
            .data()
            .applied
            .is_valid()
    );
    hs.element().unwrap().set_property("smoothing", 1u32);
    let m = matches_meta(shift(5.0, 1.0).inverse(), MatchStatus::Ok);
    let out = hs.push_and_pull(with_matches(&input, m)).unwrap();
    let a = out.meta::<HomographyMeta>().unwrap().data().applied;
    assert!(a.corner_error(&Homography::IDENTITY, 64.0, 48.0).unwrap() < 1e-6);
}

#[test]
fn caps_changes_mid_stream_renegotiate() {
    let mut hs = warp_harness(&[("mode", "random"), ("seed", "3")], "I420", 64, 48);
    let a = hs
        .push_and_pull(make_buffer(&info("I420", 64, 48), texture))
        .unwrap();
    assert_eq!(a.size(), info("I420", 64, 48).size());
    hs.set_src_caps_str(&caps("RGBx", 33, 17));
    let vi = info("RGBx", 33, 17);
    let b = hs.push_and_pull(make_buffer(&vi, texture)).unwrap();
    assert_eq!(b.size(), vi.size());
    let meta = b.meta::<HomographyMeta>().unwrap();
    assert_eq!((meta.data().width, meta.data().height), (33, 17));
    assert_eq!(meta.data().frame, 1);
    // The sampled homography keeps the 33x17 view inside the source.
    let inv = meta.homography().inverse().unwrap();
    let (sx, sy) = inv.apply(32.0, 16.0).unwrap();
    assert!(sx <= 32.0 + 1e-6 && sy <= 16.0 + 1e-6);
}

/// Warp throughput (wall clock, and per CPU-second over all threads). Run with
/// `cargo test --release -p gst-plugin-superpoint --test homographicwarp -- --ignored --nocapture`.
#[test]
#[ignore]
fn bench_warp_throughput() {
    let m = "<1.02, 0.03, -5.0, -0.02, 0.99, 4.0, 1e-5, -2e-5, 1.0>";
    for (format, w, h) in [
        ("GRAY8", 1920, 1080),
        ("I420", 1920, 1080),
        ("RGBx", 1920, 1080),
        ("I420", 640, 480),
    ] {
        let vi = info(format, w, h);
        let input = make_buffer(&vi, texture);
        for interpolation in ["bilinear", "nearest"] {
            let mut hs = warp_harness(
                &[("matrix", m), ("interpolation", interpolation)],
                format,
                w,
                h,
            );
            hs.push_and_pull(input.clone()).unwrap();
            let n = 20;
            let (t, c) = (std::time::Instant::now(), common::process_cpu_seconds());
            for _ in 0..n {
                hs.push_and_pull(input.clone()).unwrap();
            }
            let s = t.elapsed().as_secs_f64() / n as f64;
            let cpu = (common::process_cpu_seconds() - c) / n as f64;
            println!(
                "homographicwarp {format} {w}x{h} {interpolation}: {:.2} ms/frame, {:.1} Mpixel/s wall, {:.1} Mpixel per CPU-second",
                s * 1e3,
                (w * h) as f64 / s / 1e6,
                (w * h) as f64 / cpu / 1e6
            );
        }
    }
}

#[test]
fn random_amplitudes_bound_the_sampled_homographies() {
    let (w, h) = (64u32, 48u32);
    let vi = info("GRAY8", w, h);
    let input = make_buffer(&vi, texture);
    let sample = |props: &[(&str, &str)]| -> Vec<Homography> {
        let mut all = vec![("mode", "random")];
        all.extend_from_slice(props);
        let mut hs = warp_harness(&all, "GRAY8", w, h);
        (0..20)
            .map(|_| {
                hs.push_and_pull(input.clone())
                    .unwrap()
                    .meta::<HomographyMeta>()
                    .unwrap()
                    .homography()
            })
            .collect()
    };
    let none = [
        ("perspective", "0"),
        ("scale", "0"),
        ("rotation", "0"),
        ("translation", "0"),
    ];
    // No perturbation and the whole frame: identity, so the pixels are unchanged.
    let mut props = none.to_vec();
    props.push(("patch-ratio", "1"));
    for hm in sample(&props) {
        assert!(hm.corner_error(&Homography::IDENTITY, 64.0, 48.0).unwrap() < 1e-9);
    }
    // Half-size patch, centred: a x2 zoom about the centre.
    let mut props = none.to_vec();
    props.push(("patch-ratio", "0.5"));
    for hm in sample(&props) {
        assert!(
            (hm.0[0] - 2.0).abs() < 0.05 && (hm.0[4] - 2.0).abs() < 0.05,
            "{hm:?}"
        );
        let (cx, cy) = hm.apply(31.5, 23.5).unwrap();
        assert!((cx - 31.5).abs() < 1e-6 && (cy - 23.5).abs() < 1e-6);
    }
    // Rotation only: the angle stays within the amplitude, and varies.
    let mut props = none.to_vec();
    props.extend([("patch-ratio", "0.5"), ("rotation", "5")]);
    let angles: Vec<f64> = sample(&props)
        .iter()
        .map(|hm| hm.0[3].atan2(hm.0[0]).to_degrees())
        .collect();
    assert!(angles.iter().all(|a| a.abs() <= 5.0 + 1e-6), "{angles:?}");
    assert!(angles.iter().any(|a| a.abs() > 0.5), "{angles:?}");
}

#[test]
fn video_meta_strides_and_offsets_are_used_in_every_format() {
    // The same warp of a caps-layout buffer and of one whose GstVideoMeta gives other strides and
    // offsets (as decoders and cameras attach) must give the same pixels.
    let m = [0.9, 0.1, 2.0, -0.05, 1.1, -1.0, 0.0005, 0.0, 1.0];
    let matrix = matrix_str(&m);
    for format in FORMATS {
        let (w, h) = (37u32, 23u32);
        let vi = info(format, w, h);
        let input = make_buffer(&vi, texture);
        let mut hs = warp_harness(&[("matrix", matrix.as_str())], format, w, h);
        let want = planes(&hs.push_and_pull(input.clone()).unwrap(), &vi);
        for (lead, pad) in [(0, 3), (100, 29)] {
            let relaid = common::relaid_with_video_meta(&input, &vi, lead, pad);
            let out = hs.push_and_pull(relaid).unwrap();
            assert_eq!(planes(&out, &vi), want, "{format} lead {lead} pad {pad}");
        }
    }
}

/// Camera pose of frame `n` in the seek test: +-3 px of shake on a slow drift.
fn shaky_camera(n: u64) -> Homography {
    let shake = if n.is_multiple_of(2) { 3.0 } else { -3.0 };
    shift(shake + 0.05 * n as f64, 0.5 * shake)
}

#[test]
fn stabilize_starts_a_new_camera_path_after_a_seek() {
    let pipeline = common::pipeline(
        "videotestsrc ! video/x-raw,format=GRAY8,width=64,height=48,framerate=30/1 ! homographicwarp name=w mode=stabilize smoothing=4 ! fakesink name=sink sync=true",
    );
    let frame_of =
        |buf: &gst::BufferRef| (buf.pts().unwrap().nseconds() * 30 + 500_000_000) / 1_000_000_000;
    // Upstream "superpointmatch": every frame after the first is matched (status ok), also the
    // first one after the seek, so only the warp's own reset can restart the path there.
    pipeline
        .by_name("w")
        .unwrap()
        .static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, probe| {
            if let Some(gst::PadProbeData::Buffer(buffer)) = probe.data.as_mut() {
                let n = frame_of(buffer);
                let status = if n == 0 {
                    MatchStatus::Reference
                } else {
                    MatchStatus::Ok
                };
                let m = matches_meta(shaky_camera(n).inverse(), status);
                SuperPointMatchesMeta::add(buffer.make_mut(), Arc::new(m));
            }
            gst::PadProbeReturn::Ok
        });
    let applied = common::probe_buffers(&pipeline, "sink", move |buf| {
        let meta = buf.meta::<HomographyMeta>().unwrap();
        (frame_of(buf), meta.data().applied)
    });
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    common::wait_for(&bus, &applied, 30, |_| {}, |a| a.len() >= 6);
    common::seek(&pipeline, 10);
    common::wait_for(
        &bus,
        &applied,
        30,
        |_| {},
        |a| a.iter().filter(|(n, _)| *n >= 300).count() >= 6,
    );
    pipeline.set_state(gst::State::Null).unwrap();
    let applied = applied.lock().unwrap();
    let after: Vec<_> = applied.iter().filter(|(n, _)| *n >= 300).collect();
    assert_eq!(after[0].0, 300, "the seek lands on frame 300");
    // A freshly started element fed the same poses from frame 300 on.
    let mut fresh = warp_harness(
        &[("mode", "stabilize"), ("smoothing", "4")],
        "GRAY8",
        64,
        48,
    );
    let vi = info("GRAY8", 64, 48);
    for (n, got) in &after {
        let m = matches_meta(shaky_camera(*n).inverse(), MatchStatus::Ok);
        let out = fresh
            .push_and_pull(with_matches(&make_buffer(&vi, texture), m))
            .unwrap();
        let want = out.meta::<HomographyMeta>().unwrap().data().applied;
        assert!(
            got.corner_error(&want, 64.0, 48.0).unwrap() < 1e-9,
            "frame {n}: {got:?} vs a fresh path's {want:?}"
        );
    }
    // The first frame after the seek is its own smoothed pose: no correction.
    assert!(
        after[0]
            .1
            .corner_error(&Homography::IDENTITY, 64.0, 48.0)
            .unwrap()
            < 1e-9
    );
}

#[test]
fn flush_and_stream_start_reset_stabilize_and_rectify() {
    let vi = info("GRAY8", 64, 48);
    let input = make_buffer(&vi, texture);
    let flush = |hs: &mut gst_check::Harness| {
        assert!(hs.push_event(gst::event::FlushStart::new()));
        assert!(hs.push_event(gst::event::FlushStop::new(true)));
        assert!(
            hs.push_event(gst::event::Segment::new(&gst::FormattedSegment::<
                gst::ClockTime,
            >::new()))
        );
    };
    let applied = |out: gst::Buffer| out.meta::<HomographyMeta>().unwrap().data().applied;
    // rectify holds the last homography over lost frames, but not over a seek.
    let mut hs = warp_harness(&[("mode", "rectify")], "GRAY8", 64, 48);
    let to_ref = shift(-3.0, 2.0);
    let ok = matches_meta(Some(to_ref), MatchStatus::Ok);
    let lost = || matches_meta(None, MatchStatus::Lost);
    assert_eq!(
        applied(hs.push_and_pull(with_matches(&input, ok)).unwrap()),
        to_ref
    );
    assert_eq!(
        applied(hs.push_and_pull(with_matches(&input, lost())).unwrap()),
        to_ref
    );
    flush(&mut hs);
    assert_eq!(
        applied(hs.push_and_pull(with_matches(&input, lost())).unwrap()),
        Homography::IDENTITY
    );
    // stabilize: after a new stream's first frame (status ok) the correction is the identity.
    for new_stream in [false, true] {
        let mut hs = warp_harness(
            &[("mode", "stabilize"), ("smoothing", "4")],
            "GRAY8",
            64,
            48,
        );
        for n in 0..5 {
            let m = matches_meta(shaky_camera(n).inverse(), MatchStatus::Ok);
            hs.push_and_pull(with_matches(&input, m)).unwrap();
        }
        if new_stream {
            assert!(hs.push_event(gst::event::StreamStart::new("second")));
        } else {
            flush(&mut hs);
        }
        let m = matches_meta(shaky_camera(5).inverse(), MatchStatus::Ok);
        let a = applied(hs.push_and_pull(with_matches(&input, m)).unwrap());
        assert!(
            a.corner_error(&Homography::IDENTITY, 64.0, 48.0).unwrap() < 1e-9,
            "new stream {new_stream}: {a:?}"
        );
    }
}
