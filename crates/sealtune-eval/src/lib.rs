//! The eval stage of sealtune: leakage and bias suites, statistics, release gates.
#![forbid(unsafe_code)]

pub mod bench;
pub mod bias;
pub mod config;
pub mod error;
pub mod exposure;
pub mod leakage;
pub mod lm;
pub mod mia;
pub mod report;
pub mod stage;
pub mod stats;
pub mod text;
