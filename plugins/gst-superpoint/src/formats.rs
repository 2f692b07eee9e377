//! The raw video formats of the plugin's elements and their [`PixelLayout`]s: one table, from
//! which every element's caps and pad templates are derived.

use gst_video::VideoFormat;
use superpoint::PixelLayout;

/// Every format the elements take, with its layout. `superpointdetect` takes them all (it reads
/// the luma, zero-copy) and puts the formats with a luma plane first; `homographicwarp` and
/// `superpointoverlay` take the drawable ones ([`PixelLayout::is_drawable`]: GRAY8, packed RGB,
/// I420, NV12), in the table's order for `homographicwarp` and with GRAY8 last for
/// `superpointoverlay` (it draws in colour where it can). Other formats need `videoconvert` first.
pub const FORMATS: [(VideoFormat, PixelLayout); 24] = [
    (VideoFormat::Gray8, PixelLayout::Gray),
    (VideoFormat::Rgb, PixelLayout::RGB),
    (VideoFormat::Bgr, PixelLayout::BGR),
    (VideoFormat::Rgbx, PixelLayout::RGBX),
    (VideoFormat::Bgrx, PixelLayout::BGRX),
    (VideoFormat::Xrgb, PixelLayout::XRGB),
    (VideoFormat::Xbgr, PixelLayout::XBGR),
    (VideoFormat::Rgba, PixelLayout::RGBA),
    (VideoFormat::Bgra, PixelLayout::BGRA),
    (VideoFormat::Argb, PixelLayout::ARGB),
    (VideoFormat::Abgr, PixelLayout::ABGR),
    (VideoFormat::I420, PixelLayout::I420),
    (VideoFormat::Nv12, PixelLayout::Nv12),
    (VideoFormat::Nv21, PixelLayout::Nv21),
    (VideoFormat::Yv12, PixelLayout::Yv12),
    (VideoFormat::Y42b, PixelLayout::Y42b),
    (VideoFormat::Y444, PixelLayout::Y444),
    (VideoFormat::Yuy2, PixelLayout::YUY2),
    (VideoFormat::Uyvy, PixelLayout::UYVY),
    (VideoFormat::Yvyu, PixelLayout::YVYU),
    (
        VideoFormat::Gray16Le,
        PixelLayout::Gray16 { big_endian: false },
    ),
    (
        VideoFormat::Gray16Be,
        PixelLayout::Gray16 { big_endian: true },
    ),
    (VideoFormat::P01010le, PixelLayout::P01010le),
    (VideoFormat::I42010le, PixelLayout::I42010le),
];

/// The layout of `format`, if the plugin takes it.
pub fn layout_of(format: VideoFormat) -> Option<PixelLayout> {
    FORMATS
        .iter()
        .find(|(f, _)| *f == format)
        .map(|&(_, layout)| layout)
}

/// Which ordering of [`FORMATS`] an element's caps use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preference {
    /// The drawable formats in the table's order (`homographicwarp`).
    Table,
    /// The drawable formats, colour first, GRAY8 last (`superpointoverlay`).
    Colour,
    /// Every format, those with an 8-bit luma plane (GRAY8, I420, NV12, ...) first
    /// (`superpointdetect`).
    Luma,
}

/// The formats of [`FORMATS`] that `preference` takes, in its order.
pub fn ordered(preference: Preference) -> Vec<VideoFormat> {
    let taken = FORMATS
        .iter()
        .filter(|(_, layout)| preference == Preference::Luma || layout.is_drawable());
    let (first, rest): (Vec<_>, Vec<_>) = taken.partition(|(_, layout)| match preference {
        Preference::Table => true,
        Preference::Colour => *layout != PixelLayout::Gray,
        Preference::Luma => layout.has_luma8_plane(),
    });
    first.into_iter().chain(rest).map(|&(f, _)| f).collect()
}

/// Raw video caps of the formats of [`FORMATS`] that `preference` takes, in its order, with
/// frame sides of at least `min_side` pixels.
pub fn caps(preference: Preference, min_side: i32) -> gst::Caps {
    gst_video::VideoCapsBuilder::new()
        .format_list(ordered(preference))
        .width_range(min_side..=i32::MAX)
        .height_range(min_side..=i32::MAX)
        .build()
}

/// The always-present `src` and `sink` pad templates of a filter with `caps` on both sides.
pub fn pad_templates(caps: &gst::Caps) -> Vec<gst::PadTemplate> {
    ["src", "sink"]
        .into_iter()
        .map(|name| {
            let direction = if name == "src" {
                gst::PadDirection::Src
            } else {
                gst::PadDirection::Sink
            };
            gst::PadTemplate::new(name, direction, gst::PadPresence::Always, caps)
                .expect("valid pad template")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orderings_keep_every_format_once() {
        for (p, n) in [
            (Preference::Table, 13),
            (Preference::Colour, 13),
            (Preference::Luma, FORMATS.len()),
        ] {
            let mut formats = ordered(p);
            assert_eq!(formats.len(), n);
            formats.sort_by_key(|f| f.to_str().to_string());
            formats.dedup();
            assert_eq!(formats.len(), n);
        }
        assert!(!ordered(Preference::Colour).contains(&VideoFormat::Yuy2));
        let colour = ordered(Preference::Colour);
        assert_eq!(colour[0], VideoFormat::Rgb);
        assert_eq!(colour[12], VideoFormat::Gray8);
        let luma = ordered(Preference::Luma);
        assert_eq!(
            luma[..8],
            [
                VideoFormat::Gray8,
                VideoFormat::I420,
                VideoFormat::Nv12,
                VideoFormat::Nv21,
                VideoFormat::Yv12,
                VideoFormat::Y42b,
                VideoFormat::Y444,
                VideoFormat::Rgb
            ]
        );
    }

    #[test]
    fn layouts_match_gstreamer_format_info() {
        gst::init().unwrap();
        for (format, layout) in FORMATS {
            let info = gst_video::VideoFormatInfo::from_format(format);
            assert_eq!(info.n_planes() as usize, layout.planes(), "{format:?}");
            assert_eq!(layout_of(format), Some(layout));
            if let PixelLayout::Packed {
                bytes_per_pixel,
                r,
                g,
                b,
                a,
            } = layout
            {
                assert_eq!(info.pixel_stride()[0] as usize, bytes_per_pixel);
                assert_eq!(
                    [r, g, b],
                    [0, 1, 2].map(|c| info.poffset()[c] as usize),
                    "{format:?}"
                );
                assert_eq!(a, info.has_alpha().then(|| info.poffset()[3] as usize));
            }
            if let PixelLayout::Packed422 { y, u, v } = layout {
                assert_eq!(info.pixel_stride()[0], 2, "{format:?}");
                assert_eq!(
                    [y, u, v],
                    [0, 1, 2].map(|c| info.poffset()[c] as usize),
                    "{format:?}"
                );
            }
            // The first plane's bytes per pixel and 4:2:0 / 4:2:2 chroma sizes agree with
            // GStreamer's, and the layout reads luma at GStreamer's depth.
            if !matches!(layout, PixelLayout::Packed { .. }) {
                assert_eq!(
                    info.pixel_stride()[0] as usize,
                    layout.plane_channels(0),
                    "{format:?}"
                );
                let depth = match layout {
                    PixelLayout::Gray16 { .. } => 16,
                    PixelLayout::P01010le | PixelLayout::I42010le => 10,
                    _ => 8,
                };
                assert_eq!(info.depth()[0], depth, "{format:?}");
                for plane in 1..layout.planes() {
                    let ceil = |v: usize, sub: u32| v.div_ceil(1 << sub);
                    assert_eq!(
                        layout.plane_dims(plane, 7, 5),
                        (ceil(7, info.w_sub()[plane]), ceil(5, info.h_sub()[plane])),
                        "{format:?} plane {plane}"
                    );
                }
            }
        }
        assert_eq!(layout_of(VideoFormat::Vyuy), None);
    }
}
