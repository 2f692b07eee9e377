//! Synthetic Shapes: images of simple geometric primitives whose corners and junctions are known
//! exactly, the training data of MagicPoint.
//!
//! Every image is drawn in floating point with analytic anti-aliasing (pixel coverage from a
//! signed distance), on a background of blurred noise, then optionally blurred and noised.
//! Coordinates follow the library: pixel centres at integer positions, (0, 0) = centre of the
//! top-left pixel. Generation is deterministic: sample `i` of seed `s` is the same whatever the
//! number of threads.
//!
//! Layout: this module holds the public API (settings, samples, the generator's streams, previews);
//! `raster` the float grayscale image being drawn ([`Raster`]), its background and blur;
//! `geometry` distances and signed distances of segments and convex polygons; `draw` the
//! rasteriser of each [`Primitive`].

mod draw;
mod geometry;
mod raster;
#[cfg(test)]
mod tests;

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use draw::Draw;
pub use geometry::{convex_polygon_sdf, segment_distance};
pub use raster::{Raster, gaussian_blur};
use raster::{background, normal_pair};

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
    let (mut raster, bg) = background(w, h, rng);
    let mut pts: Vec<(f64, f64)> = Vec::new();
    let mut d = Draw {
        raster: &mut raster,
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
            gaussian_blur(&mut raster, sigma);
        }
        let std = rng.random_range(0.0..=cfg.noise_max_std.max(0.0));
        if std > 0.0 {
            for pair in raster.px.chunks_mut(2) {
                let (a, b) = normal_pair(rng);
                pair[0] += std * a;
                if let Some(p) = pair.get_mut(1) {
                    *p += std * b;
                }
            }
        }
    }
    for p in raster.px.iter_mut() {
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
        image: raster.px,
        keypoints,
        primitive,
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
