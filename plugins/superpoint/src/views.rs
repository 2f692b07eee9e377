//! Views of a reference image for rotation and scale: the SuperPoint network is neither rotation-
//! nor scale-invariant (it learns what its training warps show it), so a reference that is
//! described once can afford to be described many times instead: rotated in steps around its
//! centre and shrunk to several scales. A query (a video frame, image k of a sequence) is then
//! matched against each view on its own, and the view with the most RANSAC inliers wins. Pooling
//! all views into one descriptor set would let the other views' keypoints steal the mutual nearest
//! neighbours; matching view by view does not.
//!
//! The views' keypoints are mapped back into reference pixels, so the winning view's matches and
//! homography are those of the reference itself.

use std::f64::consts::PI;
use std::fmt;
use std::str::FromStr;

use crate::Detector;
use crate::Error;
use crate::detection::Detections;
use crate::features::Features;
use crate::geometry::Homography;
use crate::image_io::OwnedImage;
use crate::matching::{MatchParams, Matcher};
use crate::postprocess::Keypoint;
use crate::ransac::{RansacParams, find_homography};
use crate::warp::{Interpolation, warp_gray};

/// One view: a rotation about the image centre and a scale.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ViewSpec {
    /// Rotation, radians (counter-clockwise on screen, i.e. from +x towards -y).
    pub angle: f64,
    /// Scale factor (1 = the reference's own size, 0.5 = half its width and height).
    pub scale: f64,
}

/// Which views to describe: `rotations` evenly spaced angles per turn (1 = upright only) at each
/// of `scales`. The text form is `ROTATIONS@SCALE,SCALE,...`, e.g. `12@1,0.71,0.5,0.35,0.25`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ViewParams {
    /// Angles per full turn, 360° / rotations apart (1 to 72).
    pub rotations: usize,
    /// Scale factors, each in (0, 1].
    pub scales: Vec<f64>,
}

impl Default for ViewParams {
    /// [`ViewParams::single`].
    fn default() -> Self {
        ViewParams::single()
    }
}

impl ViewParams {
    /// The reference as it is: one view.
    pub fn single() -> Self {
        ViewParams {
            rotations: 1,
            scales: vec![1.0],
        }
    }

    /// Whether this is just the reference itself.
    pub fn is_single(&self) -> bool {
        self.rotations == 1 && self.scales == [1.0]
    }

    /// Rotations every 30° at scales 1 to 0.25 in steps of √2: 60 views.
    pub fn rotations_and_scales() -> Self {
        ViewParams {
            rotations: 12,
            scales: vec![1.0, 0.71, 0.5, 0.35, 0.25],
        }
    }

    /// Checks the ranges.
    pub fn validate(&self) -> Result<(), Error> {
        if !(1..=72).contains(&self.rotations) {
            return Err(Error::Config(format!(
                "reference views: 1 to 72 rotations per turn, got {}",
                self.rotations
            )));
        }
        if self.scales.is_empty() || self.scales.iter().any(|s| !(*s > 0.0 && *s <= 1.0)) {
            return Err(Error::Config(format!(
                "reference views: scales must be in (0, 1], got {:?}",
                self.scales
            )));
        }
        Ok(())
    }

    /// Every view, scale by scale, the upright one first at each scale.
    pub fn specs(&self) -> Vec<ViewSpec> {
        self.scales
            .iter()
            .flat_map(|&scale| {
                (0..self.rotations).map(move |i| ViewSpec {
                    angle: 2.0 * PI * i as f64 / self.rotations as f64,
                    scale,
                })
            })
            .collect()
    }
}

impl fmt::Display for ViewParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scales: Vec<String> = self.scales.iter().map(|s| s.to_string()).collect();
        write!(f, "{}@{}", self.rotations, scales.join(","))
    }
}

impl FromStr for ViewParams {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || {
            Error::Config(format!(
                "reference views {s:?}: write ROTATIONS@SCALE,SCALE,... (e.g. 12@1,0.71,0.5,0.35,0.25: every 30° at five scales), or 1@1 for the reference alone"
            ))
        };
        let (rot, scales) = s.split_once('@').ok_or_else(bad)?;
        let params = ViewParams {
            rotations: rot.trim().parse().map_err(|_| bad())?,
            scales: scales
                .split(',')
                .map(|v| v.trim().parse::<f64>().map_err(|_| bad()))
                .collect::<Result<_, _>>()?,
        };
        params.validate()?;
        Ok(params)
    }
}

/// A rendered view: grey pixels and the homography from reference pixels to view pixels.
#[derive(Debug, Clone)]
pub struct RenderedView {
    /// The view's pixels (grey, packed).
    pub image: OwnedImage,
    /// Reference pixels to view pixels.
    pub to_view: Homography,
}

/// Renders `spec` of a grey `reference`: shrunk with a triangle filter (so small views are not
/// aliased), then rotated about its centre onto a canvas that holds the whole rotated image; the
/// corners outside it are the reference's mean grey.
pub fn render_view(reference: &OwnedImage, spec: ViewSpec) -> Result<RenderedView, Error> {
    let luma = reference.to_luma();
    let (w, h) = (reference.width, reference.height);
    let (sw, sh) = (
        ((w as f64 * spec.scale).round() as usize).max(1),
        ((h as f64 * spec.scale).round() as usize).max(1),
    );
    let scaled = if (sw, sh) == (w, h) {
        luma
    } else {
        let img = image::GrayImage::from_raw(w as u32, h as u32, luma)
            .ok_or_else(|| Error::Input(format!("reference of {w}x{h} has too few pixels")))?;
        image::imageops::resize(
            &img,
            sw as u32,
            sh as u32,
            image::imageops::FilterType::Triangle,
        )
        .into_raw()
    };
    let shrink = Homography::scaling(sw as f64 / w as f64, sh as f64 / h as f64);
    let (c, s) = (spec.angle.cos(), spec.angle.sin());
    // The slack keeps cos(90°) = 6e-17 from adding a column.
    let (vw, vh) = (
        (sw as f64 * c.abs() + sh as f64 * s.abs() - 1e-6).ceil() as usize,
        (sw as f64 * s.abs() + sh as f64 * c.abs() - 1e-6).ceil() as usize,
    );
    // Rotation about the centres: view = R (p - centre) + view centre, with y down, so a positive
    // angle turns the picture counter-clockwise on screen.
    let (cx, cy) = ((sw as f64 - 1.0) / 2.0, (sh as f64 - 1.0) / 2.0);
    let (vcx, vcy) = ((vw as f64 - 1.0) / 2.0, (vh as f64 - 1.0) / 2.0);
    let rotate = Homography([
        c,
        s,
        vcx - c * cx - s * cy,
        -s,
        c,
        vcy + s * cx - c * cy,
        0.0,
        0.0,
        1.0,
    ]);
    let mean = (scaled.iter().map(|&v| v as u64).sum::<u64>() / scaled.len().max(1) as u64) as u8;
    let mut out = vec![0u8; vw * vh];
    warp_gray(
        &scaled,
        sw,
        sh,
        &mut out,
        vw,
        vh,
        &rotate,
        Interpolation::Bilinear,
        mean,
    )?;
    Ok(RenderedView {
        image: OwnedImage::gray(out, vw, vh),
        to_view: rotate.compose(&shrink),
    })
}

/// One described view: its spec and its features in reference pixels.
#[derive(Debug, Clone)]
pub struct ReferenceView {
    /// Which view.
    pub spec: ViewSpec,
    /// Keypoints (reference pixels) and descriptors.
    pub features: Features,
}

/// Describes every view of `params` of `reference` with `detector` (views smaller than
/// [`crate::MIN_FRAME_SIDE`] on a side are left out). Keypoints whose reference
/// position lies within `border` view pixels of the reference's edge (or outside it) are dropped:
/// there the network sees the canvas, not the reference. Shrunk views of fine texture have few
/// keypoints at the usual threshold (Oxford bark at 0.25x: 5 to 10 at 0.015, about 45 at 0.0005);
/// a lower threshold for the reference, described only once, finds more.
pub fn describe_views(
    detector: &mut Detector,
    reference: &OwnedImage,
    params: &ViewParams,
    border: usize,
) -> Result<Vec<ReferenceView>, Error> {
    params.validate()?;
    let (w, h) = (reference.width as f64, reference.height as f64);
    let mut det = Detections::default();
    let mut out = Vec::new();
    for spec in params.specs() {
        let view = render_view(reference, spec)?;
        // A view below the network's smallest input (a small reference shrunk) is left out.
        if view.image.width.min(view.image.height) < crate::MIN_FRAME_SIDE {
            continue;
        }
        out.push({
            detector.detect(&view.image.frame()?, &mut det)?;
            let back = view
                .to_view
                .inverse()
                .ok_or_else(|| Error::Input(format!("view {spec:?} has a singular homography")))?;
            let margin = (border as f64 + 1.0) / spec.scale;
            let dim = if det.keypoints.is_empty() {
                0
            } else {
                det.descriptors.len() / det.keypoints.len()
            };
            let (mut kps, mut desc) = (Vec::new(), Vec::new());
            for (i, k) in det.keypoints.iter().enumerate() {
                let Some((x, y)) = back.apply(k.x as f64, k.y as f64) else {
                    continue;
                };
                if x >= margin && y >= margin && x <= w - 1.0 - margin && y <= h - 1.0 - margin {
                    kps.push(Keypoint {
                        x: x as f32,
                        y: y as f32,
                        score: k.score,
                    });
                    if dim > 0 {
                        desc.extend_from_slice(det.descriptor(i));
                    }
                }
            }
            let dim = if desc.is_empty() { 0 } else { dim };
            ReferenceView {
                spec,
                features: Features::new(
                    reference.width as u32,
                    reference.height as u32,
                    kps,
                    desc,
                    dim,
                )?,
            }
        });
    }
    Ok(out)
}

/// The view that matches `query` best, with its RANSAC inliers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BestView {
    /// Index into the views.
    pub index: usize,
    /// RANSAC inliers of its matches.
    pub inliers: usize,
}

/// Matches the top `num_keypoints` of `query` against each view (mutual nearest neighbours,
/// then RANSAC) and returns the view with the most inliers (the first on ties), or `None` when no
/// view gives a homography.
pub fn best_view(
    views: &[ReferenceView],
    query: &Features,
    num_keypoints: usize,
    matching: &MatchParams,
    ransac: &RansacParams,
    matcher: &mut Matcher,
) -> Result<Option<BestView>, Error> {
    let (kq, dq) = query.top(num_keypoints);
    let mut best: Option<BestView> = None;
    let mut matches = Vec::new();
    for (index, view) in views.iter().enumerate() {
        let (kv, dv) = view.features.top(num_keypoints);
        if kv.len() < 4 || kq.len() < 4 || view.features.dim != query.dim {
            continue;
        }
        matcher.match_descriptors(dv, dq, query.dim, matching, &mut matches)?;
        let src: Vec<(f64, f64)> = matches
            .iter()
            .map(|m| (kv[m.a as usize].x as f64, kv[m.a as usize].y as f64))
            .collect();
        let dst: Vec<(f64, f64)> = matches
            .iter()
            .map(|m| (kq[m.b as usize].x as f64, kq[m.b as usize].y as f64))
            .collect();
        if let Ok(e) = find_homography(&src, &dst, ransac)
            && best.is_none_or(|b| e.num_inliers > b.inliers)
        {
            best = Some(BestView {
                index,
                inliers: e.num_inliers,
            });
        }
    }
    Ok(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texture(w: usize, h: usize) -> OwnedImage {
        let data = (0..w * h)
            .map(|i| {
                let (x, y) = ((i % w) as f64, (i / w) as f64);
                (128.0 + 60.0 * (x * 0.21).sin() * (y * 0.13).cos() + 40.0 * ((x + y) * 0.05).sin())
                    as u8
            })
            .collect();
        OwnedImage::gray(data, w, h)
    }

    #[test]
    fn params_parse_list_and_refuse_bad_text() {
        let p: ViewParams = "12@1,0.71,0.5,0.35,0.25".parse().unwrap();
        assert_eq!(p, ViewParams::rotations_and_scales());
        assert_eq!(p.specs().len(), 60);
        assert_eq!(p.to_string().parse::<ViewParams>().unwrap(), p);
        assert!(ViewParams::single().is_single());
        assert_eq!(ViewParams::single().specs().len(), 1);
        for bad in ["12", "0@1", "12@0", "12@1.5", "x@1"] {
            let e = bad.parse::<ViewParams>().unwrap_err().to_string();
            assert!(e.contains("reference views"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_view_maps_reference_pixels_onto_the_same_content() {
        let img = texture(64, 40);
        for spec in [
            ViewSpec {
                angle: 0.0,
                scale: 1.0,
            },
            ViewSpec {
                angle: PI / 2.0,
                scale: 1.0,
            },
            ViewSpec {
                angle: 2.0 * PI / 3.0,
                scale: 0.5,
            },
        ] {
            let v = render_view(&img, spec).unwrap();
            // Every reference corner lands inside the view.
            for (x, y) in [(0.0, 0.0), (63.0, 0.0), (0.0, 39.0), (63.0, 39.0)] {
                let (vx, vy) = v.to_view.apply(x, y).unwrap();
                assert!(
                    vx > -1.0
                        && vy > -1.0
                        && vx < v.image.width as f64
                        && vy < v.image.height as f64,
                    "{spec:?}: ({x},{y}) -> ({vx},{vy}) in {}x{}",
                    v.image.width,
                    v.image.height
                );
            }
            // At full scale, interior pixels carry the reference's values.
            if spec.scale == 1.0 {
                for (x, y) in [(20usize, 15usize), (40, 25), (32, 20)] {
                    let (vx, vy) = v.to_view.apply(x as f64, y as f64).unwrap();
                    let got =
                        v.image.data[vy.round() as usize * v.image.width + vx.round() as usize];
                    let want = img.data[y * 64 + x];
                    assert!(
                        (got as i32 - want as i32).abs() <= 12,
                        "{spec:?} {got} {want}"
                    );
                }
            }
        }
        // A quarter turn swaps the sides.
        let v = render_view(
            &img,
            ViewSpec {
                angle: PI / 2.0,
                scale: 1.0,
            },
        )
        .unwrap();
        assert_eq!((v.image.width, v.image.height), (40, 64));
    }
}
