//! Adam with its state kept in tensors that checkpoints save and restore (the optimiser of tch
//! does not expose its moments, so a resumed run would otherwise restart them from zero).

use std::path::Path;

use anyhow::Context;
use tch::{Kind, Tensor, nn};

/// Learning rate for 0-based `step` of `steps`: cosine decay from `base` down to
/// `base * final_fraction` (Loshchilov & Hutter, "SGDR", 2017, without restarts).
/// `final_fraction = 1` keeps the rate constant. Depends only on the step, so a resumed run
/// follows the same schedule.
pub fn cosine_lr(base: f64, final_fraction: f64, step: usize, steps: usize) -> f64 {
    let t = (step as f64 / steps.max(1) as f64).clamp(0.0, 1.0);
    let cos = 0.5 * (1.0 + (std::f64::consts::PI * t).cos());
    base * (final_fraction + (1.0 - final_fraction) * cos)
}

/// [`cosine_lr`] after a linear warm-up from `base / warmup` to `base` over the first `warmup`
/// steps (Goyal et al., "Accurate, Large Minibatch SGD", 2017): Adam's first updates move every
/// weight by about the learning rate whatever its gradient, which would undo much of a trained
/// network being fine-tuned.
pub fn warmup_cosine_lr(
    base: f64,
    final_fraction: f64,
    warmup: usize,
    step: usize,
    steps: usize,
) -> f64 {
    let cosine = cosine_lr(base, final_fraction, step, steps);
    if step < warmup {
        cosine * (step + 1) as f64 / warmup as f64
    } else {
        cosine
    }
}

/// Adam (Kingma & Ba), no weight decay.
#[derive(Debug)]
pub struct Adam {
    /// Learning rate.
    pub lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    /// Steps taken (for bias correction).
    pub step: i64,
    params: Vec<(String, Tensor)>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
}

impl Adam {
    /// Adam over the trainable variables of `vs` with the usual betas (0.9, 0.999).
    pub fn new(vs: &nn::VarStore, lr: f64) -> Self {
        let mut params: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .collect();
        params.sort_by(|a, b| a.0.cmp(&b.0));
        let m = params.iter().map(|(_, p)| p.zeros_like()).collect();
        let v = params.iter().map(|(_, p)| p.zeros_like()).collect();
        Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            step: 0,
            params,
            m,
            v,
        }
    }

    /// Clears the gradients.
    pub fn zero_grad(&mut self) {
        for (_, p) in self.params.iter_mut() {
            p.zero_grad();
        }
    }

    /// One update from the current gradients.
    pub fn step(&mut self) {
        self.step += 1;
        let (b1, b2) = (self.beta1, self.beta2);
        let c1 = 1.0 - b1.powi(self.step as i32);
        let c2 = 1.0 - b2.powi(self.step as i32);
        tch::no_grad(|| {
            for ((_, p), (m, v)) in self
                .params
                .iter_mut()
                .zip(self.m.iter_mut().zip(self.v.iter_mut()))
            {
                let g = p.grad();
                if !g.defined() {
                    continue;
                }
                let nm = &*m * b1 + &g * (1.0 - b1);
                let nv = &*v * b2 + g.square() * (1.0 - b2);
                m.copy_(&nm);
                v.copy_(&nv);
                let update = (nm / c1) / ((nv / c2).sqrt() + self.eps) * self.lr;
                let np = &*p - update;
                p.copy_(&np);
            }
        });
    }

    /// Writes the moments (safetensors); the step count goes into the checkpoint's state file.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let mut named: Vec<(String, Tensor)> = Vec::new();
        for ((name, _), (m, v)) in self.params.iter().zip(self.m.iter().zip(&self.v)) {
            named.push((format!("m.{name}"), m.contiguous()));
            named.push((format!("v.{name}"), v.contiguous()));
        }
        Tensor::write_safetensors(&named, path)
            .with_context(|| format!("cannot write optimiser state {}", path.display()))
    }

    /// Restores the moments written by [`Adam::save`] and the step count.
    pub fn load(&mut self, path: &Path, step: i64) -> anyhow::Result<()> {
        let named = Tensor::read_safetensors(path)
            .with_context(|| format!("cannot read optimiser state {}", path.display()))?;
        let map: std::collections::HashMap<String, Tensor> = named.into_iter().collect();
        tch::no_grad(|| -> anyhow::Result<()> {
            for ((name, p), (m, v)) in self
                .params
                .iter()
                .zip(self.m.iter_mut().zip(self.v.iter_mut()))
            {
                for (prefix, dst) in [("m", m), ("v", v)] {
                    let key = format!("{prefix}.{name}");
                    let src = map.get(&key).with_context(|| {
                        format!(
                            "{} has no {key}: optimiser state of another network?",
                            path.display()
                        )
                    })?;
                    anyhow::ensure!(
                        src.size() == p.size(),
                        "{}: {key} has shape {:?}, expected {:?}",
                        path.display(),
                        src.size(),
                        p.size()
                    );
                    dst.copy_(&src.to_kind(Kind::Float).to_device(p.device()));
                }
            }
            Ok(())
        })?;
        self.step = step;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_lr_goes_from_base_to_the_final_fraction() {
        assert_eq!(cosine_lr(1e-3, 0.1, 0, 100), 1e-3);
        assert!((cosine_lr(1e-3, 0.1, 50, 100) - 0.55e-3).abs() < 1e-12);
        assert!((cosine_lr(1e-3, 0.1, 100, 100) - 1e-4).abs() < 1e-12);
        assert_eq!(cosine_lr(1e-3, 1.0, 70, 100), 1e-3);
        assert!((warmup_cosine_lr(1e-3, 1.0, 10, 0, 100) - 1e-4).abs() < 1e-15);
        assert!((warmup_cosine_lr(1e-3, 1.0, 10, 4, 100) - 5e-4).abs() < 1e-15);
        assert_eq!(
            warmup_cosine_lr(1e-3, 0.1, 10, 50, 100),
            cosine_lr(1e-3, 0.1, 50, 100)
        );
        assert_eq!(warmup_cosine_lr(1e-3, 0.1, 0, 0, 100), 1e-3);
    }
    use tch::Device;

    #[test]
    fn minimises_a_quadratic_and_state_round_trips() {
        let vs = nn::VarStore::new(Device::Cpu);
        let x = vs.root().var("x", &[3], nn::Init::Const(5.0));
        let mut opt = Adam::new(&vs, 0.1);
        for _ in 0..300 {
            opt.zero_grad();
            let loss = (&x - 1.0).square().sum(Kind::Float);
            loss.backward();
            opt.step();
        }
        let err = (&x - 1.0).abs().max().double_value(&[]);
        assert!(err < 0.05, "{err}");
        let dir = std::env::temp_dir().join(format!("sp-adam-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("adam.safetensors");
        opt.save(&f).unwrap();
        let mut other = Adam::new(&vs, 0.1);
        other.load(&f, opt.step).unwrap();
        assert_eq!(other.step, 300);
        let d = (&other.v[0] - &opt.v[0]).abs().max().double_value(&[]);
        assert_eq!(d, 0.0);
        std::fs::remove_dir_all(dir).ok();
    }
}
