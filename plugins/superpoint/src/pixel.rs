//! The one model of 8-bit pixel formats used by detection ([`crate::Frame`]), drawing
//! ([`crate::draw::FrameCanvas`]) and warping (the `homographicwarp` element): which planes a
//! frame has, how large each is, where the colour channels sit, and how a colour is written in
//! them ([`PixelLayout::encode`]), and the row strides a mapped frame may have ([`row_strides`]).

use crate::Error;

/// How the pixels of a frame are laid out in its planes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelLayout {
    /// One plane, one byte of full-range luma per pixel (GRAY8).
    Gray,
    /// One plane of interleaved colour: `bytes_per_pixel` bytes and the byte offsets of red,
    /// green, blue and (if any) alpha; other bytes are padding (the `x` of RGBx).
    Packed {
        /// 3 for RGB/BGR, 4 for the formats with alpha or padding.
        bytes_per_pixel: usize,
        /// Offset of red in a pixel.
        r: usize,
        /// Offset of green in a pixel.
        g: usize,
        /// Offset of blue in a pixel.
        b: usize,
        /// Offset of alpha, if any: drawing raises it to the ink's opacity.
        a: Option<usize>,
    },
    /// Planar 4:2:0: planes Y, U, V (chroma planes at half resolution, rounded up).
    I420,
    /// Semi-planar 4:2:0: planes Y and interleaved UV (at half resolution, rounded up).
    Nv12,
}

const fn packed(
    bytes_per_pixel: usize,
    r: usize,
    g: usize,
    b: usize,
    a: Option<usize>,
) -> PixelLayout {
    PixelLayout::Packed {
        bytes_per_pixel,
        r,
        g,
        b,
        a,
    }
}

impl PixelLayout {
    /// RGB, 3 bytes.
    pub const RGB: PixelLayout = packed(3, 0, 1, 2, None);
    /// BGR, 3 bytes.
    pub const BGR: PixelLayout = packed(3, 2, 1, 0, None);
    /// RGBx (4th byte padding).
    pub const RGBX: PixelLayout = packed(4, 0, 1, 2, None);
    /// BGRx.
    pub const BGRX: PixelLayout = packed(4, 2, 1, 0, None);
    /// xRGB.
    pub const XRGB: PixelLayout = packed(4, 1, 2, 3, None);
    /// xBGR.
    pub const XBGR: PixelLayout = packed(4, 3, 2, 1, None);
    /// RGBA.
    pub const RGBA: PixelLayout = packed(4, 0, 1, 2, Some(3));
    /// BGRA.
    pub const BGRA: PixelLayout = packed(4, 2, 1, 0, Some(3));
    /// ARGB.
    pub const ARGB: PixelLayout = packed(4, 1, 2, 3, Some(0));
    /// ABGR.
    pub const ABGR: PixelLayout = packed(4, 3, 2, 1, Some(0));

    /// Number of planes.
    pub fn planes(&self) -> usize {
        match self {
            PixelLayout::Gray | PixelLayout::Packed { .. } => 1,
            PixelLayout::I420 => 3,
            PixelLayout::Nv12 => 2,
        }
    }

    /// Interleaved bytes per pixel of plane `plane`.
    pub fn plane_channels(&self, plane: usize) -> usize {
        match (self, plane) {
            (
                PixelLayout::Packed {
                    bytes_per_pixel, ..
                },
                _,
            ) => *bytes_per_pixel,
            (PixelLayout::Nv12, 1) => 2,
            _ => 1,
        }
    }

    /// Whether plane `plane` is a chroma plane at half resolution (rounded up).
    pub fn is_subsampled(&self, plane: usize) -> bool {
        matches!(self, PixelLayout::I420 | PixelLayout::Nv12) && plane > 0
    }

    /// Size in pixels of plane `plane` of a `width` x `height` frame.
    pub fn plane_dims(&self, plane: usize, width: usize, height: usize) -> (usize, usize) {
        if self.is_subsampled(plane) {
            (width.div_ceil(2), height.div_ceil(2))
        } else {
            (width, height)
        }
    }

    /// Bytes per row (without padding) and rows of plane `plane` of a `width` x `height` frame.
    pub fn plane_size(&self, plane: usize, width: usize, height: usize) -> (usize, usize) {
        let (w, h) = self.plane_dims(plane, width, height);
        (w * self.plane_channels(plane), h)
    }

    /// Whether a plane of `len` bytes with rows `stride` bytes apart holds plane `plane` of a
    /// `width` x `height` frame.
    pub fn plane_fits(
        &self,
        plane: usize,
        width: usize,
        height: usize,
        stride: usize,
        len: usize,
    ) -> bool {
        let (row_bytes, rows) = self.plane_size(plane, width, height);
        stride >= row_bytes && len >= stride * rows.saturating_sub(1) + row_bytes
    }

    /// `color` as written into each plane: per plane, one value per interleaved byte. Grey is
    /// full-range BT.601 luma, I420/NV12 limited-range BT.601 YUV; in packed layouts the bytes
    /// other than red, green and blue (alpha or padding) get the colour's alpha.
    pub fn encode(&self, color: Rgba) -> Vec<Vec<u8>> {
        let (y, u, v) = color.yuv();
        match *self {
            PixelLayout::Gray => vec![vec![color.gray()]],
            PixelLayout::Packed {
                bytes_per_pixel,
                r,
                g,
                b,
                ..
            } => {
                let mut px = vec![color.a; bytes_per_pixel];
                px[r] = color.r;
                px[g] = color.g;
                px[b] = color.b;
                vec![px]
            }
            PixelLayout::I420 => vec![vec![y], vec![u], vec![v]],
            PixelLayout::Nv12 => vec![vec![y], vec![u, v]],
        }
    }
}

/// The row strides of a mapped frame's planes (bytes from one row to the next, as GStreamer
/// gives them) as byte counts. Errors on a negative stride, a bottom-up layout that a
/// `GstVideoMeta` may describe and that nothing here reads; the message names `element` and how
/// to turn the frame upright.
pub fn row_strides(strides: &[i32], element: &str) -> Result<Vec<usize>, Error> {
    strides
        .iter()
        .map(|&s| {
            usize::try_from(s).map_err(|_| {
                Error::Input(format!(
                    "negative row stride {s} (bottom-up layout) is not supported by {element}: insert videoflip method=vertical-flip ! videoconvert before {element}"
                ))
            })
        })
        .collect()
}

/// A colour with opacity (`a` = 255 opaque, 0 invisible).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgba {
    /// Red.
    pub r: u8,
    /// Green.
    pub g: u8,
    /// Blue.
    pub b: u8,
    /// Opacity.
    pub a: u8,
}

impl Rgba {
    /// From `0xAARRGGBB`, the convention of GStreamer colour properties.
    pub fn from_argb(argb: u32) -> Self {
        Rgba {
            a: (argb >> 24) as u8,
            r: (argb >> 16) as u8,
            g: (argb >> 8) as u8,
            b: argb as u8,
        }
    }

    /// Full-range BT.601 luma (for grey frames).
    pub fn gray(&self) -> u8 {
        (0.299 * self.r as f64 + 0.587 * self.g as f64 + 0.114 * self.b as f64)
            .round()
            .clamp(0.0, 255.0) as u8
    }

    /// Limited-range BT.601 `(Y, U, V)` (the usual colorimetry of SD I420/NV12 video).
    pub fn yuv(&self) -> (u8, u8, u8) {
        let (r, g, b) = (self.r as f64, self.g as f64, self.b as f64);
        let y = 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0;
        let u = 128.0 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255.0;
        let v = 128.0 + (112.0 * r - 93.786 * g - 18.214 * b) / 255.0;
        let q = |x: f64| x.round().clamp(0.0, 255.0) as u8;
        (q(y), q(u), q(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plane_geometry() {
        assert_eq!(PixelLayout::Gray.plane_size(0, 5, 3), (5, 3));
        assert_eq!(PixelLayout::RGBX.plane_size(0, 5, 3), (20, 3));
        assert_eq!(PixelLayout::I420.planes(), 3);
        assert_eq!(PixelLayout::I420.plane_size(2, 5, 3), (3, 2));
        assert_eq!(PixelLayout::Nv12.plane_size(1, 5, 3), (6, 2));
        assert!(!PixelLayout::Nv12.is_subsampled(0));
        assert!(PixelLayout::Nv12.plane_fits(1, 5, 3, 8, 14));
        assert!(!PixelLayout::Nv12.plane_fits(1, 5, 3, 8, 13));
        assert!(!PixelLayout::Gray.plane_fits(0, 5, 3, 4, 100));
    }

    #[test]
    fn negative_strides_are_refused_with_the_fix() {
        assert_eq!(row_strides(&[640, 320, 320], "x"), Ok(vec![640, 320, 320]));
        assert_eq!(row_strides(&[], "x"), Ok(vec![]));
        let e = row_strides(&[640, -320], "homographicwarp").unwrap_err();
        assert_eq!(
            e.to_string(),
            "negative row stride -320 (bottom-up layout) is not supported by homographicwarp: insert videoflip method=vertical-flip ! videoconvert before homographicwarp"
        );
    }

    #[test]
    fn encoding_puts_each_channel_at_its_offset() {
        let c = Rgba::from_argb(0x80102030);
        assert_eq!(PixelLayout::RGB.encode(c), vec![vec![0x10, 0x20, 0x30]]);
        assert_eq!(
            PixelLayout::XBGR.encode(c),
            vec![vec![0x80, 0x30, 0x20, 0x10]]
        );
        assert_eq!(
            PixelLayout::BGRA.encode(c),
            vec![vec![0x30, 0x20, 0x10, 0x80]]
        );
        let (y, u, v) = c.yuv();
        assert_eq!(PixelLayout::Nv12.encode(c), vec![vec![y], vec![u, v]]);
        assert_eq!(PixelLayout::Gray.encode(c), vec![vec![c.gray()]]);
    }
}
