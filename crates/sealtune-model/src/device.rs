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
//! | `dtype` | meaning |
//! |---|---|
//! | `auto` (default) | `bf16` on CUDA, `f32` elsewhere |
//! | `f32` | everything in float32 |
//! | `bf16` | frozen base weights and activations in bfloat16; the LoRA A/B matrices, their gradients, the optimiser state, the norms' statistics, the softmax and the loss in float32 (LibTorch devices only) |
//!
//! The chosen device and precision are recorded with every result (`training.json`, the
//! eval report, provenance, the card) and are part of the train and eval stage keys.

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

/// Serde through `Display` and `FromStr`: configs spell a choice as its string.
macro_rules! serde_as_string {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: serde::Serializer>(
                &self,
                s: S,
            ) -> std::result::Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(
                d: D,
            ) -> std::result::Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

serde_as_string!(DeviceChoice);

/// The precision a model computes in (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Precision {
    /// Everything in float32.
    #[default]
    F32,
    /// Base weights and activations in bfloat16; LoRA, gradients, optimiser state, norm
    /// statistics, softmax and loss in float32.
    Bf16,
}

impl Precision {
    /// `"f32"` or `"bf16"`, as configs and records spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::Bf16 => "bf16",
        }
    }

    /// The burn dtype of the base weights and activations.
    pub fn float_dtype(self) -> burn::tensor::FloatDType {
        match self {
            Self::F32 => burn::tensor::FloatDType::F32,
            Self::Bf16 => burn::tensor::FloatDType::BF16,
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the user asked for, from `[compute] dtype` or `--dtype`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DtypeChoice {
    /// `bf16` on CUDA, `f32` elsewhere.
    #[default]
    Auto,
    /// This precision.
    Exactly(Precision),
}

/// A dtype name that is not one of sealtune's (`[compute] dtype`, `--dtype`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("expected \"auto\", \"f32\" or \"bf16\"")]
pub struct ParseDtypeError;

impl FromStr for DtypeChoice {
    type Err = ParseDtypeError;

    fn from_str(s: &str) -> std::result::Result<Self, ParseDtypeError> {
        match s {
            "auto" => Ok(Self::Auto),
            "f32" => Ok(Self::Exactly(Precision::F32)),
            "bf16" => Ok(Self::Exactly(Precision::Bf16)),
            _ => Err(ParseDtypeError),
        }
    }
}

impl fmt::Display for DtypeChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Auto => f.write_str("auto"),
            Self::Exactly(p) => f.write_str(p.as_str()),
        }
    }
}

serde_as_string!(DtypeChoice);

impl DtypeChoice {
    /// The precision on a device of `kind` (`cpu`, `libtorch-cpu` or `cuda`).
    pub fn for_kind(self, kind: &str) -> Precision {
        match self {
            Self::Exactly(p) => p,
            Self::Auto if kind == "cuda" => Precision::Bf16,
            Self::Auto => Precision::F32,
        }
    }
}

/// The `[compute]` config section, read by the train and eval stages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComputeSection {
    /// Which device to compute on.
    #[serde(default)]
    pub device: DeviceChoice,
    /// Which precision to compute in.
    #[serde(default)]
    pub dtype: DtypeChoice,
}

impl ComputeSection {
    /// The device and precision this build and machine give for the section; the keys
    /// name where each choice came from for the error message (exit 78).
    pub fn resolve(self, device_key: &str, dtype_key: &str) -> Result<Compute> {
        self.device
            .resolve(device_key)?
            .with_dtype(self.dtype, dtype_key)
    }

    /// What stage keys hold: the device kind (resolving only `auto`) and the precision.
    pub fn key(self) -> (&'static str, &'static str) {
        let kind = self.device.key_kind();
        (kind, self.dtype.for_kind(kind).as_str())
    }
}

/// A resolved device: the burn device, how to name it in records, and the precision.
#[derive(Clone, Debug)]
pub struct Compute {
    device: Device,
    kind: &'static str,
    index: Option<usize>,
    precision: Precision,
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

    /// The precision of the computation, as records spell it (`f32`, `bf16`).
    pub fn dtype(&self) -> &'static str {
        self.precision.as_str()
    }

    /// The precision of the computation.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// This device computing in the precision `choice` gives on it. `bf16` on the pure-Rust
    /// `cpu` device is a configuration error (exit 78) naming `key`: only LibTorch's kernels
    /// compute in bfloat16 there.
    pub fn with_dtype(mut self, choice: DtypeChoice, key: &str) -> Result<Self> {
        let p = choice.for_kind(self.kind);
        if p == Precision::Bf16 && self.kind == "cpu" {
            return Err(ModelError::Device {
                key: key.to_string(),
                choice: choice.to_string(),
                message: "bf16 is computed on LibTorch devices only (libtorch-cpu, cuda); use f32 on the pure-Rust cpu device, or the libtorch-cpu device of a build made by scripts/setup-libtorch.sh".into(),
            });
        }
        self.precision = p;
        Ok(self)
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
            precision: Precision::F32,
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
    use super::{Compute, Device, Precision, Unavailable};

    fn cuda_count() -> usize {
        usize::try_from(tch::Cuda::device_count()).unwrap_or(0)
    }

    pub(super) fn first_cuda() -> Option<Compute> {
        (cuda_count() > 0).then(|| Compute {
            device: Device::libtorch_cuda(0usize),
            kind: "cuda",
            index: Some(0),
            precision: Precision::F32,
        })
    }

    pub(super) fn libtorch_cpu() -> Option<Compute> {
        Some(Compute {
            device: Device::libtorch(),
            kind: "libtorch-cpu",
            index: None,
            precision: Precision::F32,
        })
    }

    pub(super) fn cuda(i: usize) -> Result<Compute, Unavailable> {
        let n = cuda_count();
        if i < n {
            Ok(Compute {
                device: Device::libtorch_cuda(i),
                kind: "cuda",
                index: Some(i),
                precision: Precision::F32,
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
    fn dtype_parses_and_auto_is_bf16_on_cuda_only() {
        let sec: ComputeSection = toml::from_str("device = \"cpu\"\ndtype = \"bf16\"").unwrap();
        assert_eq!(sec.dtype, DtypeChoice::Exactly(Precision::Bf16));
        assert_eq!(ComputeSection::default().dtype, DtypeChoice::Auto);
        for bad in ["BF16", "fp32", "f16", "", "bfloat16"] {
            assert!(bad.parse::<DtypeChoice>().is_err(), "{bad:?} accepted");
        }
        assert!(toml::from_str::<ComputeSection>("dtype = \"f64\"").is_err());
        assert_eq!(DtypeChoice::Auto.for_kind("cuda"), Precision::Bf16);
        assert_eq!(DtypeChoice::Auto.for_kind("libtorch-cpu"), Precision::F32);
        assert_eq!(DtypeChoice::Auto.for_kind("cpu"), Precision::F32);
        let on_cuda = ComputeSection {
            device: DeviceChoice::Cuda(1),
            dtype: DtypeChoice::Auto,
        };
        assert_eq!(on_cuda.key(), ("cuda", "bf16"));
        let f32_on_cuda = ComputeSection {
            dtype: DtypeChoice::Exactly(Precision::F32),
            ..on_cuda
        };
        assert_eq!(f32_on_cuda.key(), ("cuda", "f32"));
    }

    #[test]
    fn bf16_on_the_pure_rust_cpu_is_a_config_error_naming_the_key() {
        let sec = ComputeSection {
            device: DeviceChoice::Cpu,
            dtype: DtypeChoice::Exactly(Precision::Bf16),
        };
        let e = sec.resolve("[compute] device", "--dtype").unwrap_err();
        assert_eq!(e.exit().code(), 78);
        let msg = e.to_string();
        assert!(msg.contains("--dtype") && msg.contains("libtorch"), "{msg}");
        let f32 = ComputeSection {
            dtype: DtypeChoice::Auto,
            ..sec
        };
        assert_eq!(f32.resolve("a", "b").unwrap().dtype(), "f32");
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
        let bf16 = ComputeSection {
            device: DeviceChoice::LibtorchCpu,
            dtype: DtypeChoice::Exactly(Precision::Bf16),
        };
        let c = bf16.resolve("x", "y").unwrap();
        assert_eq!(
            (c.dtype(), c.record()["dtype"].as_str()),
            ("bf16", Some("bf16"))
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
