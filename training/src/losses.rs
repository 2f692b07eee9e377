//! Detector targets and losses: cross-entropy over the 65 bins of each 8x8 cell (the 65th is the
//! "no keypoint" dustbin), the descriptor hinge loss of the SuperPoint paper, and a dense
//! contrastive (InfoNCE) descriptor loss on points sampled as the detector samples descriptors.

use rand::Rng;
use superpoint::Homography;
use superpoint::onnx::CELL;
use tch::{Device, Kind, Tensor};

/// Class targets `[B, H/8, W/8]` (int64) from keypoints in pixels: the bin `8 dy + dx` of the
/// keypoint's pixel inside its cell, 64 where the cell has none; a cell with several keypoints
/// takes one of them at random.
pub fn cell_targets(
    points: &[Vec<[f32; 2]>],
    height: usize,
    width: usize,
    rng: &mut impl Rng,
    device: Device,
) -> Tensor {
    let (hc, wc) = (height / CELL, width / CELL);
    let mut out = vec![64i64; points.len() * hc * wc];
    let mut seen = vec![0u32; hc * wc];
    for (b, pts) in points.iter().enumerate() {
        seen.fill(0);
        let cells = &mut out[b * hc * wc..(b + 1) * hc * wc];
        for p in pts {
            let (x, y) = (p[0].round(), p[1].round());
            if !(x >= 0.0 && y >= 0.0 && (x as usize) < width && (y as usize) < height) {
                continue;
            }
            let (x, y) = (x as usize, y as usize);
            let cell = (y / CELL) * wc + x / CELL;
            if cell >= hc * wc {
                continue; // pixels beyond the last full cell
            }
            seen[cell] += 1;
            // Reservoir sampling: each keypoint of the cell is kept with equal probability.
            if rng.random_range(0..seen[cell]) == 0 {
                cells[cell] = ((y % CELL) * CELL + x % CELL) as i64;
            }
        }
    }
    Tensor::from_slice(&out)
        .view([points.len() as i64, hc as i64, wc as i64])
        .to_device(device)
}

/// Cells whose 64 pixels are all valid: `[B, 1, H, W]` pixel mask to `[B, H/8, W/8]`.
pub fn cell_valid(valid: &Tensor) -> Tensor {
    let c = CELL as i64;
    let neg = -valid;
    (-neg.max_pool2d([c, c], [c, c], [0, 0], [1, 1], false)).squeeze_dim(1)
}

/// Mean cross-entropy over valid cells.
pub fn detector_loss(logits: &Tensor, targets: &Tensor, valid_cells: &Tensor) -> Tensor {
    let logp = logits.to_kind(Kind::Float).log_softmax(1, Kind::Float);
    let nll = -logp.gather(1, &targets.unsqueeze(1), false).squeeze_dim(1);
    let valid = valid_cells.to_kind(Kind::Float);
    (nll * &valid).sum(Kind::Float) / valid.sum(Kind::Float).clamp_min(1.0)
}

/// Parameters of the descriptor loss.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DescriptorLossParams {
    /// Weight of positive pairs (λ_d).
    pub lambda_d: f64,
    /// Positive margin (m_p).
    pub positive_margin: f64,
    /// Negative margin (m_n).
    pub negative_margin: f64,
    /// Cells correspond when their centres are closer than this under H (pixels).
    pub cell_radius: f64,
}

/// Correspondence matrix `[B, N, N]` (N = Hc Wc): 1 where the centre of cell i of image 1, mapped
/// by `homs[b]`, lies closer than `radius` to the centre of cell j of image 2. Only the mapped
/// centres are computed on the host; the distances are computed on `device`.
pub fn correspondences(
    homs: &[Homography],
    hc: usize,
    wc: usize,
    radius: f64,
    device: Device,
) -> Tensor {
    let n = hc * wc;
    let half = (CELL as f64 - 1.0) / 2.0;
    // Cell i covers pixels 8i..8i+7: its centre is at 8i + 3.5.
    let centre = |i: usize| {
        (
            ((i % wc) * CELL) as f64 + half,
            ((i / wc) * CELL) as f64 + half,
        )
    };
    let mut warped = Vec::with_capacity(homs.len() * n * 2);
    for h in homs {
        for i in 0..n {
            let (x, y) = centre(i);
            // A centre mapped to infinity corresponds to nothing.
            let (wx, wy) = h.apply(x, y).unwrap_or((1e9, 1e9));
            warped.push(wx as f32);
            warped.push(wy as f32);
        }
    }
    let grid: Vec<f32> = (0..n)
        .flat_map(|i| {
            let (x, y) = centre(i);
            [x as f32, y as f32]
        })
        .collect();
    let b = homs.len() as i64;
    let a = Tensor::from_slice(&warped)
        .view([b, n as i64, 1, 2])
        .to_device(device);
    let g = Tensor::from_slice(&grid)
        .view([1, 1, n as i64, 2])
        .to_device(device);
    let d2 = (a - g).square().sum_dim_intlist(-1, false, Kind::Float);
    d2.lt(radius * radius).to_kind(Kind::Float)
}

/// Descriptor hinge loss between unit descriptors `d1`, `d2` `[B, D, Hc, Wc]` with the cell
/// correspondences `s` `[B, N, N]` and valid cells of image 2 `[B, Hc, Wc]`:
/// `λ_d s max(0, m_p - d1·d2) + (1 - s) max(0, d1·d2 - m_n)`, averaged over valid pairs.
pub fn descriptor_loss(
    d1: &Tensor,
    d2: &Tensor,
    s: &Tensor,
    valid2: &Tensor,
    p: &DescriptorLossParams,
) -> Tensor {
    let (b, c, hc, wc) = d1.size4().expect("descriptors are 4-D");
    let n = hc * wc;
    let a = d1.to_kind(Kind::Float).view([b, c, n]).transpose(1, 2);
    let dot = a.bmm(&d2.to_kind(Kind::Float).view([b, c, n]));
    let pos = (-&dot + p.positive_margin).relu() * s * p.lambda_d;
    let neg = (dot - p.negative_margin).relu() * (-s + 1.0);
    let valid = valid2.to_kind(Kind::Float).view([b, 1, n]);
    let total = ((pos + neg) * &valid).sum(Kind::Float);
    total / (valid.sum(Kind::Float) * n as f64).clamp_min(1.0)
}

/// Samples coarse descriptors `[B, D, Hc, Wc]` bilinearly at points `[B, N, 2]` given in
/// network-input pixels (x, y), with the library's convention
/// (`superpoint::postprocess::sample_descriptors`: cell i's centre is pixel 8i + 3.5, positions
/// are clamped to the map), and L2-normalises them: `[B, N, D]`.
pub fn sample_at(descriptors: &Tensor, points: &Tensor) -> Tensor {
    let (_, _, hc, wc) = descriptors.size4().expect("descriptors are 4-D");
    let half = (CELL as f64 - 1.0) / 2.0;
    // Cell coordinates, then grid_sample's [-1, 1] with align_corners: -1 = first cell centre.
    let norm = |v: Tensor, cells: i64| {
        let c = ((v - half) / CELL as f64).clamp(0.0, (cells - 1) as f64);
        if cells > 1 {
            c * (2.0 / (cells - 1) as f64) - 1.0
        } else {
            c * 0.0
        }
    };
    let gx = norm(points.select(2, 0), wc);
    let gy = norm(points.select(2, 1), hc);
    let grid = Tensor::stack(&[gx, gy], -1).unsqueeze(2); // [B, N, 1, 2]
    let s = descriptors
        .to_kind(Kind::Float)
        .grid_sampler(&grid, 0, 1, true) // bilinear, border, align_corners
        .squeeze_dim(3)
        .transpose(1, 2); // [B, N, D]
    let n = s
        .square()
        .sum_dim_intlist(2, true, Kind::Float)
        .sqrt()
        .clamp_min(1e-12);
    s / n
}

/// Parameters of [`infonce_loss`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InfoNceParams {
    /// Softmax temperature τ applied to the cosine similarities.
    pub temperature: f64,
    /// Points closer than this (pixels, in either image) to the positive are not used as its
    /// negatives: they are near-duplicates that NMS would suppress anyway.
    pub negative_radius: f64,
}

/// Symmetric InfoNCE loss (van den Oord et al., "Representation Learning with Contrastive
/// Predictive Coding", 2018) between descriptors `s1`, `s2` `[B, N, D]` sampled at corresponding
/// points `p1`, `p2` `[B, N, 2]` (pixels of each image; point i of image 1 maps to point i of
/// image 2). For every valid point (`valid` `[B, N]`, 1/0), cross-entropy of `cos/τ` against
/// all valid points of the other image, in both directions, averaged. Every valid point gets a
/// gradient at every step, which makes it far better conditioned than the hinge loss over cell
/// pairs, where the weighted positives are 1 in ~N pairs.
pub fn infonce_loss(
    s1: &Tensor,
    s2: &Tensor,
    p1: &Tensor,
    p2: &Tensor,
    valid: &Tensor,
    p: &InfoNceParams,
) -> Tensor {
    let (_, n, _) = s1.size3().expect("descriptors are [B, N, D]");
    let logits = s1.bmm(&s2.transpose(1, 2)) / p.temperature; // [B, N, N]
    let r2 = p.negative_radius * p.negative_radius;
    let near = |q: &Tensor| {
        let d = (q.unsqueeze(2) - q.unsqueeze(1))
            .square()
            .sum_dim_intlist(-1, false, Kind::Float);
        d.lt(r2)
    };
    let eye = Tensor::eye(n, (Kind::Bool, s1.device())).unsqueeze(0);
    let valid_b = valid.gt(0.5);
    // Excluded: near-duplicates of the positive (but not the positive) and invalid points.
    let excluded = near(p1)
        .logical_or(&near(p2))
        .logical_and(&eye.logical_not())
        .logical_or(&valid_b.unsqueeze(1).logical_not())
        .logical_or(&valid_b.unsqueeze(2).logical_not());
    let logits = logits.masked_fill(&excluded.logical_and(&eye.logical_not()), -1e4);
    let rows = -logits.log_softmax(2, Kind::Float).diagonal(0, 1, 2);
    let cols = -logits.log_softmax(1, Kind::Float).diagonal(0, 1, 2);
    let v = valid.to_kind(Kind::Float);
    ((rows + cols) * 0.5 * &v).sum(Kind::Float) / v.sum(Kind::Float).clamp_min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn one_hot(b: i64, hc: i64, wc: i64, perm: &[i64]) -> Tensor {
        // Cell i gets basis vector perm[i].
        let n = hc * wc;
        let mut d = vec![0f32; (b * 256 * n) as usize];
        for bi in 0..b {
            for i in 0..n {
                d[((bi * 256 + perm[i as usize]) * n + i) as usize] = 1.0;
            }
        }
        Tensor::from_slice(&d).view([b, 256, hc, wc])
    }

    fn params() -> DescriptorLossParams {
        DescriptorLossParams {
            lambda_d: 250.0,
            positive_margin: 1.0,
            negative_margin: 0.2,
            cell_radius: 8.0,
        }
    }

    #[test]
    fn sampling_follows_the_library_convention() {
        // A 2x3 cell map with one random 256-D descriptor per cell; the library samples the same
        // positions on the host.
        tch::manual_seed(3);
        let d = Tensor::randn([1, 256, 2, 3], (Kind::Float, Device::Cpu));
        let pts = [
            (3.5f32, 3.5f32),
            (10.0, 7.0),
            (19.5, 11.5),
            (0.0, 15.0),
            (23.9, 0.2),
        ];
        let flat: Vec<f32> = pts.iter().flat_map(|&(x, y)| [x, y]).collect();
        let t = Tensor::from_slice(&flat).view([1, pts.len() as i64, 2]);
        let got = Vec::<f32>::try_from(sample_at(&d, &t).flatten(0, -1)).unwrap();
        let dense = Vec::<f32>::try_from(d.flatten(0, -1)).unwrap();
        let mut want = Vec::new();
        superpoint::postprocess::sample_descriptors(&dense, 2, 3, pts, &mut want);
        let err = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(err < 1e-5, "max difference {err}");
    }

    #[test]
    fn infonce_is_low_for_matching_descriptors_and_high_for_shuffled() {
        tch::manual_seed(4);
        let n = 40i64;
        let raw = Tensor::randn([1, n, 256], (Kind::Float, Device::Cpu));
        let s = &raw / raw.square().sum_dim_intlist(2, true, Kind::Float).sqrt();
        // Points on a 10 px grid: none is within the negative radius of another.
        let pts: Vec<f32> = (0..n)
            .flat_map(|i| [(i % 8) as f32 * 10.0, (i / 8) as f32 * 10.0])
            .collect();
        let p = Tensor::from_slice(&pts).view([1, n, 2]);
        let valid = Tensor::ones([1, n], (Kind::Float, Device::Cpu));
        let params = InfoNceParams {
            temperature: 0.1,
            negative_radius: 4.0,
        };
        let same = infonce_loss(&s, &s, &p, &p, &valid, &params).double_value(&[]);
        assert!(same < 0.01, "{same}");
        let perm = Tensor::randperm(n, (Kind::Int64, Device::Cpu));
        let shuffled = s.index_select(1, &perm);
        let l = infonce_loss(&s, &shuffled, &p, &p, &valid, &params).double_value(&[]);
        assert!(l > 3.0, "{l}");
        // Invalid points count neither as anchors nor as negatives: with only point 0 valid the
        // loss is zero whatever the descriptors.
        let only = Tensor::zeros([1, n], (Kind::Float, Device::Cpu));
        let _ = only.get(0).get(0).fill_(1.0);
        let l = infonce_loss(&s, &shuffled, &p, &p, &only, &params).double_value(&[]);
        assert!(l.abs() < 1e-6, "{l}");
        // A near-duplicate of the positive (1 px away) is not a negative.
        let mut close = pts.clone();
        close[2] = 1.0;
        close[3] = 0.0;
        let pc = Tensor::from_slice(&close).view([1, n, 2]);
        let dup = s.copy();
        dup.get(0).get(1).copy_(&s.get(0).get(0));
        let with = infonce_loss(&dup, &dup, &pc, &pc, &valid, &params).double_value(&[]);
        assert!(with < 0.01, "{with}");
    }

    #[test]
    fn targets_pick_the_pixel_bin_and_dustbin() {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(0);
        let t = cell_targets(
            &[vec![[10.0, 3.0], [40.2, 17.6]]],
            24,
            48,
            &mut rng,
            Device::Cpu,
        );
        assert_eq!(t.size(), [1, 3, 6]);
        assert_eq!(t.get(0).get(0).get(1).int64_value(&[]), 3 * 8 + 2);
        assert_eq!(t.get(0).get(2).get(5).int64_value(&[]), 2 * 8);
        assert_eq!(t.get(0).get(1).get(1).int64_value(&[]), 64);
        // A cell with two keypoints takes one of the two.
        let t = cell_targets(&[vec![[1.0, 1.0], [6.0, 5.0]]], 8, 8, &mut rng, Device::Cpu);
        let v = t.int64_value(&[0, 0, 0]);
        assert!(v == 9 || v == 46, "{v}");
    }

    #[test]
    fn detector_loss_is_low_for_right_logits_and_ignores_invalid_cells() {
        let targets = Tensor::from_slice(&[3i64, 64]).view([1, 1, 2]);
        let logits = Tensor::zeros([1, 65, 1, 2], (Kind::Float, Device::Cpu));
        let _ = logits.get(0).get(3).get(0).get(0).fill_(30.0);
        let _ = logits.get(0).get(64).get(0).get(1).fill_(30.0);
        let ones = Tensor::ones([1, 1, 2], (Kind::Float, Device::Cpu));
        assert!(detector_loss(&logits, &targets, &ones).double_value(&[]) < 1e-6);
        let wrong = Tensor::from_slice(&[5i64, 64]).view([1, 1, 2]);
        let l = detector_loss(&logits, &wrong, &ones).double_value(&[]);
        assert!((l - 15.0).abs() < 0.01, "{l}");
        let only_second = Tensor::from_slice(&[0f32, 1.0]).view([1, 1, 2]);
        assert!(detector_loss(&logits, &wrong, &only_second).double_value(&[]) < 1e-6);
    }

    #[test]
    fn cell_valid_needs_all_pixels() {
        let v = Tensor::ones([1, 1, 16, 16], (Kind::Float, Device::Cpu));
        let _ = v.get(0).get(0).get(9).get(2).fill_(0.0);
        let c = cell_valid(&v);
        assert_eq!(
            Vec::<f32>::try_from(c.flatten(0, -1)).unwrap(),
            vec![1.0, 1.0, 0.0, 1.0]
        );
    }

    #[test]
    fn correspondences_under_identity_and_shift() {
        let s = correspondences(&[Homography::IDENTITY], 3, 4, 8.0, Device::Cpu);
        // Under the identity only the same cell is within 8 px (neighbours are exactly 8 away).
        assert!(
            (s.squeeze_dim(0) - Tensor::eye(12, (Kind::Float, Device::Cpu)))
                .abs()
                .max()
                .double_value(&[])
                == 0.0
        );
        let shift = Homography([1.0, 0.0, 8.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]);
        let s = correspondences(&[shift], 3, 4, 8.0, Device::Cpu);
        assert_eq!(s.double_value(&[0, 0, 1]), 1.0);
        assert_eq!(s.double_value(&[0, 3, 0]), 0.0);
        assert_eq!(s.sum(Kind::Float).double_value(&[]), 9.0); // the last column maps outside
    }

    #[test]
    fn descriptor_loss_zero_for_matching_and_positive_for_swapped() {
        let (hc, wc) = (3i64, 4i64);
        let n = (hc * wc) as usize;
        let ident: Vec<i64> = (0..n as i64).collect();
        let d1 = one_hot(1, hc, wc, &ident);
        let s = correspondences(
            &[Homography::IDENTITY],
            hc as usize,
            wc as usize,
            8.0,
            Device::Cpu,
        );
        let valid = Tensor::ones([1, hc, wc], (Kind::Float, Device::Cpu));
        let p = params();
        // Identical orthogonal descriptors: positives at dot 1 >= m_p, negatives at 0 <= m_n.
        let l = descriptor_loss(&d1, &d1, &s, &valid, &p).double_value(&[]);
        assert_eq!(l, 0.0);
        // Cells 0 and 1 swapped in image 2: two positives at dot 0 (λ_d each) and two negatives at
        // dot 1 (0.8 each), averaged over N*N pairs.
        let mut perm = ident.clone();
        perm.swap(0, 1);
        let d2 = one_hot(1, hc, wc, &perm);
        let l = descriptor_loss(&d1, &d2, &s, &valid, &p).double_value(&[]);
        let expected = (2.0 * 250.0 + 2.0 * 0.8) / (n * n) as f64;
        assert!((l - expected).abs() < 1e-6, "{l} vs {expected}");
        // Invalid image-2 cells do not count.
        let only = Tensor::zeros([1, hc, wc], (Kind::Float, Device::Cpu));
        let _ = only.get(0).get(2).get(3).fill_(1.0);
        assert_eq!(
            descriptor_loss(&d1, &d2, &s, &only, &p).double_value(&[]),
            0.0
        );
        // All descriptors equal: every negative pair costs 1 - m_n.
        let same = one_hot(1, hc, wc, &vec![0; n]);
        let l = descriptor_loss(&same, &same, &s, &valid, &p).double_value(&[]);
        let expected = ((n * n - n) as f64 * 0.8) / (n * n) as f64;
        assert!((l - expected).abs() < 1e-6, "{l} vs {expected}");
    }
}
