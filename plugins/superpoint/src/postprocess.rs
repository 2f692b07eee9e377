//! Post-processing shared by the elements, the CLI and the evaluation: threshold, greedy
//! non-maximum suppression, border removal, top-k, bilinear descriptor sampling, L2 normalisation.

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::frame::InputGeometry;
use crate::geometry::rescale_coordinate;
use crate::onnx::{CELL, DESCRIPTOR_DIM};
use crate::subpixel::{MAX_WINDOW, Subpixel};

/// A keypoint in pixels ((0,0) = centre of the top-left pixel) with its detector score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Keypoint {
    /// Column.
    pub x: f32,
    /// Row.
    pub y: f32,
    /// Heatmap probability.
    pub score: f32,
}

/// Default [`PostParams::threshold`]: minimum heatmap probability of a keypoint (the default of
/// `superpointdetect`, the `superpoint` CLI and the trainer's evaluation).
pub const DEFAULT_THRESHOLD: f32 = 0.015;
/// Default [`PostParams::nms_radius`], frame pixels.
pub const DEFAULT_NMS_RADIUS: usize = 4;
/// Default [`PostParams::border`], frame pixels.
pub const DEFAULT_BORDER: usize = 4;
/// Default [`PostParams::max_keypoints`] (0 would keep all).
pub const DEFAULT_MAX_KEYPOINTS: usize = 1000;

/// Post-processing parameters; [`Default`] gives [`DEFAULT_THRESHOLD`], [`DEFAULT_NMS_RADIUS`],
/// [`DEFAULT_BORDER`] and [`DEFAULT_MAX_KEYPOINTS`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PostParams {
    /// Minimum heatmap probability.
    pub threshold: f32,
    /// NMS radius in frame pixels (0 disables NMS): a kept keypoint suppresses weaker ones at most
    /// this far along both axes. With a resized network input it is converted to network pixels
    /// per axis (see [`extract_keypoints_in_frame`]).
    pub nms_radius: usize,
    /// Keypoints closer than this many frame pixels to the frame edge are dropped (measured from
    /// pixel centres: kept positions lie within `[border, width - 1 - border]`).
    pub border: usize,
    /// Keep at most this many keypoints, best first (0 = all).
    pub max_keypoints: usize,
    /// Sub-pixel refinement of the kept keypoints (in heatmap pixels, before the mapping to
    /// frame pixels; descriptors are sampled at the refined positions).
    pub subpixel: Subpixel,
}

impl Default for PostParams {
    fn default() -> Self {
        PostParams {
            threshold: DEFAULT_THRESHOLD,
            nms_radius: DEFAULT_NMS_RADIUS,
            border: DEFAULT_BORDER,
            max_keypoints: DEFAULT_MAX_KEYPOINTS,
            subpixel: Subpixel::default(),
        }
    }
}

impl PostParams {
    /// Checks value ranges.
    pub fn validate(&self) -> Result<(), Error> {
        if !(self.threshold.is_finite() && (0.0..=1.0).contains(&self.threshold)) {
            return Err(Error::Config(format!(
                "threshold must be within [0, 1], got {}",
                self.threshold
            )));
        }
        if self.nms_radius > 64 || self.border > 1024 {
            return Err(Error::Config(format!(
                "nms-radius must be <= 64 and border <= 1024 (got {} and {})",
                self.nms_radius, self.border
            )));
        }
        self.subpixel.validate()
    }
}

/// Reusable buffers for [`extract_keypoints`], so per-frame work allocates nothing once warm.
#[derive(Debug, Default)]
pub struct KeypointScratch {
    candidates: Vec<(f32, u32, u32)>,
    suppressed: Vec<bool>,
}

/// Finds keypoints in a `width`-wide heatmap whose content occupies `valid_width` x
/// `valid_height` (the rest is padding), with the heatmap pixels taken as image pixels: `border`
/// and `nms_radius` count heatmap pixels. Output is sorted by descending score.
pub fn extract_keypoints(
    scores: &[f32],
    width: usize,
    valid_width: usize,
    valid_height: usize,
    params: &PostParams,
    scratch: &mut KeypointScratch,
    out: &mut Vec<Keypoint>,
) {
    let geo = InputGeometry {
        width,
        height: valid_height,
        valid_width,
        valid_height,
        scale_x: 1.0,
        scale_y: 1.0,
    };
    extract_keypoints_in_frame(
        scores,
        &geo,
        (valid_width, valid_height),
        params,
        scratch,
        out,
    );
}

/// Finds keypoints in the heatmap of a network input of geometry `geo` (scores `[geo.height,
/// geo.width]`, content in `valid_width` x `valid_height`) computed from a frame of
/// `frame_size` pixels, with `border` and `nms_radius` in **frame pixels**:
///
/// - a keypoint is kept only when its frame position `geo.to_frame(x, y)` is at least `border`
///   from every edge, i.e. within `[border, frame_width - 1 - border]` horizontally (likewise
///   vertically);
/// - a kept keypoint suppresses every weaker one whose frame position differs by at most
///   `nms_radius` along both axes (heatmap pixels `floor(nms_radius / scale)` away on each axis).
///
/// When the frame is not resized (`scale` 1) both are the same in heatmap pixels. The output is in
/// heatmap (network input) pixels, sorted by descending score; map it with
/// [`InputGeometry::to_frame`].
pub fn extract_keypoints_in_frame(
    scores: &[f32],
    geo: &InputGeometry,
    frame_size: (usize, usize),
    params: &PostParams,
    scratch: &mut KeypointScratch,
    out: &mut Vec<Keypoint>,
) {
    select_peaks(scores, geo, frame_size, params, scratch, out);
    if params.subpixel == Subpixel::None {
        return;
    }
    refine(&params.subpixel, scores, geo, out);
    // Refinement moves a peak by up to the window radius; keep the `border` promise for the
    // refined position too by clamping it to the border box, rather than dropping keypoints that
    // top-k already counted.
    let bounds = BorderBox::new(geo, frame_size, params.border);
    out.iter_mut().for_each(|k| bounds.clamp(k));
}

/// The positions, in heatmap (network input) pixels, whose frame position is at least `border`
/// frame pixels from every edge: where refined keypoints are clamped to (the inverse of
/// [`InputGeometry::to_frame`] applied to `[border, size - 1 - border]`, 1e-4 frame pixels inside
/// so that float rounding of the round trip stays inside).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BorderBox {
    min_x: f32,
    max_x: f32,
    min_y: f32,
    max_y: f32,
}

impl BorderBox {
    /// The box for network input `geo` of a `frame_size` frame and `border` frame pixels.
    pub fn new(geo: &InputGeometry, frame_size: (usize, usize), border: usize) -> Self {
        let border = border as f32;
        let to_heatmap = |f: f32, scale: f32| rescale_coordinate(f, 1.0 / scale);
        BorderBox {
            min_x: to_heatmap(border + 1e-4, geo.scale_x),
            max_x: to_heatmap(frame_size.0 as f32 - 1.0 - border - 1e-4, geo.scale_x),
            min_y: to_heatmap(border + 1e-4, geo.scale_y),
            max_y: to_heatmap(frame_size.1 as f32 - 1.0 - border - 1e-4, geo.scale_y),
        }
    }

    /// Moves `k` (heatmap pixels) to the nearest position inside the box.
    pub fn clamp(&self, k: &mut Keypoint) {
        k.x = k.x.max(self.min_x).min(self.max_x);
        k.y = k.y.max(self.min_y).min(self.max_y);
    }
}

/// Refines `keypoints` (integer positions in the heatmap `scores` of network input `geo`) in place
/// with `subpixel`: [`Subpixel::window`] then [`Subpixel::refine_window`] per keypoint (the
/// libtorch engine gathers the windows on the device and shares the arithmetic).
fn refine(subpixel: &Subpixel, scores: &[f32], geo: &InputGeometry, keypoints: &mut [Keypoint]) {
    if !subpixel.applies(geo.valid_width, geo.valid_height) {
        return;
    }
    let mut window = [0f32; MAX_WINDOW];
    let window = &mut window[..subpixel.window_len()];
    for k in keypoints {
        subpixel.window(
            scores,
            geo.width,
            (geo.valid_width, geo.valid_height),
            (k.x as usize, k.y as usize),
            window,
        );
        let (dx, dy) = subpixel.refine_window(window);
        k.x += dx;
        k.y += dy;
    }
}

/// Threshold, NMS, border and top-k of [`extract_keypoints_in_frame`], at integer heatmap pixels.
fn select_peaks(
    scores: &[f32],
    geo: &InputGeometry,
    frame_size: (usize, usize),
    params: &PostParams,
    scratch: &mut KeypointScratch,
    out: &mut Vec<Keypoint>,
) {
    out.clear();
    let (width, valid_width, valid_height) = (geo.width, geo.valid_width, geo.valid_height);
    if valid_width == 0 || valid_height == 0 {
        return;
    }
    let cands = &mut scratch.candidates;
    cands.clear();
    for y in 0..valid_height {
        let row = &scores[y * width..y * width + valid_width];
        for (x, &s) in row.iter().enumerate() {
            if s >= params.threshold && s > 0.0 {
                cands.push((s, x as u32, y as u32));
            }
        }
    }
    // Best first; ties broken by position so results are deterministic.
    cands.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.2.cmp(&b.2)).then(a.1.cmp(&b.1)));
    let border = params.border as f32;
    let (max_x, max_y) = (
        frame_size.0 as f32 - 1.0 - border,
        frame_size.1 as f32 - 1.0 - border,
    );
    let inside = |x: usize, y: usize| {
        let (fx, fy) = geo.to_frame(x as f32, y as f32);
        fx >= border && fy >= border && fx <= max_x && fy <= max_y
    };
    let limit = if params.max_keypoints == 0 {
        usize::MAX
    } else {
        params.max_keypoints
    };
    if params.nms_radius == 0 {
        for &(s, x, y) in cands.iter() {
            if out.len() >= limit {
                break;
            }
            if inside(x as usize, y as usize) {
                out.push(Keypoint {
                    x: x as f32,
                    y: y as f32,
                    score: s,
                });
            }
        }
        return;
    }
    // The radius in heatmap pixels along each axis: the most heatmap pixels whose frame distance
    // (heatmap distance x scale) stays within nms_radius. The small slack absorbs rounding of
    // ratios such as 4 / (120 / 64).
    let radius = |scale: f32| {
        let r = params.nms_radius as f32 / scale.max(f32::MIN_POSITIVE);
        (r + 1e-4).floor().min(valid_width.max(valid_height) as f32) as usize
    };
    let (rx, ry) = (radius(geo.scale_x), radius(geo.scale_y));
    let sup = &mut scratch.suppressed;
    sup.clear();
    sup.resize(valid_width * valid_height, false);
    for &(s, x, y) in cands.iter() {
        if out.len() >= limit {
            break;
        }
        let (x, y) = (x as usize, y as usize);
        if sup[y * valid_width + x] {
            continue;
        }
        // Greedy NMS as in the reference implementation: a kept point suppresses its
        // (2rx+1) x (2ry+1) neighbourhood, even when it is itself later dropped for the border.
        let (x0, x1) = (x.saturating_sub(rx), (x + rx).min(valid_width - 1));
        for yy in y.saturating_sub(ry)..=(y + ry).min(valid_height - 1) {
            sup[yy * valid_width + x0..=yy * valid_width + x1].fill(true);
        }
        if inside(x, y) {
            out.push(Keypoint {
                x: x as f32,
                y: y as f32,
                score: s,
            });
        }
    }
}

/// Samples the `[256, hc, wc]` dense descriptor map bilinearly at keypoints given in network-input
/// pixels, L2-normalises each, and appends them to `out` (256 values per keypoint).
pub fn sample_descriptors(
    dense: &[f32],
    hc: usize,
    wc: usize,
    keypoints: impl IntoIterator<Item = (f32, f32)>,
    out: &mut Vec<f32>,
) {
    let plane = hc * wc;
    debug_assert_eq!(dense.len(), DESCRIPTOR_DIM * plane);
    let half = (CELL as f32 - 1.0) / 2.0;
    for (x, y) in keypoints {
        // Cell i covers pixels 8i..8i+7, so its centre is at 8i + 3.5.
        let u = ((x - half) / CELL as f32).clamp(0.0, (wc - 1) as f32);
        let v = ((y - half) / CELL as f32).clamp(0.0, (hc - 1) as f32);
        let (u0, v0) = (u.floor() as usize, v.floor() as usize);
        let (u1, v1) = ((u0 + 1).min(wc - 1), (v0 + 1).min(hc - 1));
        let (fu, fv) = (u - u0 as f32, v - v0 as f32);
        let w00 = (1.0 - fu) * (1.0 - fv);
        let w01 = fu * (1.0 - fv);
        let w10 = (1.0 - fu) * fv;
        let w11 = fu * fv;
        let (i00, i01, i10, i11) = (v0 * wc + u0, v0 * wc + u1, v1 * wc + u0, v1 * wc + u1);
        let start = out.len();
        out.extend((0..DESCRIPTOR_DIM).map(|c| {
            let p = &dense[c * plane..(c + 1) * plane];
            w00 * p[i00] + w01 * p[i01] + w10 * p[i10] + w11 * p[i11]
        }));
        normalize(&mut out[start..]);
    }
}

/// L2-normalises `v` in place (left as is when it is zero).
pub fn normalize(v: &mut [f32]) {
    let n = v.iter().map(|a| a * a).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|a| *a /= n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keypoints at integer heatmap pixels (these tests are about the selection, not refinement).
    fn run(scores: &[f32], w: usize, h: usize, p: PostParams) -> Vec<Keypoint> {
        let p = PostParams {
            subpixel: Subpixel::None,
            ..p
        };
        let mut out = Vec::new();
        extract_keypoints(
            scores,
            w,
            w,
            h,
            &p,
            &mut KeypointScratch::default(),
            &mut out,
        );
        out
    }

    #[test]
    fn nms_keeps_local_maxima_only() {
        let (w, h) = (32, 32);
        let mut s = vec![0.0; w * h];
        s[10 * w + 10] = 0.9;
        s[10 * w + 12] = 0.5; // within radius 4 of the 0.9 peak: suppressed
        s[10 * w + 20] = 0.4; // 10 px away: kept
        s[20 * w + 20] = 0.01; // below threshold
        let k = run(&s, w, h, PostParams::default());
        let xy: Vec<_> = k.iter().map(|k| (k.x, k.y, k.score)).collect();
        assert_eq!(xy, vec![(10.0, 10.0, 0.9), (20.0, 10.0, 0.4)]);
        let k = run(
            &s,
            w,
            h,
            PostParams {
                nms_radius: 0,
                ..Default::default()
            },
        );
        assert_eq!(k.len(), 3);
    }

    #[test]
    fn border_and_top_k() {
        let (w, h) = (40, 40);
        let mut s = vec![0.0; w * h];
        s[2 * w + 20] = 0.99; // inside the 4 px border: dropped
        s[20 * w + 37] = 0.98; // x + 4 >= 40: dropped
        s[20 * w + 35] = 0.2;
        s[10 * w + 10] = 0.3;
        s[30 * w + 10] = 0.4;
        let p = PostParams {
            nms_radius: 1,
            max_keypoints: 2,
            ..Default::default()
        };
        let k = run(&s, w, h, p);
        let xy: Vec<_> = k.iter().map(|k| (k.x, k.y)).collect();
        assert_eq!(xy, vec![(10.0, 30.0), (10.0, 10.0)]);
    }

    #[test]
    fn padding_is_ignored() {
        let (w, h) = (24, 24);
        let mut s = vec![0.0; w * h];
        s[10 * w + 20] = 0.9; // in the padding when the valid width is 17
        let mut out = Vec::new();
        let p = PostParams {
            border: 0,
            ..Default::default()
        };
        extract_keypoints(&s, w, 17, 24, &p, &mut KeypointScratch::default(), &mut out);
        assert!(out.is_empty());
    }

    /// Keypoints of a 40x40 heatmap computed from a `frame` x `frame` image, in frame pixels.
    fn run_resized(s: &[f32], frame: usize, p: PostParams) -> Vec<(f32, f32)> {
        let p = PostParams {
            subpixel: Subpixel::None,
            ..p
        };
        let scale = frame as f32 / 40.0;
        let geo = InputGeometry {
            width: 40,
            height: 40,
            valid_width: 40,
            valid_height: 40,
            scale_x: scale,
            scale_y: scale,
        };
        let mut out = Vec::new();
        extract_keypoints_in_frame(
            s,
            &geo,
            (frame, frame),
            &p,
            &mut KeypointScratch::default(),
            &mut out,
        );
        out.iter().map(|k| geo.to_frame(k.x, k.y)).collect()
    }

    #[test]
    fn border_counts_frame_pixels_when_the_input_is_resized() {
        // A 20x20 frame upscaled to 40x40: network x maps to frame (x + 0.5) / 2 - 0.5.
        let mut s = vec![0.0; 40 * 40];
        for (x, v) in [(7, 0.9), (8, 0.8), (9, 0.7), (30, 0.6), (31, 0.5)] {
            s[20 * 40 + x] = v;
        }
        let p = PostParams {
            nms_radius: 0,
            ..Default::default()
        };
        // Frame x 3.25 and 3.75 are nearer than 4 px to the left edge, 15.25 to the right one
        // (15 = 20 - 1 - 4); in network pixels all five would be kept.
        assert_eq!(run_resized(&s, 20, p), vec![(4.25, 9.75), (14.75, 9.75)]);
        // An 80x80 frame downscaled to 40x40: network x 2 is frame 4.5 (kept), 1 is 2.5.
        let mut s = vec![0.0; 40 * 40];
        s[20 * 40 + 1] = 0.9;
        s[20 * 40 + 2] = 0.8;
        assert_eq!(run_resized(&s, 80, p), vec![(4.5, 40.5)]);
    }

    #[test]
    fn nms_radius_counts_frame_pixels_when_the_input_is_resized() {
        let p = PostParams {
            border: 0,
            ..Default::default()
        };
        // Upscaled 2x: 7 network pixels are 3.5 frame pixels (suppressed by radius 4), 9 are 4.5.
        let mut s = vec![0.0; 40 * 40];
        s[20 * 40 + 10] = 0.9;
        s[20 * 40 + 17] = 0.8;
        s[20 * 40 + 19] = 0.7;
        assert_eq!(run_resized(&s, 20, p), vec![(4.75, 9.75), (9.25, 9.75)]);
        // Downscaled 2x: 3 network pixels are 6 frame pixels (kept), 2 are 4 (suppressed).
        let mut s = vec![0.0; 40 * 40];
        s[10 * 40 + 10] = 0.9;
        s[10 * 40 + 13] = 0.8;
        s[12 * 40 + 10] = 0.7;
        assert_eq!(run_resized(&s, 80, p), vec![(20.5, 20.5), (26.5, 20.5)]);
        // Unscaled, the same function is the plain heatmap NMS.
        let k = run_resized(&s, 40, p);
        assert_eq!(k, vec![(10.0, 10.0)]);
    }

    #[test]
    fn kept_peaks_are_refined_below_the_pixel_grid_by_default() {
        // A peak with a stronger right neighbour moves right, by less than half a pixel.
        let (w, h) = (32, 32);
        let mut s = vec![0.0; w * h];
        s[10 * w + 10] = 0.9;
        s[10 * w + 11] = 0.5;
        s[10 * w + 9] = 0.1;
        let mut out = Vec::new();
        extract_keypoints(
            &s,
            w,
            w,
            h,
            &PostParams::default(),
            &mut KeypointScratch::default(),
            &mut out,
        );
        assert_eq!(out.len(), 1);
        assert!(
            out[0].x > 10.2 && out[0].x < 10.5 && out[0].y == 10.0,
            "{:?}",
            out[0]
        );
        assert_eq!(out[0].score, 0.9);
    }

    #[test]
    fn bilinear_sampling_is_exact_at_cell_centres() {
        let (hc, wc) = (3, 4);
        let dense: Vec<f32> = (0..DESCRIPTOR_DIM * hc * wc)
            .map(|i| ((i * 7919) % 101) as f32 + 1.0)
            .collect();
        for (cy, cx) in [(0, 0), (1, 2), (2, 3)] {
            let mut out = Vec::new();
            let (x, y) = (cx as f32 * 8.0 + 3.5, cy as f32 * 8.0 + 3.5);
            sample_descriptors(&dense, hc, wc, [(x, y)], &mut out);
            let mut expect: Vec<f32> = (0..DESCRIPTOR_DIM)
                .map(|c| dense[c * hc * wc + cy * wc + cx])
                .collect();
            normalize(&mut expect);
            for (a, b) in out.iter().zip(&expect) {
                assert!((a - b).abs() < 1e-6);
            }
        }
        // Halfway between two cells: the normalised mean of both.
        let mut out = Vec::new();
        sample_descriptors(&dense, hc, wc, [(7.5, 3.5)], &mut out);
        let mut expect: Vec<f32> = (0..DESCRIPTOR_DIM)
            .map(|c| 0.5 * (dense[c * hc * wc] + dense[c * hc * wc + 1]))
            .collect();
        normalize(&mut expect);
        for (a, b) in out.iter().zip(&expect) {
            assert!((a - b).abs() < 1e-6);
        }
        let norm: f32 = out.iter().map(|v| v * v).sum();
        assert!((norm - 1.0).abs() < 1e-5);
    }

    #[test]
    fn bad_params_are_rejected() {
        assert!(
            PostParams {
                threshold: 1.5,
                ..Default::default()
            }
            .validate()
            .is_err()
        );
        assert!(
            PostParams {
                threshold: f32::NAN,
                ..Default::default()
            }
            .validate()
            .is_err()
        );
        assert!(PostParams::default().validate().is_ok());
    }
}
