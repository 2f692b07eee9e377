//! Synthetic Shapes: images of simple geometric primitives whose corners and junctions are known
//! exactly, the training data of MagicPoint.
//!
//! Every image is drawn in floating point with analytic anti-aliasing (pixel coverage from a
//! signed distance), on a background of blurred noise, then optionally blurred and noised.
//! Coordinates follow the library: pixel centres at integer positions, (0, 0) = centre of the
//! top-left pixel. Generation is deterministic: sample `i` of seed `s` is the same whatever the
//! number of threads.

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use superpoint::Homography;

/// The kinds of image the generator draws.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum Primitive {
    /// Non-intersecting line segments; labels: end points.
    Lines,
    /// One convex polygon; labels: vertices.
    Polygon,
    /// Several non-overlapping convex polygons; labels: vertices.
    MultiplePolygons,
    /// Ellipses: no corners (negatives).
    Ellipses,
    /// Segments from a centre; labels: centre and branch ends.
    Star,
    /// A checkerboard under a random homography; labels: all grid points.
    Checkerboard,
    /// Parallel stripes under a random homography; labels: stripe corners.
    Stripes,
    /// A cube under a random rotation; labels: visible vertices.
    Cube,
    /// Pixel noise only: no corners (negatives).
    GaussianNoise,
}

impl Primitive {
    /// Every primitive, in a fixed order.
    pub const ALL: [Primitive; 9] = [
        Primitive::Lines,
        Primitive::Polygon,
        Primitive::MultiplePolygons,
        Primitive::Ellipses,
        Primitive::Star,
        Primitive::Checkerboard,
        Primitive::Stripes,
        Primitive::Cube,
        Primitive::GaussianNoise,
    ];

    /// snake_case name (as in config files).
    pub fn name(self) -> &'static str {
        match self {
            Primitive::Lines => "lines",
            Primitive::Polygon => "polygon",
            Primitive::MultiplePolygons => "multiple_polygons",
            Primitive::Ellipses => "ellipses",
            Primitive::Star => "star",
            Primitive::Checkerboard => "checkerboard",
            Primitive::Stripes => "stripes",
            Primitive::Cube => "cube",
            Primitive::GaussianNoise => "gaussian_noise",
        }
    }
}

/// Generator settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SynthConfig {
    /// Image height (the network needs a multiple of 8).
    pub height: usize,
    /// Image width.
    pub width: usize,
    /// Primitives drawn, each equally likely.
    pub primitives: Vec<Primitive>,
    /// Smallest intensity difference between a shape and the background level (0..1).
    pub min_contrast: f32,
    /// Final Gaussian blur: sigma drawn uniformly in [0, blur_max_sigma] pixels.
    pub blur_max_sigma: f32,
    /// Final additive Gaussian noise: std drawn uniformly in [0, noise_max_std].
    pub noise_max_std: f32,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            height: 120,
            width: 160,
            primitives: Primitive::ALL.to_vec(),
            min_contrast: 0.3,
            blur_max_sigma: 1.0,
            noise_max_std: 0.04,
        }
    }
}

impl SynthConfig {
    /// Checks value ranges; the message names the bad field.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.height >= 32 && self.width >= 32 && self.height <= 4096 && self.width <= 4096,
            "synth: height and width must be within [32, 4096], got {}x{}",
            self.width,
            self.height
        );
        anyhow::ensure!(
            !self.primitives.is_empty(),
            "synth: primitives must name at least one primitive"
        );
        anyhow::ensure!(
            (0.05..=0.6).contains(&self.min_contrast),
            "synth: min_contrast must be within [0.05, 0.6], got {}",
            self.min_contrast
        );
        anyhow::ensure!(
            (0.0..=5.0).contains(&self.blur_max_sigma),
            "synth: blur_max_sigma must be within [0, 5], got {}",
            self.blur_max_sigma
        );
        anyhow::ensure!(
            (0.0..=0.5).contains(&self.noise_max_std),
            "synth: noise_max_std must be within [0, 0.5], got {}",
            self.noise_max_std
        );
        Ok(())
    }
}

/// A 2-D point (x, y).
type Point = (f64, f64);

/// One generated image with its labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Width.
    pub width: usize,
    /// Height.
    pub height: usize,
    /// Row-major intensities in [0, 1].
    pub image: Vec<f32>,
    /// Corner / junction positions (x, y) in pixels, all inside the image.
    pub keypoints: Vec<[f32; 2]>,
    /// What was drawn.
    pub primitive: Primitive,
}

/// Sample `index` of the stream `seed`; `clean` skips the final blur and noise (for tests and
/// previews of exact geometry).
pub fn sample(cfg: &SynthConfig, seed: u64, index: u64, clean: bool) -> Sample {
    let mut rng = Pcg64::seed_from_u64(mix(seed, index));
    let primitive = cfg.primitives[rng.random_range(0..cfg.primitives.len())];
    render(cfg, primitive, &mut rng, clean)
}

/// Samples `start..start + count` of the stream `seed`, in parallel.
pub fn batch(cfg: &SynthConfig, seed: u64, start: u64, count: usize, clean: bool) -> Vec<Sample> {
    (start..start + count as u64)
        .into_par_iter()
        .map(|i| sample(cfg, seed, i, clean))
        .collect()
}

/// A 64-bit mix of a seed and an index (SplitMix64 finaliser), so neighbouring indices give
/// unrelated random streams.
pub fn mix(seed: u64, index: u64) -> u64 {
    let mut z = seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(index)
        .wrapping_add(0x6A09_E667_F3BC_C909);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Draws `primitive` with `rng`.
pub fn render(cfg: &SynthConfig, primitive: Primitive, rng: &mut Pcg64, clean: bool) -> Sample {
    let (w, h) = (cfg.width, cfg.height);
    let (mut canvas, bg) = background(w, h, rng);
    let mut pts: Vec<(f64, f64)> = Vec::new();
    let mut d = Draw {
        canvas: &mut canvas,
        rng,
        bg,
        contrast: cfg.min_contrast,
    };
    match primitive {
        Primitive::Lines => d.lines(&mut pts),
        Primitive::Polygon => d.polygons(1, &mut pts),
        Primitive::MultiplePolygons => {
            let n = d.rng.random_range(2..=5);
            d.polygons(n, &mut pts)
        }
        Primitive::Ellipses => d.ellipses(),
        Primitive::Star => d.star(&mut pts),
        Primitive::Checkerboard => d.checkerboard(&mut pts),
        Primitive::Stripes => d.stripes(&mut pts),
        Primitive::Cube => d.cube(&mut pts),
        Primitive::GaussianNoise => d.noise_image(),
    }
    if !clean {
        let sigma = rng.random_range(0.0..=cfg.blur_max_sigma.max(0.0));
        if sigma > 0.2 {
            gaussian_blur(&mut canvas, sigma);
        }
        let std = rng.random_range(0.0..=cfg.noise_max_std.max(0.0));
        if std > 0.0 {
            for pair in canvas.px.chunks_mut(2) {
                let (a, b) = normal_pair(rng);
                pair[0] += std * a;
                if let Some(p) = pair.get_mut(1) {
                    *p += std * b;
                }
            }
        }
    }
    for p in canvas.px.iter_mut() {
        *p = p.clamp(0.0, 1.0);
    }
    let keypoints = pts
        .into_iter()
        .filter(|&(x, y)| x >= 0.0 && y >= 0.0 && x <= (w - 1) as f64 && y <= (h - 1) as f64)
        .map(|(x, y)| [x as f32, y as f32])
        .collect();
    Sample {
        width: w,
        height: h,
        image: canvas.px,
        keypoints,
        primitive,
    }
}

/// A float image.
#[derive(Debug, Clone)]
pub struct Canvas {
    /// Width.
    pub w: usize,
    /// Height.
    pub h: usize,
    /// Row-major intensities.
    pub px: Vec<f32>,
}

impl Canvas {
    /// Blends `color` over the pixels whose signed distance `sdf` (negative inside) says they are
    /// covered, with one pixel of anti-aliasing; only pixels within `bbox` (x0, y0, x1, y1) are
    /// visited.
    fn paint(&mut self, bbox: (f64, f64, f64, f64), color: f32, sdf: impl Fn(f64, f64) -> f64) {
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
fn normal_pair(rng: &mut impl Rng) -> (f32, f32) {
    let u1: f32 = rng.random::<f32>().max(1e-12);
    let u2: f32 = rng.random();
    let r = (-2.0 * u1.ln()).sqrt();
    let (s, c) = (std::f32::consts::TAU * u2).sin_cos();
    (r * c, r * s)
}

/// Background: a random level, a smooth random field and blurred pixel noise.
fn background(w: usize, h: usize, rng: &mut Pcg64) -> (Canvas, f32) {
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
    let mut noise = Canvas {
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
    (Canvas { w, h, px }, level)
}

/// Separable Gaussian blur with edge replication (row-at-a-time loops that vectorise).
pub fn gaussian_blur(c: &mut Canvas, sigma: f32) {
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

/// Distance from `p` to the segment `a`-`b`.
pub fn segment_distance(p: (f64, f64), a: (f64, f64), b: (f64, f64)) -> f64 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = dx * dx + dy * dy;
    let t = if len2 > 0.0 {
        (((p.0 - a.0) * dx + (p.1 - a.1) * dy) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let (qx, qy) = (a.0 + t * dx, a.1 + t * dy);
    ((p.0 - qx).powi(2) + (p.1 - qy).powi(2)).sqrt()
}

/// Smallest distance between two segments (0 when they intersect).
fn segments_distance(a: (f64, f64), b: (f64, f64), c: (f64, f64), d: (f64, f64)) -> f64 {
    let cross = |o: (f64, f64), p: (f64, f64), q: (f64, f64)| {
        (p.0 - o.0) * (q.1 - o.1) - (p.1 - o.1) * (q.0 - o.0)
    };
    let (d1, d2) = (cross(a, b, c), cross(a, b, d));
    let (d3, d4) = (cross(c, d, a), cross(c, d, b));
    if d1 * d2 < 0.0 && d3 * d4 < 0.0 {
        return 0.0;
    }
    segment_distance(a, c, d)
        .min(segment_distance(b, c, d))
        .min(segment_distance(c, a, b))
        .min(segment_distance(d, a, b))
}

/// Signed distance to a convex polygon (negative inside).
pub fn convex_polygon_sdf(p: (f64, f64), poly: &[(f64, f64)]) -> f64 {
    let n = poly.len();
    let area: f64 = (0..n)
        .map(|i| {
            let (a, b) = (poly[i], poly[(i + 1) % n]);
            a.0 * b.1 - b.0 * a.1
        })
        .sum();
    let s = area.signum();
    let mut max_line = f64::MIN;
    for i in 0..n {
        let (a, b) = (poly[i], poly[(i + 1) % n]);
        let len = ((b.0 - a.0).powi(2) + (b.1 - a.1).powi(2))
            .sqrt()
            .max(1e-12);
        let cross = (b.0 - a.0) * (p.1 - a.1) - (b.1 - a.1) * (p.0 - a.0);
        max_line = max_line.max(-s * cross / len);
    }
    if max_line <= 0.0 {
        max_line
    } else {
        (0..n)
            .map(|i| segment_distance(p, poly[i], poly[(i + 1) % n]))
            .fold(f64::MAX, f64::min)
    }
}

fn bbox(points: &[(f64, f64)], margin: f64) -> (f64, f64, f64, f64) {
    let mut b = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for &(x, y) in points {
        b = (b.0.min(x), b.1.min(y), b.2.max(x), b.3.max(y));
    }
    (b.0 - margin, b.1 - margin, b.2 + margin, b.3 + margin)
}

struct Draw<'a> {
    canvas: &'a mut Canvas,
    rng: &'a mut Pcg64,
    bg: f32,
    contrast: f32,
}

impl Draw<'_> {
    fn w(&self) -> f64 {
        self.canvas.w as f64
    }
    fn h(&self) -> f64 {
        self.canvas.h as f64
    }
    fn min_dim(&self) -> f64 {
        self.w().min(self.h())
    }

    /// A colour at least `contrast` away from the background level and from `others`.
    fn color(&mut self, others: &[f32]) -> f32 {
        let c = self.contrast;
        for _ in 0..200 {
            let v: f32 = self.rng.random_range(0.0..=1.0);
            if (v - self.bg).abs() >= c && others.iter().all(|o| (v - o).abs() >= c * 0.8) {
                return v;
            }
        }
        // Always possible for one colour: the far end from the background.
        if self.bg < 0.5 { 1.0 } else { 0.0 }
    }

    /// `n` colours pairwise and from the background well apart (falls back to evenly spread levels).
    fn colors(&mut self, n: usize) -> Vec<f32> {
        let c = self.contrast;
        'outer: for _ in 0..200 {
            let mut out: Vec<f32> = Vec::with_capacity(n);
            for _ in 0..n {
                let v: f32 = self.rng.random_range(0.0..=1.0);
                if (v - self.bg).abs() < c || out.iter().any(|o| (v - o).abs() < c * 0.8) {
                    continue 'outer;
                }
                out.push(v);
            }
            return out;
        }
        // Evenly spread levels skipping the one nearest to the background.
        let levels: Vec<f32> = (0..=n).map(|i| i as f32 / n as f32).collect();
        let skip = levels
            .iter()
            .enumerate()
            .min_by(|a, b| (a.1 - self.bg).abs().total_cmp(&(b.1 - self.bg).abs()))
            .map(|(i, _)| i)
            .unwrap_or(0);
        levels
            .into_iter()
            .enumerate()
            .filter(|&(i, _)| i != skip)
            .map(|(_, v)| v)
            .collect()
    }

    fn point_inside(&mut self, margin: f64) -> (f64, f64) {
        let margin = margin.min((self.min_dim() - 1.0) / 2.0);
        (
            self.rng.random_range(margin..=self.w() - 1.0 - margin),
            self.rng.random_range(margin..=self.h() - 1.0 - margin),
        )
    }

    fn inside(&self, p: (f64, f64), margin: f64) -> bool {
        p.0 >= margin
            && p.1 >= margin
            && p.0 <= self.w() - 1.0 - margin
            && p.1 <= self.h() - 1.0 - margin
    }

    fn segment(&mut self, a: (f64, f64), b: (f64, f64), thickness: f64, color: f32) {
        let half = thickness / 2.0;
        self.canvas.paint(bbox(&[a, b], half), color, |x, y| {
            segment_distance((x, y), a, b) - half
        });
    }

    fn polygon(&mut self, poly: &[(f64, f64)], color: f32) {
        self.canvas.paint(bbox(poly, 0.0), color, |x, y| {
            convex_polygon_sdf((x, y), poly)
        });
    }

    fn lines(&mut self, pts: &mut Vec<(f64, f64)>) {
        let n = self.rng.random_range(1..=8);
        let md = self.min_dim();
        let mut segs: Vec<(Point, Point, f64)> = Vec::new();
        for _ in 0..n {
            for _try in 0..30 {
                let a = self.point_inside(2.0);
                let len = self.rng.random_range(md * 0.15..=md * 0.6);
                let ang = self.rng.random_range(0.0..std::f64::consts::TAU);
                let b = (a.0 + len * ang.cos(), a.1 + len * ang.sin());
                if !self.inside(b, 2.0) {
                    continue;
                }
                let t = self.rng.random_range(1.0..=(1.0 + md * 0.02).max(1.5));
                // Keep segments apart so that end points are corners, not junctions with others.
                if segs
                    .iter()
                    .any(|&(c, d, tc)| segments_distance(a, b, c, d) < (t + tc) / 2.0 + 4.0)
                {
                    continue;
                }
                let color = self.color(&[]);
                self.segment(a, b, t, color);
                segs.push((a, b, t));
                pts.push(a);
                pts.push(b);
                break;
            }
        }
    }

    /// A random convex polygon inscribed in a circle, with no angle close to flat.
    fn random_polygon(&mut self, centre: (f64, f64), radius: f64) -> Vec<(f64, f64)> {
        loop {
            let n = self.rng.random_range(3..=6usize);
            let mut angles: Vec<f64> = (0..n)
                .map(|_| self.rng.random_range(0.0..std::f64::consts::TAU))
                .collect();
            angles.sort_by(f64::total_cmp);
            let gaps: Vec<f64> = (0..n)
                .map(|i| {
                    let next = if i + 1 < n {
                        angles[i + 1]
                    } else {
                        angles[0] + std::f64::consts::TAU
                    };
                    next - angles[i]
                })
                .collect();
            // Interior angle at vertex i is pi - (gap before + gap after) / 2: keep it <= 155 deg
            // and every edge long enough to be seen.
            let ok = (0..n).all(|i| {
                let before = gaps[(i + n - 1) % n];
                (before + gaps[i]) / 2.0 >= 25f64.to_radians() && gaps[i] >= 20f64.to_radians()
            });
            if ok {
                return angles
                    .iter()
                    .map(|a| (centre.0 + radius * a.cos(), centre.1 + radius * a.sin()))
                    .collect();
            }
        }
    }

    fn polygons(&mut self, count: usize, pts: &mut Vec<(f64, f64)>) {
        let md = self.min_dim();
        let (rmin, rmax) = if count == 1 {
            (md * 0.15, md * 0.45)
        } else {
            (md * 0.08, md * 0.22)
        };
        let mut circles: Vec<((f64, f64), f64)> = Vec::new();
        let mut colors: Vec<f32> = Vec::new();
        for _ in 0..count {
            for _try in 0..50 {
                let r = self.rng.random_range(rmin..=rmax);
                let c = self.point_inside(r + 1.0);
                if circles.iter().any(|&(o, ro)| {
                    ((o.0 - c.0).powi(2) + (o.1 - c.1).powi(2)).sqrt() < r + ro + 3.0
                }) {
                    continue;
                }
                let poly = self.random_polygon(c, r);
                let color = self.color(&[]);
                self.polygon(&poly, color);
                circles.push((c, r));
                colors.push(color);
                pts.extend_from_slice(&poly);
                break;
            }
        }
    }

    fn ellipses(&mut self) {
        let md = self.min_dim();
        let n = self.rng.random_range(1..=6);
        let mut circles: Vec<((f64, f64), f64)> = Vec::new();
        for _ in 0..n {
            for _try in 0..50 {
                let a = self.rng.random_range(md * 0.05..=md * 0.25);
                let b = self.rng.random_range(md * 0.05..=md * 0.25);
                let r = a.max(b);
                let c = self.point_inside(r + 1.0);
                if circles.iter().any(|&(o, ro)| {
                    ((o.0 - c.0).powi(2) + (o.1 - c.1).powi(2)).sqrt() < r + ro + 3.0
                }) {
                    continue;
                }
                let ang = self.rng.random_range(0.0..std::f64::consts::PI);
                let (s, co) = ang.sin_cos();
                let color = self.color(&[]);
                self.canvas
                    .paint((c.0 - r, c.1 - r, c.0 + r, c.1 + r), color, |x, y| {
                        let (dx, dy) = (x - c.0, y - c.1);
                        let (u, v) = (co * dx + s * dy, -s * dx + co * dy);
                        let k = ((u / a).powi(2) + (v / b).powi(2)).sqrt();
                        let gx = u / (a * a);
                        let gy = v / (b * b);
                        let g = (gx * gx + gy * gy).sqrt() / k.max(1e-9);
                        if g > 1e-9 { (k - 1.0) / g } else { -r }
                    });
                circles.push((c, r));
                break;
            }
        }
    }

    fn star(&mut self, pts: &mut Vec<(f64, f64)>) {
        let md = self.min_dim();
        let c = self.point_inside(md * 0.2);
        let n = self.rng.random_range(3..=5usize);
        // Thin branches keep the centre a junction rather than a blob.
        let t = self.rng.random_range(1.0..=1.8);
        let color = self.color(&[]);
        let mut angles: Vec<f64> = Vec::new();
        let mut tries = 0;
        while angles.len() < n && tries < 200 {
            tries += 1;
            let a = self.rng.random_range(0.0..std::f64::consts::TAU);
            let gap_ok = angles.iter().all(|&b| {
                let d = (a - b).rem_euclid(std::f64::consts::TAU);
                d.min(std::f64::consts::TAU - d) >= 0.7
            });
            if !gap_ok {
                continue;
            }
            let len = self.rng.random_range(md * 0.15..=md * 0.5);
            let e = (c.0 + len * a.cos(), c.1 + len * a.sin());
            if !self.inside(e, 2.0) {
                continue;
            }
            angles.push(a);
            self.segment(c, e, t, color);
            pts.push(e);
        }
        pts.push(c);
    }

    /// A random quadrilateral covering a good part of the image, for boards seen in perspective.
    fn random_quad(&mut self) -> [(f64, f64); 4] {
        let (w, h) = (self.w(), self.h());
        loop {
            let s = self.rng.random_range(0.45..=0.9);
            let (bw, bh) = (w * s * self.rng.random_range(0.7..=1.0), h * s);
            let c = (
                self.rng.random_range(bw / 2.0..=w - bw / 2.0),
                self.rng.random_range(bh / 2.0..=h - bh / 2.0),
            );
            let ang: f64 = self.rng.random_range(-0.6..=0.6);
            let (sn, cs) = ang.sin_cos();
            let jitter = 0.12 * bw.min(bh);
            let corners = [(-0.5, -0.5), (0.5, -0.5), (0.5, 0.5), (-0.5, 0.5)].map(|(u, v)| {
                let (x, y) = (u * bw, v * bh);
                (
                    c.0 + cs * x - sn * y + self.rng.random_range(-jitter..=jitter),
                    c.1 + sn * x + cs * y + self.rng.random_range(-jitter..=jitter),
                )
            });
            if convex_polygon_sdf(c, &corners) < 0.0 {
                return corners;
            }
        }
    }

    fn checkerboard(&mut self, pts: &mut Vec<(f64, f64)>) {
        let quad = self.random_quad();
        let side = ((quad[1].0 - quad[0].0).hypot(quad[1].1 - quad[0].1))
            .min((quad[3].0 - quad[0].0).hypot(quad[3].1 - quad[0].1));
        let max_cells = ((side / 9.0).floor() as usize).clamp(2, 7);
        let cols = self.rng.random_range(2..=max_cells);
        let rows = self.rng.random_range(2..=max_cells);
        let src = [
            (0.0, 0.0),
            (cols as f64, 0.0),
            (cols as f64, rows as f64),
            (0.0, rows as f64),
        ];
        let Some(hm) = Homography::from_4_points(&src, &quad) else {
            return;
        };
        let grid: Vec<(f64, f64)> = (0..=rows)
            .flat_map(|r| (0..=cols).map(move |c| (c as f64, r as f64)))
            .filter_map(|(c, r)| hm.apply(c, r))
            .collect();
        if grid.len() != (rows + 1) * (cols + 1) {
            return;
        }
        let colors = self.colors(2);
        for r in 0..rows {
            for c in 0..cols {
                let at = |rr: usize, cc: usize| grid[rr * (cols + 1) + cc];
                let cell = [at(r, c), at(r, c + 1), at(r + 1, c + 1), at(r + 1, c)];
                let color = colors[(r + c) % 2];
                self.polygon(&cell, color);
            }
        }
        pts.extend_from_slice(&grid);
    }

    fn stripes(&mut self, pts: &mut Vec<(f64, f64)>) {
        let quad = self.random_quad();
        let width = (quad[1].0 - quad[0].0).hypot(quad[1].1 - quad[0].1);
        let max_stripes = ((width / 7.0).floor() as usize).clamp(2, 9);
        let n = self.rng.random_range(2..=max_stripes);
        // Stripe boundaries in [0, 1] with a minimum gap.
        let min_gap = 0.5 / n as f64;
        let mut xs: Vec<f64> = vec![0.0, 1.0];
        let mut tries = 0;
        while xs.len() < n + 1 && tries < 500 {
            tries += 1;
            let v = self.rng.random_range(0.0..1.0);
            if xs.iter().all(|&x| (x - v).abs() >= min_gap) {
                xs.push(v);
            }
        }
        xs.sort_by(f64::total_cmp);
        let src = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)];
        let Some(hm) = Homography::from_4_points(&src, &quad) else {
            return;
        };
        let top: Vec<(f64, f64)> = xs.iter().filter_map(|&x| hm.apply(x, 0.0)).collect();
        let bottom: Vec<(f64, f64)> = xs.iter().filter_map(|&x| hm.apply(x, 1.0)).collect();
        if top.len() != xs.len() || bottom.len() != xs.len() {
            return;
        }
        let colors = self.colors(2);
        for i in 0..xs.len() - 1 {
            let cell = [top[i], top[i + 1], bottom[i + 1], bottom[i]];
            self.polygon(&cell, colors[i % 2]);
        }
        pts.extend_from_slice(&top);
        pts.extend_from_slice(&bottom);
    }

    fn cube(&mut self, pts: &mut Vec<(f64, f64)>) {
        let md = self.min_dim();
        let size = self.rng.random_range(md * 0.12..=md * 0.25);
        let c = self.point_inside(size * 1.75);
        // Rotations about x and y by 20..70 degrees show three faces; any roll about z.
        let rx: f64 =
            self.rng.random_range(0.35..=1.2) * if self.rng.random() { 1.0 } else { -1.0 };
        let ry: f64 =
            self.rng.random_range(0.35..=1.2) * if self.rng.random() { 1.0 } else { -1.0 };
        let rz: f64 = self.rng.random_range(0.0..std::f64::consts::TAU);
        let rot = |v: [f64; 3]| -> [f64; 3] {
            let (s, co) = rx.sin_cos();
            let v = [v[0], co * v[1] - s * v[2], s * v[1] + co * v[2]];
            let (s, co) = ry.sin_cos();
            let v = [co * v[0] + s * v[2], v[1], -s * v[0] + co * v[2]];
            let (s, co) = rz.sin_cos();
            [co * v[0] - s * v[1], s * v[0] + co * v[1], v[2]]
        };
        let vertex = |i: usize| -> [f64; 3] {
            [
                if i & 1 == 0 { -1.0 } else { 1.0 },
                if i & 2 == 0 { -1.0 } else { 1.0 },
                if i & 4 == 0 { -1.0 } else { 1.0 },
            ]
        };
        let proj: Vec<(f64, f64)> = (0..8)
            .map(|i| {
                let v = rot(vertex(i));
                (c.0 + size * v[0], c.1 + size * v[1])
            })
            .collect();
        if proj.iter().any(|&p| !self.inside(p, 1.0)) {
            return;
        }
        let colors = self.colors(3);
        let mut visible = [false; 8];
        let mut face_idx = 0;
        for axis in 0..3 {
            for sign in [-1.0f64, 1.0] {
                let mut n = [0.0; 3];
                n[axis] = sign;
                // The viewer looks along +z: faces whose normal points to -z are visible.
                if rot(n)[2] >= -1e-6 {
                    continue;
                }
                let (a1, a2) = ((axis + 1) % 3, (axis + 2) % 3);
                let bit = |ax: usize| 1usize << ax;
                let base = if sign > 0.0 { bit(axis) } else { 0 };
                let quad_ids = [
                    base,
                    base | bit(a1),
                    base | bit(a1) | bit(a2),
                    base | bit(a2),
                ];
                let quad: Vec<(f64, f64)> = quad_ids.iter().map(|&i| proj[i]).collect();
                let color = colors[face_idx % colors.len()];
                face_idx += 1;
                self.polygon(&quad, color);
                for i in quad_ids {
                    visible[i] = true;
                }
            }
        }
        pts.extend((0..8).filter(|&i| visible[i]).map(|i| proj[i]));
    }

    fn noise_image(&mut self) {
        for p in self.canvas.px.iter_mut() {
            *p = self.rng.random_range(0.0..=1.0);
        }
        let sigma = self.rng.random_range(0.5..=1.5);
        gaussian_blur(self.canvas, sigma);
    }
}

/// Renders a grey sample as RGB with its keypoints marked by red crosses (for previews).
pub fn preview_rgb(s: &Sample, scale: usize) -> image::RgbImage {
    let scale = scale.max(1);
    let mut img = image::RgbImage::new((s.width * scale) as u32, (s.height * scale) as u32);
    for (x, y, p) in img.enumerate_pixels_mut() {
        let v =
            (s.image[(y as usize / scale) * s.width + x as usize / scale] * 255.0).round() as u8;
        *p = image::Rgb([v, v, v]);
    }
    let arm = 2 * scale as i64;
    for kp in &s.keypoints {
        let (cx, cy) = (
            ((kp[0] as f64 + 0.5) * scale as f64) as i64,
            ((kp[1] as f64 + 0.5) * scale as f64) as i64,
        );
        for d in -arm..=arm {
            for (x, y) in [(cx + d, cy), (cx, cy + d)] {
                if x >= 0 && y >= 0 && (x as u32) < img.width() && (y as u32) < img.height() {
                    img.put_pixel(x as u32, y as u32, image::Rgb([255, 0, 0]));
                }
            }
        }
    }
    img
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> SynthConfig {
        SynthConfig::default()
    }

    /// Largest minus smallest intensity in the 5x5 neighbourhood of the pixel nearest to (x, y)
    /// (the end point of a thick line is the centre of its cap, up to 1.7 px inside the stroke).
    fn local_range(s: &Sample, x: f32, y: f32) -> f32 {
        let (cx, cy) = (x.round() as i64, y.round() as i64);
        let mut lo = f32::MAX;
        let mut hi = f32::MIN;
        for dy in -2..=2 {
            for dx in -2..=2 {
                let (xx, yy) = (cx + dx, cy + dy);
                if xx >= 0 && yy >= 0 && (xx as usize) < s.width && (yy as usize) < s.height {
                    let v = s.image[yy as usize * s.width + xx as usize];
                    lo = lo.min(v);
                    hi = hi.max(v);
                }
            }
        }
        hi - lo
    }

    #[test]
    fn deterministic_and_thread_independent() {
        let c = cfg();
        let a = batch(&c, 7, 0, 16, false);
        let b: Vec<Sample> = (0..16).map(|i| sample(&c, 7, i, false)).collect();
        assert_eq!(a, b);
        assert_ne!(sample(&c, 7, 0, false).image, sample(&c, 8, 0, false).image);
    }

    #[test]
    fn every_primitive_renders_in_range_with_labels_inside() {
        let c = cfg();
        for p in Primitive::ALL {
            for i in 0..20u64 {
                let mut rng = Pcg64::seed_from_u64(i);
                let s = render(&c, p, &mut rng, false);
                assert_eq!(s.image.len(), c.width * c.height);
                assert!(s.image.iter().all(|v| (0.0..=1.0).contains(v)));
                for k in &s.keypoints {
                    assert!(k[0] >= 0.0 && k[1] >= 0.0);
                    assert!(k[0] <= (c.width - 1) as f32 && k[1] <= (c.height - 1) as f32);
                }
                if matches!(p, Primitive::Ellipses | Primitive::GaussianNoise) {
                    assert!(s.keypoints.is_empty(), "{p:?} must have no corners");
                }
            }
        }
    }

    #[test]
    fn labels_land_on_drawn_corners() {
        // On clean images, every label must sit where the intensity changes (a corner or
        // junction of drawn shapes), never on flat background.
        let c = cfg();
        let mut checked = 0;
        for p in [
            Primitive::Lines,
            Primitive::Polygon,
            Primitive::MultiplePolygons,
            Primitive::Star,
            Primitive::Checkerboard,
            Primitive::Stripes,
            Primitive::Cube,
        ] {
            let mut with_labels = 0;
            for i in 0..30u64 {
                let mut rng = Pcg64::seed_from_u64(1000 + i);
                let s = render(&c, p, &mut rng, true);
                with_labels += usize::from(!s.keypoints.is_empty());
                for k in &s.keypoints {
                    let r = local_range(&s, k[0], k[1]);
                    assert!(
                        r > 0.12,
                        "{p:?} sample {i}: label ({}, {}) is on a flat area (range {r})",
                        k[0],
                        k[1]
                    );
                    checked += 1;
                }
            }
            assert!(
                with_labels >= 20,
                "{p:?}: only {with_labels}/30 images have labels"
            );
        }
        assert!(checked > 500);
    }

    #[test]
    fn polygon_vertex_is_a_corner_of_the_drawn_shape() {
        // At a vertex of a convex polygon, the pixel covers a wedge of the shape: the value there
        // is between the background and the shape colour (on the drawn edge), while the polygon centre has the shape
        // colour and points just outside the vertex have the background.
        let mut rng = Pcg64::seed_from_u64(3);
        let mut canvas = Canvas {
            w: 64,
            h: 64,
            px: vec![0.0; 64 * 64],
        };
        let mut d = Draw {
            canvas: &mut canvas,
            rng: &mut rng,
            bg: 0.0,
            contrast: 0.3,
        };
        let poly = [(10.0, 10.0), (50.0, 14.0), (30.0, 50.0)];
        d.polygon(&poly, 1.0);
        let at = |x: usize, y: usize| canvas.px[y * 64 + x];
        assert!((at(30, 25) - 1.0).abs() < 1e-6, "inside");
        let v = at(10, 10);
        assert!(
            v > 0.05 && v < 0.95,
            "vertex pixel lies on the boundary, got {v}"
        );
        assert_eq!(at(7, 7), 0.0, "outside beyond the vertex");
    }

    #[test]
    fn cube_has_seven_visible_vertices_when_complete() {
        let c = cfg();
        let mut seven = 0;
        for i in 0..40u64 {
            let mut rng = Pcg64::seed_from_u64(i);
            let s = render(&c, Primitive::Cube, &mut rng, true);
            assert!(s.keypoints.len() <= 7);
            seven += usize::from(s.keypoints.len() == 7);
        }
        assert!(seven >= 30, "{seven}");
    }

    #[test]
    fn blur_keeps_constants_and_mass() {
        let mut c = Canvas {
            w: 20,
            h: 10,
            px: vec![0.25; 200],
        };
        gaussian_blur(&mut c, 1.5);
        assert!(c.px.iter().all(|v| (v - 0.25).abs() < 1e-6));
        let mut c = Canvas {
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

    #[test]
    fn invalid_config_is_rejected_with_field_name() {
        let mut c = cfg();
        c.height = 8;
        assert!(c.validate().unwrap_err().to_string().contains("height"));
        let mut c = cfg();
        c.primitives.clear();
        assert!(c.validate().unwrap_err().to_string().contains("primitives"));
    }
}
