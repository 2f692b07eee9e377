//! Pair batches for joint training and its validation: two random views of each labelled photo
//! crop, their pseudo-labels mapped into each view, the homography between the views, and one
//! point per cell for the InfoNCE descriptor loss.
//!
//! A view is a homographic warp of the crop (`JointConfig::view_homographic` for the first,
//! `JointConfig::homographic` for the second) rendered at the view size
//! (`JointConfig::view_height` x `view_width`, default the crop's). With `JointConfig::view_zoom`
//! each view also gets its own zoom, drawn log-uniformly: the number of view pixels per crop
//! pixel, so two views of one pair differ in scale by up to `max / min`. Views that shrink the
//! crop (zoom below 0.75) are sampled from a 2x2-averaged copy of it, so they are not aliased the
//! way a bilinear lookup of every other pixel would be.

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use superpoint::Homography;
use superpoint::onnx::CELL;
use superpoint::sampling::sample_homography;
use tch::{Device, Kind, Tensor};

use crate::augment::photometric;
use crate::batch::images_tensor;
use crate::config::{HomographicConfig, JointConfig};
use crate::losses::{cell_targets, cell_valid};
use crate::warp::{warp_images_to, warp_points};

/// Views that shrink the crop more than this are drawn from the 2x2-averaged crop.
const HALF_RESOLUTION_BELOW: f64 = 0.75;

/// A batch of image pairs.
#[derive(Debug)]
pub struct PairBatch {
    /// `[2B, 1, Hv, Wv]`: the B augmented first views, then their B augmented second views.
    pub images: Tensor,
    /// `[B, Hv/8, Wv/8]` targets of the first views.
    pub targets1: Tensor,
    /// `[B, Hv/8, Wv/8]` targets of the second views.
    pub targets2: Tensor,
    /// `[B, Hv/8, Wv/8]` valid cells of the first views.
    pub valid1: Tensor,
    /// `[B, Hv/8, Wv/8]` valid cells of the second views.
    pub valid2: Tensor,
    /// Homographies from first to second view (view pixels to view pixels).
    pub homs: Vec<Homography>,
    /// `[B, N, 2]` one point per cell of the first views (x, y pixels), jittered in the cell.
    pub points1: Tensor,
    /// `[B, N, 2]` the same points in the second views.
    pub points2: Tensor,
    /// `[B, N]` 1 where a point and its image both have source pixels.
    pub points_valid: Tensor,
}

/// One point per 8x8 cell of a `width` x `height` view, uniformly inside the cell, mapped by each
/// homography; valid where both masks (`[B, 1, H, W]`, host copies taken here) are set.
fn cell_points(
    homs: &[Homography],
    mask1: &Tensor,
    mask2: &Tensor,
    height: usize,
    width: usize,
    rng: &mut Pcg64,
    device: Device,
) -> anyhow::Result<(Tensor, Tensor, Tensor)> {
    let (hc, wc) = (height / CELL, width / CELL);
    let n = hc * wc;
    let host = |m: &Tensor| -> anyhow::Result<Vec<f32>> {
        Ok(Vec::<f32>::try_from(
            m.to_device(Device::Cpu).to_kind(Kind::Float).flatten(0, -1),
        )?)
    };
    let (m1, m2) = (host(mask1)?, host(mask2)?);
    let at = |m: &[f32], b: usize, x: f64, y: f64| -> bool {
        let (rx, ry) = (x.round(), y.round());
        rx >= 0.0
            && ry >= 0.0
            && rx <= (width - 1) as f64
            && ry <= (height - 1) as f64
            && m[(b * height + ry as usize) * width + rx as usize] > 0.5
    };
    let (mut p1, mut p2, mut valid) = (
        Vec::with_capacity(homs.len() * n * 2),
        Vec::with_capacity(homs.len() * n * 2),
        Vec::with_capacity(homs.len() * n),
    );
    for (b, h) in homs.iter().enumerate() {
        for i in 0..n {
            let x = ((i % wc) * CELL) as f64 + rng.random_range(0.0..CELL as f64 - 1.0);
            let y = ((i / wc) * CELL) as f64 + rng.random_range(0.0..CELL as f64 - 1.0);
            let (wx, wy) = h.apply(x, y).unwrap_or((-1e6, -1e6));
            let ok = at(&m1, b, x, y) && at(&m2, b, wx, wy);
            p1.extend([x as f32, y as f32]);
            // Far-away stand-ins keep invalid points out of every neighbourhood test.
            p2.extend(if ok {
                [wx as f32, wy as f32]
            } else {
                [-1e4, -1e4]
            });
            valid.push(if ok { 1f32 } else { 0.0 });
        }
    }
    let (b, n) = (homs.len() as i64, n as i64);
    Ok((
        Tensor::from_slice(&p1).view([b, n, 2]).to_device(device),
        Tensor::from_slice(&p2).view([b, n, 2]).to_device(device),
        Tensor::from_slice(&valid).view([b, n]).to_device(device),
    ))
}

/// Homographies from crop pixels to view pixels for `n` views of a `crop` = (h, w) crop rendered
/// at `view` = (h, w), with their zoom (view pixels per crop pixel, before the perturbations of
/// `cfg.params`).
fn view_homographies(
    n: usize,
    crop: (usize, usize),
    view: (usize, usize),
    cfg: &HomographicConfig,
    zoom: [f64; 2],
    rng: &mut Pcg64,
) -> Vec<(Homography, f64)> {
    let (sx, sy) = (view.1 as f64 / crop.1 as f64, view.0 as f64 / crop.0 as f64);
    let to_view = Homography::scaling(sx, sy);
    (0..n)
        .map(|_| {
            if !cfg.enable {
                return (to_view, sx.min(sy));
            }
            let mut params = cfg.params;
            let z = if zoom[0] > 0.0 {
                let z = rng.random_range(zoom[0].ln()..=zoom[1].ln()).exp();
                params.patch_ratio = (sx.min(sy) / z).clamp(0.05, 1.0);
                sx.min(sy) / params.patch_ratio
            } else {
                sx.min(sy) / params.patch_ratio
            };
            let h = sample_homography(crop.1, crop.0, &params, rng);
            (to_view.compose(&h), z)
        })
        .collect()
}

/// Renders the views of `images` (`[B, 1, H, W]` crops) for `maps` (crop to view pixels, with the
/// views' zooms) at `view` = (h, w). Returns the views and their masks of pixels with a source.
fn render_views(
    images: &Tensor,
    half: Option<&Tensor>,
    maps: &[(Homography, f64)],
    view: (usize, usize),
    margin: f64,
) -> anyhow::Result<(Tensor, Tensor)> {
    let homs: Vec<Homography> = maps.iter().map(|m| m.0).collect();
    let (full, full_mask) = warp_images_to(images, &homs, view, margin)?;
    let Some(half) = half.filter(|_| maps.iter().any(|m| m.1 < HALF_RESOLUTION_BELOW)) else {
        return Ok((full, full_mask));
    };
    // Crop pixel p is at p/2 - 1/4 in the half-resolution crop.
    let from_half = Homography::scaling(2.0, 2.0);
    let half_homs: Vec<Homography> = homs.iter().map(|h| h.compose(&from_half)).collect();
    let (small, small_mask) = warp_images_to(half, &half_homs, view, margin / 2.0)?;
    let pick: Vec<f32> = maps
        .iter()
        .map(|m| f32::from(u8::from(m.1 < HALF_RESOLUTION_BELOW)))
        .collect();
    let pick = Tensor::from_slice(&pick)
        .view([maps.len() as i64, 1, 1, 1])
        .to_device(images.device());
    let keep = -&pick + 1.0;
    Ok((
        &small * &pick + &full * &keep,
        &small_mask * &pick + &full_mask * &keep,
    ))
}

/// Builds a pair batch from grey crops (values in [0, 1], `height` x `width`) and their labels
/// (crop pixels): two random views of each crop as described in the module documentation.
pub fn pair_batch(
    crops: &[&[f32]],
    labels: &[Vec<[f32; 2]>],
    height: usize,
    width: usize,
    cfg: &JointConfig,
    rng: &mut Pcg64,
    device: Device,
) -> anyhow::Result<PairBatch> {
    let b = crops.len();
    let crop = (height, width);
    let view = cfg.view_size(crop);
    let (vh, vw) = view;
    let images = images_tensor(crops, height, width, device);
    let half = (cfg.view_zoom[0] > 0.0 && cfg.view_zoom[0] < HALF_RESOLUTION_BELOW)
        .then(|| images.avg_pool2d([2, 2], [2, 2], [0, 0], false, true, None::<i64>));
    let margin = cfg.homographic.valid_border_margin as f64;
    let maps1 = view_homographies(b, crop, view, &cfg.view_homographic, cfg.view_zoom, rng);
    let (view1, mask1) = render_views(&images, half.as_ref(), &maps1, view, margin)?;
    let maps2 = view_homographies(b, crop, view, &cfg.homographic, cfg.view_zoom, rng);
    let (view2, mask2) = render_views(&images, half.as_ref(), &maps2, view, margin)?;
    let homs = maps1
        .iter()
        .zip(&maps2)
        .map(|(a, c)| {
            a.0.inverse()
                .map(|ai| c.0.compose(&ai))
                .ok_or_else(|| anyhow::anyhow!("singular homography {:?}", a.0.0))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let warp_all = |maps: &[(Homography, f64)]| -> Vec<Vec<[f32; 2]>> {
        labels
            .iter()
            .zip(maps)
            .map(|(p, m)| warp_points(p, &m.0, vw, vh))
            .collect()
    };
    let (pts1, pts2) = (warp_all(&maps1), warp_all(&maps2));
    let (points1, points2, points_valid) = cell_points(&homs, &mask1, &mask2, vh, vw, rng, device)?;
    let a1 = photometric(&view1, &cfg.photometric, rng);
    let a2 = photometric(&view2, &cfg.photometric, rng);
    Ok(PairBatch {
        images: Tensor::cat(&[a1, a2], 0),
        targets1: cell_targets(&pts1, vh, vw, rng, device),
        targets2: cell_targets(&pts2, vh, vw, rng, device),
        valid1: cell_valid(&mask1),
        valid2: cell_valid(&mask2),
        homs,
        points1,
        points2,
        points_valid,
    })
}

/// A fixed pair batch (no photometric augmentation, seeded) of the first `crops`, e.g. for a
/// validation measure that must not change from one evaluation to the next.
pub fn fixed_pair_batch(
    crops: &[&[f32]],
    height: usize,
    width: usize,
    cfg: &JointConfig,
    seed: u64,
    device: Device,
) -> anyhow::Result<PairBatch> {
    let mut fixed = cfg.clone();
    fixed.photometric.enable = false;
    let no_labels = vec![Vec::new(); crops.len()];
    tch::no_grad(|| {
        pair_batch(
            crops,
            &no_labels,
            height,
            width,
            &fixed,
            &mut Pcg64::seed_from_u64(seed),
            device,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    /// A crop with one bright pixel per label, so a view's pixels show where labels went.
    fn dotted_crop(h: usize, w: usize, labels: &[[f32; 2]]) -> Vec<f32> {
        let mut img = vec![0f32; h * w];
        for l in labels {
            img[l[1] as usize * w + l[0] as usize] = 1.0;
        }
        img
    }

    #[test]
    fn zoomed_views_keep_labels_cells_and_homographies_consistent() {
        let mut cfg = Config::cpu().train;
        cfg.photometric.enable = false;
        cfg.view_height = 48;
        cfg.view_width = 64;
        cfg.view_zoom = [0.5, 2.0];
        let (h, w) = (96usize, 128usize);
        let labels: Vec<[f32; 2]> = (0..40)
            .map(|i| [(8 + (i * 37) % 112) as f32, (8 + (i * 23) % 80) as f32])
            .collect();
        let crop = dotted_crop(h, w, &labels);
        let mut rng = Pcg64::seed_from_u64(3);
        let crops = vec![crop.as_slice(); 6];
        let all = vec![labels.clone(); 6];
        let b = pair_batch(&crops, &all, h, w, &cfg, &mut rng, Device::Cpu).unwrap();
        assert_eq!(b.images.size(), vec![12, 1, 48, 64]);
        assert_eq!(b.targets1.size(), vec![6, 6, 8]);
        assert_eq!(b.points1.size(), vec![6, 48, 2]);
        // Corresponding points: where both are valid, the homography maps one onto the other.
        let p1 = Vec::<f32>::try_from(b.points1.flatten(0, -1)).unwrap();
        let p2 = Vec::<f32>::try_from(b.points2.flatten(0, -1)).unwrap();
        let v = Vec::<f32>::try_from(b.points_valid.flatten(0, -1)).unwrap();
        let mut checked = 0;
        for (i, ok) in v.iter().enumerate() {
            if *ok > 0.5 {
                let hm = b.homs[i / 48];
                let (x, y) = hm.apply(p1[2 * i] as f64, p1[2 * i + 1] as f64).unwrap();
                assert!(
                    (x - p2[2 * i] as f64).abs() < 1e-3 && (y - p2[2 * i + 1] as f64).abs() < 1e-3
                );
                checked += 1;
            }
        }
        assert!(checked > 20, "{checked}");
        // The views differ in scale: some pair has a scale ratio beyond 1.3 either way.
        let ratios: Vec<f64> = b
            .homs
            .iter()
            .map(|m| {
                let a = m.0;
                ((a[0] * a[4] - a[1] * a[3]) / (a[8] * a[8])).abs().sqrt()
            })
            .collect();
        assert!(
            ratios.iter().any(|r| !(0.77..=1.3).contains(r)),
            "{ratios:?}"
        );
    }

    #[test]
    fn without_zoom_or_view_size_the_views_are_plain_warps_of_the_crop() {
        // The identity view (view_homographic disabled) of a crop is the crop itself.
        let mut cfg = Config::default().train;
        cfg.photometric.enable = false;
        let (h, w) = (32usize, 48usize);
        let crop: Vec<f32> = (0..h * w).map(|i| (i % 7) as f32 / 7.0).collect();
        let mut rng = Pcg64::seed_from_u64(1);
        let b = pair_batch(&[&crop], &[vec![]], h, w, &cfg, &mut rng, Device::Cpu).unwrap();
        let first = Vec::<f32>::try_from(b.images.get(0).flatten(0, -1)).unwrap();
        let diff = first
            .iter()
            .zip(&crop)
            .map(|(a, c)| (a - c).abs())
            .fold(0f32, f32::max);
        assert!(diff < 1e-5, "{diff}");
    }

    #[test]
    fn shrinking_views_read_the_averaged_crop() {
        // A checkerboard of single pixels averages to 0.5 at half resolution: a view at zoom 0.5
        // must show grey, not an aliased pattern of black and white.
        let mut cfg = Config::default().train;
        cfg.photometric.enable = false;
        cfg.view_homographic.enable = true;
        cfg.view_homographic.params = superpoint::sampling::HomographyParams {
            perspective: 0.0,
            scale: 0.0,
            rotation: 0.0,
            translation: 0.0,
            patch_ratio: 1.0,
        };
        cfg.homographic = cfg.view_homographic.clone();
        cfg.view_height = 32;
        cfg.view_width = 32;
        cfg.view_zoom = [0.5, 0.5];
        let n = 64usize;
        let crop: Vec<f32> = (0..n * n).map(|i| ((i % n + i / n) % 2) as f32).collect();
        let mut rng = Pcg64::seed_from_u64(2);
        let b = pair_batch(&[&crop], &[vec![]], n, n, &cfg, &mut rng, Device::Cpu).unwrap();
        let v = b.images.get(0).narrow(1, 4, 24).narrow(2, 4, 24);
        let (lo, hi) = (v.min().double_value(&[]), v.max().double_value(&[]));
        assert!(lo > 0.45 && hi < 0.55, "{lo}..{hi}");
    }
}
