//! The raw video formats of the plugin's elements and their [`PixelLayout`]s: one table, from
//! which every element's caps and pad templates are derived.

use gst_video::VideoFormat;
use superpoint::PixelLayout;

/// Every format the elements take, with its layout. The order is the order of preference in the
/// caps of `homographicwarp`; `superpointoverlay` puts GRAY8 last (it draws in colour where it
/// can), `superpointdetect` puts the formats with a luma plane first (read without conversion).
pub const FORMATS: [(VideoFormat, PixelLayout); 13] = [
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
    /// The table's order (`homographicwarp`).
    Table,
    /// Colour formats first, GRAY8 last (`superpointoverlay`).
    Colour,
    /// Formats with a luma plane (GRAY8, I420, NV12) first (`superpointdetect`).
    Luma,
}

/// The formats of [`FORMATS`] in the order of `preference`.
pub fn ordered(preference: Preference) -> Vec<VideoFormat> {
    let (first, rest): (Vec<_>, Vec<_>) =
        FORMATS.iter().partition(|(_, layout)| match preference {
            Preference::Table => true,
            Preference::Colour => *layout != PixelLayout::Gray,
            Preference::Luma => !matches!(layout, PixelLayout::Packed { .. }),
        });
    first.into_iter().chain(rest).map(|&(f, _)| f).collect()
}

/// Raw video caps of every format in [`FORMATS`], in the order of `preference`, with frame sides
/// of at least `min_side` pixels.
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
        for p in [Preference::Table, Preference::Colour, Preference::Luma] {
            let mut formats = ordered(p);
            assert_eq!(formats.len(), FORMATS.len());
            formats.sort_by_key(|f| f.to_str().to_string());
            formats.dedup();
            assert_eq!(formats.len(), FORMATS.len());
        }
        let colour = ordered(Preference::Colour);
        assert_eq!(colour[0], VideoFormat::Rgb);
        assert_eq!(colour[12], VideoFormat::Gray8);
        let luma = ordered(Preference::Luma);
        assert_eq!(
            luma[..4],
            [
                VideoFormat::Gray8,
                VideoFormat::I420,
                VideoFormat::Nv12,
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
        }
        assert_eq!(layout_of(VideoFormat::Yuy2), None);
    }
}
