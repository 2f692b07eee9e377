//! Frames as they come from GStreamer or image files, and their conversion into the network's
//! float input: the luma of the first plane is read directly (8-bit, 16-bit and 10-bit luma of
//! grey, planar, semi-planar and packed 4:2:2 YUV layouts, scaled to [0, 1]), BT.601 luma is
//! computed for RGB-family layouts, and the result is padded (edge replication) or resized to
//! multiples of 8.

use crate::Error;
use crate::geometry::rescale_coordinate;

pub use crate::pixel::PixelLayout;

/// Smallest frame side the detector accepts (two detector cells).
pub const MIN_FRAME_SIDE: usize = 16;

/// A borrowed frame: one plane with a row stride.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// Plane bytes.
    pub data: &'a [u8],
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Bytes from one row to the next.
    pub stride: usize,
    /// Pixel layout: the first plane is read (the luma plane of YUV layouts).
    pub layout: PixelLayout,
}

/// Input size of the network for a frame, and how to map keypoints back.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InputGeometry {
    /// Network input width (multiple of 8).
    pub width: usize,
    /// Network input height (multiple of 8).
    pub height: usize,
    /// Width of the region holding image content (the rest is padding).
    pub valid_width: usize,
    /// Height of the region holding image content.
    pub valid_height: usize,
    /// Frame pixels per network pixel, horizontally.
    pub scale_x: f32,
    /// Frame pixels per network pixel, vertically.
    pub scale_y: f32,
}

impl InputGeometry {
    /// Maps a network-input coordinate to frame pixels ((0,0) = centre of the top-left pixel).
    pub fn to_frame(&self, x: f32, y: f32) -> (f32, f32) {
        (
            rescale_coordinate(x, self.scale_x),
            rescale_coordinate(y, self.scale_y),
        )
    }
}

impl<'a> Frame<'a> {
    /// A frame over `data`, checking the size and that `data` is large enough.
    pub fn new(
        data: &'a [u8],
        width: usize,
        height: usize,
        stride: usize,
        layout: PixelLayout,
    ) -> Result<Self, Error> {
        if width < MIN_FRAME_SIDE || height < MIN_FRAME_SIDE {
            return Err(Error::Input(format!(
                "frame {width}x{height} is too small: SuperPoint needs at least {MIN_FRAME_SIDE}x{MIN_FRAME_SIDE} pixels"
            )));
        }
        if !layout.plane_fits(0, width, height, stride, data.len()) {
            return Err(Error::Input(format!(
                "frame buffer too small: {} bytes for {width}x{height} with stride {stride}",
                data.len()
            )));
        }
        Ok(Frame {
            data,
            width,
            height,
            stride,
            layout,
        })
    }

    /// The network input geometry: `target` = (0, 0) keeps the native size padded to multiples of
    /// 8; otherwise the frame is resized to `target` rounded to multiples of 8 (at least 16).
    pub fn geometry(&self, target: (usize, usize)) -> InputGeometry {
        let round8 = |v: usize| v.div_ceil(8) * 8;
        if target.0 == 0 || target.1 == 0 {
            InputGeometry {
                width: round8(self.width),
                height: round8(self.height),
                valid_width: self.width,
                valid_height: self.height,
                scale_x: 1.0,
                scale_y: 1.0,
            }
        } else {
            let w = (target.0 / 8 * 8).max(MIN_FRAME_SIDE);
            let h = (target.1 / 8 * 8).max(MIN_FRAME_SIDE);
            InputGeometry {
                width: w,
                height: h,
                valid_width: w,
                valid_height: h,
                scale_x: self.width as f32 / w as f32,
                scale_y: self.height as f32 / h as f32,
            }
        }
    }

    /// Fills `out` with the network input (values in [0, 1]) for `geometry`.
    pub fn fill_input(&self, geometry: &InputGeometry, out: &mut Vec<f32>) {
        out.clear();
        out.resize(geometry.width * geometry.height, 0.0);
        if geometry.scale_x == 1.0 && geometry.scale_y == 1.0 {
            self.fill_native(geometry, out);
        } else {
            self.fill_resized(geometry, out);
        }
    }

    fn fill_native(&self, geometry: &InputGeometry, out: &mut [f32]) {
        let (w, h, gw) = (self.width, self.height, geometry.width);
        for y in 0..h {
            let row = &self.data[y * self.stride..];
            let dst = &mut out[y * gw..(y + 1) * gw];
            self.layout.luma_row(row, &mut dst[..w]);
            // Replicate the last column into the padding: zeros would draw an artificial edge.
            let last = dst[w - 1];
            dst[w..].fill(last);
        }
        for y in h..geometry.height {
            out.copy_within((h - 1) * gw..h * gw, y * gw);
        }
    }

    fn fill_resized(&self, geometry: &InputGeometry, out: &mut [f32]) {
        let (gw, gh) = (geometry.width, geometry.height);
        // Source coordinate of each output column, with half-pixel centres.
        let xs: Vec<(usize, usize, f32)> = (0..gw)
            .map(|x| bilinear_taps(geometry.to_frame(x as f32, 0.0).0, self.width))
            .collect();
        for y in 0..gh {
            let (y0, y1, fy) = bilinear_taps(geometry.to_frame(0.0, y as f32).1, self.height);
            let dst = &mut out[y * gw..(y + 1) * gw];
            for (d, &(x0, x1, fx)) in dst.iter_mut().zip(&xs) {
                let top = self.pixel(x0, y0) * (1.0 - fx) + self.pixel(x1, y0) * fx;
                let bottom = self.pixel(x0, y1) * (1.0 - fx) + self.pixel(x1, y1) * fx;
                *d = top * (1.0 - fy) + bottom * fy;
            }
        }
    }

    /// Luma of one pixel in [0, 1] ([`PixelLayout::luma_at`]).
    #[inline]
    pub fn pixel(&self, x: usize, y: usize) -> f32 {
        self.layout.luma_at(&self.data[y * self.stride..], x)
    }
}

/// BT.601 luma in [0, 1].
#[inline]
pub fn luma(r: u8, g: u8, b: u8) -> f32 {
    (0.299 * r as f32 + 0.587 * g as f32 + 0.114 * b as f32) * (1.0 / 255.0)
}

fn bilinear_taps(pos: f32, len: usize) -> (usize, usize, f32) {
    let p = pos.clamp(0.0, (len - 1) as f32);
    let i0 = p.floor() as usize;
    let i1 = (i0 + 1).min(len - 1);
    (i0, i1, p - i0 as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_input_is_padded_by_replication() {
        let (w, h) = (17, 18);
        let data: Vec<u8> = (0..w * h).map(|i| (i % 251) as u8).collect();
        let f = Frame::new(&data, w, h, w, PixelLayout::Gray).unwrap();
        let g = f.geometry((0, 0));
        assert_eq!((g.width, g.height), (24, 24));
        let mut out = Vec::new();
        f.fill_input(&g, &mut out);
        let px = |x: usize, y: usize| data[y * w + x] as f32 / 255.0;
        let close = |a: f32, b: f32| (a - b).abs() < 1e-6;
        assert!(close(out[0], 0.0));
        assert!(close(out[5 * 24 + 3], px(3, 5)));
        assert!(close(out[5 * 24 + 23], px(16, 5)));
        assert!(close(out[23 * 24 + 2], px(2, 17)));
    }

    #[test]
    fn rgb_luma_is_bt601() {
        let data = vec![255u8, 0, 0, 9, 0, 255, 0, 9, 0, 0, 255, 9];
        let mut big = Vec::new();
        for _ in 0..16 * 16 / 3 + 1 {
            big.extend_from_slice(&data);
        }
        let f = Frame::new(&big, 16, 16, 64, PixelLayout::RGBX).unwrap();
        assert!((f.pixel(0, 0) - 0.299).abs() < 1e-6);
        assert!((f.pixel(1, 0) - 0.587).abs() < 1e-6);
        assert!((f.pixel(2, 0) - 0.114).abs() < 1e-6);
        let f = Frame::new(&big, 16, 16, 64, PixelLayout::BGRX).unwrap();
        assert!((f.pixel(0, 0) - 0.114).abs() < 1e-6);
    }

    #[test]
    fn resize_maps_coordinates_back() {
        let data = vec![0u8; 640 * 480];
        let f = Frame::new(&data, 640, 480, 640, PixelLayout::Gray).unwrap();
        let g = f.geometry((320, 240));
        assert_eq!((g.width, g.height), (320, 240));
        let (x, y) = g.to_frame(0.0, 0.0);
        assert!((x - 0.5).abs() < 1e-6 && (y - 0.5).abs() < 1e-6);
        let (x, _) = g.to_frame(319.0, 0.0);
        assert!((x - 638.5).abs() < 1e-4);
    }

    #[test]
    fn tiny_frames_and_short_buffers_are_rejected() {
        let data = vec![0u8; 15 * 15];
        let err = Frame::new(&data, 15, 15, 15, PixelLayout::Gray).unwrap_err();
        assert!(err.to_string().contains("too small"), "{err}");
        let data = vec![0u8; 100];
        assert!(Frame::new(&data, 16, 16, 16, PixelLayout::Gray).is_err());
    }
}

#[cfg(test)]
mod layout_tests {
    use super::*;

    /// The first plane of a `w` x `h` frame in `layout` whose luma is `g` (8-bit, row-major):
    /// 8-bit layouts hold `g`, 16-bit grey `g * 257`, 10-bit `g * 4`; chroma and padding bytes
    /// hold other values, and rows have 6 bytes of padding.
    fn plane_of(layout: PixelLayout, g: &[u8], w: usize, h: usize) -> (Vec<u8>, usize) {
        let (row_bytes, _) = layout.plane_size(0, w, h);
        let stride = row_bytes + 6;
        let mut data = vec![0xA5u8; stride * h];
        for y in 0..h {
            let row = &mut data[y * stride..y * stride + row_bytes];
            for x in 0..w {
                let v = g[y * w + x];
                match layout {
                    PixelLayout::Packed422 { y: yo, u, v: vo } => {
                        let group = &mut row[x / 2 * 4..x / 2 * 4 + 4];
                        group[yo + 2 * (x % 2)] = v;
                        group[u] = 17;
                        group[vo] = 240;
                    }
                    PixelLayout::Gray16 { big_endian } => {
                        let s = v as u16 * 257;
                        let b = if big_endian {
                            s.to_be_bytes()
                        } else {
                            s.to_le_bytes()
                        };
                        row[2 * x..2 * x + 2].copy_from_slice(&b);
                    }
                    PixelLayout::P01010le => {
                        row[2 * x..2 * x + 2].copy_from_slice(&((v as u16 * 4) << 6).to_le_bytes())
                    }
                    PixelLayout::I42010le => {
                        row[2 * x..2 * x + 2].copy_from_slice(&(v as u16 * 4).to_le_bytes())
                    }
                    _ => row[x] = v,
                }
            }
        }
        (data, stride)
    }

    const LAYOUTS: [PixelLayout; 12] = [
        PixelLayout::I420,
        PixelLayout::Nv12,
        PixelLayout::Nv21,
        PixelLayout::Yv12,
        PixelLayout::Y42b,
        PixelLayout::Y444,
        PixelLayout::YUY2,
        PixelLayout::UYVY,
        PixelLayout::YVYU,
        PixelLayout::Gray16 { big_endian: false },
        PixelLayout::Gray16 { big_endian: true },
        PixelLayout::P01010le,
    ];

    #[test]
    fn every_layout_reads_the_luma_of_gray_truth() {
        // Odd width: packed 4:2:2 ends in a half-used group.
        let (w, h) = (21, 17);
        let g: Vec<u8> = (0..w * h)
            .map(|i| ((i * 37 + i / w * 11) % 256) as u8)
            .collect();
        let gray = Frame::new(&g, w, h, w, PixelLayout::Gray).unwrap();
        for target in [(0, 0), (16, 16)] {
            let geo = gray.geometry(target);
            let mut truth = Vec::new();
            gray.fill_input(&geo, &mut truth);
            let layouts = LAYOUTS.iter().copied().chain([PixelLayout::I42010le]);
            for layout in layouts {
                let (data, stride) = plane_of(layout, &g, w, h);
                let f = Frame::new(&data, w, h, stride, layout).unwrap();
                let mut out = Vec::new();
                f.fill_input(&geo, &mut out);
                if matches!(layout, PixelLayout::P01010le | PixelLayout::I42010le) {
                    // 10-bit luma g * 4 is read as g * 4 / 1023.
                    let scale = 1020.0 / 1023.0;
                    for (i, (&o, &t)) in out.iter().zip(&truth).enumerate() {
                        assert!((o - t * scale).abs() < 1e-6, "{layout:?} {target:?} [{i}]");
                    }
                } else {
                    // 8-bit and 16-bit (g * 257 / 65535 = g / 255) luma equal the GRAY8 truth.
                    assert_eq!(out, truth, "{layout:?} {target:?}");
                }
            }
        }
    }

    #[test]
    fn ten_bit_layouts_use_their_ten_bits() {
        // P010 keeps 10 bits in the high bits (low 6 bits ignored), I420_10LE in the low bits.
        let row = (0x3ffu16 << 6 | 0x3f).to_le_bytes();
        assert_eq!(PixelLayout::P01010le.luma_at(&row, 0), 1.0);
        let row = (0x3ffu16 | 0xfc00).to_le_bytes();
        assert_eq!(PixelLayout::I42010le.luma_at(&row, 0), 1.0);
        let row = 512u16.to_le_bytes();
        assert_eq!(PixelLayout::I42010le.luma_at(&row, 0), 512.0 / 1023.0);
        assert_eq!(
            PixelLayout::Gray16 { big_endian: true }.luma_at(&[0xff, 0x00], 0),
            65280.0 / 65535.0
        );
    }

    #[test]
    fn short_planes_of_deep_and_packed_layouts_are_refused() {
        // A 16x16 YUY2 or GRAY16 plane needs 32 bytes per row.
        let data = vec![0u8; 16 * 16 * 2 - 1];
        for layout in [PixelLayout::YUY2, PixelLayout::Gray16 { big_endian: false }] {
            assert!(Frame::new(&data, 16, 16, 32, layout).is_err(), "{layout:?}");
            assert!(Frame::new(&data, 16, 16, 31, layout).is_err(), "{layout:?}");
        }
        let data = vec![0u8; 16 * 16 * 2];
        assert!(Frame::new(&data, 16, 16, 32, PixelLayout::UYVY).is_ok());
    }
}
