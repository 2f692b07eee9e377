//! Frames as they come from GStreamer or image files, and their conversion into the network's
//! float input: the luma plane is used directly for GRAY8/NV12/I420, BT.601 luma is computed for
//! RGB-family layouts, and the result is padded (edge replication) or resized to multiples of 8.

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
    /// Pixel layout: the first plane is read (the luma plane of I420/NV12).
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
            match self.layout {
                PixelLayout::Packed {
                    bytes_per_pixel,
                    r,
                    g,
                    b,
                    ..
                } => {
                    for (d, px) in dst[..w].iter_mut().zip(row.chunks_exact(bytes_per_pixel)) {
                        *d = luma(px[r], px[g], px[b]);
                    }
                }
                PixelLayout::Gray | PixelLayout::I420 | PixelLayout::Nv12 => {
                    for (d, &s) in dst[..w].iter_mut().zip(row) {
                        *d = s as f32 * (1.0 / 255.0);
                    }
                }
            }
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

    /// Luma of one pixel in [0, 1].
    #[inline]
    pub fn pixel(&self, x: usize, y: usize) -> f32 {
        match self.layout {
            PixelLayout::Packed {
                bytes_per_pixel,
                r,
                g,
                b,
                ..
            } => {
                let p = &self.data[y * self.stride + x * bytes_per_pixel..];
                luma(p[r], p[g], p[b])
            }
            PixelLayout::Gray | PixelLayout::I420 | PixelLayout::Nv12 => {
                self.data[y * self.stride + x] as f32 * (1.0 / 255.0)
            }
        }
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
