//! The `sealtune` command-line tool.
//!
//! `main` maps every outcome to exactly one exit code (see
//! [`sealtune_pipeline::Exit`]): errors from stages and the engine carry their
//! own; configuration errors are 78; command-line errors are 64.

// The binary is the one place that writes results to stdout.
#![allow(clippy::print_stdout)]

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use serde_json::json;

use sealtune_pipeline::Exit;

mod cli;
mod commands;
mod error;
mod release_use;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp
                | clap::error::ErrorKind::DisplayVersion
                | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    ExitCode::SUCCESS
                }
                _ => ExitCode::from(Exit::Usage.code()),
            };
        }
    };
    let json_mode = match &cli.command {
        Command::Run(a) => a.flags.json,
        Command::Stage(a) => a.flags.json,
        _ => false,
    };
    match commands::run(cli) {
        Ok(code) => ExitCode::from(code.code()),
        Err(f) => {
            if json_mode {
                let line = json!({"type": "error", "data": {"exit_code": f.exit.code(), "message": f.message}});
                let mut out = std::io::stdout();
                let _ = writeln!(out, "{line}");
            }
            eprintln!("error: {}", f.message);
            ExitCode::from(f.exit.code())
        }
    }
}
