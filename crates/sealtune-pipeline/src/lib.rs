//! The sealtune stage engine.
//!
//! A run is a directory (`runs/<run-id>/`) holding one sub-directory per stage,
//! an exclusive lock, a hash-chained audit log and a machine-readable status:
//!
//! ```text
//! runs/<run-id>/
//!   run.lock      exclusive lock (pid, host, user, command)
//!   audit.jsonl   append-only, hash-chained event log
//!   status.json   state of every stage
//!   <stage>/      outputs, with manifest.json written last
//! ```
//!
//! Stages implement [`Stage`]; [`Engine`] computes stage keys, skips what is up
//! to date, runs the rest into staging directories, and records everything.

#![deny(missing_docs)]

pub mod audit;
pub mod cancel;
pub mod config;
pub mod engine;
pub mod error;
pub mod events;
pub mod fsutil;
pub mod lock;
pub mod manifest;
pub mod proc;
pub mod time;

pub use cancel::CancelToken;
pub use config::{Config, ConfigError};
pub use engine::{Engine, GateAcceptance, RunOptions, Stage, StageContext, StageOutcome};
pub use error::StageError;
pub use events::Events;
pub use sealtune_contract::{Exit, ExitStatus};
