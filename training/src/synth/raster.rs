//! The float grayscale image a sample is drawn on ([`Raster`]), its background and blur.

use rand::Rng;
use rand_pcg::Pcg64;

/// A float grayscale image being drawn: `w` x `h` row-major intensities, pixel centres at integer
/// coordinates ((0, 0) = centre of the top-left pixel). Values are clamped to [0, 1] when a sample
/// is finished, not while drawing.
#[derive(Debug, Clone)]
pub struct Raster {
    /// Width.
    pub w: usize,
    /// Height.
    pub h: usize,
    /// Row-major intensities.
    pub px: Vec<f32>,
}

impl Raster {
    /// Blends `color` over the pixels whose signed distance `sdf` (negative inside) says they are
    /// covered, with one pixel of anti-aliasing; only pixels within `bbox` (x0, y0, x1, y1) are
    /// visited.
    pub(super) fn paint(
        &mut self,
        bbox: (f64, f64, f64, f64),
        color: f32,
        sdf: impl Fn(f64, f64) -> f64,
    ) {
        let (w, h) = (self.w as f64, self.h as f64);
        let x0 = (bbox.0 - 1.0).floor().max(0.0);
        let y0 = (bbox.1 - 1.0).floor().max(0.0);
        let x1 = (bbox.2 + 1.0).ceil().min(w - 1.0);
        let y1 = (bbox.3 + 1.0).ceil().min(h - 1.0);
        if !(x0 <= x1 && y0 <= y1) {
            return;
        }
        for y in y0 as usize..=y1 as usize {
            let row = &mut self.px[y * self.w..(y + 1) * self.w];
            for (x, p) in row
                .iter_mut()
                .enumerate()
                .take(x1 as usize + 1)
                .skip(x0 as usize)
            {
                let c = (0.5 - sdf(x as f64, y as f64)).clamp(0.0, 1.0) as f32;
                if c > 0.0 {
                    *p += (color - *p) * c;
                }
            }
        }
    }
}

/// Two independent standard normal samples (Box-Muller).
pub(super) fn normal_pair(rng: &mut impl Rng) -> (f32, f32) {
    let u1: f32 = rng.random::<f32>().max(1e-12);
    let u2: f32 = rng.random();
    let r = (-2.0 * u1.ln()).sqrt();
    let (s, c) = (std::f32::consts::TAU * u2).sin_cos();
    (r * c, r * s)
}

/// Background: a random level, a smooth random field and blurred pixel noise.
pub(super) fn background(w: usize, h: usize, rng: &mut Pcg64) -> (Raster, f32) {
    let level: f32 = rng.random_range(0.0..1.0);
    let amp = 0.08;
    let (gw, gh) = (rng.random_range(2..=6usize), rng.random_range(2..=5usize));
    let grid: Vec<f32> = (0..(gw + 1) * (gh + 1))
        .map(|_| rng.random_range(-amp..=amp))
        .collect();
    let mut px = vec![0.0f32; w * h];
    for y in 0..h {
        let gy = y as f32 / (h - 1) as f32 * gh as f32;
        let iy = (gy.floor() as usize).min(gh - 1);
        let fy = gy - iy as f32;
        for x in 0..w {
            let gx = x as f32 / (w - 1) as f32 * gw as f32;
            let ix = (gx.floor() as usize).min(gw - 1);
            let fx = gx - ix as f32;
            let g = |i: usize, j: usize| grid[j * (gw + 1) + i];
            let top = g(ix, iy) * (1.0 - fx) + g(ix + 1, iy) * fx;
            let bottom = g(ix, iy + 1) * (1.0 - fx) + g(ix + 1, iy + 1) * fx;
            px[y * w + x] = top * (1.0 - fy) + bottom * fy;
        }
    }
    // Blurred pixel noise for texture.
    let mut noise = Raster {
        w,
        h,
        px: (0..w * h)
            .map(|_| rng.random_range(-0.06..=0.06f32))
            .collect(),
    };
    gaussian_blur(&mut noise, rng.random_range(1.0..=2.5));
    for (p, n) in px.iter_mut().zip(&noise.px) {
        *p = (*p + level + 2.0 * n).clamp(0.0, 1.0);
    }
    (Raster { w, h, px }, level)
}

/// Separable Gaussian blur with edge replication (row-at-a-time loops that vectorise).
pub fn gaussian_blur(c: &mut Raster, sigma: f32) {
    let r = (3.0 * sigma).ceil().max(1.0) as usize;
    let k: Vec<f32> = (0..=2 * r)
        .map(|i| {
            let d = i as f32 - r as f32;
            (-(d * d) / (2.0 * sigma * sigma)).exp()
        })
        .collect();
    let s: f32 = k.iter().sum();
    let k: Vec<f32> = k.iter().map(|v| v / s).collect();
    let (w, h) = (c.w, c.h);
    let mut padded = vec![0.0f32; w + 2 * r];
    let mut tmp = vec![0.0f32; w * h];
    for y in 0..h {
        let row = &c.px[y * w..(y + 1) * w];
        padded[..r].fill(row[0]);
        padded[r..r + w].copy_from_slice(row);
        padded[r + w..].fill(row[w - 1]);
        let out = &mut tmp[y * w..(y + 1) * w];
        out.fill(0.0);
        for (j, &kv) in k.iter().enumerate() {
            for (o, &p) in out.iter_mut().zip(&padded[j..j + w]) {
                *o += kv * p;
            }
        }
    }
    for y in 0..h {
        let out = &mut c.px[y * w..(y + 1) * w];
        out.fill(0.0);
        for (j, &kv) in k.iter().enumerate() {
            let yy = (y + j).saturating_sub(r).min(h - 1);
            for (o, &p) in out.iter_mut().zip(&tmp[yy * w..(yy + 1) * w]) {
                *o += kv * p;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blur_keeps_constants_and_mass() {
        let mut c = Raster {
            w: 20,
            h: 10,
            px: vec![0.25; 200],
        };
        gaussian_blur(&mut c, 1.5);
        assert!(c.px.iter().all(|v| (v - 0.25).abs() < 1e-6));
        let mut c = Raster {
            w: 21,
            h: 21,
            px: vec![0.0; 441],
        };
        c.px[10 * 21 + 10] = 1.0;
        gaussian_blur(&mut c, 1.0);
        let sum: f32 = c.px.iter().sum();
        assert!((sum - 1.0).abs() < 1e-4);
        // Symmetric, peaked at the centre.
        assert!((c.px[10 * 21 + 9] - c.px[10 * 21 + 11]).abs() < 1e-7);
        assert!((c.px[9 * 21 + 10] - c.px[10 * 21 + 9]).abs() < 1e-7);
        assert!(c.px[10 * 21 + 10] > c.px[10 * 21 + 11]);
    }
}
