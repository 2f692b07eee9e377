//! Photometric augmentation of image batches on the training device: brightness, contrast,
//! Gaussian noise, salt-and-pepper noise, low-frequency shading and motion blur, each applied to
//! an image with the configured probability. Random numbers come from libtorch's generator
//! (seeded per step by the trainers) and, for the blur kernels, from the given Rust generator.

use rand::Rng;
use tch::{Kind, Tensor};

use crate::config::PhotometricConfig;

/// Per-image 0/1 mask `[B, 1, 1, 1]` drawn with probability `p`.
fn coin(b: i64, p: f64, like: &Tensor) -> Tensor {
    Tensor::rand([b, 1, 1, 1], (Kind::Float, like.device()))
        .lt(p)
        .to_kind(Kind::Float)
}

/// Per-image uniform values in [lo, hi] `[B, 1, 1, 1]`.
fn uniform(b: i64, lo: f64, hi: f64, like: &Tensor) -> Tensor {
    Tensor::rand([b, 1, 1, 1], (Kind::Float, like.device())) * (hi - lo) + lo
}

/// A normalised line kernel of odd size `k` at angle `angle` (motion blur).
pub fn motion_kernel(k: usize, angle: f64) -> Vec<f32> {
    let mut kern = vec![0f32; k * k];
    let c = (k / 2) as f64;
    let (s, co) = angle.sin_cos();
    let steps = 4 * k;
    for i in 0..=steps {
        let t = i as f64 / steps as f64 * (k as f64 - 1.0) - c;
        let (x, y) = ((c + t * co).round() as usize, (c + t * s).round() as usize);
        if x < k && y < k {
            kern[y * k + x] = 1.0;
        }
    }
    let sum: f32 = kern.iter().sum();
    kern.iter_mut().for_each(|v| *v /= sum);
    kern
}

/// Applies the augmentation to `images` `[B, 1, H, W]` in [0, 1]; returns a new tensor in [0, 1].
pub fn photometric(images: &Tensor, cfg: &PhotometricConfig, rng: &mut impl Rng) -> Tensor {
    if !cfg.enable {
        return images.shallow_clone();
    }
    tch::no_grad(|| {
        let (b, _, h, w) = images.size4().expect("images are 4-D");
        let dev = images.device();
        let p = cfg.probability;
        let mut x = images.to_kind(Kind::Float);
        if cfg.brightness > 0.0 {
            let delta = uniform(b, -cfg.brightness, cfg.brightness, &x) * coin(b, p, &x);
            x = (x + delta).clamp(0.0, 1.0);
        }
        if cfg.contrast != [1.0, 1.0] {
            let mean = x.mean_dim([2i64, 3].as_slice(), true, Kind::Float);
            let on = coin(b, p, &x);
            let f = uniform(b, cfg.contrast[0], cfg.contrast[1], &x) * &on + (-on + 1.0);
            x = ((&x - &mean) * f + mean).clamp(0.0, 1.0);
        }
        if cfg.noise_std > 0.0 {
            let std = uniform(b, 0.0, cfg.noise_std, &x) * coin(b, p, &x);
            x = (&x + x.randn_like() * std).clamp(0.0, 1.0);
        }
        if cfg.speckle > 0.0 {
            let prob = uniform(b, 0.0, cfg.speckle, &x) * coin(b, p, &x);
            let r = x.rand_like();
            let salt = r.lt_tensor(&(&prob / 2.0));
            let pepper = r.gt_tensor(&(-(&prob / 2.0) + 1.0));
            x = x.masked_fill(&salt, 0.0).masked_fill(&pepper, 1.0);
        }
        if cfg.shade > 0.0 {
            // A smooth random field: coarse noise upsampled bilinearly, in [1 - a, 1 + a].
            let coarse = Tensor::rand([b, 1, 3, 4], (Kind::Float, dev)) * 2.0 - 1.0;
            let field = coarse.upsample_bilinear2d([h, w], false, None, None);
            let amp = uniform(b, 0.0, cfg.shade, &x) * coin(b, p, &x);
            x = (&x * (field * amp + 1.0)).clamp(0.0, 1.0);
        }
        if cfg.motion_blur_max_kernel >= 3 {
            let kmax = cfg.motion_blur_max_kernel | 1;
            let mut kernels = vec![0f32; b as usize * kmax * kmax];
            for i in 0..b as usize {
                let dst = &mut kernels[i * kmax * kmax..(i + 1) * kmax * kmax];
                if rng.random_bool(p) {
                    let k = 2 * rng.random_range(1..=kmax / 2) + 1;
                    let kern = motion_kernel(k, rng.random_range(0.0..std::f64::consts::PI));
                    let off = (kmax - k) / 2;
                    for y in 0..k {
                        for xx in 0..k {
                            dst[(y + off) * kmax + xx + off] = kern[y * k + xx];
                        }
                    }
                } else {
                    dst[(kmax / 2) * kmax + kmax / 2] = 1.0;
                }
            }
            let k = kmax as i64;
            let weight = Tensor::from_slice(&kernels)
                .view([b, 1, k, k])
                .to_device(dev);
            // Replicate padding keeps the borders from darkening.
            let padded = x
                .view([1, b, h, w])
                .pad([k / 2, k / 2, k / 2, k / 2], "replicate", None);
            x = padded
                .conv2d(&weight, None::<&Tensor>, [1, 1], [0, 0], [1, 1], b)
                .view([b, 1, h, w]);
        }
        x.clamp(0.0, 1.0).to_kind(images.kind())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use tch::Device;

    #[test]
    fn stays_in_range_keeps_shape_and_changes_images() {
        tch::manual_seed(3);
        let mut rng = rand_pcg::Pcg64::seed_from_u64(3);
        let x = Tensor::rand([8, 1, 32, 40], (Kind::Float, Device::Cpu));
        let cfg = PhotometricConfig {
            probability: 1.0,
            ..Default::default()
        };
        let y = photometric(&x, &cfg, &mut rng);
        assert_eq!(y.size(), x.size());
        assert!(y.min().double_value(&[]) >= 0.0 && y.max().double_value(&[]) <= 1.0);
        assert!((&y - &x).abs().mean(Kind::Float).double_value(&[]) > 0.01);
        let off = PhotometricConfig {
            enable: false,
            ..Default::default()
        };
        assert_eq!(
            (photometric(&x, &off, &mut rng) - &x)
                .abs()
                .max()
                .double_value(&[]),
            0.0
        );
    }

    #[test]
    fn motion_kernels_are_normalised_lines() {
        let k = motion_kernel(5, 0.0);
        assert!((k.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert_eq!(k.iter().filter(|v| **v > 0.0).count(), 5);
        assert!(k[2 * 5..3 * 5].iter().all(|v| *v > 0.0));
    }
}
