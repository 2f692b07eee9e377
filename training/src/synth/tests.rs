//! Tests of the generator's public API: determinism, value ranges, labels on drawn corners,
//! configuration checks.

use super::*;

fn cfg() -> SynthConfig {
    SynthConfig::default()
}

/// Largest minus smallest intensity in the 5x5 neighbourhood of the pixel nearest to (x, y)
/// (the end point of a thick line is the centre of its cap, up to 1.7 px inside the stroke).
fn local_range(s: &Sample, x: f32, y: f32) -> f32 {
    let (cx, cy) = (x.round() as i64, y.round() as i64);
    let mut lo = f32::MAX;
    let mut hi = f32::MIN;
    for dy in -2..=2 {
        for dx in -2..=2 {
            let (xx, yy) = (cx + dx, cy + dy);
            if xx >= 0 && yy >= 0 && (xx as usize) < s.width && (yy as usize) < s.height {
                let v = s.image[yy as usize * s.width + xx as usize];
                lo = lo.min(v);
                hi = hi.max(v);
            }
        }
    }
    hi - lo
}

#[test]
fn deterministic_and_thread_independent() {
    let c = cfg();
    let a = batch(&c, 7, 0, 16, false);
    let b: Vec<Sample> = (0..16).map(|i| sample(&c, 7, i, false)).collect();
    assert_eq!(a, b);
    assert_ne!(sample(&c, 7, 0, false).image, sample(&c, 8, 0, false).image);
}

#[test]
fn every_primitive_renders_in_range_with_labels_inside() {
    let c = cfg();
    for p in Primitive::ALL {
        for i in 0..20u64 {
            let mut rng = Pcg64::seed_from_u64(i);
            let s = render(&c, p, &mut rng, false);
            assert_eq!(s.image.len(), c.width * c.height);
            assert!(s.image.iter().all(|v| (0.0..=1.0).contains(v)));
            for k in &s.keypoints {
                assert!(k[0] >= 0.0 && k[1] >= 0.0);
                assert!(k[0] <= (c.width - 1) as f32 && k[1] <= (c.height - 1) as f32);
            }
            if matches!(p, Primitive::Ellipses | Primitive::GaussianNoise) {
                assert!(s.keypoints.is_empty(), "{p:?} must have no corners");
            }
        }
    }
}

#[test]
fn labels_land_on_drawn_corners() {
    // On clean images, every label must sit where the intensity changes (a corner or
    // junction of drawn shapes), never on flat background.
    let c = cfg();
    let mut checked = 0;
    for p in [
        Primitive::Lines,
        Primitive::Polygon,
        Primitive::MultiplePolygons,
        Primitive::Star,
        Primitive::Checkerboard,
        Primitive::Stripes,
        Primitive::Cube,
    ] {
        let mut with_labels = 0;
        for i in 0..30u64 {
            let mut rng = Pcg64::seed_from_u64(1000 + i);
            let s = render(&c, p, &mut rng, true);
            with_labels += usize::from(!s.keypoints.is_empty());
            for k in &s.keypoints {
                let r = local_range(&s, k[0], k[1]);
                assert!(
                    r > 0.12,
                    "{p:?} sample {i}: label ({}, {}) is on a flat area (range {r})",
                    k[0],
                    k[1]
                );
                checked += 1;
            }
        }
        assert!(
            with_labels >= 20,
            "{p:?}: only {with_labels}/30 images have labels"
        );
    }
    assert!(checked > 500);
}

#[test]
fn cube_has_seven_visible_vertices_when_complete() {
    let c = cfg();
    let mut seven = 0;
    for i in 0..40u64 {
        let mut rng = Pcg64::seed_from_u64(i);
        let s = render(&c, Primitive::Cube, &mut rng, true);
        assert!(s.keypoints.len() <= 7);
        seven += usize::from(s.keypoints.len() == 7);
    }
    assert!(seven >= 30, "{seven}");
}

#[test]
fn invalid_config_is_rejected_with_field_name() {
    let mut c = cfg();
    c.height = 8;
    assert!(c.validate().unwrap_err().to_string().contains("height"));
    let mut c = cfg();
    c.primitives.clear();
    assert!(c.validate().unwrap_err().to_string().contains("primitives"));
}
