//! A run interrupted and resumed from its checkpoint continues exactly like an uninterrupted one
//! (data, augmentation, weights, BatchNorm statistics and Adam moments are all restored).

use superpoint_train::config::Config;
use superpoint_train::magicpoint;
use superpoint_train::runtime::Runtime;

fn tiny(steps: usize) -> Config {
    let mut c = Config::small();
    c.synth.height = 32;
    c.synth.width = 40;
    c.magicpoint.batch_size = 2;
    c.magicpoint.steps = steps;
    c.magicpoint.log_every = 1;
    c.magicpoint.checkpoint_every = 100;
    c
}

fn losses(dir: &std::path::Path) -> Vec<f64> {
    std::fs::read_to_string(dir.join("loss.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect()
}

#[test]
fn resumed_run_matches_uninterrupted_run() {
    let base = std::env::temp_dir().join(format!("sp-train-resume-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let rt = Runtime::default();
    let (a, b) = (base.join("straight"), base.join("resumed"));
    magicpoint::train(&tiny(6), &rt, &a, false).unwrap();
    magicpoint::train(&tiny(3), &rt, &b, false).unwrap();
    // Without --resume an existing checkpoint is an error, not silently overwritten.
    let err = magicpoint::train(&tiny(6), &rt, &b, false).unwrap_err();
    assert!(err.to_string().contains("--resume"), "{err}");
    magicpoint::train(&tiny(6), &rt, &b, true).unwrap();
    let (la, lb) = (losses(&a), losses(&b));
    assert_eq!(la.len(), 6);
    assert_eq!(lb.len(), 6);
    for (x, y) in la.iter().zip(&lb) {
        assert!((x - y).abs() < 1e-4 * x.abs().max(1.0), "{la:?} vs {lb:?}");
    }
    std::fs::remove_dir_all(base).ok();
}
