//! The command line: every subcommand and its arguments (clap).

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use sealtune_pipeline::Exit;

use crate::error::Fail;

/// The version line says which compute backends this build has.
const VERSION: &str = if sealtune_model::device::LIBTORCH_BUILD {
    concat!(
        env!("CARGO_PKG_VERSION"),
        " (compute: cpu, libtorch-cpu, cuda)"
    )
} else {
    concat!(env!("CARGO_PKG_VERSION"), " (compute: cpu)")
};

/// The `sealtune` command line.
#[derive(Parser, Debug)]
#[command(
    name = "sealtune",
    version = VERSION,
    about = "Fine-tune Llama-class models on sensitive records without leaking them",
    long_about = "sealtune takes sensitive records in, validates and indexes them, masks PII, LoRA-fine-tunes a model, evaluates it for bias and leakage, and releases it encrypted and signed.\n\nEach stage writes its outputs under the run directory and is skipped when it is up to date.",
    after_help = exit_help(),
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

fn exit_help() -> String {
    Exit::help_table()
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Run every stage in order, skipping the ones that are up to date.
    Run(RunArgs),
    /// Run one stage (the entry point for schedulers). Exits 66 if an input stage is missing or stale.
    Stage(StageArgs),
    /// Show each stage's state: not started, running, done, skipped, failed, interrupted or stale.
    Status(StatusArgs),
    /// Check a config (keys, values, inline secrets, input files) without running anything.
    Validate(ValidateArgs),
    /// Write Slurm, Kubernetes or Argo job definitions for the five stages.
    ///
    /// One job per stage running `sealtune stage NAME`, in stage order, with
    /// resources, the exit-code policy (75 retries, 3/64/65/66/77/78 never),
    /// key files mounted from the scheduler's secret store (release alone gets
    /// the signing key) and one shared run directory. Values the config cannot
    /// tell are left as FILL_IN_* placeholders and listed on stderr. Never
    /// reads a key file. See docs/SCHEDULERS.md.
    Plan(PlanArgs),
    /// Verify the run's audit log hash chain; names the first bad entry.
    Audit(AuditArgs),
    /// Write a signing key pair (NAME.key.pem, NAME.pub.pem) and a key-encryption key (NAME.kek).
    Keygen(KeygenArgs),
    /// Encrypt a file in the sealed format for one or more recipients.
    Seal(SealArgs),
    /// Decrypt a sealed file. Plaintext is written only to --out, mode 0600, after every chunk verified.
    Unseal(UnsealArgs),
    /// Sign every file in a directory with an OpenSSF Model Signing bundle (DIR/model.sig).
    Sign(SignArgs),
    /// Verify a signed directory: signature, every file digest, no extra or missing file, provenance; with --kek every sealed chunk.
    Verify(VerifyArgs),
    /// Import a Llama GGUF file (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q6_K) as HF safetensors, config.json and tokenizer.json.
    ImportGguf(ImportGgufArgs),
    /// Generate a continuation with a model directory and optionally a PEFT adapter, or a signed sealed release (verified, then decrypted into memory only).
    Generate(GenerateArgs),
    /// Verify a signed release, then write its adapter in clear into a new directory for serving: a PEFT adapter (--peft) or the base model with the adapter merged (--merged). Files are mode 0600, written after every chunk authenticated.
    Export(ExportArgs),
    /// Mask a JSONL file with a config's [mask] policy, or with --detect write the PII spans found.
    #[command(
        after_help = "Masking: input lines are chat, instruction or text records (as for ingest), recognised by their fields; output lines are the masked records, in order. Records a `drop_record` rule matches are left out and counted.\n\nDetection: input lines are {\"id\": ..., \"text\": \"...\"}; output lines are {\"id\": ..., \"spans\": [{\"start\", \"end\", \"type\", \"score\"}]} with offsets in Unicode code points, end exclusive."
    )]
    Mask(MaskArgs),
    /// Regenerate the model card of a run for inspection (DIR/card/), listing reviewer attestations.
    Card(CardArgs),
    /// Add a reviewer's signed decision about a run's release (DIR/attestations/).
    Attest(AttestArgs),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
}

/// Arguments of `sealtune run`.
#[derive(clap::Args, Debug)]
pub(crate) struct RunArgs {
    /// The pipeline config (TOML).
    pub(crate) config: PathBuf,
    /// Run directory [default: [run].dir, or runs/<run id>].
    #[arg(long)]
    pub(crate) run_dir: Option<PathBuf>,
    /// Start at this stage; the earlier ones must be up to date.
    #[arg(long, value_name = "STAGE")]
    pub(crate) from: Option<String>,
    /// Stop after this stage.
    #[arg(long, value_name = "STAGE")]
    pub(crate) to: Option<String>,
    /// Rerun this stage even if it is up to date (repeatable).
    #[arg(long, value_name = "STAGE")]
    pub(crate) force: Vec<String>,
    #[command(flatten)]
    pub(crate) flags: RunFlags,
}

/// Arguments of `sealtune stage`.
#[derive(clap::Args, Debug)]
pub(crate) struct StageArgs {
    /// Stage name.
    pub(crate) name: String,
    /// The pipeline config (TOML).
    #[arg(long)]
    pub(crate) config: PathBuf,
    /// Run directory.
    #[arg(long)]
    pub(crate) run_dir: PathBuf,
    /// Rerun even if up to date.
    #[arg(long)]
    pub(crate) force: bool,
    #[command(flatten)]
    pub(crate) flags: RunFlags,
}

/// The flags `run` and `stage` share.
#[derive(clap::Args, Debug)]
pub(crate) struct RunFlags {
    /// Go on past failed eval gates. Needs --reason; the reason is
    /// recorded in the audit log, in release/acceptance.json and on the
    /// model card.
    #[arg(long, requires = "reason")]
    pub(crate) accept_failed_gates: bool,
    /// Why the failed gates are acceptable (with --accept-failed-gates).
    #[arg(long, value_name = "TEXT", requires = "accept_failed_gates")]
    pub(crate) reason: Option<String>,
    /// Compute device, instead of [compute] device: auto, cpu, libtorch-cpu, cuda or cuda:N
    /// (LibTorch devices need a build made by scripts/setup-libtorch.sh).
    #[arg(long, value_name = "DEVICE", value_parser = parse_device)]
    pub(crate) device: Option<sealtune_model::DeviceChoice>,
    /// Compute precision, instead of [compute] dtype: auto (bf16 on CUDA, else f32), f32 or
    /// bf16 (bf16 needs a LibTorch device).
    #[arg(long, value_name = "DTYPE", value_parser = parse_dtype)]
    pub(crate) dtype: Option<sealtune_model::DtypeChoice>,
    /// JSON Lines events on stdout.
    #[arg(long)]
    pub(crate) json: bool,
    /// No progress lines on stderr (warnings and errors still show).
    #[arg(long, short)]
    pub(crate) quiet: bool,
}

/// Arguments of `sealtune status`.
#[derive(clap::Args, Debug)]
pub(crate) struct StatusArgs {
    /// Run directory.
    #[arg(long)]
    pub(crate) run_dir: PathBuf,
    /// Config to check staleness against [default: the one the run last used].
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Arguments of `sealtune validate`.
#[derive(clap::Args, Debug)]
pub(crate) struct ValidateArgs {
    /// The pipeline config (TOML).
    pub(crate) config: PathBuf,
}

/// Arguments of `sealtune plan`.
#[derive(clap::Args, Debug)]
pub(crate) struct PlanArgs {
    /// The pipeline config (TOML).
    pub(crate) config: PathBuf,
    /// `slurm`, `kubernetes` or `argo`.
    #[arg(long, value_name = "KIND")]
    pub(crate) emit: sealtune_plan::Target,
    /// Directory to write the files into (created; existing files are
    /// not overwritten). Default: print them to stdout.
    #[arg(long, value_name = "DIR")]
    pub(crate) out: Option<PathBuf>,
    /// Container image with `sealtune` on its PATH (Kubernetes, Argo).
    #[arg(long)]
    pub(crate) image: Option<String>,
    /// Namespace (Kubernetes, Argo).
    #[arg(long)]
    pub(crate) namespace: Option<String>,
    /// Storage class of the shared ReadWriteMany volume (Kubernetes, Argo).
    #[arg(long)]
    pub(crate) storage_class: Option<String>,
    /// Slurm partition.
    #[arg(long)]
    pub(crate) partition: Option<String>,
    /// The sealtune binary on the Slurm nodes [default: sealtune on PATH].
    #[arg(long, value_name = "PATH")]
    pub(crate) sealtune: Option<String>,
}

/// Arguments of `sealtune audit`.
#[derive(clap::Args, Debug)]
pub(crate) struct AuditArgs {
    /// Run directory.
    #[arg(long)]
    pub(crate) run_dir: PathBuf,
    /// Also print every entry.
    #[arg(long)]
    pub(crate) show: bool,
}

/// Arguments of `sealtune keygen`.
#[derive(clap::Args, Debug)]
pub(crate) struct KeygenArgs {
    /// Directory for the keys (created if missing; existing files are never overwritten).
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// File name stem.
    #[arg(long, default_value = "sealtune")]
    pub(crate) name: String,
}

/// Arguments of `sealtune seal`.
#[derive(clap::Args, Debug)]
pub(crate) struct SealArgs {
    /// File to encrypt.
    #[arg(long = "in", value_name = "FILE")]
    pub(crate) input: PathBuf,
    /// Sealed output (never overwritten).
    #[arg(long, value_name = "FILE")]
    pub(crate) out: PathBuf,
    #[command(flatten)]
    pub(crate) keys: KeyArgs,
    /// Content type recorded in the header.
    #[arg(long)]
    pub(crate) content_type: Option<String>,
}

/// Arguments of `sealtune unseal`.
#[derive(clap::Args, Debug)]
pub(crate) struct UnsealArgs {
    /// Sealed file.
    pub(crate) file: PathBuf,
    /// Plaintext output (required unless --check).
    #[arg(long, value_name = "FILE", required_unless_present = "check")]
    pub(crate) out: Option<PathBuf>,
    /// Only check that every chunk authenticates; write nothing.
    #[arg(long, conflicts_with = "out")]
    pub(crate) check: bool,
    #[command(flatten)]
    pub(crate) keys: KeyArgs,
}

/// Arguments of `sealtune sign`.
#[derive(clap::Args, Debug)]
pub(crate) struct SignArgs {
    /// Directory to sign.
    pub(crate) dir: PathBuf,
    /// Private key (PKCS#8 PEM, mode 0600), from `sealtune keygen`.
    #[arg(long)]
    pub(crate) key: PathBuf,
}

/// Arguments of `sealtune verify`.
#[derive(clap::Args, Debug)]
pub(crate) struct VerifyArgs {
    /// Directory holding model.sig.
    pub(crate) dir: PathBuf,
    /// The signer's public key (SPKI PEM).
    #[arg(long)]
    pub(crate) public_key: PathBuf,
    /// Also authenticate every chunk of every .seal file (writes nothing).
    #[arg(long)]
    pub(crate) kek: Option<PathBuf>,
    /// Also check this run directory's audit log against the head the
    /// release's signed provenance recorded: the log must still hold that
    /// entry, unmodified, with an intact chain.
    #[arg(long)]
    pub(crate) run_dir: Option<PathBuf>,
}

/// Arguments of `sealtune import-gguf`.
#[derive(clap::Args, Debug)]
pub(crate) struct ImportGgufArgs {
    /// The GGUF file.
    pub(crate) file: PathBuf,
    /// Output directory (created; existing model files are replaced).
    #[arg(long)]
    pub(crate) out: PathBuf,
}

/// Arguments of `sealtune generate`.
#[derive(clap::Args, Debug)]
pub(crate) struct GenerateArgs {
    /// HF-layout model directory (config.json, safetensors, tokenizer.json); with --release, the base model, whose file digests must match the release's provenance.
    #[arg(long)]
    pub(crate) model: PathBuf,
    /// Compute device, default auto: CUDA when this build has LibTorch and sees a GPU, else cpu. One of auto, cpu, libtorch-cpu, cuda or cuda:N
    /// (LibTorch devices need a build made by scripts/setup-libtorch.sh).
    #[arg(long, value_name = "DEVICE", value_parser = parse_device)]
    pub(crate) device: Option<sealtune_model::DeviceChoice>,
    /// Compute precision, default auto: bf16 on CUDA, else f32. One of auto, f32 or bf16
    /// (bf16 needs a LibTorch device).
    #[arg(long, value_name = "DTYPE", value_parser = parse_dtype)]
    pub(crate) dtype: Option<sealtune_model::DtypeChoice>,
    /// PEFT adapter directory (adapter_config.json, adapter_model.safetensors).
    #[arg(long, conflicts_with = "release")]
    pub(crate) adapter: Option<PathBuf>,
    /// A signed release directory: verified as `sealtune verify --kek` does, then its sealed adapter is decrypted into memory and attached. Nothing is written.
    #[arg(long, requires_all = ["public_key", "kek"])]
    pub(crate) release: Option<PathBuf>,
    /// The release signer's public key (SPKI PEM), with --release.
    #[arg(long, requires = "release")]
    pub(crate) public_key: Option<PathBuf>,
    /// A key-encryption key of a release recipient, with --release.
    #[arg(long, requires = "release")]
    pub(crate) kek: Option<PathBuf>,
    /// The prompt.
    #[arg(long)]
    pub(crate) prompt: String,
    /// Render the prompt as a user turn with the model's chat template.
    #[arg(long)]
    pub(crate) chat: bool,
    /// Most tokens to generate.
    #[arg(long, default_value_t = 128)]
    pub(crate) max_new_tokens: usize,
    /// Greedy decoding (the default when no --temperature is given).
    #[arg(long, conflicts_with_all = ["temperature", "top_p", "top_k"])]
    pub(crate) greedy: bool,
    /// Sampling temperature (> 0).
    #[arg(long)]
    pub(crate) temperature: Option<f32>,
    /// Nucleus sampling: keep the most likely tokens up to this probability mass.
    #[arg(long, requires = "temperature")]
    pub(crate) top_p: Option<f32>,
    /// Keep only the k most likely tokens.
    #[arg(long, requires = "temperature")]
    pub(crate) top_k: Option<usize>,
    /// Sampling seed.
    #[arg(long, default_value_t = 0)]
    pub(crate) seed: u64,
}

/// Arguments of `sealtune export`.
#[derive(clap::Args, Debug)]
pub(crate) struct ExportArgs {
    /// The signed release directory.
    #[arg(long)]
    pub(crate) release: PathBuf,
    /// The release signer's public key (SPKI PEM).
    #[arg(long)]
    pub(crate) public_key: PathBuf,
    /// A key-encryption key of a release recipient.
    #[arg(long)]
    pub(crate) kek: PathBuf,
    /// Output directory: new, or empty. Nothing else is written.
    #[arg(long, value_name = "DIR")]
    pub(crate) out: PathBuf,
    /// Write a PEFT adapter directory (adapter_config.json, adapter_model.safetensors).
    #[arg(long, conflicts_with = "merged", required_unless_present = "merged")]
    pub(crate) peft: bool,
    /// Write the base model with the adapter merged (HF safetensors, f32, sharded like the base; config and tokenizer files copied).
    #[arg(long, requires = "model")]
    pub(crate) merged: bool,
    /// The base model directory; its file digests must match the release's provenance (required with --merged).
    #[arg(long)]
    pub(crate) model: Option<PathBuf>,
}

/// Arguments of `sealtune mask`.
#[derive(clap::Args, Debug)]
pub(crate) struct MaskArgs {
    /// Config whose [mask] section gives the policy and key (required unless --detect).
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
    /// Input JSONL file.
    #[arg(long = "in", value_name = "FILE")]
    pub(crate) input: PathBuf,
    /// Output JSONL file (written atomically; never the input file).
    #[arg(long, value_name = "FILE")]
    pub(crate) out: PathBuf,
    /// Only detect: write spans instead of masked records.
    #[arg(long)]
    pub(crate) detect: bool,
}

/// Arguments of `sealtune card`.
#[derive(clap::Args, Debug)]
pub(crate) struct CardArgs {
    /// The run directory.
    #[arg(long)]
    pub(crate) run_dir: PathBuf,
}

/// Arguments of `sealtune attest`.
#[derive(clap::Args, Debug)]
pub(crate) struct AttestArgs {
    /// The run directory (its release/model.sig is what the statement refers to).
    #[arg(long)]
    pub(crate) run_dir: PathBuf,
    /// The reviewer's private key (PKCS#8 PEM, mode 0600), from `sealtune keygen`.
    #[arg(long)]
    pub(crate) key: PathBuf,
    /// `approve` or `reject`.
    #[arg(long)]
    pub(crate) decision: sealtune_card::Decision,
    /// The reviewer's note (recorded and signed).
    #[arg(long)]
    pub(crate) note: String,
}

/// Arguments of `sealtune completions`.
#[derive(clap::Args, Debug)]
pub(crate) struct CompletionsArgs {
    /// Shell.
    pub(crate) shell: clap_complete::Shell,
}

/// Who can open a sealed file: repeatable, any mix.
#[derive(clap::Args, Debug)]
pub(crate) struct KeyArgs {
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
    pub(crate) fn sources(&self) -> Result<Vec<sealtune_seal::KeySource>, Fail> {
        use sealtune_seal::KeySource;
        let mut v = Vec::new();
        for k in &self.kek {
            v.push(KeySource::kek_file(k).map_err(Fail::from)?);
        }
        for p in &self.passphrase_env {
            v.push(KeySource::passphrase_env(p).map_err(Fail::from)?);
        }
        for c in &self.kms_command {
            v.push(KeySource::kms_command(c).map_err(Fail::from)?);
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

pub(crate) fn parse_device(
    s: &str,
) -> Result<sealtune_model::DeviceChoice, sealtune_model::device::ParseDeviceError> {
    s.parse()
}

pub(crate) fn parse_dtype(
    s: &str,
) -> Result<sealtune_model::DtypeChoice, sealtune_model::device::ParseDtypeError> {
    s.parse()
}
