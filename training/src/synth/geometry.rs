//! Distances and signed distances (in pixels) of segments and convex polygons, in image
//! coordinates (x right, y down, pixel centres at integers).

/// A 2-D point (x, y).
pub(super) type Point = (f64, f64);

/// Distance from `p` to the segment `a`-`b`.
pub fn segment_distance(p: (f64, f64), a: (f64, f64), b: (f64, f64)) -> f64 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = dx * dx + dy * dy;
    let t = if len2 > 0.0 {
        (((p.0 - a.0) * dx + (p.1 - a.1) * dy) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let (qx, qy) = (a.0 + t * dx, a.1 + t * dy);
    ((p.0 - qx).powi(2) + (p.1 - qy).powi(2)).sqrt()
}

/// Smallest distance between two segments (0 when they intersect).
pub(super) fn segments_distance(a: (f64, f64), b: (f64, f64), c: (f64, f64), d: (f64, f64)) -> f64 {
    let cross = |o: (f64, f64), p: (f64, f64), q: (f64, f64)| {
        (p.0 - o.0) * (q.1 - o.1) - (p.1 - o.1) * (q.0 - o.0)
    };
    let (d1, d2) = (cross(a, b, c), cross(a, b, d));
    let (d3, d4) = (cross(c, d, a), cross(c, d, b));
    if d1 * d2 < 0.0 && d3 * d4 < 0.0 {
        return 0.0;
    }
    segment_distance(a, c, d)
        .min(segment_distance(b, c, d))
        .min(segment_distance(c, a, b))
        .min(segment_distance(d, a, b))
}

/// Signed distance to a convex polygon (negative inside).
pub fn convex_polygon_sdf(p: (f64, f64), poly: &[(f64, f64)]) -> f64 {
    let n = poly.len();
    let area: f64 = (0..n)
        .map(|i| {
            let (a, b) = (poly[i], poly[(i + 1) % n]);
            a.0 * b.1 - b.0 * a.1
        })
        .sum();
    let s = area.signum();
    let mut max_line = f64::MIN;
    for i in 0..n {
        let (a, b) = (poly[i], poly[(i + 1) % n]);
        let len = ((b.0 - a.0).powi(2) + (b.1 - a.1).powi(2))
            .sqrt()
            .max(1e-12);
        let cross = (b.0 - a.0) * (p.1 - a.1) - (b.1 - a.1) * (p.0 - a.0);
        max_line = max_line.max(-s * cross / len);
    }
    if max_line <= 0.0 {
        max_line
    } else {
        (0..n)
            .map(|i| segment_distance(p, poly[i], poly[(i + 1) % n]))
            .fold(f64::MAX, f64::min)
    }
}

/// Bounding box (x0, y0, x1, y1) of `points`, grown by `margin` on every side.
pub(super) fn bbox(points: &[(f64, f64)], margin: f64) -> (f64, f64, f64, f64) {
    let mut b = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for &(x, y) in points {
        b = (b.0.min(x), b.1.min(y), b.2.max(x), b.3.max(y));
    }
    (b.0 - margin, b.1 - margin, b.2 + margin, b.3 + margin)
}
