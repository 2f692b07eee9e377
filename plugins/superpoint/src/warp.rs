//! Warping images by a homography, row-parallel, with bilinear or nearest sampling and a border
//! colour for pixels that map outside the source: one plane ([`warp_plane`]), a packed grey image
//! ([`warp_gray`]) or every plane of a video frame ([`warp_frame`]).

use rayon::prelude::*;

use crate::Error;
use crate::geometry::Homography;
use crate::pixel::{PixelLayout, Rgba};

/// Sampling method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Interpolation {
    /// Nearest pixel.
    Nearest,
    /// Bilinear interpolation.
    #[default]
    Bilinear,
}

/// A plane of interleaved 8-bit channels.
#[derive(Debug, Clone, Copy)]
pub struct Plane<'a> {
    /// Bytes.
    pub data: &'a [u8],
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Bytes per row.
    pub stride: usize,
}

/// Warps `src` into `dst` (`channels` interleaved bytes per pixel in both) so that
/// `dst(H * p) = src(p)`: `h` maps source pixel coordinates to destination coordinates.
/// `border` holds one value per channel for destination pixels that see no source pixel.
#[allow(clippy::too_many_arguments)]
pub fn warp_plane(
    src: Plane<'_>,
    dst: &mut [u8],
    dst_width: usize,
    dst_height: usize,
    dst_stride: usize,
    channels: usize,
    h: &Homography,
    interpolation: Interpolation,
    border: &[u8],
) -> Result<(), Error> {
    let inv = h
        .inverse()
        .ok_or_else(|| Error::Config(format!("homography {:?} is singular or not finite", h.0)))?;
    if border.len() != channels
        || src.stride < src.width * channels
        || src.data.len() < src.stride * src.height.saturating_sub(1) + src.width * channels
        || dst_stride < dst_width * channels
        || dst.len() < dst_stride * dst_height.saturating_sub(1) + dst_width * channels
        || src.width == 0
        || src.height == 0
    {
        return Err(Error::Input(
            "warp: plane sizes do not match their buffers".into(),
        ));
    }
    let m = inv.0;
    let (sw, sh) = (src.width as f64, src.height as f64);
    dst.par_chunks_mut(dst_stride)
        .take(dst_height)
        .enumerate()
        .for_each(|(y, row)| {
            let yf = y as f64;
            for x in 0..dst_width {
                let xf = x as f64;
                let w = m[6] * xf + m[7] * yf + m[8];
                let sx = (m[0] * xf + m[1] * yf + m[2]) / w;
                let sy = (m[3] * xf + m[4] * yf + m[5]) / w;
                let out = &mut row[x * channels..(x + 1) * channels];
                // A destination pixel sees the source when its centre maps into the source's
                // pixel area [-0.5, size - 0.5).
                if w == 0.0 || !(sx >= -0.5 && sy >= -0.5 && sx < sw - 0.5 && sy < sh - 0.5) {
                    out.copy_from_slice(border);
                    continue;
                }
                match interpolation {
                    Interpolation::Nearest => {
                        let (ix, iy) = (sx.round() as usize, sy.round() as usize);
                        let (ix, iy) = (ix.min(src.width - 1), iy.min(src.height - 1));
                        let p = iy * src.stride + ix * channels;
                        out.copy_from_slice(&src.data[p..p + channels]);
                    }
                    Interpolation::Bilinear => {
                        let cx = sx.clamp(0.0, sw - 1.0);
                        let cy = sy.clamp(0.0, sh - 1.0);
                        let (x0, y0) = (cx.floor() as usize, cy.floor() as usize);
                        let (x1, y1) = ((x0 + 1).min(src.width - 1), (y0 + 1).min(src.height - 1));
                        let (fx, fy) = (cx - x0 as f64, cy - y0 as f64);
                        let r0 = y0 * src.stride;
                        let r1 = y1 * src.stride;
                        for (c, o) in out.iter_mut().enumerate() {
                            let p00 = src.data[r0 + x0 * channels + c] as f64;
                            let p01 = src.data[r0 + x1 * channels + c] as f64;
                            let p10 = src.data[r1 + x0 * channels + c] as f64;
                            let p11 = src.data[r1 + x1 * channels + c] as f64;
                            let top = p00 + (p01 - p00) * fx;
                            let bottom = p10 + (p11 - p10) * fx;
                            *o = (top + (bottom - top) * fy).round().clamp(0.0, 255.0) as u8;
                        }
                    }
                }
            }
        });
    Ok(())
}

/// Warps a packed grey image (stride = width) of the same or another size; see [`warp_plane`].
#[allow(clippy::too_many_arguments)]
pub fn warp_gray(
    src: &[u8],
    src_width: usize,
    src_height: usize,
    dst: &mut [u8],
    dst_width: usize,
    dst_height: usize,
    h: &Homography,
    interpolation: Interpolation,
    border: u8,
) -> Result<(), Error> {
    warp_plane(
        Plane {
            data: src,
            width: src_width,
            height: src_height,
            stride: src_width,
        },
        dst,
        dst_width,
        dst_height,
        dst_width,
        1,
        h,
        interpolation,
        &[border],
    )
}

/// Warps every plane of a frame of `size` = (width, height) pixels in `layout` into a frame of
/// the same size and layout, so that `dst(H * p) = src(p)`: `h` maps input pixels to output
/// pixels at full resolution, and subsampled chroma planes use it rescaled. `src` and `dst` hold
/// `(bytes, stride)` per plane, as many as `layout` has; `border` is the colour of output pixels
/// that see no input pixel ([`PixelLayout::encode`]).
///
/// Errors when the layout is not [`PixelLayout::is_drawable`], the plane counts or sizes do not
/// match the buffers, or `h` is not invertible; the message names the plane.
pub fn warp_frame(
    layout: PixelLayout,
    src: &[(&[u8], usize)],
    dst: &mut [(&mut [u8], usize)],
    size: (usize, usize),
    h: &Homography,
    interpolation: Interpolation,
    border: Rgba,
) -> Result<(), Error> {
    if !layout.is_drawable() {
        return Err(Error::Input(format!(
            "warp: {layout:?} frames are not supported: convert them to GRAY8, RGB, I420 or NV12 first (videoconvert)"
        )));
    }
    let planes = layout.planes();
    if src.len() != planes || dst.len() != planes {
        return Err(Error::Input(format!(
            "warp: a {layout:?} frame has {planes} planes, got {} input and {} output planes",
            src.len(),
            dst.len()
        )));
    }
    let chroma_h = h.rescaled(0.5, 0.5);
    let borders = layout.encode(border);
    for (i, ((src, src_stride), (dst, dst_stride))) in src.iter().zip(dst.iter_mut()).enumerate() {
        let (width, height) = layout.plane_dims(i, size.0, size.1);
        let plane_h = if layout.is_subsampled(i) {
            &chroma_h
        } else {
            h
        };
        warp_plane(
            Plane {
                data: src,
                width,
                height,
                stride: *src_stride,
            },
            dst,
            width,
            height,
            *dst_stride,
            layout.plane_channels(i),
            plane_h,
            interpolation,
            &borders[i],
        )
        .map_err(|e| match e {
            Error::Config(m) => Error::Config(format!("plane {i}: {m}")),
            other => Error::Input(format!("plane {i}: {other}")),
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texture(w: usize, h: usize) -> Vec<u8> {
        (0..w * h)
            .map(|i| ((i % w) * 7 + (i / w) * 13 + (i * i) % 17) as u8)
            .collect()
    }

    #[test]
    fn identity_is_lossless() {
        let (w, h) = (37, 23);
        let src = texture(w, h);
        for interp in [Interpolation::Bilinear, Interpolation::Nearest] {
            let mut dst = vec![0; w * h];
            warp_gray(&src, w, h, &mut dst, w, h, &Homography::IDENTITY, interp, 0).unwrap();
            assert_eq!(dst, src);
        }
    }

    #[test]
    fn integer_shift_moves_pixels_and_fills_border() {
        let (w, h) = (20, 10);
        let src = texture(w, h);
        let t = Homography([1.0, 0.0, 3.0, 0.0, 1.0, 2.0, 0.0, 0.0, 1.0]);
        let mut dst = vec![0; w * h];
        warp_gray(&src, w, h, &mut dst, w, h, &t, Interpolation::Bilinear, 255).unwrap();
        assert_eq!(dst[5 * w + 7], src[3 * w + 4]);
        assert_eq!(dst[0], 255);
        assert_eq!(dst[w + 2], 255);
    }

    #[test]
    fn warp_then_inverse_restores_interior() {
        let (w, h) = (64, 48);
        let src: Vec<u8> = (0..w * h)
            .map(|i| {
                let (x, y) = ((i % w) as f64, (i / w) as f64);
                (128.0 + 60.0 * (x / 5.0).sin() * (y / 7.0).cos()) as u8
            })
            .collect();
        let hm = Homography([1.02, 0.03, 1.5, -0.02, 0.98, 0.7, 1e-4, 0.0, 1.0]);
        let mut a = vec![0; w * h];
        let mut b = vec![0; w * h];
        warp_gray(&src, w, h, &mut a, w, h, &hm, Interpolation::Bilinear, 0).unwrap();
        warp_gray(
            &a,
            w,
            h,
            &mut b,
            w,
            h,
            &hm.inverse().unwrap(),
            Interpolation::Bilinear,
            0,
        )
        .unwrap();
        let mut max = 0i32;
        for y in 8..h - 8 {
            for x in 8..w - 8 {
                max = max.max((b[y * w + x] as i32 - src[y * w + x] as i32).abs());
            }
        }
        assert!(max <= 12, "max interior error {max}");
    }

    #[test]
    fn singular_matrix_is_an_error() {
        let s = Homography([1.0, 2.0, 0.0, 2.0, 4.0, 0.0, 0.0, 0.0, 1.0]);
        let mut dst = vec![0; 16 * 16];
        assert!(
            warp_gray(
                &[0; 256],
                16,
                16,
                &mut dst,
                16,
                16,
                &s,
                Interpolation::Nearest,
                0
            )
            .is_err()
        );
    }

    #[test]
    fn frame_warp_moves_luma_by_h_and_chroma_by_half_of_it() {
        // I420 8x6: a shift by (2, 2) moves chroma by (1, 1); the uncovered band gets the border.
        let (w, h) = (8, 6);
        let layout = PixelLayout::I420;
        let src: Vec<Vec<u8>> = (0..3)
            .map(|i| {
                let (pw, ph) = layout.plane_dims(i, w, h);
                texture(pw, ph)
            })
            .collect();
        let mut dst: Vec<Vec<u8>> = src.iter().map(|p| vec![0; p.len()]).collect();
        let shift = Homography([1.0, 0.0, 2.0, 0.0, 1.0, 2.0, 0.0, 0.0, 1.0]);
        let border = Rgba::from_argb(0xff20_4060);
        let src_planes: Vec<(&[u8], usize)> = (0..3)
            .map(|i| (src[i].as_slice(), layout.plane_dims(i, w, h).0))
            .collect();
        let mut dst_planes: Vec<(&mut [u8], usize)> = dst
            .iter_mut()
            .enumerate()
            .map(|(i, p)| (p.as_mut_slice(), layout.plane_dims(i, w, h).0))
            .collect();
        let warp =
            |layout, src: &[(&[u8], usize)], dst: &mut [(&mut [u8], usize)], hm: &Homography| {
                warp_frame(layout, src, dst, (w, h), hm, Interpolation::Nearest, border)
            };
        warp(layout, &src_planes, &mut dst_planes, &shift).unwrap();
        // One plane short, or a singular matrix: errors that say so.
        let e = warp(layout, &src_planes[..2], &mut dst_planes, &shift).unwrap_err();
        assert!(e.to_string().contains("has 3 planes, got 2 input"), "{e}");
        let singular = Homography([1.0, 2.0, 0.0, 2.0, 4.0, 0.0, 0.0, 0.0, 1.0]);
        let e = warp(
            PixelLayout::Gray,
            &src_planes[..1],
            &mut dst_planes[..1],
            &singular,
        )
        .unwrap_err();
        assert!(
            matches!(e, Error::Config(ref m) if m.starts_with("plane 0: ")),
            "{e}"
        );
        drop(dst_planes);
        let values = layout.encode(border);
        assert_eq!(dst[0][3 * w + 5], src[0][w + 3]);
        assert_eq!(dst[0][w + 1], values[0][0]);
        assert_eq!(dst[1][2 * 4 + 2], src[1][4 + 1]);
        assert_eq!(dst[2][2 * 4 + 2], src[2][4 + 1]);
        assert_eq!((dst[1][0], dst[2][0]), (values[1][0], values[2][0]));
    }
}
