//! Homographic Adaptation: each photo is warped by N random homographies (plus the identity), the
//! detector heatmaps of the warps are mapped back and averaged (each pixel over the warps that see
//! it), and threshold + NMS on the average gives the pseudo-labels, saved as JSON.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use superpoint::Homography;
use superpoint::postprocess::{KeypointScratch, PostParams, extract_keypoints};
use superpoint::sampling::sample_homography;
use superpoint::subpixel::Subpixel;
use tch::{Device, Kind, Tensor};

use crate::config::AdaptConfig;
use crate::model::{SuperPointNet, heatmap};
use crate::photos::{CropWindow, load_gray, load_gray_cover, load_gray_window};
use crate::runlog::Progress;
use crate::synth::mix;
use crate::warp::{grid, sample, warp_images};

/// Pseudo-labels of one photo, in pixels of its `width` x `height` crop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelEntry {
    /// The photo (read in place).
    pub path: PathBuf,
    /// `[x, y, aggregated score]`, best first.
    pub keypoints: Vec<[f32; 3]>,
    /// Where the labelled crop lies in the photo; absent for a centre crop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<CropWindow>,
}

impl LabelEntry {
    /// The labelled `width` x `height` crop as grey values in [0, 1].
    pub fn load_crop(&self, width: usize, height: usize) -> anyhow::Result<Vec<f32>> {
        let bytes = match &self.window {
            Some(w) => load_gray_window(&self.path, w, width, height)?,
            None => load_gray(&self.path, width, height)?,
        };
        Ok(bytes.iter().map(|&v| v as f32 / 255.0).collect())
    }
}

/// The pseudo-label file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PseudoLabels {
    /// Crop height the labels refer to (photos are resized to cover it and centre-cropped).
    pub height: usize,
    /// Crop width.
    pub width: usize,
    /// Model that produced them.
    pub model: String,
    /// Random homographies per photo (plus the identity).
    pub num_homographies: usize,
    /// Threshold on the aggregated heatmap.
    pub threshold: f32,
    /// One entry per photo.
    pub entries: Vec<LabelEntry>,
}

impl PseudoLabels {
    /// Reads a file written by [`adapt`].
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read pseudo-labels {}", path.display()))?;
        let l: PseudoLabels = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a pseudo-label file", path.display()))?;
        anyhow::ensure!(
            l.height.is_multiple_of(8)
                && l.width.is_multiple_of(8)
                && l.height >= 32
                && l.width >= 32,
            "{}: crop size {}x{} must be multiples of 8, at least 32",
            path.display(),
            l.width,
            l.height
        );
        anyhow::ensure!(!l.entries.is_empty(), "{} has no photos", path.display());
        Ok(l)
    }
}

/// The identity followed by `n` random homographies for a `width` x `height` image.
pub fn adaptation_homographies(
    n: usize,
    width: usize,
    height: usize,
    cfg: &AdaptConfig,
    rng: &mut Pcg64,
) -> Vec<Homography> {
    std::iter::once(Homography::IDENTITY)
        .chain((0..n).map(|_| sample_homography(width, height, &cfg.homography, rng)))
        .collect()
}

/// Aggregated heatmap `[H, W]` of `image` `[1, 1, H, W]` over `homs` (maps from the photo to the
/// warped views).
pub fn aggregate(
    net: &SuperPointNet,
    image: &Tensor,
    homs: &[Homography],
    cfg: &AdaptConfig,
) -> anyhow::Result<Tensor> {
    aggregate_with(image, homs, cfg, |views| {
        heatmap(&net.forward_t(views, false).logits)
    })
}

/// [`aggregate`] with any detector `detect`: `[n, 1, H, W]` views to `[n, H, W]` heatmaps.
pub fn aggregate_with(
    image: &Tensor,
    homs: &[Homography],
    cfg: &AdaptConfig,
    detect: impl Fn(&Tensor) -> Tensor,
) -> anyhow::Result<Tensor> {
    let (_, _, h, w) = image.size4()?;
    let dev = image.device();
    let mut sum = Tensor::zeros([h, w], (Kind::Float, dev));
    let mut count = Tensor::zeros([h, w], (Kind::Float, dev));
    tch::no_grad(|| -> anyhow::Result<()> {
        for chunk in homs.chunks(cfg.batch_size.max(1)) {
            let n = chunk.len() as i64;
            let views = image.expand([n, 1, h, w], false).contiguous();
            let (warped, _) = warp_images(&views, chunk, 0.0)?;
            let heat = detect(&warped).unsqueeze(1);
            // Ignore detections near the border of each warped view.
            let size = (h as usize, w as usize);
            let (_, mask) = grid(
                &vec![Homography::IDENTITY; chunk.len()],
                size,
                size,
                cfg.border_margin as f64,
                dev,
            );
            // Back to the photo: photo pixel p reads the view at H p.
            let (back, _) = sample(&(heat * &mask), chunk, size, 0.0);
            let (seen, _) = sample(&mask, chunk, size, 0.0);
            sum += back.sum_dim_intlist(0, false, Kind::Float).squeeze_dim(0);
            count += seen.sum_dim_intlist(0, false, Kind::Float).squeeze_dim(0);
        }
        Ok(())
    })?;
    Ok(sum / count.clamp_min(1e-6))
}

/// Runs Homographic Adaptation with `net` over `photos`; writes `out/labels.json` and, for the
/// first `previews` photos, PNGs with the labels drawn in `out/preview/`.
pub fn adapt(
    net: &SuperPointNet,
    model_name: &str,
    photos: &[PathBuf],
    cfg: &AdaptConfig,
    out: &Path,
    previews: usize,
) -> anyhow::Result<PseudoLabels> {
    anyhow::ensure!(!photos.is_empty(), "no photos to label");
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let (h, w) = (cfg.height, cfg.width);
    // A seeded shuffle, so that `max_photos` draws from every folder rather than the first.
    let mut order: Vec<&PathBuf> = photos.iter().collect();
    if cfg.max_photos > 0 && photos.len() > cfg.max_photos {
        use rand::seq::SliceRandom;
        order.shuffle(&mut Pcg64::seed_from_u64(mix(cfg.seed, 0x5E1EC7)));
        order.truncate(cfg.max_photos);
    }
    let photos = order;
    let (cover_h, cover_w) = (cfg.cover_height.max(h), cfg.cover_width.max(w));
    let post = PostParams {
        threshold: cfg.threshold,
        nms_radius: cfg.nms_radius,
        border: cfg.border,
        max_keypoints: cfg.max_keypoints,
        // Pseudo-labels become one class per pixel of a cell (cell_targets).
        subpixel: Subpixel::None,
    };
    let mut scratch = KeypointScratch::default();
    let mut kps = Vec::new();
    let mut entries = Vec::with_capacity(photos.len());
    let mut progress = Progress::new("adapt", 0, photos.len(), Duration::from_secs(10));
    let preview_dir = out.join("preview");
    let mut skipped = 0usize;
    // Photos are decoded in parallel a chunk at a time; the network runs one photo's warps per batch.
    for (ci, chunk) in photos.chunks(16).enumerate() {
        let loaded: Vec<anyhow::Result<(Vec<u8>, Option<CropWindow>)>> = chunk
            .par_iter()
            .enumerate()
            .map(|(j, p)| {
                if (cover_h, cover_w) == (h, w) {
                    return Ok((load_gray(p, w, h)?, None));
                }
                // A random crop of the photo resized to cover cover_w x cover_h.
                let cover = load_gray_cover(p, cover_w, cover_h)?;
                let mut rng = Pcg64::seed_from_u64(mix(cfg.seed ^ 0xC0B, (ci * 16 + j) as u64));
                let window = CropWindow {
                    x: rng.random_range(0..=cover.width() as usize - w),
                    y: rng.random_range(0..=cover.height() as usize - h),
                    cover_width: cover_w,
                    cover_height: cover_h,
                };
                let crop = image::imageops::crop_imm(
                    &cover,
                    window.x as u32,
                    window.y as u32,
                    w as u32,
                    h as u32,
                );
                Ok((crop.to_image().into_raw(), Some(window)))
            })
            .collect();
        for (j, (path, img)) in chunk.iter().zip(loaded).enumerate() {
            let idx = ci * 16 + j;
            let (img, window) = match img {
                Ok(x) => (Ok(x.0), x.1),
                Err(e) => (Err(e), None),
            };
            // One unreadable file in a large folder should not stop the run.
            let img = match img {
                Ok(i) => i,
                Err(e) => {
                    eprintln!("[adapt] warning: skipping {}: {e:#}", path.display());
                    skipped += 1;
                    continue;
                }
            };
            let x = Tensor::from_slice(&img)
                .to_kind(Kind::Float)
                .view([1, 1, h as i64, w as i64])
                .to_device(net.device())
                / 255.0;
            let mut rng = Pcg64::seed_from_u64(mix(cfg.seed, idx as u64));
            let homs = adaptation_homographies(cfg.num_homographies, w, h, cfg, &mut rng);
            let agg = aggregate(net, &x, &homs, cfg)?
                .to_device(Device::Cpu)
                .contiguous();
            let agg = Vec::<f32>::try_from(agg.flatten(0, -1))?;
            extract_keypoints(&agg, w, w, h, &post, &mut scratch, &mut kps);
            let keypoints: Vec<[f32; 3]> = kps.iter().map(|k| [k.x, k.y, k.score]).collect();
            if idx < previews {
                std::fs::create_dir_all(&preview_dir)?;
                let s = crate::synth::Sample {
                    width: w,
                    height: h,
                    image: img.iter().map(|&v| v as f32 / 255.0).collect(),
                    keypoints: keypoints.iter().map(|k| [k[0], k[1]]).collect(),
                    primitive: crate::synth::Primitive::GaussianNoise,
                };
                let f = preview_dir.join(format!("{idx:04}.png"));
                crate::synth::preview_rgb(&s, 2)
                    .save(&f)
                    .with_context(|| format!("cannot write {}", f.display()))?;
            }
            entries.push(LabelEntry {
                path: (*path).clone(),
                keypoints,
                window,
            });
            progress.update(idx + 1, "");
        }
    }
    anyhow::ensure!(
        !entries.is_empty(),
        "none of the {} photos could be read",
        photos.len()
    );
    if skipped > 0 {
        eprintln!("[adapt] warning: {skipped} unreadable photos skipped");
    }
    let labels = PseudoLabels {
        height: h,
        width: w,
        model: model_name.to_string(),
        num_homographies: cfg.num_homographies,
        threshold: cfg.threshold,
        entries,
    };
    let f = out.join("labels.json");
    std::fs::write(&f, serde_json::to_string(&labels)?)
        .with_context(|| format!("cannot write {}", f.display()))?;
    let total: usize = labels.entries.iter().map(|e| e.keypoints.len()).sum();
    println!(
        "[adapt] {} photos, {:.1} pseudo-labels per photo on average, {:.1} s -> {}",
        labels.entries.len(),
        total as f64 / labels.entries.len() as f64,
        progress.elapsed(),
        f.display()
    );
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregation_of_identity_views_is_the_plain_heatmap() {
        tch::manual_seed(0);
        let net = SuperPointNet::new(Device::Cpu, false);
        let x = Tensor::rand([1, 1, 32, 40], (Kind::Float, Device::Cpu));
        let cfg = AdaptConfig {
            border_margin: 0,
            batch_size: 2,
            ..Default::default()
        };
        let agg = aggregate(&net, &x, &[Homography::IDENTITY; 3], &cfg).unwrap();
        let plain = tch::no_grad(|| heatmap(&net.forward_t(&x, false).logits)).squeeze_dim(0);
        assert!((agg - plain).abs().max().double_value(&[]) < 1e-5);
    }

    #[test]
    fn aggregation_undoes_random_warps() {
        // With the image itself as "heatmap", the un-warped average must give the image back:
        // exact for a linear ramp up to bilinear blending at the edges of each view's footprint.
        let (h, w) = (64i64, 80i64);
        let ys = Tensor::arange(h, (Kind::Float, Device::Cpu)).view([h, 1]);
        let xs = Tensor::arange(w, (Kind::Float, Device::Cpu)).view([1, w]);
        let ramp = ((xs + ys * 2.0) / (w + 2 * h) as f64).view([1, 1, h, w]);
        let cfg = AdaptConfig {
            border_margin: 0,
            batch_size: 7,
            ..Default::default()
        };
        let mut rng = Pcg64::seed_from_u64(1);
        let homs = adaptation_homographies(20, w as usize, h as usize, &cfg, &mut rng);
        let agg = aggregate_with(&ramp, &homs, &cfg, |v| v.squeeze_dim(1)).unwrap();
        let diff = (agg - ramp.view([h, w]))
            .narrow(0, 4, h - 8)
            .narrow(1, 4, w - 8)
            .abs()
            .max()
            .double_value(&[]);
        assert!(diff < 0.02, "{diff}");
    }

    #[test]
    fn a_detection_in_a_view_lands_at_its_photo_position() {
        // A detector firing at view pixel (30, 20): with a view shifted by (5, 3) from the photo,
        // the photo position is (25, 17).
        let cfg = AdaptConfig {
            border_margin: 0,
            ..Default::default()
        };
        let shift = Homography([1.0, 0.0, 5.0, 0.0, 1.0, 3.0, 0.0, 0.0, 1.0]);
        let img = Tensor::zeros([1, 1, 48, 64], (Kind::Float, Device::Cpu));
        let agg = aggregate_with(&img, &[shift], &cfg, |v| {
            let hm = Tensor::zeros([v.size()[0], 48, 64], (Kind::Float, Device::Cpu));
            let _ = hm.narrow(1, 20, 1).narrow(2, 30, 1).fill_(1.0);
            hm
        })
        .unwrap();
        let idx = agg.flatten(0, -1).argmax(0, false).int64_value(&[]);
        assert_eq!((idx % 64, idx / 64), (25, 17));
    }
}
