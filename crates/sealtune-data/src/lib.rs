//! Record readers, validation, deduplication, the deterministic split, and the
//! ingest stage of sealtune.
//!
//! Ingest validates every raw record and writes an index of the accepted ones
//! (which file, which line, which split); it never copies a record.

#![deny(missing_docs)]

pub mod canary;
pub mod config;
pub mod index;
pub mod ingest;
pub mod reader;
pub mod record;
pub mod source;

pub use config::DataConfig;
pub use ingest::IngestStage;
