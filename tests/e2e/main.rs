//! End-to-end tests: each one builds a fresh temporary directory, writes a
//! config and data, and drives the `sealtune` binary.

mod util;

mod at_rest;
mod audit;
mod cli;
mod config;
mod ingest;
mod leak_demo;
mod mask;
mod pipeline;
mod plan;
mod release_use;
mod runs;
mod seal;
mod train;
