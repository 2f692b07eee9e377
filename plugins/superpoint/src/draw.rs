//! Drawing on 8-bit video frames: points, circles, lines and polygons with alpha blending, on
//! grey, packed RGB-family and planar/semi-planar 4:2:0 YUV (I420, NV12) planes. Used by the
//! `superpointoverlay` element; no GStreamer here.
//!
//! Coordinates are pixels with (0,0) the centre of the top-left pixel. Shapes are clipped to the
//! frame, so points far outside it (a projected outline, say) cost nothing, and non-finite
//! coordinates draw nothing.

use crate::Error;
pub use crate::pixel::{PixelLayout, Rgba};

/// A colour converted once for the canvas format.
#[derive(Debug, Clone, Copy)]
struct Ink {
    values: [u8; 3],
    alpha: u16,
}

/// Mutable access to the planes of one frame.
#[derive(Debug)]
pub struct FrameCanvas<'a> {
    planes: Vec<(&'a mut [u8], usize)>,
    width: usize,
    height: usize,
    format: PixelLayout,
}

fn blend(dst: &mut u8, src: u8, alpha: u16) {
    if alpha >= 255 {
        *dst = src;
    } else {
        let d = *dst as u16;
        *dst = ((d * (255 - alpha) + src as u16 * alpha + 127) / 255) as u8;
    }
}

impl<'a> FrameCanvas<'a> {
    /// Wraps `planes` (`(bytes, stride)` per plane, as many as the format has) of a `width` x
    /// `height` frame; errors when a plane is too small for its stride and size.
    pub fn new(
        format: PixelLayout,
        width: usize,
        height: usize,
        planes: Vec<(&'a mut [u8], usize)>,
    ) -> Result<Self, Error> {
        if !format.is_drawable() {
            return Err(Error::Input(format!(
                "canvas: cannot draw on {format:?} frames: convert them to GRAY8, RGB, I420 or NV12 first (videoconvert)"
            )));
        }
        if planes.len() != format.planes() {
            return Err(Error::Input(format!(
                "canvas: {format:?} has {} planes, got {}",
                format.planes(),
                planes.len()
            )));
        }
        for (i, (data, stride)) in planes.iter().enumerate() {
            if !format.plane_fits(i, width, height, *stride, data.len()) {
                let (row_bytes, rows) = format.plane_size(i, width, height);
                return Err(Error::Input(format!(
                    "canvas: plane {i} of a {width}x{height} {format:?} frame needs {rows} rows of {row_bytes} bytes (stride {stride}), got {} bytes",
                    data.len()
                )));
            }
        }
        if let PixelLayout::Packed {
            bytes_per_pixel,
            r,
            g,
            b,
            a,
        } = format
            && [Some(r), Some(g), Some(b), a]
                .into_iter()
                .flatten()
                .any(|o| o >= bytes_per_pixel)
        {
            return Err(Error::Input(format!(
                "canvas: channel offsets {format:?} exceed the pixel size"
            )));
        }
        Ok(FrameCanvas {
            planes,
            width,
            height,
            format,
        })
    }

    /// Frame width.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Frame height.
    pub fn height(&self) -> usize {
        self.height
    }

    fn ink(&self, c: Rgba) -> Ink {
        let values = match self.format {
            PixelLayout::Gray => [c.gray(), 0, 0],
            PixelLayout::Packed { .. } => [c.r, c.g, c.b],
            _ => {
                let (y, u, v) = c.yuv();
                [y, u, v]
            }
        };
        Ink {
            values,
            alpha: c.a as u16,
        }
    }

    fn put(&mut self, x: usize, y: usize, ink: Ink) {
        let [v0, v1, v2] = ink.values;
        let alpha = ink.alpha;
        match self.format {
            PixelLayout::Gray => {
                let (p, s) = &mut self.planes[0];
                blend(&mut p[y * *s + x], v0, alpha);
            }
            PixelLayout::Packed {
                bytes_per_pixel,
                r,
                g,
                b,
                a,
            } => {
                let (p, s) = &mut self.planes[0];
                let o = y * *s + x * bytes_per_pixel;
                blend(&mut p[o + r], v0, alpha);
                blend(&mut p[o + g], v1, alpha);
                blend(&mut p[o + b], v2, alpha);
                if let Some(a) = a {
                    let v = &mut p[o + a];
                    *v = (*v).max(ink.alpha.min(255) as u8);
                }
            }
            PixelLayout::I420 => {
                let (cx, cy) = (x / 2, y / 2);
                {
                    let (p, s) = &mut self.planes[0];
                    blend(&mut p[y * *s + x], v0, alpha);
                }
                {
                    let (p, s) = &mut self.planes[1];
                    blend(&mut p[cy * *s + cx], v1, alpha);
                }
                let (p, s) = &mut self.planes[2];
                blend(&mut p[cy * *s + cx], v2, alpha);
            }
            PixelLayout::Nv12 => {
                let (cx, cy) = (x / 2, y / 2);
                {
                    let (p, s) = &mut self.planes[0];
                    blend(&mut p[y * *s + x], v0, alpha);
                }
                let (p, s) = &mut self.planes[1];
                let o = cy * *s + 2 * cx;
                blend(&mut p[o], v1, alpha);
                blend(&mut p[o + 1], v2, alpha);
            }
            // Refused by `new`.
            _ => {}
        }
    }

    /// Blends one pixel; coordinates outside the frame are ignored.
    pub fn pixel(&mut self, x: i64, y: i64, color: Rgba) {
        if x >= 0 && y >= 0 && (x as usize) < self.width && (y as usize) < self.height {
            let ink = self.ink(color);
            self.put(x as usize, y as usize, ink);
        }
    }

    /// Fills the rectangle of pixels `x0..=x1` x `y0..=y1` (clipped).
    pub fn fill_rect(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, color: Rgba) {
        let ink = self.ink(color);
        let (w, h) = (self.width as i64, self.height as i64);
        let (xa, xb) = (x0.min(x1).max(0), x0.max(x1).min(w - 1));
        let (ya, yb) = (y0.min(y1).max(0), y0.max(y1).min(h - 1));
        for y in ya..=yb {
            for x in xa..=xb {
                self.put(x as usize, y as usize, ink);
            }
        }
    }

    /// A square dot of side `size` centred on `(x, y)`.
    fn dot(&mut self, x: i64, y: i64, size: i64, ink: Ink) {
        let lo = (size - 1) / 2;
        let hi = size / 2;
        let (w, h) = (self.width as i64, self.height as i64);
        for yy in (y - lo).max(0)..=(y + hi).min(h - 1) {
            for xx in (x - lo).max(0)..=(x + hi).min(w - 1) {
                self.put(xx as usize, yy as usize, ink);
            }
        }
    }

    /// A straight line `thickness` pixels wide (clipped; nothing for non-finite ends).
    pub fn line(&mut self, p0: (f64, f64), p1: (f64, f64), color: Rgba, thickness: u32) {
        let t = thickness.max(1) as f64;
        let margin = t + 1.0;
        let bounds = (
            -margin,
            -margin,
            self.width as f64 - 1.0 + margin,
            self.height as f64 - 1.0 + margin,
        );
        let Some(((x0, y0), (x1, y1))) = clip_segment(p0, p1, bounds) else {
            return;
        };
        let ink = self.ink(color);
        let steps = (x1 - x0).abs().max((y1 - y0).abs()).ceil() as usize;
        let size = thickness.max(1) as i64;
        for i in 0..=steps {
            let f = if steps == 0 {
                0.0
            } else {
                i as f64 / steps as f64
            };
            let x = (x0 + (x1 - x0) * f).round() as i64;
            let y = (y0 + (y1 - y0) * f).round() as i64;
            self.dot(x, y, size, ink);
        }
    }

    /// A polygon through `points` (closed when `closed`).
    pub fn polyline(&mut self, points: &[(f64, f64)], closed: bool, color: Rgba, thickness: u32) {
        for w in points.windows(2) {
            self.line(w[0], w[1], color, thickness);
        }
        if closed && points.len() > 2 {
            self.line(points[points.len() - 1], points[0], color, thickness);
        }
    }

    /// A circle of `radius` pixels: a ring `thickness` wide, or a disc when `filled`.
    pub fn circle(
        &mut self,
        centre: (f64, f64),
        radius: f64,
        color: Rgba,
        thickness: u32,
        filled: bool,
    ) {
        let (cx, cy) = centre;
        if !(cx.is_finite() && cy.is_finite() && radius.is_finite() && radius >= 0.0) {
            return;
        }
        let half = thickness.max(1) as f64 / 2.0;
        let outer = radius + if filled { 0.5 } else { half };
        let inner = if filled {
            -1.0
        } else {
            (radius - half).max(0.0)
        };
        let (w, h) = (self.width as f64, self.height as f64);
        let x0 = (cx - outer).floor().max(0.0);
        let x1 = (cx + outer).ceil().min(w - 1.0);
        let y0 = (cy - outer).floor().max(0.0);
        let y1 = (cy + outer).ceil().min(h - 1.0);
        if x0 > x1 || y0 > y1 {
            return;
        }
        let ink = self.ink(color);
        for y in y0 as usize..=y1 as usize {
            for x in x0 as usize..=x1 as usize {
                let d = ((x as f64 - cx).powi(2) + (y as f64 - cy).powi(2)).sqrt();
                if d <= outer && d >= inner {
                    self.put(x, y, ink);
                }
            }
        }
    }

    /// A frame around the image, `thickness` pixels wide.
    pub fn border(&mut self, color: Rgba, thickness: u32) {
        let t = thickness as i64;
        if t == 0 {
            return;
        }
        let (w, h) = (self.width as i64, self.height as i64);
        self.fill_rect(0, 0, w - 1, t - 1, color);
        self.fill_rect(0, h - t, w - 1, h - 1, color);
        self.fill_rect(0, 0, t - 1, h - 1, color);
        self.fill_rect(w - t, 0, w - 1, h - 1, color);
    }
}

/// Liang–Barsky clipping of the segment `p0`-`p1` to the box `(xmin, ymin, xmax, ymax)`;
/// `None` when it lies outside or has a non-finite end.
pub fn clip_segment(
    p0: (f64, f64),
    p1: (f64, f64),
    (xmin, ymin, xmax, ymax): (f64, f64, f64, f64),
) -> Option<((f64, f64), (f64, f64))> {
    if ![p0.0, p0.1, p1.0, p1.1].iter().all(|v| v.is_finite()) {
        return None;
    }
    let (dx, dy) = (p1.0 - p0.0, p1.1 - p0.1);
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for (p, q) in [
        (-dx, p0.0 - xmin),
        (dx, xmax - p0.0),
        (-dy, p0.1 - ymin),
        (dy, ymax - p0.1),
    ] {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else {
            let r = q / p;
            if p < 0.0 {
                t0 = t0.max(r);
            } else {
                t1 = t1.min(r);
            }
            if t0 > t1 {
                return None;
            }
        }
    }
    Some((
        (p0.0 + t0 * dx, p0.1 + t0 * dy),
        (p0.0 + t1 * dx, p0.1 + t1 * dy),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RED: Rgba = Rgba {
        r: 255,
        g: 0,
        b: 0,
        a: 255,
    };

    fn rgb(buf: &mut [u8], w: usize, h: usize) -> FrameCanvas<'_> {
        FrameCanvas::new(PixelLayout::RGB, w, h, vec![(buf, w * 3)]).unwrap()
    }

    #[test]
    fn argb_parsing_and_conversions() {
        let c = Rgba::from_argb(0x80ff0010);
        assert_eq!((c.a, c.r, c.g, c.b), (0x80, 0xff, 0x00, 0x10));
        assert_eq!(Rgba::from_argb(0xffffffff).yuv(), (235, 128, 128));
        assert_eq!(Rgba::from_argb(0xff000000).yuv(), (16, 128, 128));
        assert_eq!(Rgba::from_argb(0xffffffff).gray(), 255);
        let (_, u, v) = RED.yuv();
        assert!(v > 200 && u < 128);
    }

    #[test]
    fn horizontal_line_covers_exactly_its_pixels() {
        let (w, h) = (20, 10);
        let mut buf = vec![0u8; w * h * 3];
        rgb(&mut buf, w, h).line((2.0, 5.0), (12.0, 5.0), RED, 1);
        for y in 0..h {
            for x in 0..w {
                let on = y == 5 && (2..=12).contains(&x);
                assert_eq!(buf[(y * w + x) * 3] == 255, on, "({x},{y})");
                assert_eq!(buf[(y * w + x) * 3 + 1], 0);
            }
        }
    }

    #[test]
    fn far_away_and_non_finite_lines_are_clipped() {
        let (w, h) = (16, 16);
        let mut buf = vec![0u8; w * h * 3];
        let mut c = rgb(&mut buf, w, h);
        c.line((-1e12, 8.0), (1e12, 8.0), RED, 1);
        c.line((f64::NAN, 0.0), (5.0, 5.0), RED, 1);
        c.line((100.0, 100.0), (200.0, 300.0), RED, 3);
        let lit: Vec<usize> = (0..w * h).filter(|i| buf[i * 3] == 255).collect();
        assert_eq!(lit, (8 * w..9 * w).collect::<Vec<_>>());
    }

    #[test]
    fn alpha_blends_and_sets_alpha_channel() {
        let mut buf = vec![100u8; 4 * 4 * 4];
        let mut c = FrameCanvas::new(PixelLayout::ARGB, 4, 4, vec![(&mut buf, 16)]).unwrap();
        c.pixel(1, 1, Rgba::from_argb(0x80ff0000));
        let o = (4 + 1) * 4;
        assert_eq!(buf[o], 128); // alpha raised to the ink's
        assert_eq!(buf[o + 1], 178); // 100 + (255 - 100) * 128/255
        assert_eq!(buf[o + 2], 50);
    }

    #[test]
    fn i420_and_nv12_write_luma_and_chroma() {
        let (w, h) = (8, 6);
        let (cw, ch) = (4, 3);
        let mut y = vec![0u8; w * h];
        let mut u = vec![128u8; cw * ch];
        let mut v = vec![128u8; cw * ch];
        let mut c = FrameCanvas::new(
            PixelLayout::I420,
            w,
            h,
            vec![(&mut y, w), (&mut u, cw), (&mut v, cw)],
        )
        .unwrap();
        c.pixel(5, 3, RED);
        let (ry, ru, rv) = RED.yuv();
        assert_eq!(y[3 * w + 5], ry);
        assert_eq!(u[cw + 2], ru);
        assert_eq!(v[cw + 2], rv);
        assert_eq!(y.iter().filter(|&&p| p != 0).count(), 1);

        let mut y = vec![0u8; w * h];
        let mut uv = vec![128u8; 2 * cw * ch];
        let mut c = FrameCanvas::new(
            PixelLayout::Nv12,
            w,
            h,
            vec![(&mut y, w), (&mut uv, 2 * cw)],
        )
        .unwrap();
        c.fill_rect(0, 0, 1, 1, RED);
        assert_eq!(&uv[0..2], &[ru, rv]);
        assert_eq!(&y[0..2], &[ry, ry]);
        assert_eq!(y[w + 1], ry);
    }

    #[test]
    fn circles_and_borders() {
        let (w, h) = (21, 21);
        let mut buf = vec![0u8; w * h];
        let mut c = FrameCanvas::new(PixelLayout::Gray, w, h, vec![(&mut buf, w)]).unwrap();
        c.circle((10.0, 10.0), 5.0, Rgba::from_argb(0xffffffff), 1, false);
        assert_eq!(buf[10 * w + 15], 255);
        assert_eq!(buf[10 * w + 10], 0, "ring is hollow");
        let mut c = FrameCanvas::new(PixelLayout::Gray, w, h, vec![(&mut buf, w)]).unwrap();
        c.circle((10.0, 10.0), 2.0, Rgba::from_argb(0xffffffff), 1, true);
        assert_eq!(buf[10 * w + 10], 255);
        let mut c = FrameCanvas::new(PixelLayout::Gray, w, h, vec![(&mut buf, w)]).unwrap();
        c.border(Rgba::from_argb(0xff808080), 2);
        assert_eq!(buf[0], 128);
        assert_eq!(buf[w + 20], 128);
        assert_eq!(buf[2 * w + 2], 0);
    }

    #[test]
    fn undersized_planes_are_rejected() {
        let mut small = vec![0u8; 10];
        let err = FrameCanvas::new(PixelLayout::Gray, 4, 4, vec![(&mut small, 4)]).unwrap_err();
        assert!(err.to_string().contains("plane 0"), "{err}");
        let mut y = vec![0u8; 16];
        assert!(FrameCanvas::new(PixelLayout::I420, 4, 4, vec![(&mut y, 4)]).is_err());
    }

    #[test]
    fn clipping_keeps_inside_segments() {
        let b = (0.0, 0.0, 10.0, 10.0);
        assert_eq!(
            clip_segment((1.0, 1.0), (2.0, 3.0), b),
            Some(((1.0, 1.0), (2.0, 3.0)))
        );
        assert_eq!(clip_segment((-5.0, -5.0), (-1.0, 20.0), b), None);
        let ((x0, _), (x1, _)) = clip_segment((-10.0, 5.0), (20.0, 5.0), b).unwrap();
        assert_eq!((x0, x1), (0.0, 10.0));
    }
}
