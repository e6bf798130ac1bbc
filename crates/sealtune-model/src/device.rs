//! Where tensors live: the `[compute]` section, `--device`, and the burn device they map to.
//!
//! This module names burn's backends for devices, and `attention.rs` for the fused
//! attention's kernels; nothing else in sealtune does. The default build
//! computes with burn's pure-Rust `flex` CPU backend. A build with the `libtorch` cargo
//! feature (see `scripts/setup-libtorch.sh`) adds LibTorch's CPU and CUDA devices through
//! burn-tch; burn-tch is deprecated upstream, so every LibTorch-specific line stays in these
//! two files and a move to another CUDA backend touches only them.
//!
//! | `device` | meaning |
//! |---|---|
//! | `auto` (default) | CUDA device 0 when the build has LibTorch and LibTorch sees a GPU, else `cpu` |
//! | `cpu` | burn's pure-Rust `flex` backend |
//! | `libtorch-cpu` | LibTorch on the CPU (needs the `libtorch` build) |
//! | `cuda`, `cuda:N` | LibTorch on CUDA device 0 or N (needs the `libtorch` build and a GPU) |
//!
//! Compute is in float32 everywhere today; the chosen device and precision are recorded
//! with every result (`training.json`, the eval report, provenance, the card).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};
use burn::prelude::Device;

/// What the user asked for, from `[compute] device` or `--device`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeviceChoice {
    /// CUDA when available in this build and visible, else the pure-Rust CPU backend.
    #[default]
    Auto,
    /// burn's pure-Rust `flex` CPU backend.
    Cpu,
    /// LibTorch on the CPU.
    LibtorchCpu,
    /// LibTorch on a CUDA device (index 0 unless given).
    Cuda(usize),
}

/// A device name that is not one of sealtune's (`[compute] device`, `--device`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("expected \"auto\", \"cpu\", \"libtorch-cpu\", \"cuda\" or \"cuda:N\"")]
pub struct ParseDeviceError;

impl FromStr for DeviceChoice {
    type Err = ParseDeviceError;

    fn from_str(s: &str) -> std::result::Result<Self, ParseDeviceError> {
        match s {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "libtorch-cpu" => Ok(Self::LibtorchCpu),
            "cuda" => Ok(Self::Cuda(0)),
            _ => match s.strip_prefix("cuda:") {
                Some(n)
                    if !n.is_empty() && n.len() <= 3 && n.bytes().all(|b| b.is_ascii_digit()) =>
                {
                    n.parse().map(Self::Cuda).map_err(|_| ParseDeviceError)
                }
                _ => Err(ParseDeviceError),
            },
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Auto => f.write_str("auto"),
            Self::Cpu => f.write_str("cpu"),
            Self::LibtorchCpu => f.write_str("libtorch-cpu"),
            Self::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

impl Serialize for DeviceChoice {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DeviceChoice {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The `[compute]` config section, read by the train and eval stages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComputeSection {
    /// Which device to compute on.
    #[serde(default)]
    pub device: DeviceChoice,
}

/// A resolved device: the burn device, and how to name it in records.
#[derive(Clone, Debug)]
pub struct Compute {
    device: Device,
    kind: &'static str,
    index: Option<usize>,
}

impl Compute {
    /// The burn device to put tensors on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The device kind without an index: `cpu`, `libtorch-cpu` or `cuda`. Stage keys use
    /// this, so a result computed on one GPU is reused on another of the same run.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// The precision of the computation. Float32 everywhere in this build.
    pub fn dtype(&self) -> &'static str {
        "f32"
    }

    /// What to record: `{"device": "cuda:0", "backend": "libtorch", "dtype": "f32"}`.
    pub fn record(&self) -> serde_json::Value {
        serde_json::json!({
            "device": self.to_string(),
            "backend": if self.kind == "cpu" { "flex" } else { "libtorch" },
            "dtype": self.dtype(),
        })
    }
}

impl fmt::Display for Compute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.index {
            Some(i) => write!(f, "{}:{i}", self.kind),
            None => f.write_str(self.kind),
        }
    }
}

/// Whether this build can use LibTorch devices.
pub const LIBTORCH_BUILD: bool = cfg!(feature = "libtorch");

/// Why a LibTorch device choice cannot be met on this build or machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unavailable {
    /// The binary was built without the `libtorch` feature.
    NotBuilt,
    /// LibTorch sees no CUDA GPU.
    #[cfg_attr(not(feature = "libtorch"), allow(dead_code))]
    NoGpu,
    /// The index is past the GPUs LibTorch sees.
    #[cfg_attr(not(feature = "libtorch"), allow(dead_code))]
    OutOfRange {
        /// GPUs seen.
        count: usize,
    },
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotBuilt => f.write_str(
                "this sealtune was built without LibTorch; build one with `bash scripts/setup-libtorch.sh` (README: GPU build), or set [compute] device = \"cpu\"",
            ),
            Self::NoGpu => f.write_str(
                "LibTorch sees no CUDA GPU on this machine (check nvidia-smi and CUDA_VISIBLE_DEVICES), or set [compute] device = \"auto\" or \"cpu\"",
            ),
            Self::OutOfRange { count } => write!(
                f,
                "LibTorch sees {count} CUDA GPU(s), numbered from 0; pick one of them"
            ),
        }
    }
}

impl DeviceChoice {
    /// Map the choice to a device this build and machine have. `key` names where the
    /// choice came from (`[compute] device` or `--device`) for the error message, which
    /// is a configuration error (exit 78) saying what to do.
    pub fn resolve(self, key: &str) -> Result<Compute> {
        let cpu = || Compute {
            device: Device::flex(),
            kind: "cpu",
            index: None,
        };
        match self {
            Self::Cpu => Ok(cpu()),
            Self::Auto => Ok(backend::first_cuda().unwrap_or_else(cpu)),
            Self::LibtorchCpu => {
                backend::libtorch_cpu().ok_or_else(|| device_err(key, self, Unavailable::NotBuilt))
            }
            Self::Cuda(i) => backend::cuda(i).map_err(|why| device_err(key, self, why)),
        }
    }
}

impl DeviceChoice {
    /// The device kind results depend on, for stage keys: an explicit choice names its
    /// kind without touching the machine (so `sealtune status` on a login node without a
    /// GPU does not call a `cuda` run stale), and only `auto` is resolved here.
    pub fn key_kind(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::LibtorchCpu => "libtorch-cpu",
            Self::Cuda(_) => "cuda",
            Self::Auto => backend::first_cuda().map_or("cpu", |c| c.kind),
        }
    }
}

fn device_err(key: &str, choice: DeviceChoice, why: Unavailable) -> ModelError {
    ModelError::Device {
        key: key.to_string(),
        choice: choice.to_string(),
        message: why.to_string(),
    }
}

#[cfg(feature = "libtorch")]
#[allow(deprecated)] // burn-tch is deprecated upstream; this module is its one user.
mod backend {
    use super::{Compute, Device, Unavailable};

    fn cuda_count() -> usize {
        usize::try_from(tch::Cuda::device_count()).unwrap_or(0)
    }

    pub(super) fn first_cuda() -> Option<Compute> {
        (cuda_count() > 0).then(|| Compute {
            device: Device::libtorch_cuda(0usize),
            kind: "cuda",
            index: Some(0),
        })
    }

    pub(super) fn libtorch_cpu() -> Option<Compute> {
        Some(Compute {
            device: Device::libtorch(),
            kind: "libtorch-cpu",
            index: None,
        })
    }

    pub(super) fn cuda(i: usize) -> Result<Compute, Unavailable> {
        let n = cuda_count();
        if i < n {
            Ok(Compute {
                device: Device::libtorch_cuda(i),
                kind: "cuda",
                index: Some(i),
            })
        } else if n == 0 {
            Err(Unavailable::NoGpu)
        } else {
            Err(Unavailable::OutOfRange { count: n })
        }
    }
}

#[cfg(not(feature = "libtorch"))]
mod backend {
    use super::{Compute, Unavailable};

    pub(super) fn first_cuda() -> Option<Compute> {
        None
    }

    pub(super) fn libtorch_cpu() -> Option<Compute> {
        None
    }

    pub(super) fn cuda(_i: usize) -> Result<Compute, Unavailable> {
        Err(Unavailable::NotBuilt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sealtune_contract::ExitStatus as _;

    #[test]
    fn parses_every_documented_choice_and_nothing_else() {
        for (s, c) in [
            ("auto", DeviceChoice::Auto),
            ("cpu", DeviceChoice::Cpu),
            ("libtorch-cpu", DeviceChoice::LibtorchCpu),
            ("cuda", DeviceChoice::Cuda(0)),
            ("cuda:3", DeviceChoice::Cuda(3)),
        ] {
            assert_eq!(s.parse::<DeviceChoice>().unwrap(), c);
        }
        assert_eq!(DeviceChoice::Cuda(3).to_string(), "cuda:3");
        for bad in [
            "",
            "gpu",
            "CUDA",
            "cuda:",
            "cuda:x",
            "cuda:-1",
            "cuda:1234",
            " cpu",
            "flex",
        ] {
            assert!(bad.parse::<DeviceChoice>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn section_rejects_unknown_keys_and_values() {
        let ok: ComputeSection = toml::from_str("device = \"cuda:1\"").unwrap();
        assert_eq!(ok.device, DeviceChoice::Cuda(1));
        assert_eq!(ComputeSection::default().device, DeviceChoice::Auto);
        assert!(toml::from_str::<ComputeSection>("device = \"tpu\"").is_err());
        assert!(toml::from_str::<ComputeSection>("devices = \"cpu\"").is_err());
    }

    #[test]
    fn key_kind_needs_no_device_for_an_explicit_choice() {
        assert_eq!(DeviceChoice::Cuda(7).key_kind(), "cuda");
        assert_eq!(DeviceChoice::LibtorchCpu.key_kind(), "libtorch-cpu");
        assert_eq!(DeviceChoice::Cpu.key_kind(), "cpu");
        assert_eq!(
            DeviceChoice::Auto.key_kind(),
            DeviceChoice::Auto.resolve("x").unwrap().kind()
        );
    }

    #[test]
    fn cpu_is_flex_and_recorded_as_such() {
        let c = DeviceChoice::Cpu.resolve("[compute] device").unwrap();
        assert_eq!(c.kind(), "cpu");
        assert_eq!(c.record()["backend"], "flex");
        assert_eq!(c.record()["dtype"], "f32");
    }

    #[cfg(not(feature = "libtorch"))]
    #[test]
    fn libtorch_devices_need_the_libtorch_build() {
        for c in [DeviceChoice::LibtorchCpu, DeviceChoice::Cuda(0)] {
            let e = c.resolve("--device").unwrap_err();
            assert_eq!(e.exit().code(), 78);
            let msg = e.to_string();
            assert!(
                msg.contains("--device") && msg.contains("setup-libtorch.sh"),
                "{msg}"
            );
        }
        assert_eq!(DeviceChoice::Auto.resolve("x").unwrap().kind(), "cpu");
    }

    #[cfg(feature = "libtorch")]
    #[test]
    fn libtorch_cpu_resolves_and_a_missing_gpu_is_a_config_error() {
        assert_eq!(
            DeviceChoice::LibtorchCpu.resolve("x").unwrap().kind(),
            "libtorch-cpu"
        );
        if tch::Cuda::device_count() == 0 {
            let e = DeviceChoice::Cuda(0)
                .resolve("[compute] device")
                .unwrap_err();
            assert_eq!(e.exit().code(), 78);
            assert!(e.to_string().contains("no CUDA GPU"), "{e}");
            assert_eq!(DeviceChoice::Auto.resolve("x").unwrap().kind(), "cpu");
        }
        let e = DeviceChoice::Cuda(999).resolve("x").unwrap_err();
        assert_eq!(e.exit().code(), 78);
    }
}
