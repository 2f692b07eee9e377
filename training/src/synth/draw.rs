//! The rasteriser of the primitives: each [`Primitive`](super::Primitive) drawn on a [`Raster`]
//! with anti-aliased signed distances, its corners and junctions pushed as labels.

use rand::Rng;
use rand_pcg::Pcg64;
use superpoint::Homography;

use super::geometry::{Point, bbox, convex_polygon_sdf, segment_distance, segments_distance};
use super::raster::{Raster, gaussian_blur};

/// Draws shapes on `raster` with random draws from `rng`, in colours at least `contrast` away from
/// the background level `bg`.
pub(super) struct Draw<'a> {
    pub(super) raster: &'a mut Raster,
    pub(super) rng: &'a mut Pcg64,
    pub(super) bg: f32,
    pub(super) contrast: f32,
}

impl Draw<'_> {
    fn w(&self) -> f64 {
        self.raster.w as f64
    }
    fn h(&self) -> f64 {
        self.raster.h as f64
    }
    fn min_dim(&self) -> f64 {
        self.w().min(self.h())
    }

    /// A colour at least `contrast` away from the background level and from `others`.
    fn color(&mut self, others: &[f32]) -> f32 {
        let c = self.contrast;
        for _ in 0..200 {
            let v: f32 = self.rng.random_range(0.0..=1.0);
            if (v - self.bg).abs() >= c && others.iter().all(|o| (v - o).abs() >= c * 0.8) {
                return v;
            }
        }
        // Always possible for one colour: the far end from the background.
        if self.bg < 0.5 { 1.0 } else { 0.0 }
    }

    /// `n` colours pairwise and from the background well apart (falls back to evenly spread levels).
    fn colors(&mut self, n: usize) -> Vec<f32> {
        let c = self.contrast;
        'outer: for _ in 0..200 {
            let mut out: Vec<f32> = Vec::with_capacity(n);
            for _ in 0..n {
                let v: f32 = self.rng.random_range(0.0..=1.0);
                if (v - self.bg).abs() < c || out.iter().any(|o| (v - o).abs() < c * 0.8) {
                    continue 'outer;
                }
                out.push(v);
            }
            return out;
        }
        // Evenly spread levels skipping the one nearest to the background.
        let levels: Vec<f32> = (0..=n).map(|i| i as f32 / n as f32).collect();
        let skip = levels
            .iter()
            .enumerate()
            .min_by(|a, b| (a.1 - self.bg).abs().total_cmp(&(b.1 - self.bg).abs()))
            .map(|(i, _)| i)
            .unwrap_or(0);
        levels
            .into_iter()
            .enumerate()
            .filter(|&(i, _)| i != skip)
            .map(|(_, v)| v)
            .collect()
    }

    fn point_inside(&mut self, margin: f64) -> (f64, f64) {
        let margin = margin.min((self.min_dim() - 1.0) / 2.0);
        (
            self.rng.random_range(margin..=self.w() - 1.0 - margin),
            self.rng.random_range(margin..=self.h() - 1.0 - margin),
        )
    }

    fn inside(&self, p: (f64, f64), margin: f64) -> bool {
        p.0 >= margin
            && p.1 >= margin
            && p.0 <= self.w() - 1.0 - margin
            && p.1 <= self.h() - 1.0 - margin
    }

    fn segment(&mut self, a: (f64, f64), b: (f64, f64), thickness: f64, color: f32) {
        let half = thickness / 2.0;
        self.raster.paint(bbox(&[a, b], half), color, |x, y| {
            segment_distance((x, y), a, b) - half
        });
    }

    fn polygon(&mut self, poly: &[(f64, f64)], color: f32) {
        self.raster.paint(bbox(poly, 0.0), color, |x, y| {
            convex_polygon_sdf((x, y), poly)
        });
    }

    /// `Primitive::Lines`: up to 8 segments kept apart; labels: their end points.
    pub(super) fn lines(&mut self, pts: &mut Vec<(f64, f64)>) {
        let n = self.rng.random_range(1..=8);
        let md = self.min_dim();
        let mut segs: Vec<(Point, Point, f64)> = Vec::new();
        for _ in 0..n {
            for _try in 0..30 {
                let a = self.point_inside(2.0);
                let len = self.rng.random_range(md * 0.15..=md * 0.6);
                let ang = self.rng.random_range(0.0..std::f64::consts::TAU);
                let b = (a.0 + len * ang.cos(), a.1 + len * ang.sin());
                if !self.inside(b, 2.0) {
                    continue;
                }
                let t = self.rng.random_range(1.0..=(1.0 + md * 0.02).max(1.5));
                // Keep segments apart so that end points are corners, not junctions with others.
                if segs
                    .iter()
                    .any(|&(c, d, tc)| segments_distance(a, b, c, d) < (t + tc) / 2.0 + 4.0)
                {
                    continue;
                }
                let color = self.color(&[]);
                self.segment(a, b, t, color);
                segs.push((a, b, t));
                pts.push(a);
                pts.push(b);
                break;
            }
        }
    }

    /// A random convex polygon inscribed in a circle, with no angle close to flat.
    fn random_polygon(&mut self, centre: (f64, f64), radius: f64) -> Vec<(f64, f64)> {
        loop {
            let n = self.rng.random_range(3..=6usize);
            let mut angles: Vec<f64> = (0..n)
                .map(|_| self.rng.random_range(0.0..std::f64::consts::TAU))
                .collect();
            angles.sort_by(f64::total_cmp);
            let gaps: Vec<f64> = (0..n)
                .map(|i| {
                    let next = if i + 1 < n {
                        angles[i + 1]
                    } else {
                        angles[0] + std::f64::consts::TAU
                    };
                    next - angles[i]
                })
                .collect();
            // Interior angle at vertex i is pi - (gap before + gap after) / 2: keep it <= 155 deg
            // and every edge long enough to be seen.
            let ok = (0..n).all(|i| {
                let before = gaps[(i + n - 1) % n];
                (before + gaps[i]) / 2.0 >= 25f64.to_radians() && gaps[i] >= 20f64.to_radians()
            });
            if ok {
                return angles
                    .iter()
                    .map(|a| (centre.0 + radius * a.cos(), centre.1 + radius * a.sin()))
                    .collect();
            }
        }
    }

    /// `Primitive::Polygon` / `MultiplePolygons`: up to `count` non-overlapping convex polygons;
    /// labels: vertices.
    pub(super) fn polygons(&mut self, count: usize, pts: &mut Vec<(f64, f64)>) {
        let md = self.min_dim();
        let (rmin, rmax) = if count == 1 {
            (md * 0.15, md * 0.45)
        } else {
            (md * 0.08, md * 0.22)
        };
        let mut circles: Vec<((f64, f64), f64)> = Vec::new();
        let mut colors: Vec<f32> = Vec::new();
        for _ in 0..count {
            for _try in 0..50 {
                let r = self.rng.random_range(rmin..=rmax);
                let c = self.point_inside(r + 1.0);
                if circles.iter().any(|&(o, ro)| {
                    ((o.0 - c.0).powi(2) + (o.1 - c.1).powi(2)).sqrt() < r + ro + 3.0
                }) {
                    continue;
                }
                let poly = self.random_polygon(c, r);
                let color = self.color(&[]);
                self.polygon(&poly, color);
                circles.push((c, r));
                colors.push(color);
                pts.extend_from_slice(&poly);
                break;
            }
        }
    }

    /// `Primitive::Ellipses`: up to 6 non-overlapping ellipses; no labels.
    pub(super) fn ellipses(&mut self) {
        let md = self.min_dim();
        let n = self.rng.random_range(1..=6);
        let mut circles: Vec<((f64, f64), f64)> = Vec::new();
        for _ in 0..n {
            for _try in 0..50 {
                let a = self.rng.random_range(md * 0.05..=md * 0.25);
                let b = self.rng.random_range(md * 0.05..=md * 0.25);
                let r = a.max(b);
                let c = self.point_inside(r + 1.0);
                if circles.iter().any(|&(o, ro)| {
                    ((o.0 - c.0).powi(2) + (o.1 - c.1).powi(2)).sqrt() < r + ro + 3.0
                }) {
                    continue;
                }
                let ang = self.rng.random_range(0.0..std::f64::consts::PI);
                let (s, co) = ang.sin_cos();
                let color = self.color(&[]);
                self.raster
                    .paint((c.0 - r, c.1 - r, c.0 + r, c.1 + r), color, |x, y| {
                        let (dx, dy) = (x - c.0, y - c.1);
                        let (u, v) = (co * dx + s * dy, -s * dx + co * dy);
                        let k = ((u / a).powi(2) + (v / b).powi(2)).sqrt();
                        let gx = u / (a * a);
                        let gy = v / (b * b);
                        let g = (gx * gx + gy * gy).sqrt() / k.max(1e-9);
                        if g > 1e-9 { (k - 1.0) / g } else { -r }
                    });
                circles.push((c, r));
                break;
            }
        }
    }

    /// `Primitive::Star`: up to 5 thin branches from a centre; labels: the centre and branch ends.
    pub(super) fn star(&mut self, pts: &mut Vec<(f64, f64)>) {
        let md = self.min_dim();
        let c = self.point_inside(md * 0.2);
        let n = self.rng.random_range(3..=5usize);
        // Thin branches keep the centre a junction rather than a blob.
        let t = self.rng.random_range(1.0..=1.8);
        let color = self.color(&[]);
        let mut angles: Vec<f64> = Vec::new();
        let mut tries = 0;
        while angles.len() < n && tries < 200 {
            tries += 1;
            let a = self.rng.random_range(0.0..std::f64::consts::TAU);
            let gap_ok = angles.iter().all(|&b| {
                let d = (a - b).rem_euclid(std::f64::consts::TAU);
                d.min(std::f64::consts::TAU - d) >= 0.7
            });
            if !gap_ok {
                continue;
            }
            let len = self.rng.random_range(md * 0.15..=md * 0.5);
            let e = (c.0 + len * a.cos(), c.1 + len * a.sin());
            if !self.inside(e, 2.0) {
                continue;
            }
            angles.push(a);
            self.segment(c, e, t, color);
            pts.push(e);
        }
        pts.push(c);
    }

    /// A random quadrilateral covering a good part of the image, for boards seen in perspective.
    fn random_quad(&mut self) -> [(f64, f64); 4] {
        let (w, h) = (self.w(), self.h());
        loop {
            let s = self.rng.random_range(0.45..=0.9);
            let (bw, bh) = (w * s * self.rng.random_range(0.7..=1.0), h * s);
            let c = (
                self.rng.random_range(bw / 2.0..=w - bw / 2.0),
                self.rng.random_range(bh / 2.0..=h - bh / 2.0),
            );
            let ang: f64 = self.rng.random_range(-0.6..=0.6);
            let (sn, cs) = ang.sin_cos();
            let jitter = 0.12 * bw.min(bh);
            let corners = [(-0.5, -0.5), (0.5, -0.5), (0.5, 0.5), (-0.5, 0.5)].map(|(u, v)| {
                let (x, y) = (u * bw, v * bh);
                (
                    c.0 + cs * x - sn * y + self.rng.random_range(-jitter..=jitter),
                    c.1 + sn * x + cs * y + self.rng.random_range(-jitter..=jitter),
                )
            });
            if convex_polygon_sdf(c, &corners) < 0.0 {
                return corners;
            }
        }
    }

    /// `Primitive::Checkerboard`: a board under a random homography; labels: all grid points.
    pub(super) fn checkerboard(&mut self, pts: &mut Vec<(f64, f64)>) {
        let quad = self.random_quad();
        let side = ((quad[1].0 - quad[0].0).hypot(quad[1].1 - quad[0].1))
            .min((quad[3].0 - quad[0].0).hypot(quad[3].1 - quad[0].1));
        let max_cells = ((side / 9.0).floor() as usize).clamp(2, 7);
        let cols = self.rng.random_range(2..=max_cells);
        let rows = self.rng.random_range(2..=max_cells);
        let src = [
            (0.0, 0.0),
            (cols as f64, 0.0),
            (cols as f64, rows as f64),
            (0.0, rows as f64),
        ];
        let Some(hm) = Homography::from_4_points(&src, &quad) else {
            return;
        };
        let grid: Vec<(f64, f64)> = (0..=rows)
            .flat_map(|r| (0..=cols).map(move |c| (c as f64, r as f64)))
            .filter_map(|(c, r)| hm.apply(c, r))
            .collect();
        if grid.len() != (rows + 1) * (cols + 1) {
            return;
        }
        let colors = self.colors(2);
        for r in 0..rows {
            for c in 0..cols {
                let at = |rr: usize, cc: usize| grid[rr * (cols + 1) + cc];
                let cell = [at(r, c), at(r, c + 1), at(r + 1, c + 1), at(r + 1, c)];
                let color = colors[(r + c) % 2];
                self.polygon(&cell, color);
            }
        }
        pts.extend_from_slice(&grid);
    }

    /// `Primitive::Stripes`: parallel stripes under a random homography; labels: stripe corners.
    pub(super) fn stripes(&mut self, pts: &mut Vec<(f64, f64)>) {
        let quad = self.random_quad();
        let width = (quad[1].0 - quad[0].0).hypot(quad[1].1 - quad[0].1);
        let max_stripes = ((width / 7.0).floor() as usize).clamp(2, 9);
        let n = self.rng.random_range(2..=max_stripes);
        // Stripe boundaries in [0, 1] with a minimum gap.
        let min_gap = 0.5 / n as f64;
        let mut xs: Vec<f64> = vec![0.0, 1.0];
        let mut tries = 0;
        while xs.len() < n + 1 && tries < 500 {
            tries += 1;
            let v = self.rng.random_range(0.0..1.0);
            if xs.iter().all(|&x| (x - v).abs() >= min_gap) {
                xs.push(v);
            }
        }
        xs.sort_by(f64::total_cmp);
        let src = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)];
        let Some(hm) = Homography::from_4_points(&src, &quad) else {
            return;
        };
        let top: Vec<(f64, f64)> = xs.iter().filter_map(|&x| hm.apply(x, 0.0)).collect();
        let bottom: Vec<(f64, f64)> = xs.iter().filter_map(|&x| hm.apply(x, 1.0)).collect();
        if top.len() != xs.len() || bottom.len() != xs.len() {
            return;
        }
        let colors = self.colors(2);
        for i in 0..xs.len() - 1 {
            let cell = [top[i], top[i + 1], bottom[i + 1], bottom[i]];
            self.polygon(&cell, colors[i % 2]);
        }
        pts.extend_from_slice(&top);
        pts.extend_from_slice(&bottom);
    }

    /// `Primitive::Cube`: a cube under a random rotation; labels: the visible vertices.
    pub(super) fn cube(&mut self, pts: &mut Vec<(f64, f64)>) {
        let md = self.min_dim();
        let size = self.rng.random_range(md * 0.12..=md * 0.25);
        let c = self.point_inside(size * 1.75);
        // Rotations about x and y by 20..70 degrees show three faces; any roll about z.
        let rx: f64 =
            self.rng.random_range(0.35..=1.2) * if self.rng.random() { 1.0 } else { -1.0 };
        let ry: f64 =
            self.rng.random_range(0.35..=1.2) * if self.rng.random() { 1.0 } else { -1.0 };
        let rz: f64 = self.rng.random_range(0.0..std::f64::consts::TAU);
        let rot = |v: [f64; 3]| -> [f64; 3] {
            let (s, co) = rx.sin_cos();
            let v = [v[0], co * v[1] - s * v[2], s * v[1] + co * v[2]];
            let (s, co) = ry.sin_cos();
            let v = [co * v[0] + s * v[2], v[1], -s * v[0] + co * v[2]];
            let (s, co) = rz.sin_cos();
            [co * v[0] - s * v[1], s * v[0] + co * v[1], v[2]]
        };
        let vertex = |i: usize| -> [f64; 3] {
            [
                if i & 1 == 0 { -1.0 } else { 1.0 },
                if i & 2 == 0 { -1.0 } else { 1.0 },
                if i & 4 == 0 { -1.0 } else { 1.0 },
            ]
        };
        let proj: Vec<(f64, f64)> = (0..8)
            .map(|i| {
                let v = rot(vertex(i));
                (c.0 + size * v[0], c.1 + size * v[1])
            })
            .collect();
        if proj.iter().any(|&p| !self.inside(p, 1.0)) {
            return;
        }
        let colors = self.colors(3);
        let mut visible = [false; 8];
        let mut face_idx = 0;
        for axis in 0..3 {
            for sign in [-1.0f64, 1.0] {
                let mut n = [0.0; 3];
                n[axis] = sign;
                // The viewer looks along +z: faces whose normal points to -z are visible.
                if rot(n)[2] >= -1e-6 {
                    continue;
                }
                let (a1, a2) = ((axis + 1) % 3, (axis + 2) % 3);
                let bit = |ax: usize| 1usize << ax;
                let base = if sign > 0.0 { bit(axis) } else { 0 };
                let quad_ids = [
                    base,
                    base | bit(a1),
                    base | bit(a1) | bit(a2),
                    base | bit(a2),
                ];
                let quad: Vec<(f64, f64)> = quad_ids.iter().map(|&i| proj[i]).collect();
                let color = colors[face_idx % colors.len()];
                face_idx += 1;
                self.polygon(&quad, color);
                for i in quad_ids {
                    visible[i] = true;
                }
            }
        }
        pts.extend((0..8).filter(|&i| visible[i]).map(|i| proj[i]));
    }

    /// `Primitive::GaussianNoise`: blurred uniform pixel noise over the whole image; no labels.
    pub(super) fn noise_image(&mut self) {
        for p in self.raster.px.iter_mut() {
            *p = self.rng.random_range(0.0..=1.0);
        }
        let sigma = self.rng.random_range(0.5..=1.5);
        gaussian_blur(self.raster, sigma);
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn polygon_vertex_is_a_corner_of_the_drawn_shape() {
        // At a vertex of a convex polygon, the pixel covers a wedge of the shape: the value there
        // is between the background and the shape colour (on the drawn edge), while the polygon centre has the shape
        // colour and points just outside the vertex have the background.
        let mut rng = Pcg64::seed_from_u64(3);
        let mut raster = Raster {
            w: 64,
            h: 64,
            px: vec![0.0; 64 * 64],
        };
        let mut d = Draw {
            raster: &mut raster,
            rng: &mut rng,
            bg: 0.0,
            contrast: 0.3,
        };
        let poly = [(10.0, 10.0), (50.0, 14.0), (30.0, 50.0)];
        d.polygon(&poly, 1.0);
        let at = |x: usize, y: usize| raster.px[y * 64 + x];
        assert!((at(30, 25) - 1.0).abs() < 1e-6, "inside");
        let v = at(10, 10);
        assert!(
            v > 0.05 && v < 0.95,
            "vertex pixel lies on the boundary, got {v}"
        );
        assert_eq!(at(7, 7), 0.0, "outside beyond the vertex");
    }
}
