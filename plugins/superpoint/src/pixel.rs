//! The one model of pixel formats used by detection ([`crate::Frame`]), drawing
//! ([`crate::draw::FrameCanvas`]) and warping (the `homographicwarp` element): which planes a
//! frame has, how large each is, where the colour channels sit, how a colour is written in them
//! ([`PixelLayout::encode`]), how the luma of a pixel is read ([`PixelLayout::luma_row`]), and
//! the row strides a mapped frame may have ([`row_strides`]).
//!
//! Drawing and warping take the 8-bit layouts of [`PixelLayout::is_drawable`]; detection reads
//! the luma of every layout (packed 4:2:2, planar and semi-planar YUV, 16-bit grey, 10-bit YUV).

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
    /// Semi-planar 4:2:0 with the chroma bytes swapped: planes Y and interleaved VU.
    Nv21,
    /// Planar 4:2:0 with the chroma planes swapped: planes Y, V, U.
    Yv12,
    /// Planar 4:2:2: planes Y, U, V (chroma planes at half width, full height).
    Y42b,
    /// Planar 4:4:4: planes Y, U, V, all at full resolution.
    Y444,
    /// Packed 4:2:2: one plane of 2-pixel groups of 4 bytes (two lumas and one U, one V), with
    /// the byte offsets of the first luma (the second is 2 bytes later), U and V in a group.
    Packed422 {
        /// Offset of the first luma in a group (0 for YUY2 and YVYU, 1 for UYVY).
        y: usize,
        /// Offset of U in a group.
        u: usize,
        /// Offset of V in a group.
        v: usize,
    },
    /// One plane of 16-bit full-range luma per pixel (GRAY16_LE, GRAY16_BE); read as
    /// `value / 65535`.
    Gray16 {
        /// Most significant byte first (GRAY16_BE).
        big_endian: bool,
    },
    /// Semi-planar 4:2:0 with 16-bit little-endian samples holding 10 bits in their high bits
    /// (P010_10LE): planes Y and interleaved UV; luma read as `(value >> 6) / 1023`.
    P01010le,
    /// Planar 4:2:0 with 16-bit little-endian samples holding 10 bits in their low bits
    /// (I420_10LE): planes Y, U, V; luma read as `(value & 0x3ff) / 1023`.
    I42010le,
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
    /// YUY2 (Y0 U Y1 V).
    pub const YUY2: PixelLayout = PixelLayout::Packed422 { y: 0, u: 1, v: 3 };
    /// UYVY (U Y0 V Y1).
    pub const UYVY: PixelLayout = PixelLayout::Packed422 { y: 1, u: 0, v: 2 };
    /// YVYU (Y0 V Y1 U).
    pub const YVYU: PixelLayout = PixelLayout::Packed422 { y: 0, u: 3, v: 1 };

    /// Whether drawing ([`crate::draw::FrameCanvas`]) and warping take this layout: the 8-bit
    /// layouts GRAY8, packed RGB, I420 and NV12. Detection takes every layout.
    pub fn is_drawable(&self) -> bool {
        matches!(
            self,
            PixelLayout::Gray | PixelLayout::Packed { .. } | PixelLayout::I420 | PixelLayout::Nv12
        )
    }

    /// Whether the first plane holds one byte of luma per pixel (GRAY8 and 8-bit planar or
    /// semi-planar YUV), so that its rows can be copied as they are.
    pub fn has_luma8_plane(&self) -> bool {
        matches!(
            self,
            PixelLayout::Gray
                | PixelLayout::I420
                | PixelLayout::Nv12
                | PixelLayout::Nv21
                | PixelLayout::Yv12
                | PixelLayout::Y42b
                | PixelLayout::Y444
        )
    }

    /// Writes the luma in [0, 1] of the first `dst.len()` pixels of `row` (a row of the first
    /// plane) into `dst`: 8-bit luma as `value / 255`, BT.601 luma for packed RGB, 16-bit grey as
    /// `value / 65535`, 10-bit luma as `value / 1023`. `row` must hold `dst.len()` pixels
    /// ([`PixelLayout::plane_fits`]); a shorter row leaves the rest of `dst` untouched.
    pub fn luma_row(&self, row: &[u8], dst: &mut [f32]) {
        match *self {
            PixelLayout::Packed {
                bytes_per_pixel,
                r,
                g,
                b,
                ..
            } => {
                for (d, px) in dst.iter_mut().zip(row.chunks_exact(bytes_per_pixel)) {
                    *d = crate::frame::luma(px[r], px[g], px[b]);
                }
            }
            PixelLayout::Packed422 { y, .. } => {
                let lumas = row[y.min(row.len())..].iter().step_by(2);
                for (d, &s) in dst.iter_mut().zip(lumas) {
                    *d = s as f32 / 255.0;
                }
            }
            PixelLayout::Gray16 { big_endian } => {
                for (d, s) in dst.iter_mut().zip(row.chunks_exact(2)) {
                    let v = if big_endian {
                        u16::from_be_bytes([s[0], s[1]])
                    } else {
                        u16::from_le_bytes([s[0], s[1]])
                    };
                    *d = v as f32 / 65535.0;
                }
            }
            PixelLayout::P01010le => {
                for (d, s) in dst.iter_mut().zip(row.chunks_exact(2)) {
                    *d = (u16::from_le_bytes([s[0], s[1]]) >> 6) as f32 / 1023.0;
                }
            }
            PixelLayout::I42010le => {
                for (d, s) in dst.iter_mut().zip(row.chunks_exact(2)) {
                    *d = (u16::from_le_bytes([s[0], s[1]]) & 0x3ff) as f32 / 1023.0;
                }
            }
            PixelLayout::Gray
            | PixelLayout::I420
            | PixelLayout::Nv12
            | PixelLayout::Nv21
            | PixelLayout::Yv12
            | PixelLayout::Y42b
            | PixelLayout::Y444 => {
                for (d, &s) in dst.iter_mut().zip(row) {
                    *d = s as f32 / 255.0;
                }
            }
        }
    }

    /// The luma in [0, 1] of pixel `x` of `row` (a row of the first plane), as
    /// [`PixelLayout::luma_row`] reads it. Panics when `row` is too short for `x`.
    #[inline]
    pub fn luma_at(&self, row: &[u8], x: usize) -> f32 {
        let u16le = |o: usize| u16::from_le_bytes([row[o], row[o + 1]]);
        match *self {
            PixelLayout::Packed {
                bytes_per_pixel,
                r,
                g,
                b,
                ..
            } => {
                let p = &row[x * bytes_per_pixel..];
                crate::frame::luma(p[r], p[g], p[b])
            }
            PixelLayout::Packed422 { y, .. } => row[2 * x + y] as f32 / 255.0,
            PixelLayout::Gray16 { big_endian: true } => {
                u16::from_be_bytes([row[2 * x], row[2 * x + 1]]) as f32 / 65535.0
            }
            PixelLayout::Gray16 { big_endian: false } => u16le(2 * x) as f32 / 65535.0,
            PixelLayout::P01010le => (u16le(2 * x) >> 6) as f32 / 1023.0,
            PixelLayout::I42010le => (u16le(2 * x) & 0x3ff) as f32 / 1023.0,
            PixelLayout::Gray
            | PixelLayout::I420
            | PixelLayout::Nv12
            | PixelLayout::Nv21
            | PixelLayout::Yv12
            | PixelLayout::Y42b
            | PixelLayout::Y444 => row[x] as f32 / 255.0,
        }
    }

    /// Number of planes.
    pub fn planes(&self) -> usize {
        match self {
            PixelLayout::Gray
            | PixelLayout::Packed { .. }
            | PixelLayout::Packed422 { .. }
            | PixelLayout::Gray16 { .. } => 1,
            PixelLayout::I420
            | PixelLayout::Yv12
            | PixelLayout::Y42b
            | PixelLayout::Y444
            | PixelLayout::I42010le => 3,
            PixelLayout::Nv12 | PixelLayout::Nv21 | PixelLayout::P01010le => 2,
        }
    }

    /// Interleaved bytes per pixel of plane `plane` (2 for packed 4:2:2, whose 4-byte groups
    /// hold two pixels).
    pub fn plane_channels(&self, plane: usize) -> usize {
        match (self, plane) {
            (
                PixelLayout::Packed {
                    bytes_per_pixel, ..
                },
                _,
            ) => *bytes_per_pixel,
            (PixelLayout::Nv12 | PixelLayout::Nv21, 1) => 2,
            (PixelLayout::P01010le, 1) => 4,
            (
                PixelLayout::Packed422 { .. }
                | PixelLayout::Gray16 { .. }
                | PixelLayout::P01010le
                | PixelLayout::I42010le,
                _,
            ) => 2,
            _ => 1,
        }
    }

    /// Whether plane `plane` is a chroma plane at half resolution (rounded up) in both
    /// directions (4:2:0).
    pub fn is_subsampled(&self, plane: usize) -> bool {
        matches!(
            self,
            PixelLayout::I420
                | PixelLayout::Nv12
                | PixelLayout::Nv21
                | PixelLayout::Yv12
                | PixelLayout::P01010le
                | PixelLayout::I42010le
        ) && plane > 0
    }

    /// Size in pixels of plane `plane` of a `width` x `height` frame (packed 4:2:2: the frame's
    /// size, with the width rounded up to whole groups).
    pub fn plane_dims(&self, plane: usize, width: usize, height: usize) -> (usize, usize) {
        match self {
            _ if self.is_subsampled(plane) => (width.div_ceil(2), height.div_ceil(2)),
            PixelLayout::Y42b if plane > 0 => (width.div_ceil(2), height),
            PixelLayout::Packed422 { .. } => (width.div_ceil(2) * 2, height),
            _ => (width, height),
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
    /// full-range BT.601 luma, YUV limited-range BT.601 YUV; in packed layouts the bytes
    /// other than red, green and blue (alpha or padding) get the colour's alpha. Packed 4:2:2
    /// gives a 4-byte group of two pixels; 16-bit layouts give each sample's little- or
    /// big-endian bytes, with the value scaled to the layout's range.
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
            PixelLayout::I420 | PixelLayout::Y42b | PixelLayout::Y444 => {
                vec![vec![y], vec![u], vec![v]]
            }
            PixelLayout::Yv12 => vec![vec![y], vec![v], vec![u]],
            PixelLayout::Nv12 => vec![vec![y], vec![u, v]],
            PixelLayout::Nv21 => vec![vec![y], vec![v, u]],
            PixelLayout::Packed422 {
                y: yo,
                u: uo,
                v: vo,
            } => {
                let mut group = [y; 4];
                group[uo] = u;
                group[vo] = v;
                group[yo] = y;
                vec![group.to_vec()]
            }
            PixelLayout::Gray16 { big_endian } => {
                let g = color.gray() as u16 * 257;
                vec![
                    if big_endian {
                        g.to_be_bytes()
                    } else {
                        g.to_le_bytes()
                    }
                    .to_vec(),
                ]
            }
            PixelLayout::P01010le => {
                let s = |c: u8| ((c as u16 * 4) << 6).to_le_bytes();
                vec![s(y).to_vec(), [s(u), s(v)].concat()]
            }
            PixelLayout::I42010le => {
                let s = |c: u8| (c as u16 * 4).to_le_bytes().to_vec();
                vec![s(y), s(u), s(v)]
            }
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
        // Packed 4:2:2 rows hold whole 4-byte groups; 4:2:2 planar chroma is half width only.
        assert_eq!(PixelLayout::YUY2.plane_size(0, 5, 3), (12, 3));
        assert_eq!(PixelLayout::Y42b.plane_size(1, 5, 3), (3, 3));
        assert_eq!(PixelLayout::Y444.plane_size(2, 5, 3), (5, 3));
        assert_eq!(PixelLayout::P01010le.plane_size(1, 5, 3), (12, 2));
        assert_eq!(PixelLayout::I42010le.plane_size(2, 5, 3), (6, 2));
        assert_eq!(
            PixelLayout::Gray16 { big_endian: true }.plane_size(0, 5, 3),
            (10, 3)
        );
        assert!(!PixelLayout::Nv21.is_drawable() && PixelLayout::Nv12.is_drawable());
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
        assert_eq!(PixelLayout::Nv21.encode(c), vec![vec![y], vec![v, u]]);
        assert_eq!(PixelLayout::UYVY.encode(c), vec![vec![u, y, v, y]]);
        assert_eq!(PixelLayout::YVYU.encode(c), vec![vec![y, v, y, u]]);
    }
}
