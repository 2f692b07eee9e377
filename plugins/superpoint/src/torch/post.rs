//! Post-processing on the device, equal to the library's host post-processing
//! ([`crate::postprocess::extract_keypoints_in_frame`] and
//! [`crate::postprocess::sample_descriptors`]):
//!
//! - **Candidates**: heatmap values `>= threshold` and `> 0` inside the valid (unpadded) region.
//! - **Order**: each candidate gets a unique `f64` key, `score bits * 2^23 + (2^23 - 1 - index)`
//!   (`index = y * W + x`), exact in `f64` since a probability's bits are below `2^30` and the
//!   heatmap has at most `2^23` pixels. Keys order candidates like the host's sort: score
//!   descending, then row, then column ascending, with no ties.
//! - **NMS as max-pool**: greedy NMS (a kept point suppresses every candidate at most `ry` rows and
//!   `rx` columns away) computed by iterated max-pools: points that are the largest key in their
//!   window are kept; candidates inside a kept point's window are removed; repeat on the rest
//!   until nothing changes. With unique keys this is exactly the greedy result (each round adds
//!   the points no remaining larger candidate can still suppress).
//! - **Border**: a per-row and per-column mask computed on the host with
//!   [`InputGeometry::to_frame`](crate::frame::InputGeometry::to_frame), so a kept point still
//!   suppresses its neighbours when it is itself dropped for the border, as on the host.
//! - **Top-k** by key, then bilinear descriptor sampling at `(x - 3.5) / 8` on the cell grid
//!   (clamped) and L2 normalisation.
//! - **Sub-pixel**: [`windows`] gathers the heatmap window around each kept peak (NaN outside the
//!   valid region) for the host's [`Subpixel::refine_window`](crate::subpixel::Subpixel::refine_window);
//!   [`sample_descriptors`] takes the refined positions.

use tch::{Device, Kind, Tensor};

use crate::detection::DetectorConfig;
use crate::frame::InputGeometry;
use crate::onnx::{CELL, DESCRIPTOR_DIM};

/// Bits left for the pixel index in a key: at most `2^23` heatmap pixels (3840x2160 fits).
pub(super) const INDEX_BITS: u32 = 23;

/// Device tensors that depend only on the geometry, the frame size and the border: built once and
/// reused while those stay the same.
pub(super) struct Masks {
    key: (usize, usize, usize, usize, u32, u32, (usize, usize), usize),
    /// `[1, H, W]` bool: inside the valid region.
    valid: Tensor,
    /// `[1, H, W]` bool: inside the valid region and at least `border` frame pixels from every
    /// frame edge.
    inside: Tensor,
    /// `[1, H, W]` float64: `2^23 - 1 - (y * W + x)`.
    order: Tensor,
}

impl Masks {
    fn cache_key(
        geo: &InputGeometry,
        frame_size: (usize, usize),
        border: usize,
    ) -> (usize, usize, usize, usize, u32, u32, (usize, usize), usize) {
        (
            geo.width,
            geo.height,
            geo.valid_width,
            geo.valid_height,
            geo.scale_x.to_bits(),
            geo.scale_y.to_bits(),
            frame_size,
            border,
        )
    }

    /// The masks for `geo` (network input), `frame_size` and `border` (frame pixels), reusing
    /// `cached` when it was built for the same values.
    pub fn get<'a>(
        cached: &'a mut Option<Masks>,
        geo: &InputGeometry,
        frame_size: (usize, usize),
        border: usize,
        device: Device,
    ) -> &'a Masks {
        let key = Self::cache_key(geo, frame_size, border);
        if cached.as_ref().is_none_or(|m| m.key != key) {
            *cached = Some(Self::build(key, geo, frame_size, border, device));
        }
        cached.as_ref().expect("just built")
    }

    fn build(
        key: (usize, usize, usize, usize, u32, u32, (usize, usize), usize),
        geo: &InputGeometry,
        frame_size: (usize, usize),
        border: usize,
        device: Device,
    ) -> Masks {
        let (w, h) = (geo.width, geo.height);
        let b = border as f32;
        let (max_x, max_y) = (frame_size.0 as f32 - 1.0 - b, frame_size.1 as f32 - 1.0 - b);
        // The same arithmetic as the host's `inside`, one axis at a time.
        let col_in: Vec<bool> = (0..w)
            .map(|x| {
                let fx = geo.to_frame(x as f32, 0.0).0;
                x < geo.valid_width && fx >= b && fx <= max_x
            })
            .collect();
        let row_in: Vec<bool> = (0..h)
            .map(|y| {
                let fy = geo.to_frame(0.0, y as f32).1;
                y < geo.valid_height && fy >= b && fy <= max_y
            })
            .collect();
        let col_valid: Vec<bool> = (0..w).map(|x| x < geo.valid_width).collect();
        let row_valid: Vec<bool> = (0..h).map(|y| y < geo.valid_height).collect();
        let outer = |rows: &[bool], cols: &[bool]| {
            let r = Tensor::from_slice(rows).view([h as i64, 1]);
            let c = Tensor::from_slice(cols).view([1, w as i64]);
            r.logical_and(&c).unsqueeze(0).to_device(device)
        };
        let n = (w * h) as i64;
        let order = (Tensor::arange(n, (Kind::Int64, device)) * -1 + ((1i64 << INDEX_BITS) - 1))
            .to_kind(Kind::Double)
            .view([1, h as i64, w as i64]);
        Masks {
            key,
            valid: outer(&row_valid, &col_valid),
            inside: outer(&row_in, &col_in),
            order,
        }
    }
}

/// Result of [`keypoints`]: per image, the kept keypoints best first.
pub(super) struct Selected {
    /// `[N, k]` int64 heatmap indices (`y * W + x`), best first; image `i` uses its first
    /// `counts[i]`.
    pub index: Tensor,
    /// `[N, k]` float32 scores at `index`.
    pub scores: Tensor,
    /// `[N]` int64 number of kept keypoints per image (at most `k`).
    pub counts: Tensor,
    /// `k`: columns of `index` (0 when no image has a keypoint).
    pub k: i64,
}

/// Threshold, NMS, border and top-k on `scores` `[N, H, W]`, with `config.post` in frame pixels
/// as on the host. Synchronises with the device once per NMS round and once for the counts.
pub(super) fn keypoints(
    scores: &Tensor,
    geo: &InputGeometry,
    masks: &Masks,
    config: &DetectorConfig,
) -> Selected {
    let p = &config.post;
    let n = scores.size()[0];
    let candidate = scores
        .ge(p.threshold as f64)
        .logical_and(&scores.gt(0.0))
        .logical_and(&masks.valid);
    let bits = scores.view_dtype(Kind::Int).to_kind(Kind::Int64);
    let keys = (bits * (1i64 << INDEX_BITS)).to_kind(Kind::Double) + &masks.order;
    let zero = Tensor::zeros([1], (Kind::Double, scores.device()));
    let keys = keys.where_self(&candidate, &zero);
    let kept = if p.nms_radius == 0 {
        candidate
    } else {
        // Radius in heatmap pixels per axis, as `extract_keypoints_in_frame` computes it.
        let radius = |scale: f32| {
            let r = p.nms_radius as f32 / scale.max(f32::MIN_POSITIVE);
            (r + 1e-4)
                .floor()
                .min(geo.valid_width.max(geo.valid_height) as f32) as i64
        };
        let (rx, ry) = (radius(geo.scale_x), radius(geo.scale_y));
        greedy_nms(&keys, rx, ry)
    };
    let kept = kept.logical_and(&masks.inside);
    let counts_all = kept.sum_dim_intlist(&[1i64, 2][..], false, Kind::Int64);
    let most = i64::try_from(counts_all.max()).unwrap_or(0);
    let limit = if p.max_keypoints == 0 {
        i64::MAX
    } else {
        p.max_keypoints as i64
    };
    let k = most.min(limit);
    let counts = counts_all.clamp_max(k);
    if k == 0 {
        let empty = Tensor::zeros([n, 0], (Kind::Int64, scores.device()));
        return Selected {
            scores: empty.to_kind(Kind::Float),
            index: empty,
            counts,
            k,
        };
    }
    let minus = Tensor::full([1], -1.0, (Kind::Double, scores.device()));
    let ranked = keys.where_self(&kept, &minus).flatten(1, 2);
    let (_, index) = ranked.topk(k, 1, true, true);
    let scores = scores.flatten(1, 2).gather(1, &index, false);
    Selected {
        index,
        scores,
        counts,
        k,
    }
}

/// Greedy NMS through max-pools on `keys` `[N, H, W]` (unique positive keys for candidates,
/// 0 elsewhere) with a `(2ry+1) x (2rx+1)` window; returns the kept mask `[N, H, W]`.
fn greedy_nms(keys: &Tensor, rx: i64, ry: i64) -> Tensor {
    // A window maximum is a row maximum of column maxima: two 1-D pools read 2(r+1) values per
    // pixel instead of (2r+1)^2.
    let pool = |t: &Tensor| {
        t.unsqueeze(1)
            .max_pool2d([1, 2 * rx + 1], [1, 1], [0, rx], [1, 1], false)
            .max_pool2d([2 * ry + 1, 1], [1, 1], [ry, 0], [1, 1], false)
            .squeeze_dim(1)
    };
    let candidate = keys.gt(0.0);
    let zero = Tensor::zeros([1], (Kind::Double, keys.device()));
    let mut kept = candidate.logical_and(&keys.eq_tensor(&pool(keys)));
    // Every round keeps at least one more point or stops; bounded by the number of pixels.
    for _ in 0..keys.numel() {
        let suppressed = pool(&kept.to_kind(Kind::Float)).gt(0.0);
        let rest = keys.where_self(&suppressed.logical_not(), &zero);
        let new = rest.gt(0.0).logical_and(&rest.eq_tensor(&pool(&rest)));
        if !bool::try_from(new.any()).unwrap_or(false) {
            break;
        }
        kept = kept.logical_or(&new);
    }
    kept
}

/// The `(2r+1)²` heatmap values around each peak `index` `[N, k]` (`y * W + x`) of `scores`
/// `[N, H, W]`, row-major, NaN where the window leaves the valid area of `geo`: `[N, k, (2r+1)²]`,
/// the windows [`Subpixel::window`](crate::subpixel::Subpixel::window) makes on the host.
pub(super) fn windows(scores: &Tensor, index: &Tensor, geo: &InputGeometry, radius: i64) -> Tensor {
    let size = scores.size();
    let (n, h, w) = (size[0], size[1], size[2]);
    let k = index.size()[1];
    let device = scores.device();
    let side = 2 * radius + 1;
    let offsets = Tensor::arange(side, (Kind::Int64, device)) - radius;
    let dx = offsets.repeat([side]).view([1, 1, side * side]);
    let dy = offsets
        .repeat_interleave_self_int(side, 0, None::<i64>)
        .view([1, 1, side * side]);
    let xx = index.remainder(w).unsqueeze(2) + dx;
    let yy = index.floor_divide_scalar(w).unsqueeze(2) + dy;
    let inside = xx
        .ge(0)
        .logical_and(&xx.lt(geo.valid_width as i64))
        .logical_and(&yy.ge(0))
        .logical_and(&yy.lt(geo.valid_height as i64));
    let flat = yy.clamp(0, h - 1) * w + xx.clamp(0, w - 1);
    let values = scores
        .flatten(1, 2)
        .gather(1, &flat.view([n, k * side * side]), false)
        .view([n, k, side * side]);
    let nan = Tensor::full([1], f64::NAN, (Kind::Float, device));
    values.where_self(&inside, &nan)
}

/// Samples `dense` `[N, 256, Hc, Wc]` (unit-norm cells) bilinearly at the network-input pixel
/// positions `x`, `y` (float32 `[N, k]`), as [`crate::postprocess::sample_descriptors`] does,
/// and L2-normalises: returns `[N, k, 256]`.
pub(super) fn sample_descriptors(dense: &Tensor, x: &Tensor, y: &Tensor) -> Tensor {
    let size = dense.size();
    let (n, hc, wc) = (size[0], size[2], size[3]);
    let k = x.size()[1];
    let half = (CELL as f32 - 1.0) / 2.0;
    let cell = CELL as f64;
    let u = ((x - half as f64) / cell).clamp(0.0, (wc - 1) as f64);
    let v = ((y - half as f64) / cell).clamp(0.0, (hc - 1) as f64);
    let (u0, v0) = (u.floor(), v.floor());
    let (fu, fv) = (&u - &u0, &v - &v0);
    let (u0, v0) = (u0.to_kind(Kind::Int64), v0.to_kind(Kind::Int64));
    let u1 = (&u0 + 1).clamp_max(wc - 1);
    let v1 = (&v0 + 1).clamp_max(hc - 1);
    let flat = dense.flatten(2, 3);
    let dim = DESCRIPTOR_DIM as i64;
    let at = |vv: &Tensor, uu: &Tensor| {
        let i = (vv * wc + uu).unsqueeze(1).expand([n, dim, k], false);
        flat.gather(2, &i, false)
    };
    let w00 = ((fu.ones_like() - &fu) * (fv.ones_like() - &fv)).unsqueeze(1);
    let w01 = (&fu * (fv.ones_like() - &fv)).unsqueeze(1);
    let w10 = ((fu.ones_like() - &fu) * &fv).unsqueeze(1);
    let w11 = (&fu * &fv).unsqueeze(1);
    let d = w00 * at(&v0, &u0) + w01 * at(&v0, &u1) + w10 * at(&v1, &u0) + w11 * at(&v1, &u1);
    let norm = d
        .norm_scalaropt_dim(2.0, [1], true)
        .clamp_min(f32::MIN_POSITIVE as f64);
    (d / norm).transpose(1, 2)
}

#[cfg(test)]
mod tests {
    //! The device post-processing against the host's on the same heatmaps: identical keypoints
    //! (positions, scores, order), with plateaus of equal scores, chains of suppression, resized
    //! geometries and padding.
    use super::*;
    use crate::postprocess::{self, BorderBox, Keypoint, KeypointScratch, PostParams};
    use crate::subpixel::Subpixel;
    use rand::{Rng, SeedableRng};

    fn geo(w: usize, h: usize, vw: usize, vh: usize, sx: f32, sy: f32) -> InputGeometry {
        InputGeometry {
            width: w,
            height: h,
            valid_width: vw,
            valid_height: vh,
            scale_x: sx,
            scale_y: sy,
        }
    }

    /// Random heatmap with blobs, plateaus (repeated values) and quantised scores (ties).
    fn heatmap(rng: &mut impl Rng, w: usize, h: usize) -> Vec<f32> {
        (0..w * h)
            .map(|_| {
                let v: f32 = rng.random::<f32>().powi(6);
                if rng.random::<f32>() < 0.3 {
                    (v * 8.0).round() / 8.0 // many exact ties
                } else {
                    v
                }
            })
            .collect()
    }

    fn compare(scores: &[f32], g: &InputGeometry, frame: (usize, usize), p: PostParams) {
        let mut host = Vec::new();
        postprocess::extract_keypoints_in_frame(
            scores,
            g,
            frame,
            &p,
            &mut KeypointScratch::default(),
            &mut host,
        );
        let config = DetectorConfig {
            post: p,
            ..Default::default()
        };
        let t = Tensor::from_slice(scores).view([1, g.height as i64, g.width as i64]);
        let mut cache = None;
        let masks = Masks::get(&mut cache, g, frame, p.border, Device::Cpu);
        let sel = keypoints(&t, g, masks, &config);
        let count = i64::try_from(sel.counts.get(0)).unwrap() as usize;
        let index: Vec<i64> = Vec::try_from(sel.index.get(0)).unwrap();
        let score: Vec<f32> = Vec::try_from(sel.scores.get(0)).unwrap();
        let sub = p.subpixel;
        let windows: Vec<f32> = if sub.applies(g.valid_width, g.valid_height) && sel.k > 0 {
            let r = sub.window_radius() as i64;
            Vec::try_from(windows(&t, &sel.index, g, r).reshape([-1])).unwrap()
        } else {
            Vec::new()
        };
        let bounds = BorderBox::new(g, frame, p.border);
        let device: Vec<(f32, f32, f32)> = (0..count)
            .map(|i| {
                let idx = index[i] as usize;
                let mut k = Keypoint {
                    x: (idx % g.width) as f32,
                    y: (idx / g.width) as f32,
                    score: score[i],
                };
                if sub != Subpixel::None {
                    if !windows.is_empty() {
                        let len = sub.window_len();
                        let (dx, dy) = sub.refine_window(&windows[i * len..(i + 1) * len]);
                        k.x += dx;
                        k.y += dy;
                    }
                    bounds.clamp(&mut k);
                }
                (k.x, k.y, k.score)
            })
            .collect();
        let host: Vec<(f32, f32, f32)> = host.iter().map(|k| (k.x, k.y, k.score)).collect();
        assert_eq!(device, host, "{g:?} frame {frame:?} {p:?}");
    }

    #[test]
    fn device_keypoints_equal_the_hosts() {
        // Integer peaks, and every sub-pixel refinement on windows gathered on the device (with
        // border 0 the windows of peaks at the frame edge leave the valid area).
        let mut rng = rand_pcg::Pcg64::seed_from_u64(3);
        let cases = [
            (geo(64, 48, 64, 48, 1.0, 1.0), (64, 48)),
            (geo(72, 56, 67, 50, 1.0, 1.0), (67, 50)),
            (geo(64, 48, 64, 48, 2.0, 2.5), (128, 120)),
            (geo(80, 64, 80, 64, 0.5, 0.75), (40, 48)),
        ];
        for (g, frame) in cases {
            for (radius, border, max) in [(4, 4, 1000), (1, 0, 0), (0, 4, 50), (3, 2, 25)] {
                for threshold in [0.015f32, 0.2] {
                    let s = heatmap(&mut rng, g.width, g.height);
                    for subpixel in [
                        Subpixel::None,
                        Subpixel::Quadratic,
                        Subpixel::SoftArgmax { radius: 1 },
                        Subpixel::SoftArgmax { radius: 2 },
                        Subpixel::SoftArgmax { radius: 4 },
                    ] {
                        let p = PostParams {
                            threshold,
                            nms_radius: radius,
                            border,
                            max_keypoints: max,
                            subpixel,
                        };
                        compare(&s, &g, frame, p);
                    }
                }
            }
        }
    }

    #[test]
    fn device_sampling_equals_the_hosts() {
        // At integer and sub-pixel positions, inside and beyond the outer cell centres.
        let mut rng = rand_pcg::Pcg64::seed_from_u64(5);
        let (hc, wc, w) = (6usize, 8usize, 64usize);
        let dense: Vec<f32> = (0..DESCRIPTOR_DIM * hc * wc)
            .map(|_| rng.random::<f32>() - 0.5)
            .collect();
        let positions: Vec<(f32, f32)> = (0..40)
            .map(|i| {
                let (x, y) = (
                    rng.random_range(0..w) as f32,
                    rng.random_range(0..hc * 8) as f32,
                );
                if i % 2 == 0 {
                    (x, y)
                } else {
                    (x + rng.random::<f32>() - 0.5, y + rng.random::<f32>() - 0.5)
                }
            })
            .collect();
        let mut host = Vec::new();
        postprocess::sample_descriptors(&dense, hc, wc, positions.iter().copied(), &mut host);
        let d = Tensor::from_slice(&dense).view([1, DESCRIPTOR_DIM as i64, hc as i64, wc as i64]);
        let xs: Vec<f32> = positions.iter().map(|p| p.0).collect();
        let ys: Vec<f32> = positions.iter().map(|p| p.1).collect();
        let x = Tensor::from_slice(&xs).view([1, -1]);
        let y = Tensor::from_slice(&ys).view([1, -1]);
        let out: Vec<f32> = Vec::try_from(sample_descriptors(&d, &x, &y).reshape([-1])).unwrap();
        assert_eq!(out.len(), host.len());
        let worst = out
            .iter()
            .zip(&host)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(worst < 1e-6, "max abs difference {worst}");
    }
}
