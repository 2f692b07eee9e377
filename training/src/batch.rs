//! Batch helpers shared by the training stages: host images to a device tensor, and random
//! homographies per image.

use rand_pcg::Pcg64;
use superpoint::Homography;
use superpoint::sampling::sample_homography;
use tch::{Device, Tensor};

use crate::config::HomographicConfig;

/// Images as a `[B, 1, H, W]` tensor on `device`.
pub fn images_tensor(images: &[&[f32]], height: usize, width: usize, device: Device) -> Tensor {
    let flat: Vec<f32> = images.iter().flat_map(|i| i.iter().copied()).collect();
    Tensor::from_slice(&flat)
        .view([images.len() as i64, 1, height as i64, width as i64])
        .to_device(device)
}

/// Random homographies (or identities when disabled) for `n` images.
pub fn sample_homographies(
    n: usize,
    width: usize,
    height: usize,
    cfg: &HomographicConfig,
    rng: &mut Pcg64,
) -> Vec<Homography> {
    (0..n)
        .map(|_| {
            if cfg.enable {
                sample_homography(width, height, &cfg.params, rng)
            } else {
                Homography::IDENTITY
            }
        })
        .collect()
}
