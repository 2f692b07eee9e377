//! Homographic warping of image batches on the training device (`grid_sample`), of keypoints, and
//! the masks of pixels that have a source.

use superpoint::Homography;
use tch::{Device, Kind, Tensor};

/// Sampling grid `[B, H, W, 2]` for an `out` = (H, W) output (normalised, `align_corners =
/// false`) reading, for each output pixel `p`, the `input` = (height, width) image at
/// `maps[b](p)`; also the pixel coordinates' validity `[B, 1, H, W]` (1 where the source position
/// lies inside the input, at least `margin` pixels from its border).
pub fn grid(
    maps: &[Homography],
    out: (usize, usize),
    input: (usize, usize),
    margin: f64,
    device: Device,
) -> (Tensor, Tensor) {
    let (h, w, b) = (out.0 as i64, out.1 as i64, maps.len() as i64);
    let (height, width) = input;
    let opts = (Kind::Float, device);
    let ys = Tensor::arange(h, opts).view([h, 1]).expand([h, w], false);
    let xs = Tensor::arange(w, opts).view([1, w]).expand([h, w], false);
    let ones = Tensor::ones([h, w], opts);
    let pts = Tensor::stack(&[xs, ys, ones], -1).view([1, h * w, 3]);
    let flat: Vec<f32> = maps.iter().flat_map(|m| m.0.map(|v| v as f32)).collect();
    let m = Tensor::from_slice(&flat).view([b, 3, 3]).to_device(device);
    let q = pts.matmul(&m.transpose(1, 2));
    let z = q.select(2, 2);
    // Keep the sign, avoid division by ~0 (points mapped to infinity become invalid below).
    let z = z.sign().where_scalarother(&z.abs().ge(1e-8), 1.0) * z.abs().clamp_min(1e-8);
    let x = q.select(2, 0) / &z;
    let y = q.select(2, 1) / &z;
    let (wf, hf) = (width as f64, height as f64);
    let valid = x
        .ge(margin)
        .logical_and(&x.le(wf - 1.0 - margin))
        .logical_and(&y.ge(margin))
        .logical_and(&y.le(hf - 1.0 - margin))
        .to_kind(Kind::Float)
        .view([b, 1, h, w]);
    let nx = (x + 0.5) * (2.0 / wf) - 1.0;
    let ny = (y + 0.5) * (2.0 / hf) - 1.0;
    (Tensor::stack(&[nx, ny], -1).view([b, h, w, 2]), valid)
}

/// Bilinear sample of `images` `[B, C, H, W]` into `[B, C, out.0, out.1]` where output pixel `p`
/// reads input `maps[b](p)` (zeros outside); also returns the validity mask (see [`grid`]).
pub fn sample(
    images: &Tensor,
    maps: &[Homography],
    out: (usize, usize),
    margin: f64,
) -> (Tensor, Tensor) {
    let (_, _, h, w) = images.size4().expect("images are 4-D");
    let (g, valid) = grid(maps, out, (h as usize, w as usize), margin, images.device());
    let g = g.to_kind(images.kind());
    (images.grid_sampler(&g, 0, 0, false), valid)
}

/// Warps `images` `[B, C, H, W]` by homographies mapping source pixels to warped pixels:
/// `out(H p) = in(p)`, at the input's size. Returns the warped images and the mask of warped
/// pixels with a source.
pub fn warp_images(
    images: &Tensor,
    homs: &[Homography],
    margin: f64,
) -> anyhow::Result<(Tensor, Tensor)> {
    let (_, _, h, w) = images.size4()?;
    warp_images_to(images, homs, (h as usize, w as usize), margin)
}

/// [`warp_images`] into an output of `out` = (height, width) pixels.
pub fn warp_images_to(
    images: &Tensor,
    homs: &[Homography],
    out: (usize, usize),
    margin: f64,
) -> anyhow::Result<(Tensor, Tensor)> {
    let inv = homs
        .iter()
        .map(|h| {
            h.inverse()
                .ok_or_else(|| anyhow::anyhow!("singular homography {:?}", h.0))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(sample(images, &inv, out, margin))
}

/// Maps points by `h`, keeping those that land inside a `width` x `height` image once rounded
/// to the nearest pixel.
pub fn warp_points(
    points: &[[f32; 2]],
    h: &Homography,
    width: usize,
    height: usize,
) -> Vec<[f32; 2]> {
    points
        .iter()
        .filter_map(|p| h.apply(p[0] as f64, p[1] as f64))
        .filter(|&(x, y)| {
            let (rx, ry) = (x.round(), y.round());
            rx >= 0.0 && ry >= 0.0 && rx <= (width - 1) as f64 && ry <= (height - 1) as f64
        })
        .map(|(x, y)| [x as f32, y as f32])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use superpoint::sampling::{HomographyParams, sample_homography};

    #[test]
    fn identity_warp_is_exact_and_shift_moves_pixels() {
        let img = Tensor::rand([2, 1, 16, 24], (Kind::Float, Device::Cpu));
        let id = [Homography::IDENTITY; 2];
        let (out, valid) = warp_images(&img, &id, 0.0).unwrap();
        assert!((&out - &img).abs().max().double_value(&[]) < 1e-5);
        assert_eq!(
            valid.sum(Kind::Float).double_value(&[]),
            (2 * 16 * 24) as f64
        );
        let shift = Homography([1.0, 0.0, 3.0, 0.0, 1.0, 2.0, 0.0, 0.0, 1.0]);
        let (out, valid) = warp_images(&img, &[shift, shift], 0.0).unwrap();
        let a = out.get(0).get(0).get(2 + 5).get(3 + 7).double_value(&[]);
        let b = img.get(0).get(0).get(5).get(7).double_value(&[]);
        assert!((a - b).abs() < 1e-5);
        assert_eq!(valid.get(0).get(0).get(0).get(0).double_value(&[]), 0.0);
    }

    #[test]
    fn sampled_homographies_keep_the_warped_view_inside_the_image() {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(5);
        let params = HomographyParams::default();
        let (w, h) = (80usize, 64usize);
        let homs: Vec<Homography> = (0..50)
            .map(|_| sample_homography(w, h, &params, &mut rng))
            .collect();
        // Every warped pixel reads a source position inside the image.
        let img = Tensor::ones([50, 1, h as i64, w as i64], (Kind::Float, Device::Cpu));
        let (_, valid) = warp_images(&img, &homs, 0.0).unwrap();
        assert_eq!(valid.min().double_value(&[]), 1.0);
        for hm in &homs {
            let inv = hm.inverse().unwrap();
            for (x, y) in [
                (0.0, 0.0),
                ((w - 1) as f64, 0.0),
                (0.0, (h - 1) as f64),
                ((w - 1) as f64, (h - 1) as f64),
            ] {
                let (sx, sy) = inv.apply(x, y).unwrap();
                assert!(
                    sx >= -1e-6
                        && sy >= -1e-6
                        && sx <= (w - 1) as f64 + 1e-6
                        && sy <= (h - 1) as f64 + 1e-6
                );
            }
        }
        // Points mapped and rounded stay inside.
        let pts: Vec<[f32; 2]> = (0..100)
            .map(|i| [(i % 80) as f32, (i % 64) as f32])
            .collect();
        for hm in &homs {
            for p in warp_points(&pts, hm, w, h) {
                assert!(
                    p[0].round() >= 0.0
                        && p[0].round() <= 79.0
                        && p[1].round() >= 0.0
                        && p[1].round() <= 63.0
                );
            }
        }
    }

    #[test]
    fn warping_a_point_image_moves_the_point_like_warp_points() {
        let (w, h) = (64usize, 48usize);
        let img = Tensor::zeros([1, 1, h as i64, w as i64], (Kind::Float, Device::Cpu));
        let _ = img.get(0).get(0).get(20).get(30).fill_(1.0);
        let hm = Homography([0.9, 0.1, 4.0, -0.05, 1.05, 2.0, 0.0005, -0.0003, 1.0]);
        let (out, _) = warp_images(&img, &[hm], 0.0).unwrap();
        let idx = out.flatten(0, -1).argmax(0, false).int64_value(&[]);
        let p = warp_points(&[[30.0, 20.0]], &hm, w, h)[0];
        let (ex, ey) = (p[0].round() as i64, p[1].round() as i64);
        assert!(
            ((idx % w as i64) - ex).abs() <= 1 && ((idx / w as i64) - ey).abs() <= 1,
            "{idx} vs ({ex},{ey})"
        );
    }
}
