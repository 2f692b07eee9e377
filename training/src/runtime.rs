//! Where and how the network runs: device, bf16 mixed precision, channels-last layout, threads.

use tch::Device;

use crate::model::SuperPointNet;

/// Execution settings shared by all stages.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Runtime {
    /// Device of the network and the batches.
    pub device: Device,
    /// Convolutions in bfloat16 with fp32 master weights and fp32 losses.
    pub bf16: bool,
    /// Channels-last activations and weights.
    pub channels_last: bool,
}

impl Default for Runtime {
    fn default() -> Self {
        Runtime {
            device: Device::Cpu,
            bf16: false,
            channels_last: false,
        }
    }
}

/// Parses `cpu`, `cuda` or `cuda:N`, checking that CUDA is usable.
pub fn parse_device(s: &str) -> anyhow::Result<Device> {
    let dev = match s {
        "cpu" => Device::Cpu,
        "cuda" => Device::Cuda(0),
        other => match other
            .strip_prefix("cuda:")
            .and_then(|n| n.parse::<usize>().ok())
        {
            Some(n) => Device::Cuda(n),
            None => anyhow::bail!("unknown device {other:?}: use cpu, cuda or cuda:N"),
        },
    };
    if let Device::Cuda(n) = dev {
        anyhow::ensure!(
            tch::Cuda::is_available(),
            "CUDA is not available to libtorch here (no GPU, no driver, or a CPU-only libtorch); use --device cpu"
        );
        let count = tch::Cuda::device_count() as usize;
        anyhow::ensure!(
            n < count,
            "cuda:{n} requested but only {count} GPU(s) present"
        );
    }
    Ok(dev)
}

impl Runtime {
    /// Applies the layout/precision settings to `net` (already on `self.device`).
    pub fn prepare(&self, net: &mut SuperPointNet) {
        net.bf16 = self.bf16;
        if self.channels_last {
            net.use_channels_last();
        }
        if let Device::Cuda(_) = self.device {
            tch::Cuda::cudnn_set_benchmark(true);
        }
    }

    /// A fresh network on this runtime.
    pub fn new_net(&self, with_descriptor: bool) -> SuperPointNet {
        let mut net = SuperPointNet::new(self.device, with_descriptor);
        self.prepare(&mut net);
        net
    }

    /// Loads a network (see [`SuperPointNet::load`]) on this runtime.
    pub fn load_net(
        &self,
        path: &std::path::Path,
        with_descriptor: Option<bool>,
    ) -> anyhow::Result<SuperPointNet> {
        let mut net = SuperPointNet::load(path, self.device, with_descriptor)?;
        self.prepare(&mut net);
        Ok(net)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_parsing() {
        assert_eq!(parse_device("cpu").unwrap(), Device::Cpu);
        assert!(
            parse_device("tpu")
                .unwrap_err()
                .to_string()
                .contains("unknown device")
        );
        if !tch::Cuda::is_available() {
            assert!(
                parse_device("cuda")
                    .unwrap_err()
                    .to_string()
                    .contains("not available")
            );
        }
    }
}
