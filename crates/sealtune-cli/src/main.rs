//! The `sealtune` command-line tool.
//!
//! `main` maps every outcome to exactly one exit code (see
//! [`sealtune_pipeline::Exit`]): errors from stages and the engine carry their
//! own; configuration errors are 78; command-line errors are 64.

// The binary is the one place that writes results to stdout.
#![allow(clippy::print_stdout)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{CommandFactory, Parser, Subcommand};
use serde_json::json;

mod release_use;

use sealtune_pipeline::engine::report_stages;
use sealtune_pipeline::manifest::Status;
use sealtune_pipeline::{
    CancelToken, Config, ConfigError, Engine, Events, Exit, RunOptions, Stage, StageError, audit,
};

/// The stages this build includes, in pipeline order.
fn stages() -> Vec<Box<dyn Stage>> {
    vec![
        Box::new(sealtune_data::IngestStage),
        Box::new(sealtune_pii::MaskStage),
        Box::new(sealtune_train::TrainStage),
        Box::new(sealtune_eval::EvalStage),
        Box::new(sealtune_release::ReleaseStage),
    ]
}

fn supported_sections(stages: &[Box<dyn Stage>]) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = Vec::new();
    for s in stages {
        for sec in s.sections() {
            if !v.contains(sec) {
                v.push(sec);
            }
        }
    }
    v
}

/// The version line says which compute backends this build has.
const VERSION: &str = if sealtune_model::device::LIBTORCH_BUILD {
    concat!(
        env!("CARGO_PKG_VERSION"),
        " (compute: cpu, libtorch-cpu, cuda)"
    )
} else {
    concat!(env!("CARGO_PKG_VERSION"), " (compute: cpu)")
};

#[derive(Parser, Debug)]
#[command(
    name = "sealtune",
    version = VERSION,
    about = "Fine-tune Llama-class models on sensitive records without leaking them",
    long_about = "sealtune takes sensitive records in, validates and indexes them, masks PII, LoRA-fine-tunes a model, evaluates it for bias and leakage, and releases it encrypted and signed.\n\nEach stage writes its outputs under the run directory and is skipped when it is up to date.",
    after_help = exit_help(),
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

fn exit_help() -> String {
    Exit::help_table()
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run every stage in order, skipping the ones that are up to date.
    Run {
        /// The pipeline config (TOML).
        config: PathBuf,
        /// Run directory [default: [run].dir, or runs/<run id>].
        #[arg(long)]
        run_dir: Option<PathBuf>,
        /// Start at this stage; the earlier ones must be up to date.
        #[arg(long, value_name = "STAGE")]
        from: Option<String>,
        /// Stop after this stage.
        #[arg(long, value_name = "STAGE")]
        to: Option<String>,
        /// Rerun this stage even if it is up to date (repeatable).
        #[arg(long, value_name = "STAGE")]
        force: Vec<String>,
        /// Go on past failed eval gates. Needs --reason; the reason is
        /// recorded in the audit log, in release/acceptance.json and on the
        /// model card.
        #[arg(long, requires = "reason")]
        accept_failed_gates: bool,
        /// Why the failed gates are acceptable (with --accept-failed-gates).
        #[arg(long, value_name = "TEXT", requires = "accept_failed_gates")]
        reason: Option<String>,
        /// Compute device, instead of [compute] device: auto, cpu, libtorch-cpu, cuda or cuda:N
        /// (LibTorch devices need a build made by scripts/setup-libtorch.sh).
        #[arg(long, value_name = "DEVICE", value_parser = parse_device)]
        device: Option<sealtune_model::DeviceChoice>,
        /// JSON Lines events on stdout.
        #[arg(long)]
        json: bool,
        /// No progress lines on stderr (warnings and errors still show).
        #[arg(long, short)]
        quiet: bool,
    },
    /// Run one stage (the entry point for schedulers). Exits 66 if an input stage is missing or stale.
    Stage {
        /// Stage name.
        name: String,
        /// The pipeline config (TOML).
        #[arg(long)]
        config: PathBuf,
        /// Run directory.
        #[arg(long)]
        run_dir: PathBuf,
        /// Rerun even if up to date.
        #[arg(long)]
        force: bool,
        /// Go on past failed eval gates. Needs --reason; the reason is
        /// recorded in the audit log, in release/acceptance.json and on the
        /// model card.
        #[arg(long, requires = "reason")]
        accept_failed_gates: bool,
        /// Why the failed gates are acceptable (with --accept-failed-gates).
        #[arg(long, value_name = "TEXT", requires = "accept_failed_gates")]
        reason: Option<String>,
        /// Compute device, instead of [compute] device: auto, cpu, libtorch-cpu, cuda or cuda:N
        /// (LibTorch devices need a build made by scripts/setup-libtorch.sh).
        #[arg(long, value_name = "DEVICE", value_parser = parse_device)]
        device: Option<sealtune_model::DeviceChoice>,
        /// JSON Lines events on stdout.
        #[arg(long)]
        json: bool,
        /// No progress lines on stderr.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Show each stage's state: not started, running, done, skipped, failed, interrupted or stale.
    Status {
        /// Run directory.
        #[arg(long)]
        run_dir: PathBuf,
        /// Config to check staleness against [default: the one the run last used].
        #[arg(long)]
        config: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check a config (keys, values, inline secrets, input files) without running anything.
    Validate {
        /// The pipeline config (TOML).
        config: PathBuf,
    },
    /// Write Slurm, Kubernetes or Argo job definitions for the five stages.
    ///
    /// One job per stage running `sealtune stage NAME`, in stage order, with
    /// resources, the exit-code policy (75 retries, 3/64/65/66/77/78 never),
    /// key files mounted from the scheduler's secret store (release alone gets
    /// the signing key) and one shared run directory. Values the config cannot
    /// tell are left as FILL_IN_* placeholders and listed on stderr. Never
    /// reads a key file. See docs/SCHEDULERS.md.
    Plan {
        /// The pipeline config (TOML).
        config: PathBuf,
        /// `slurm`, `kubernetes` or `argo`.
        #[arg(long, value_name = "KIND")]
        emit: sealtune_plan::Target,
        /// Directory to write the files into (created; existing files are
        /// not overwritten). Default: print them to stdout.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Container image with `sealtune` on its PATH (Kubernetes, Argo).
        #[arg(long)]
        image: Option<String>,
        /// Namespace (Kubernetes, Argo).
        #[arg(long)]
        namespace: Option<String>,
        /// Storage class of the shared ReadWriteMany volume (Kubernetes, Argo).
        #[arg(long)]
        storage_class: Option<String>,
        /// Slurm partition.
        #[arg(long)]
        partition: Option<String>,
        /// The sealtune binary on the Slurm nodes [default: sealtune on PATH].
        #[arg(long, value_name = "PATH")]
        sealtune: Option<String>,
    },
    /// Verify the run's audit log hash chain; names the first bad entry.
    Audit {
        /// Run directory.
        #[arg(long)]
        run_dir: PathBuf,
        /// Also print every entry.
        #[arg(long)]
        show: bool,
    },
    /// Write a signing key pair (NAME.key.pem, NAME.pub.pem) and a key-encryption key (NAME.kek).
    Keygen {
        /// Directory for the keys (created if missing; existing files are never overwritten).
        #[arg(long)]
        out: PathBuf,
        /// File name stem.
        #[arg(long, default_value = "sealtune")]
        name: String,
    },
    /// Encrypt a file in the sealed format for one or more recipients.
    Seal {
        /// File to encrypt.
        #[arg(long = "in", value_name = "FILE")]
        input: PathBuf,
        /// Sealed output (never overwritten).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        #[command(flatten)]
        keys: KeyArgs,
        /// Content type recorded in the header.
        #[arg(long)]
        content_type: Option<String>,
    },
    /// Decrypt a sealed file. Plaintext is written only to --out, mode 0600, after every chunk verified.
    Unseal {
        /// Sealed file.
        file: PathBuf,
        /// Plaintext output (required unless --check).
        #[arg(long, value_name = "FILE", required_unless_present = "check")]
        out: Option<PathBuf>,
        /// Only check that every chunk authenticates; write nothing.
        #[arg(long, conflicts_with = "out")]
        check: bool,
        #[command(flatten)]
        keys: KeyArgs,
    },
    /// Sign every file in a directory with an OpenSSF Model Signing bundle (DIR/model.sig).
    Sign {
        /// Directory to sign.
        dir: PathBuf,
        /// Private key (PKCS#8 PEM, mode 0600), from `sealtune keygen`.
        #[arg(long)]
        key: PathBuf,
    },
    /// Verify a signed directory: signature, every file digest, no extra or missing file, provenance; with --kek every sealed chunk.
    Verify {
        /// Directory holding model.sig.
        dir: PathBuf,
        /// The signer's public key (SPKI PEM).
        #[arg(long)]
        public_key: PathBuf,
        /// Also authenticate every chunk of every .seal file (writes nothing).
        #[arg(long)]
        kek: Option<PathBuf>,
        /// Also check this run directory's audit log against the head the
        /// release's signed provenance recorded: the log must still hold that
        /// entry, unmodified, with an intact chain.
        #[arg(long)]
        run_dir: Option<PathBuf>,
    },
    /// Import a Llama GGUF file (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q6_K) as HF safetensors, config.json and tokenizer.json.
    ImportGguf {
        /// The GGUF file.
        file: PathBuf,
        /// Output directory (created; existing model files are replaced).
        #[arg(long)]
        out: PathBuf,
    },
    /// Generate a continuation with a model directory and optionally a PEFT adapter, or a signed sealed release (verified, then decrypted into memory only).
    Generate {
        /// HF-layout model directory (config.json, safetensors, tokenizer.json); with --release, the base model, whose file digests must match the release's provenance.
        #[arg(long)]
        model: PathBuf,
        /// Compute device, default auto: CUDA when this build has LibTorch and sees a GPU, else cpu. One of auto, cpu, libtorch-cpu, cuda or cuda:N
        /// (LibTorch devices need a build made by scripts/setup-libtorch.sh).
        #[arg(long, value_name = "DEVICE", value_parser = parse_device)]
        device: Option<sealtune_model::DeviceChoice>,
        /// PEFT adapter directory (adapter_config.json, adapter_model.safetensors).
        #[arg(long, conflicts_with = "release")]
        adapter: Option<PathBuf>,
        /// A signed release directory: verified as `sealtune verify --kek` does, then its sealed adapter is decrypted into memory and attached. Nothing is written.
        #[arg(long, requires_all = ["public_key", "kek"])]
        release: Option<PathBuf>,
        /// The release signer's public key (SPKI PEM), with --release.
        #[arg(long, requires = "release")]
        public_key: Option<PathBuf>,
        /// A key-encryption key of a release recipient, with --release.
        #[arg(long, requires = "release")]
        kek: Option<PathBuf>,
        /// The prompt.
        #[arg(long)]
        prompt: String,
        /// Render the prompt as a user turn with the model's chat template.
        #[arg(long)]
        chat: bool,
        /// Most tokens to generate.
        #[arg(long, default_value_t = 128)]
        max_new_tokens: usize,
        /// Greedy decoding (the default when no --temperature is given).
        #[arg(long, conflicts_with_all = ["temperature", "top_p", "top_k"])]
        greedy: bool,
        /// Sampling temperature (> 0).
        #[arg(long)]
        temperature: Option<f32>,
        /// Nucleus sampling: keep the most likely tokens up to this probability mass.
        #[arg(long, requires = "temperature")]
        top_p: Option<f32>,
        /// Keep only the k most likely tokens.
        #[arg(long, requires = "temperature")]
        top_k: Option<usize>,
        /// Sampling seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Verify a signed release, then write its adapter in clear into a new directory for serving: a PEFT adapter (--peft) or the base model with the adapter merged (--merged). Files are mode 0600, written after every chunk authenticated.
    Export {
        /// The signed release directory.
        #[arg(long)]
        release: PathBuf,
        /// The release signer's public key (SPKI PEM).
        #[arg(long)]
        public_key: PathBuf,
        /// A key-encryption key of a release recipient.
        #[arg(long)]
        kek: PathBuf,
        /// Output directory: new, or empty. Nothing else is written.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Write a PEFT adapter directory (adapter_config.json, adapter_model.safetensors).
        #[arg(long, conflicts_with = "merged", required_unless_present = "merged")]
        peft: bool,
        /// Write the base model with the adapter merged (HF safetensors, f32, sharded like the base; config and tokenizer files copied).
        #[arg(long, requires = "model")]
        merged: bool,
        /// The base model directory; its file digests must match the release's provenance (required with --merged).
        #[arg(long)]
        model: Option<PathBuf>,
    },
    /// Mask a JSONL file with a config's [mask] policy, or with --detect write the PII spans found.
    #[command(
        after_help = "Masking: input lines are chat, instruction or text records (as for ingest), recognised by their fields; output lines are the masked records, in order. Records a `drop_record` rule matches are left out and counted.\n\nDetection: input lines are {\"id\": ..., \"text\": \"...\"}; output lines are {\"id\": ..., \"spans\": [{\"start\", \"end\", \"type\", \"score\"}]} with offsets in Unicode code points, end exclusive."
    )]
    Mask {
        /// Config whose [mask] section gives the policy and key (required unless --detect).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Input JSONL file.
        #[arg(long = "in", value_name = "FILE")]
        input: PathBuf,
        /// Output JSONL file (written atomically; never the input file).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Only detect: write spans instead of masked records.
        #[arg(long)]
        detect: bool,
    },
    /// Regenerate the model card of a run for inspection (DIR/card/), listing reviewer attestations.
    Card {
        /// The run directory.
        #[arg(long)]
        run_dir: PathBuf,
    },
    /// Add a reviewer's signed decision about a run's release (DIR/attestations/).
    Attest {
        /// The run directory (its release/model.sig is what the statement refers to).
        #[arg(long)]
        run_dir: PathBuf,
        /// The reviewer's private key (PKCS#8 PEM, mode 0600), from `sealtune keygen`.
        #[arg(long)]
        key: PathBuf,
        /// `approve` or `reject`.
        #[arg(long)]
        decision: sealtune_card::Decision,
        /// The reviewer's note (recorded and signed).
        #[arg(long)]
        note: String,
    },
    /// Print a shell completion script.
    Completions {
        /// Shell.
        shell: clap_complete::Shell,
    },
}

/// Who can open a sealed file: repeatable, any mix.
#[derive(clap::Args, Debug)]
struct KeyArgs {
    /// A key-encryption-key file (from `sealtune keygen`).
    #[arg(long, value_name = "FILE")]
    kek: Vec<PathBuf>,
    /// The name of an environment variable holding a passphrase (Argon2id).
    #[arg(long, value_name = "VAR")]
    passphrase_env: Vec<String>,
    /// An external KMS program, run without a shell with `wrap` or `unwrap` (key on stdin and stdout).
    #[arg(long, value_name = "CMD")]
    kms_command: Vec<String>,
}

impl KeyArgs {
    fn sources(&self) -> Result<Vec<sealtune_seal::KeySource>, Fail> {
        use sealtune_seal::KeySource;
        let mut v = Vec::new();
        for k in &self.kek {
            v.push(KeySource::kek_file(k).map_err(seal_fail)?);
        }
        for p in &self.passphrase_env {
            v.push(KeySource::passphrase_env(p).map_err(seal_fail)?);
        }
        for c in &self.kms_command {
            v.push(KeySource::kms_command(c).map_err(seal_fail)?);
        }
        if v.is_empty() {
            return Err(Fail {
                exit: Exit::Usage,
                message: "give at least one of --kek FILE, --passphrase-env VAR, --kms-command CMD"
                    .into(),
            });
        }
        Ok(v)
    }
}

fn model_fail(e: sealtune_model::ModelError) -> Fail {
    Fail {
        exit: Exit::from_code(e.exit_code()).unwrap_or(Exit::Software),
        message: e.to_string(),
    }
}

fn card_fail(e: sealtune_card::CardError) -> Fail {
    Fail {
        exit: Exit::from_code(e.exit_code()).unwrap_or(Exit::Software),
        message: e.to_string(),
    }
}

fn seal_fail(e: sealtune_seal::SealError) -> Fail {
    Fail {
        exit: Exit::from_code(e.exit_code()).unwrap_or(Exit::Software),
        message: e.to_string(),
    }
}

/// An error with its exit code decided.
#[derive(Debug)]
struct Fail {
    exit: Exit,
    message: String,
}

impl From<StageError> for Fail {
    fn from(e: StageError) -> Fail {
        Fail {
            exit: e.exit(),
            message: e.to_string(),
        }
    }
}

impl From<ConfigError> for Fail {
    fn from(e: ConfigError) -> Fail {
        Fail {
            exit: Exit::Config,
            message: e.to_string(),
        }
    }
}

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
    let json_mode = matches!(
        &cli.command,
        Command::Run { json: true, .. } | Command::Stage { json: true, .. }
    );
    match run(cli) {
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

/// Loads the config and applies `--device` over `[compute] device`.
fn load_config_with(
    path: &Path,
    stages: &[Box<dyn Stage>],
    device: Option<sealtune_model::DeviceChoice>,
) -> Result<Config, Fail> {
    let mut cfg = load_config(path, stages)?;
    if let Some(d) = device {
        cfg.override_value("compute", "device", &d.to_string(), "--device")?;
    }
    Ok(cfg)
}

fn parse_device(s: &str) -> Result<sealtune_model::DeviceChoice, String> {
    s.parse()
}

fn load_config(path: &Path, stages: &[Box<dyn Stage>]) -> Result<Config, Fail> {
    if !path.is_file() {
        return Err(Fail {
            exit: Exit::NoInput,
            message: format!("{}: no such config file", path.display()),
        });
    }
    let cfg = Config::load(path, &supported_sections(stages))?;
    Ok(cfg)
}

/// Applies `--accept-failed-gates --reason` (clap makes the two go together).
fn with_acceptance<'a>(engine: Engine<'a>, reason: Option<String>) -> Result<Engine<'a>, Fail> {
    match reason {
        Some(r) => Ok(engine.accept_failed_gates(&r)?),
        None => Ok(engine),
    }
}

fn run(cli: Cli) -> Result<Exit, Fail> {
    let stages = stages();
    match cli.command {
        Command::Run {
            config,
            run_dir,
            from,
            to,
            force,
            accept_failed_gates: _,
            reason,
            device,
            json,
            quiet,
        } => {
            let cfg = load_config_with(&config, &stages, device)?;
            let events = Events::new(json, quiet);
            let cancel = install_cancel()?;
            let dir = run_dir.unwrap_or_else(|| cfg.default_run_dir());
            let engine = with_acceptance(Engine::new(&stages, &cfg, dir, &events, cancel), reason)?;
            engine.preflight()?;
            engine.run(&RunOptions { from, to, force })?;
            Ok(Exit::Success)
        }
        Command::Stage {
            name,
            config,
            run_dir,
            force,
            accept_failed_gates: _,
            reason,
            device,
            json,
            quiet,
        } => {
            let cfg = load_config_with(&config, &stages, device)?;
            let events = Events::new(json, quiet);
            let cancel = install_cancel()?;
            let engine =
                with_acceptance(Engine::new(&stages, &cfg, run_dir, &events, cancel), reason)?;
            engine.preflight_stage(&name)?;
            engine.run_single(&name, force)?;
            Ok(Exit::Success)
        }
        Command::Status {
            run_dir,
            config,
            json,
        } => status(&stages, &run_dir, config.as_deref(), json),
        Command::Validate { config } => {
            let cfg = load_config(&config, &stages)?;
            let events = Events::new(false, true);
            let engine = Engine::new(
                &stages,
                &cfg,
                cfg.default_run_dir(),
                &events,
                CancelToken::new(),
            );
            engine.preflight()?;
            let mut n_files = 0usize;
            let mut bytes = 0u64;
            for s in &stages {
                for p in s.external_inputs(&cfg)? {
                    n_files += 1;
                    bytes += std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
                }
            }
            eprintln!(
                "{}: valid; stages: {}; {n_files} input file(s), {bytes} bytes; run directory: {}",
                config.display(),
                stages
                    .iter()
                    .map(|s| s.name())
                    .collect::<Vec<_>>()
                    .join(", "),
                cfg.default_run_dir().display()
            );
            Ok(Exit::Success)
        }
        Command::Audit { run_dir, show } => audit_cmd(&stages, &run_dir, show),
        Command::Keygen { out, name } => {
            let k = sealtune_seal::keygen(&out, &name).map_err(seal_fail)?;
            println!("private key  {} (mode 0600)", k.private_key.display());
            println!("public key   {}", k.public_key.display());
            println!("KEK          {} (mode 0600)", k.kek.display());
            println!("key hint     {}", k.public_key_hint);
            Ok(Exit::Success)
        }
        Command::Seal {
            input,
            out,
            keys,
            content_type,
        } => {
            let info =
                sealtune_seal::seal_file(&input, &out, &keys.sources()?, content_type.as_deref())
                    .map_err(seal_fail)?;
            eprintln!(
                "{}: sealed into {} ({} chunks)",
                input.display(),
                out.display(),
                info.chunks
            );
            Ok(Exit::Success)
        }
        Command::Unseal {
            file,
            out,
            check,
            keys,
        } => {
            let sources = keys.sources()?;
            if check {
                let info = sealtune_seal::verify_sealed(&file, &sources).map_err(seal_fail)?;
                eprintln!(
                    "{}: all {} chunks authenticate; nothing written",
                    file.display(),
                    info.chunks
                );
            } else if let Some(out) = out {
                let info = sealtune_seal::unseal_file(&file, &out, &sources).map_err(seal_fail)?;
                eprintln!(
                    "{}: {} chunks verified; plaintext written to {} (mode 0600)",
                    file.display(),
                    info.chunks,
                    out.display()
                );
            }
            Ok(Exit::Success)
        }
        Command::Sign { dir, key } => {
            let m =
                sealtune_seal::sign_release(&dir, &key, &Default::default()).map_err(seal_fail)?;
            println!(
                "{}: signed {} file(s); root digest {}",
                dir.join("model.sig").display(),
                m.files.len(),
                m.root_digest
            );
            Ok(Exit::Success)
        }
        Command::Verify {
            dir,
            public_key,
            kek,
            run_dir,
        } => {
            let r = sealtune_seal::verify_release(&dir, &public_key, kek.as_deref())
                .map_err(seal_fail)?;
            if let Some(run_dir) = &run_dir {
                verify_run_log(&stages, &dir, &public_key, run_dir)?;
            }
            println!(
                "{}: signature valid; {} file(s) match; {} provenance statement(s) verified; {} sealed file(s) fully authenticated",
                dir.display(),
                r.manifest.files.len(),
                r.provenance_statements,
                r.sealed_checked.len()
            );
            println!("root digest {}", r.manifest.root_digest);
            Ok(Exit::Success)
        }
        Command::Card { run_dir } => {
            let out = run_dir.join("card");
            let (facts, files) =
                sealtune_card::regenerate(&run_dir, &out, None).map_err(card_fail)?;
            for f in &files {
                println!("{}", f.display());
            }
            eprintln!(
                "card regenerated in {} ({} attestation(s) listed)",
                out.display(),
                facts.attestations.len()
            );
            Ok(Exit::Success)
        }
        Command::Attest {
            run_dir,
            key,
            decision,
            note,
        } => {
            let a = sealtune_card::attest(&run_dir, &key, decision, &note).map_err(card_fail)?;
            println!("{}", a.path.display());
            eprintln!(
                "{} recorded by key {} for release root digest {}",
                decision.as_str(),
                a.reviewer_key,
                a.root_digest
            );
            Ok(Exit::Success)
        }
        Command::ImportGguf { file, out } => {
            let t0 = std::time::Instant::now();
            let sum = sealtune_model::import_gguf(&file, &out).map_err(model_fail)?;
            let types: Vec<String> = sum
                .source_types
                .iter()
                .map(|(k, v)| format!("{k}×{v}"))
                .collect();
            eprintln!(
                "{}: imported {} tensors ({} parameters; {}) into {} in {:.1}s",
                file.display(),
                sum.tensors,
                sum.parameters,
                types.join(", "),
                out.display(),
                t0.elapsed().as_secs_f64()
            );
            Ok(Exit::Success)
        }
        Command::Generate {
            model,
            device,
            adapter,
            release,
            public_key,
            kek,
            prompt,
            chat,
            max_new_tokens,
            greedy,
            temperature,
            top_p,
            top_k,
            seed,
        } => {
            let compute = device
                .unwrap_or_default()
                .resolve("--device")
                .map_err(model_fail)?;
            let device = compute.device().clone();
            let mut m = match (&release, &public_key, &kek) {
                (Some(r), Some(pk), Some(kek)) => {
                    // Verified and decrypted into memory; the plaintext
                    // buffers are zeroized when `opened` drops below.
                    let opened = release_use::open(r, pk, kek)?;
                    release_use::load_model(&opened, &model, &device)?
                }
                _ => sealtune_model::Llama::load_dir(&model, &device).map_err(model_fail)?,
            };
            if let Some(a) = &adapter {
                m.load_peft_adapter(a).map_err(model_fail)?;
            }
            m.merge_lora();
            let tok = sealtune_model::tokenizer::Tokenizer::from_dir(&model).map_err(model_fail)?;
            let temperature = if greedy {
                0.0
            } else {
                temperature.unwrap_or(0.0)
            };
            if temperature < 0.0 || !temperature.is_finite() {
                return Err(Fail {
                    exit: Exit::Usage,
                    message: "--temperature must be a finite number ≥ 0".into(),
                });
            }
            if let Some(p) = top_p
                && !(p > 0.0 && p <= 1.0)
            {
                return Err(Fail {
                    exit: Exit::Usage,
                    message: "--top-p must be in (0, 1]".into(),
                });
            }
            let cfg = sealtune_model::SamplingConfig {
                max_new_tokens,
                temperature,
                top_k,
                top_p,
                seed,
                ..Default::default()
            };
            let text =
                sealtune_model::generate_text(&m, &tok, &prompt, chat, &cfg).map_err(model_fail)?;
            println!("{text}");
            Ok(Exit::Success)
        }
        Command::Export {
            release,
            public_key,
            kek,
            out,
            peft,
            merged: _,
            model,
        } => {
            let kind = if peft {
                release_use::ExportKind::Peft
            } else {
                release_use::ExportKind::Merged
            };
            let files =
                release_use::export(&release, &public_key, &kek, &out, kind, model.as_deref())?;
            for f in &files {
                println!("{}", f.display());
            }
            eprintln!(
                "{}: {} file(s) written in clear (mode 0600); keep this directory as private as the key",
                out.display(),
                files.len()
            );
            Ok(Exit::Success)
        }
        Command::Mask {
            config,
            input,
            out,
            detect,
        } => mask_cmd(&stages, config.as_deref(), &input, &out, detect),
        Command::Plan {
            config,
            emit,
            out,
            image,
            namespace,
            storage_class,
            partition,
            sealtune,
        } => {
            let cfg = load_config(&config, &stages)?;
            // Every stage's section must be valid, but the key files may
            // exist only on the cluster: a missing one is not an error here.
            let secret_keys: Vec<String> = sealtune_plan::secrets(&cfg)
                .files
                .into_iter()
                .map(|f| f.key)
                .collect();
            for s in &stages {
                if let Err(e) = s.validate(&cfg) {
                    if secret_keys.contains(&e.key) {
                        eprintln!("note: {e} (fine if it exists where the job runs)");
                    } else {
                        return Err(e.into());
                    }
                }
            }
            let opts = sealtune_plan::Options {
                image,
                namespace,
                storage_class,
                partition,
                sealtune,
            };
            let plan = sealtune_plan::plan(&cfg, emit, &opts).map_err(|m| Fail {
                exit: Exit::Config,
                message: m,
            })?;
            write_plan(&plan, out.as_deref())?;
            Ok(Exit::Success)
        }
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "sealtune", &mut std::io::stdout());
            Ok(Exit::Success)
        }
    }
}

/// Writes the plan's files (or prints them), then lists on stderr what the
/// user must fill in and do.
fn write_plan(plan: &sealtune_plan::Plan, out: Option<&Path>) -> Result<(), Fail> {
    match out {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| {
                Fail::from(StageError::new(
                    Exit::CantCreate,
                    format!("{}: cannot create the directory: {e}", dir.display()),
                ))
            })?;
            for f in &plan.files {
                let p = dir.join(&f.name);
                let mut opts = std::fs::OpenOptions::new();
                opts.write(true).create_new(true);
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    opts.mode(if f.executable { 0o755 } else { 0o644 });
                }
                let mut file = opts.open(&p).map_err(|e| {
                    Fail::from(StageError::new(
                        Exit::CantCreate,
                        format!(
                            "{}: cannot create it ({e}); sealtune plan never overwrites a file: remove it or choose another --out",
                            p.display()
                        ),
                    ))
                })?;
                file.write_all(f.text.as_bytes())
                    .map_err(|e| Fail::from(StageError::io("cannot write", &p, e)))?;
                eprintln!("wrote {}", p.display());
            }
        }
        None => {
            let mut o = std::io::stdout().lock();
            for f in &plan.files {
                let _ = writeln!(o, "# ==> {} <==", f.name);
                let _ = o.write_all(f.text.as_bytes());
                if !f.text.ends_with('\n') {
                    let _ = writeln!(o);
                }
            }
        }
    }
    if !plan.placeholders.is_empty() {
        eprintln!("fill in before submitting (or pass the option):");
        for p in &plan.placeholders {
            eprintln!("  {}: {}", p.token, p.what);
        }
    }
    if !plan.notes.is_empty() {
        eprintln!("before the first run:");
        for n in &plan.notes {
            eprintln!("  - {n}");
        }
    }
    Ok(())
}

fn install_cancel() -> Result<CancelToken, Fail> {
    let cancel = CancelToken::new();
    cancel
        .install_signal_handlers()
        .context("cannot install signal handlers")
        .map_err(|e| Fail {
            exit: Exit::Software,
            message: format!("{e:#}"),
        })?;
    Ok(cancel)
}

/// `verify --run-dir`: the run's log must hold the head that the release's
/// signed provenance recorded (the release was verified just before).
fn verify_run_log(
    stages: &[Box<dyn Stage>],
    release: &Path,
    public_key: &Path,
    run_dir: &Path,
) -> Result<(), Fail> {
    let prov = release.join(sealtune_seal::release::PROVENANCE_FILE);
    let bad = |message: String| Fail {
        exit: Exit::DataErr,
        message,
    };
    let text = std::fs::read_to_string(&prov)
        .map_err(|e| bad(format!("{}: cannot read: {e}", prov.display())))?;
    let key = sealtune_seal::keys::load_public_key(public_key).map_err(seal_fail)?;
    let statements = sealtune_seal::dsse::verify_jsonl(&text, &key)
        .map_err(|(line, e)| bad(format!("{}:{line}: {e}", prov.display())))?;
    let head = sealtune_release::provenance::signed_audit_head(&statements).ok_or_else(|| {
        bad(format!(
            "{}: records no audit log head (released by an older sealtune); the run's log cannot be checked against it",
            prov.display()
        ))
    })?;
    let mut anchors = sealtune_pipeline::engine::run_dir_anchors(
        run_dir,
        stages.iter().map(|s| s.name()),
        Status::read(run_dir).as_ref(),
    );
    anchors.push(audit::Anchor::new(
        head.clone(),
        format!("the signed provenance of {}", release.display()),
    ));
    audit::verify_anchored(&run_dir.join("audit.jsonl"), &anchors)
        .map_err(|e| bad(e.to_string()))?;
    println!(
        "{}: audit log holds entry seq {} that the release's signed provenance records; chain intact",
        run_dir.join("audit.jsonl").display(),
        head.seq
    );
    Ok(())
}

/// Verify a run directory's audit log: its chain, and that it still holds
/// the heads recorded in status.json and the stage manifests.
fn check_audit_log(
    stages: &[Box<dyn Stage>],
    run_dir: &Path,
) -> Result<Option<audit::Head>, audit::AuditError> {
    let anchors = sealtune_pipeline::engine::run_dir_anchors(
        run_dir,
        stages.iter().map(|s| s.name()),
        Status::read(run_dir).as_ref(),
    );
    audit::verify_anchored(&run_dir.join("audit.jsonl"), &anchors)
}

fn status(
    stages: &[Box<dyn Stage>],
    run_dir: &Path,
    config: Option<&Path>,
    json_out: bool,
) -> Result<Exit, Fail> {
    let st = Status::read_checked(run_dir).map_err(|why| Fail {
        exit: Exit::DataErr,
        message: format!("{why}; it is rewritten by the next `sealtune run` on this directory"),
    })?;
    if st.is_none() && !run_dir.join("audit.jsonl").exists() {
        return Err(Fail {
            exit: Exit::NoInput,
            message: format!(
                "{}: no sealtune run here (no status.json); start one with `sealtune run CONFIG`",
                run_dir.display()
            ),
        });
    }
    // Staleness needs the config: the one given, or the one the run last used.
    let cfg_path = config.map(Path::to_path_buf).or_else(|| {
        st.as_ref()
            .and_then(|s| s.config.as_ref())
            .map(|c| PathBuf::from(&c.path))
    });
    let mut note = None;
    let cfg = match &cfg_path {
        Some(p) => match Config::load(p, &supported_sections(stages)) {
            Ok(c) => Some(c),
            Err(e) => {
                if config.is_some() {
                    return Err(e.into());
                }
                note = Some(format!(
                    "config {} cannot be read ({e}); staleness is checked from outputs only",
                    p.display()
                ));
                None
            }
        },
        None => None,
    };
    let events = Events::new(false, true);
    let names = stages.iter().map(|s| s.name());
    let rows = match &cfg {
        Some(cfg) => {
            let engine = Engine::new(
                stages,
                cfg,
                run_dir.to_path_buf(),
                &events,
                CancelToken::new(),
            );
            engine.report()
        }
        None => report_stages(run_dir, names, |n| {
            let m = sealtune_pipeline::manifest::Manifest::read(&run_dir.join(n))?;
            m.verify_outputs(&run_dir.join(n)).err()
        }),
    };
    let holder = sealtune_pipeline::lock::probe(run_dir);
    // A broken log is reported, not hidden: the table still shows what the
    // manifests say, and the exit status is 65.
    let log_error = check_audit_log(stages, run_dir)
        .err()
        .map(|e| e.to_string());
    let exit = if log_error.is_some() {
        Exit::DataErr
    } else {
        Exit::Success
    };
    if json_out {
        let v = json!({
            "run_dir": run_dir.display().to_string(),
            "run_id": st.as_ref().map(|s| s.run_id.clone()),
            "config": st.as_ref().and_then(|s| s.config.clone()),
            "locked_by": holder,
            "audit": { "intact": log_error.is_none(), "error": log_error },
            "stages": rows,
            "note": note,
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return Ok(exit);
    }
    if let Some(s) = &st {
        println!("run {} in {}", s.run_id, run_dir.display());
    }
    if let Some(h) = &holder {
        println!("locked by pid {} on {} since {}", h.pid, h.host, h.since);
    }
    if let Some(n) = &note {
        println!("note: {n}");
    }
    println!(
        "{:<9} {:<12} {:<25} {:>10}  outputs",
        "STAGE", "STATE", "FINISHED", "SECONDS"
    );
    for r in rows {
        let outs = r
            .outputs
            .iter()
            .map(|(k, v)| format!("{k}={}", &v[..12.min(v.len())]))
            .collect::<Vec<_>>()
            .join(" ");
        println!(
            "{:<9} {:<12} {:<25} {:>10}  {}",
            r.stage,
            r.state.as_str(),
            r.finished.as_deref().unwrap_or("-"),
            r.duration_s
                .map(|d| format!("{d:.2}"))
                .unwrap_or_else(|| "-".into()),
            outs
        );
        // For a done stage the reason is what its verdict said (failed gates).
        if let Some(why) = r.reason {
            println!("          ↳ {why}");
        }
    }
    if let Some(e) = log_error {
        eprintln!(
            "warning: the audit log is not intact: {e}. The next run on this directory will refuse to start; see `sealtune audit --run-dir {}`",
            run_dir.display()
        );
    }
    Ok(exit)
}

fn audit_cmd(stages: &[Box<dyn Stage>], run_dir: &Path, show: bool) -> Result<Exit, Fail> {
    let path = run_dir.join("audit.jsonl");
    if !path.exists() && Status::read(run_dir).is_none() {
        return Err(Fail {
            exit: Exit::NoInput,
            message: format!("{}: no audit log here", path.display()),
        });
    }
    // The chain cannot show that entries were cut off its end or that the
    // whole log was replaced; status.json and the manifests record heads.
    let head = check_audit_log(stages, run_dir).map_err(|e| Fail {
        exit: Exit::DataErr,
        message: e.to_string(),
    })?;
    if show {
        for e in audit::read_entries(&path).map_err(|e| Fail {
            exit: Exit::DataErr,
            message: e.to_string(),
        })? {
            println!(
                "{:>5} {} {:<18} {:<8} {}@{} {}",
                e.seq,
                e.ts,
                e.event,
                e.stage.as_deref().unwrap_or("-"),
                e.actor.user,
                e.actor.host,
                e.data
            );
        }
    }
    match head {
        Some(h) => println!(
            "{}: {} entries, hash chain intact, head {}",
            path.display(),
            h.seq,
            h.hash
        ),
        None => println!("{}: empty", path.display()),
    }
    Ok(Exit::Success)
}

fn mask_cmd(
    stages: &[Box<dyn Stage>],
    config: Option<&Path>,
    input: &Path,
    out: &Path,
    detect: bool,
) -> Result<Exit, Fail> {
    use sealtune_pii::{MaskConfig, MaskKey, Masker, PiiError, RecordKind};
    let pii = |e: PiiError| Fail {
        exit: Exit::from_code(e.exit_code()).unwrap_or(Exit::Software),
        message: e.to_string(),
    };
    let same = |a: &Path, b: &Path| match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    };
    if same(input, out) {
        return Err(Fail {
            exit: Exit::Usage,
            message: "--out must not be the --in file".into(),
        });
    }
    let cfg = match config {
        Some(p) => Some(load_config(p, stages)?),
        None => None,
    };
    let policy: MaskConfig = match &cfg {
        Some(c) => sealtune_pii::stage::mask_config(c)?,
        None if detect => MaskConfig::default(),
        None => {
            return Err(Fail {
                exit: Exit::Usage,
                message: "masking needs --config CONFIG for its [mask] policy and key (only --detect works without one)".into(),
            });
        }
    };
    let file = std::fs::File::open(input)
        .map_err(|e| Fail::from(StageError::io("cannot open", input, e)))?;
    let reader = std::io::BufReader::with_capacity(1 << 20, file);
    if detect {
        let det = sealtune_pii::Detector::new(&policy).map_err(pii)?;
        let mut n = 0;
        sealtune_pipeline::fsutil::atomic_write_with(out, |w| {
            n = sealtune_pii::detect_jsonl(&det, reader, input, w, out, 1024)
                .map_err(std::io::Error::other)?;
            Ok(())
        })
        .map_err(|e| match e.into_inner() {
            Some(inner) => match inner.downcast::<PiiError>() {
                Ok(p) => pii(*p),
                Err(other) => Fail {
                    exit: Exit::IoErr,
                    message: format!("{}: {other}", out.display()),
                },
            },
            None => Fail {
                exit: Exit::CantCreate,
                message: format!("{}: cannot write", out.display()),
            },
        })?;
        eprintln!(
            "{}: {n} line(s) scanned; spans written to {}",
            input.display(),
            out.display()
        );
        return Ok(Exit::Success);
    }
    let key = MaskKey::from_config(&policy).map_err(pii)?;
    let masker = Masker::new(&policy, key).map_err(pii)?;
    let mut lines = sealtune_data::reader::LineReader::new(reader, 64 << 20);
    let mut written = 0u64;
    let mut dropped = 0u64;
    let mut by_type: std::collections::BTreeMap<String, u64> = Default::default();
    let mut failure: Option<Fail> = None;
    let shown = input.display().to_string();
    let res = sealtune_pipeline::fsutil::atomic_write_with(out, |w| {
        loop {
            let next = lines.next_line()?;
            let Some((line_no, _, line)) = next else {
                break;
            };
            let bytes = match line {
                sealtune_data::reader::Line::TooLong { len } => {
                    failure = Some(Fail {
                        exit: Exit::DataErr,
                        message: format!(
                            "{shown}:{line_no}: record is {len} bytes, over the 64 MiB limit"
                        ),
                    });
                    return Err(std::io::Error::other("bad record"));
                }
                sealtune_data::reader::Line::Ok(b) => b,
            };
            if bytes.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let parsed = serde_json::from_slice::<serde_json::Value>(bytes)
                .map_err(|e| format!("invalid JSON at column {}", e.column()))
                .and_then(|v| {
                    let kind = if v.get("messages").is_some() {
                        (sealtune_data::record::JsonKind::Chat, RecordKind::Chat)
                    } else if v.get("instruction").is_some() {
                        (
                            sealtune_data::record::JsonKind::Instruction,
                            RecordKind::Instruction,
                        )
                    } else {
                        (sealtune_data::record::JsonKind::Text, RecordKind::Text)
                    };
                    // The strict parser: duplicate keys are refused here as in ingest.
                    let rec = sealtune_data::record::parse_record(bytes, kind.0)?;
                    let v = serde_json::to_value(&rec).map_err(|e| e.to_string())?;
                    masker
                        .mask_record(&v, kind.1, &format!("{shown}:{line_no}"))
                        .map_err(|e| e.to_string())
                });
            let m = match parsed {
                Ok(m) => m,
                Err(reason) => {
                    failure = Some(Fail {
                        exit: Exit::DataErr,
                        message: format!("{shown}:{line_no}: {reason}"),
                    });
                    return Err(std::io::Error::other("bad record"));
                }
            };
            for types in m.counts.values() {
                for (t, n) in types {
                    *by_type.entry(t.to_string()).or_default() += n;
                }
            }
            match m.record {
                Some(v) => {
                    serde_json::to_writer(&mut *w, &v)?;
                    w.write_all(b"\n")?;
                    written += 1;
                }
                None => dropped += 1,
            }
        }
        Ok(())
    });
    if let Some(f) = failure {
        return Err(f);
    }
    res.map_err(|e| Fail {
        exit: Exit::IoErr,
        message: format!("{}: {e}", out.display()),
    })?;
    let summary: Vec<String> = by_type.iter().map(|(t, n)| format!("{t}={n}")).collect();
    eprintln!(
        "{}: {written} record(s) masked into {}, {dropped} dropped; replacements: {}",
        input.display(),
        out.display(),
        if summary.is_empty() {
            "none".to_string()
        } else {
            summary.join(", ")
        }
    );
    Ok(Exit::Success)
}
