//! `sealtune plan`: job definitions for the five stages, from a config.
//!
//! Three kinds, each one job per stage running `sealtune stage NAME`:
//!
//! - **Slurm**: one batch script per stage and `submit.sh`, which submits them
//!   with `--dependency=afterok` and `--kill-on-invalid-dep=yes`. Each script
//!   is `--requeue`-able, asks for `--signal=B:USR1@120` and turns that warning
//!   into a SIGTERM for sealtune (checkpoint and exit 75), then requeues itself
//!   on 75 within a budget.
//! - **Kubernetes**: the shared objects (a ReadWriteMany PVC, the config as a
//!   ConfigMap), one `batch/v1` Job per stage with a `podFailurePolicy`, and
//!   `run.sh`, which applies the Jobs in stage order and waits for each.
//! - **Argo**: the same PVC and ConfigMap and one Workflow whose DAG runs the
//!   stages in order, each with a `retryStrategy` that retries exit code 75.
//!
//! Secrets are never read: only the paths the config names (`[mask]
//! key_file`, `[release] signing_key_file`, `recipients[].kek_file`) appear,
//! mapped to Kubernetes Secrets mounted as files. The release job alone gets
//! the signing key and the KEKs; mask, train, eval and release get the masking
//! key (train and eval need its id to check that mask is up to date).
//!
//! Values the config cannot tell (image, partition, namespace, storage class)
//! are placeholders, listed in [`Plan::placeholders`], unless given.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use sealtune_contract::{Exit, ExitStatus};
use sealtune_pipeline::Config;
use sealtune_pipeline::config::normalize;
use serde_json::{Value, json};

/// What to emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Slurm batch scripts and a submit script.
    Slurm,
    /// Kubernetes Jobs, a PVC, a ConfigMap and a driver script.
    Kubernetes,
    /// An Argo Workflow (with the PVC and ConfigMap it uses).
    Argo,
}

impl std::str::FromStr for Target {
    type Err = PlanError;
    fn from_str(s: &str) -> Result<Self, PlanError> {
        match s {
            "slurm" => Ok(Target::Slurm),
            "kubernetes" | "k8s" => Ok(Target::Kubernetes),
            "argo" => Ok(Target::Argo),
            _ => Err(PlanError::UnknownTarget(s.to_owned())),
        }
    }
}

/// Where the model runs. A CUDA device adds a GPU request to train and eval
/// (`--gres=gpu:1`, `nvidia.com/gpu: 1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    /// CPU (burn's flex backend or LibTorch's CPU): no GPU request.
    Cpu,
    /// A CUDA GPU for train and eval.
    Cuda,
}

/// The configured device: `[compute] device = "cuda"` or `"cuda:N"` asks for a GPU.
/// `auto` (the default) resolves on the node that runs the job, which a plan cannot
/// know, so it asks for none: set `cuda` to get a GPU from the scheduler. (The value
/// itself is checked by the stages' validation before any plan is written.)
pub fn configured_device(cfg: &Config) -> Device {
    match cfg
        .section_json("compute")
        .get("device")
        .and_then(Value::as_str)
    {
        Some(d) if d == "cuda" || d.starts_with("cuda:") => Device::Cuda,
        _ => Device::Cpu,
    }
}

/// Values the user may give on the command line instead of placeholders.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Container image with `sealtune` on its PATH (Kubernetes, Argo).
    pub image: Option<String>,
    /// Namespace (Kubernetes, Argo).
    pub namespace: Option<String>,
    /// Storage class of the shared ReadWriteMany volume (Kubernetes, Argo).
    pub storage_class: Option<String>,
    /// Slurm partition.
    pub partition: Option<String>,
    /// The sealtune binary on the Slurm nodes (default: `sealtune` on PATH).
    pub sealtune: Option<String>,
}

/// A value the user must fill in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholder {
    /// The text that stands in the files.
    pub token: String,
    /// What to put there, and the option that fills it.
    pub what: String,
}

/// One emitted file.
#[derive(Debug, Clone)]
pub struct PlanFile {
    /// File name (no directories).
    pub name: String,
    /// Contents.
    pub text: String,
    /// Whether it should be executable.
    pub executable: bool,
}

/// The emitted plan.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Files, in the order to read them.
    pub files: Vec<PlanFile>,
    /// Placeholders left in the files.
    pub placeholders: Vec<Placeholder>,
    /// What the user must do besides filling placeholders (create secrets,
    /// copy data onto the shared volume, ...).
    pub notes: Vec<String>,
}

/// Resources and secrets of one stage's job.
#[derive(Debug, Clone, Copy)]
pub struct StageSpec {
    /// Stage name.
    pub name: &'static str,
    /// CPUs.
    pub cpus: u32,
    /// Memory in GiB.
    pub mem_gib: u32,
    /// Whether the stage runs the model (train, eval): a GPU when on CUDA.
    pub model: bool,
    /// Whether it needs the masking key.
    pub mask_key: bool,
    /// Whether it needs the signing key and the KEKs.
    pub release_keys: bool,
    /// Seconds between the pre-emption warning and the kill: time to write a
    /// checkpoint.
    pub grace_s: u32,
}

/// The five stages in order, with their default resources.
pub const STAGES: [StageSpec; 5] = [
    StageSpec {
        name: "ingest",
        cpus: 2,
        mem_gib: 4,
        model: false,
        mask_key: false,
        release_keys: false,
        grace_s: 60,
    },
    StageSpec {
        name: "mask",
        cpus: 4,
        mem_gib: 8,
        model: false,
        mask_key: true,
        release_keys: false,
        grace_s: 60,
    },
    StageSpec {
        name: "train",
        cpus: 8,
        mem_gib: 32,
        model: true,
        mask_key: true,
        release_keys: false,
        grace_s: 120,
    },
    StageSpec {
        name: "eval",
        cpus: 8,
        mem_gib: 32,
        model: true,
        mask_key: true,
        release_keys: false,
        grace_s: 120,
    },
    StageSpec {
        name: "release",
        cpus: 2,
        mem_gib: 4,
        model: false,
        mask_key: true,
        release_keys: true,
        grace_s: 60,
    },
];

/// Exit codes after which no retry can help (the README's table).
pub const PERMANENT_EXIT_CODES: [u8; 6] = [3, 64, 65, 66, 77, 78];
/// The exit code that says a retry may help (interrupted, lock held).
pub const RETRY_EXIT_CODE: u8 = 75;
/// Retries of exit 75 (or requeues) per stage.
pub const RETRY_BUDGET: u32 = 3;

/// Where the shared volume is mounted in Kubernetes and Argo pods.
pub const WORK_MOUNT: &str = "/sealtune/work";

/// A secret file the config names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretFile {
    /// Config key, e.g. `mask.key_file`.
    pub key: String,
    /// The path as written in the config.
    pub raw: PathBuf,
    /// Resolved against the config's directory.
    pub resolved: PathBuf,
    /// Kubernetes Secret name suggested for it.
    pub secret_name: String,
    /// Whether only the release job needs it (with `at_rest`, also train and eval).
    pub release_only: bool,
    /// Whether it seals or opens weights at rest (`[train] seal_at_rest`): train, eval
    /// and release need it.
    pub at_rest: bool,
}

impl SecretFile {
    /// Whether stage `s`'s job needs this file.
    pub fn needed_by(&self, s: &StageSpec) -> bool {
        needed(s, self.release_only, self.at_rest)
    }
}

fn needed(s: &StageSpec, release_only: bool, at_rest: bool) -> bool {
    if release_only {
        s.release_keys || (at_rest && s.model)
    } else {
        s.mask_key
    }
}

/// A secret given as an environment variable (`*_env`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretEnv {
    /// Config key.
    pub key: String,
    /// The variable's name.
    pub var: String,
    /// Kubernetes Secret name suggested for it.
    pub secret_name: String,
    /// Whether only the release job needs it (with `at_rest`, also train and eval).
    pub release_only: bool,
    /// Whether it seals or opens weights at rest: train, eval and release need it.
    pub at_rest: bool,
}

impl SecretEnv {
    /// Whether stage `s`'s job needs this variable.
    pub fn needed_by(&self, s: &StageSpec) -> bool {
        needed(s, self.release_only, self.at_rest)
    }
}

/// The secrets a config names, from `[mask]`, `[train]` (`at_rest_recipients`) and
/// `[release]`.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    /// Files.
    pub files: Vec<SecretFile>,
    /// Environment variables.
    pub envs: Vec<SecretEnv>,
    /// `kms_command` recipients: programs that must exist where release runs.
    pub kms_commands: usize,
}

fn k8s_name(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    while out.contains("--") {
        out = out.replace("--", "-");
    }
    let out = out.trim_matches('-').to_string();
    if out.is_empty() {
        "sealtune".into()
    } else {
        out
    }
}

/// The secrets named in the config (paths and variable names only).
pub fn secrets(cfg: &Config) -> Secrets {
    let id = k8s_name(&cfg.run_id());
    let mut s = Secrets::default();
    let mask = cfg.section_json("mask");
    if let Some(p) = mask.get("key_file").and_then(Value::as_str) {
        s.files.push(SecretFile {
            key: "mask.key_file".into(),
            raw: p.into(),
            resolved: cfg.resolve(Path::new(p)),
            secret_name: format!("{id}-mask-key"),
            release_only: false,
            at_rest: false,
        });
    }
    if let Some(v) = mask.get("key_env").and_then(Value::as_str) {
        s.envs.push(SecretEnv {
            key: "mask.key_env".into(),
            var: v.into(),
            secret_name: format!("{id}-mask-key"),
            release_only: false,
            at_rest: false,
        });
    }
    let rel = cfg.section_json("release");
    if let Some(p) = rel.get("signing_key_file").and_then(Value::as_str) {
        s.files.push(SecretFile {
            key: "release.signing_key_file".into(),
            raw: p.into(),
            resolved: cfg.resolve(Path::new(p)),
            secret_name: format!("{id}-signing-key"),
            release_only: true,
            at_rest: false,
        });
    }
    // With [train] seal_at_rest, the model stages seal and open weights with
    // [train] at_rest_recipients, else with the release's recipients.
    let train = cfg.section_json("train");
    let sealing = train.get("seal_at_rest").and_then(Value::as_bool) == Some(true);
    let own = train
        .get("at_rest_recipients")
        .and_then(Value::as_array)
        .filter(|a| sealing && !a.is_empty());
    if let Some(rs) = rel.get("recipients").and_then(Value::as_array) {
        let at_rest = sealing && own.is_none();
        recipient_secrets(cfg, &mut s, rs, "release.recipients", "", at_rest);
    }
    if let Some(rs) = own {
        recipient_secrets(
            cfg,
            &mut s,
            rs,
            "train.at_rest_recipients",
            "at-rest-",
            true,
        );
    }
    s
}

fn recipient_secrets(
    cfg: &Config,
    s: &mut Secrets,
    rs: &[Value],
    key: &str,
    tag: &str,
    at_rest: bool,
) {
    let id = k8s_name(&cfg.run_id());
    for (i, r) in rs.iter().enumerate() {
        if let Some(p) = r.get("kek_file").and_then(Value::as_str) {
            s.files.push(SecretFile {
                key: format!("{key}[{i}].kek_file"),
                raw: p.into(),
                resolved: cfg.resolve(Path::new(p)),
                secret_name: format!("{id}-{tag}kek-{i}"),
                release_only: true,
                at_rest,
            });
        }
        if let Some(v) = r.get("passphrase_env").and_then(Value::as_str) {
            s.envs.push(SecretEnv {
                key: format!("{key}[{i}].passphrase_env"),
                var: v.into(),
                secret_name: format!("{id}-{tag}passphrase-{i}"),
                release_only: true,
                at_rest,
            });
        }
        if r.get("kms_command").is_some() {
            s.kms_commands += 1;
        }
    }
}

/// Every path-like value in the config (for the container layout): keys
/// ending in `_file`, `_dir`, `_path`, and `path`, `dir`, `inputs`.
fn config_paths(cfg: &Config) -> Vec<PathBuf> {
    fn walk(v: &Value, key: &str, out: &mut Vec<PathBuf>) {
        let pathy = key.ends_with("_file")
            || key.ends_with("_dir")
            || key.ends_with("_path")
            || matches!(key, "path" | "dir" | "inputs");
        match v {
            Value::String(s) if pathy => out.push(PathBuf::from(s)),
            Value::Array(a) => a.iter().for_each(|x| walk(x, key, out)),
            Value::Object(m) => m.iter().for_each(|(k, x)| walk(x, k, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for sec in sealtune_pipeline::config::ALL_SECTIONS {
        walk(&cfg.section_json(sec), "", &mut out);
    }
    out
}

/// How config paths appear inside a Kubernetes or Argo pod: the config's
/// directory sits under [`WORK_MOUNT`] deep enough that every relative path
/// (`../keys/mask.key`) stays inside the shared volume.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The config file's directory in the pod.
    pub config_dir: String,
    /// The config file in the pod.
    pub config_file: String,
    /// The run directory in the pod.
    pub run_dir: String,
}

impl Layout {
    /// The layout for a config.
    pub fn new(cfg: &Config) -> Layout {
        let mut depth = 0usize;
        for p in config_paths(cfg) {
            if p.is_absolute() {
                continue;
            }
            let mut d = 0isize;
            let mut max = 0isize;
            for c in p.components() {
                match c {
                    Component::ParentDir => d += 1,
                    Component::Normal(_) => d -= 1,
                    _ => {}
                }
                max = max.max(d);
            }
            depth = depth.max(max as usize);
        }
        let abs = std::fs::canonicalize(cfg.base_dir()).unwrap_or_else(|_| cfg.base_dir().into());
        let names: Vec<String> = abs
            .components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect();
        let mut dir = PathBuf::from(WORK_MOUNT);
        for i in 0..depth {
            // The config directory's own last `depth` names when it has them.
            let n = names
                .len()
                .checked_sub(depth - i)
                .map(|j| names[j].clone())
                .unwrap_or_else(|| format!("d{i}"));
            dir.push(k8s_path_name(&n));
        }
        let file = cfg
            .path()
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| "config.toml".into());
        let config_dir = dir.display().to_string();
        let config_file = dir.join(&file).display().to_string();
        let run_dir = match &cfg.run.dir {
            Some(d) => map_path(&config_dir, d),
            None => format!("{WORK_MOUNT}/runs/{}", cfg.run_id()),
        };
        Layout {
            config_dir,
            config_file,
            run_dir,
        }
    }

    /// A config path as the pod sees it.
    pub fn map(&self, p: &Path) -> String {
        map_path(&self.config_dir, p)
    }
}

fn k8s_path_name(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn map_path(config_dir: &str, p: &Path) -> String {
    if p.is_absolute() {
        normalize(p).display().to_string()
    } else {
        normalize(&Path::new(config_dir).join(p))
            .display()
            .to_string()
    }
}

/// Why a plan could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// `--emit` names no scheduler sealtune writes for.
    #[error("unknown scheduler `{0}`; expected slurm, kubernetes or argo")]
    UnknownTarget(String),
    /// The config file could not be read again (its text goes into the manifests).
    #[error("{}: cannot read the config", path.display())]
    ReadConfig {
        /// The config file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A job definition could not be serialised as YAML (a bug).
    #[error("cannot write YAML")]
    Yaml(#[source] serde_yaml::Error),
}

impl ExitStatus for PlanError {
    fn exit(&self) -> Exit {
        match self {
            PlanError::UnknownTarget(_) => Exit::Usage,
            PlanError::ReadConfig { source, .. }
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                Exit::NoInput
            }
            PlanError::ReadConfig { .. } => Exit::IoErr,
            PlanError::Yaml(_) => Exit::Software,
        }
    }
}

/// Emit the plan for `cfg`.
pub fn plan(cfg: &Config, target: Target, opts: &Options) -> Result<Plan, PlanError> {
    plan_for_device(cfg, target, opts, configured_device(cfg))
}

/// Emit the plan as if the configured device were `device`.
pub fn plan_for_device(
    cfg: &Config,
    target: Target,
    opts: &Options,
    device: Device,
) -> Result<Plan, PlanError> {
    let config_text =
        std::fs::read_to_string(cfg.path()).map_err(|source| PlanError::ReadConfig {
            path: cfg.path().to_path_buf(),
            source,
        })?;
    let mut ph = Placeholders::default();
    let secrets = secrets(cfg);
    let plan = match target {
        Target::Slurm => slurm(cfg, opts, device, &secrets, &mut ph)?,
        Target::Kubernetes => kubernetes(cfg, opts, device, &secrets, &config_text, &mut ph)?,
        Target::Argo => argo(cfg, opts, device, &secrets, &config_text, &mut ph)?,
    };
    Ok(Plan {
        files: plan.0,
        placeholders: ph.used,
        notes: plan.1,
    })
}

#[derive(Default)]
struct Placeholders {
    used: Vec<Placeholder>,
}

impl Placeholders {
    fn get(&mut self, given: &Option<String>, token: &str, what: &str) -> String {
        match given {
            Some(v) => v.clone(),
            None => {
                if !self.used.iter().any(|p| p.token == token) {
                    self.used.push(Placeholder {
                        token: token.into(),
                        what: what.into(),
                    });
                }
                token.into()
            }
        }
    }
}

type Emitted = (Vec<PlanFile>, Vec<String>);

/// Single-quote a string for bash.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-=:,+@%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        normalize(p)
    } else {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        normalize(&cwd.join(p))
    }
}

fn slurm(
    cfg: &Config,
    opts: &Options,
    device: Device,
    secrets: &Secrets,
    ph: &mut Placeholders,
) -> Result<Emitted, PlanError> {
    let id = cfg.run_id();
    let partition = ph.get(
        &opts.partition,
        "FILL_IN_PARTITION",
        "the Slurm partition every job runs in (--partition)",
    );
    let sealtune = opts.sealtune.clone().unwrap_or_else(|| "sealtune".into());
    let config =
        absolute(&std::fs::canonicalize(cfg.path()).unwrap_or_else(|_| cfg.path().to_path_buf()));
    let run_dir = absolute(&cfg.default_run_dir());
    let mut files = Vec::new();
    for s in STAGES {
        let mut t = String::new();
        t += "#!/bin/bash\n";
        t += &format!(
            "# sealtune stage {} for run {id}; written by `sealtune plan --emit slurm`.\n",
            s.name
        );
        t += &format!("#SBATCH --job-name={}-{}\n", k8s_name(&id), s.name);
        t += &format!("#SBATCH --partition={partition}\n");
        t += "#SBATCH --nodes=1\n#SBATCH --ntasks=1\n";
        t += &format!("#SBATCH --cpus-per-task={}\n", s.cpus);
        t += &format!("#SBATCH --mem={}G\n", s.mem_gib);
        if s.model && device == Device::Cuda {
            t += "#SBATCH --gres=gpu:1\n";
        }
        t += "#SBATCH --requeue\n";
        t += &format!("#SBATCH --signal=B:USR1@{}\n", s.grace_s);
        t += "#SBATCH --open-mode=append\n";
        t += "#SBATCH --output=%x-%j.out\n";
        t += "set -u\n";
        t += &format!("SEALTUNE=${{SEALTUNE:-{}}}\n", shell_quote(&sealtune));
        t += &format!("CONFIG={}\n", shell_quote(&config.display().to_string()));
        t += &format!("RUN_DIR={}\n", shell_quote(&run_dir.display().to_string()));
        t += &format!("MAX_REQUEUES=${{SEALTUNE_MAX_REQUEUES:-{RETRY_BUDGET}}}\n");
        let mut reads: Vec<&str> = Vec::new();
        for f in &secrets.files {
            if f.needed_by(&s) {
                reads.push(&f.key);
            }
        }
        if !reads.is_empty() {
            t += &format!(
                "# Reads the key files the config names ({}): they must be files owned by\n# the job's user, mode 0600, on a file system this node mounts. Never copy them here.\n",
                reads.join(", ")
            );
        }
        t += SLURM_BODY.replace("@STAGE@", s.name).as_str();
        files.push(PlanFile {
            name: format!("{}.sbatch", s.name),
            text: t,
            executable: true,
        });
    }
    let mut sub = String::new();
    sub += "#!/bin/bash\n";
    sub += &format!(
        "# Submit run {id}'s five stages in order; each starts only after the previous one succeeded\n# (afterok), and a failed stage cancels the ones after it (--kill-on-invalid-dep=yes).\n"
    );
    sub += "set -euo pipefail\ncd \"$(dirname \"$0\")\"\nprev=\n";
    sub += "for s in ingest mask train eval release; do\n";
    sub += "  dep=()\n  if [ -n \"$prev\" ]; then dep=(--dependency=afterok:\"$prev\" --kill-on-invalid-dep=yes); fi\n";
    sub += "  prev=$(sbatch --parsable \"${dep[@]}\" \"$s.sbatch\")\n";
    sub += "  prev=${prev%%;*}\n";
    sub += "  echo \"$s: job $prev\"\n";
    sub += "done\n";
    files.push(PlanFile {
        name: "submit.sh".into(),
        text: sub,
        executable: true,
    });
    let mut notes = vec![
        format!(
            "the run directory {} must be on a file system every node mounts, with working flock (docs/SCHEDULERS.md)",
            run_dir.display()
        ),
        format!(
            "so must the config {}, the data, the model and the key files it names",
            config.display()
        ),
    ];
    if cfg.run.dir.is_none() {
        notes.push(
            "[run].dir is not set: the run directory above is relative to where you ran `sealtune plan`".into(),
        );
    }
    for e in &secrets.envs {
        notes.push(format!(
            "{} names the variable {}: set it in the job's environment from your secret store; prefer a *_file key on Slurm (sbatch copies the submitting environment into the job record)",
            e.key, e.var
        ));
    }
    Ok((files, notes))
}

/// The body of every Slurm stage script. Runs sealtune in the background so
/// that the shell can forward the pre-emption warning (USR1, sent to the batch
/// shell only by `--signal=B:USR1@N`) as one SIGTERM: sealtune checkpoints and
/// exits 75, and the script requeues the job. A SIGTERM from `scancel` or from
/// pre-emption reaches sealtune directly (Slurm signals every process of the
/// job); the shell then only waits, and leaves requeueing to Slurm.
const SLURM_BODY: &str = r#"
warned=0
terminated=0
child=
on_usr1() {
  warned=1
  if [ -n "$child" ]; then kill -TERM "$child" 2>/dev/null || true; fi
}
trap on_usr1 USR1
trap 'terminated=1' TERM
"$SEALTUNE" stage @STAGE@ --config "$CONFIG" --run-dir "$RUN_DIR" &
child=$!
while :; do
  wait "$child"
  rc=$?
  # wait returns above 128 when a trapped signal interrupted it; the child may still run.
  if kill -0 "$child" 2>/dev/null; then continue; fi
  break
done
echo "sealtune stage @STAGE@ exited $rc (job ${SLURM_JOB_ID:-?}, restart ${SLURM_RESTART_COUNT:-0})" >&2
if [ "$rc" -eq 75 ] && [ "$terminated" -eq 0 ]; then
  # 75: interrupted by our warning, or the run directory was locked. Retry may help.
  if [ "${SLURM_RESTART_COUNT:-0}" -lt "$MAX_REQUEUES" ] && [ -n "${SLURM_JOB_ID:-}" ]; then
    echo "requeueing job $SLURM_JOB_ID (warned=$warned)" >&2
    scontrol requeue "$SLURM_JOB_ID" || true
  else
    echo "retry budget of $MAX_REQUEUES requeues spent" >&2
  fi
fi
exit "$rc"
"#;

fn resources(s: &StageSpec, device: Device) -> Value {
    let mut limits = json!({ "cpu": s.cpus.to_string(), "memory": format!("{}Gi", s.mem_gib) });
    if s.model && device == Device::Cuda {
        limits["nvidia.com/gpu"] = json!("1");
    }
    json!({
        "requests": { "cpu": s.cpus.to_string(), "memory": format!("{}Gi", s.mem_gib) },
        "limits": limits,
    })
}

fn security_context() -> Value {
    // Root in the container, without capabilities: Kubernetes Secret files
    // are owned by root, and sealtune refuses a key file that group or others
    // can read (an fsGroup would add group read). See docs/SCHEDULERS.md for
    // a non-root variant.
    json!({
        "runAsUser": 0,
        "allowPrivilegeEscalation": false,
        "readOnlyRootFilesystem": true,
        "capabilities": { "drop": ["ALL"] },
        "seccompProfile": { "type": "RuntimeDefault" },
    })
}

struct PodParts {
    volumes: Vec<Value>,
    mounts: Vec<Value>,
    env: Vec<Value>,
}

/// Volumes and mounts of one stage: the shared volume, the config, and the
/// secrets this stage needs.
fn pod_parts(s: &StageSpec, layout: &Layout, names: &Names, secrets: &Secrets) -> PodParts {
    let mut volumes = vec![
        json!({ "name": "work", "persistentVolumeClaim": { "claimName": names.pvc } }),
        json!({ "name": "config", "configMap": { "name": names.configmap, "defaultMode": 0o444 } }),
    ];
    let mut mounts = vec![
        json!({ "name": "work", "mountPath": WORK_MOUNT }),
        json!({ "name": "config", "mountPath": layout.config_file, "subPath": names.config_key, "readOnly": true }),
    ];
    let mut env = Vec::new();
    for (i, f) in secrets.files.iter().enumerate() {
        if !f.needed_by(s) {
            continue;
        }
        let vol = format!("secret-{i}");
        let item = secret_item(&f.raw);
        volumes.push(json!({
            "name": vol,
            "secret": {
                "secretName": f.secret_name,
                "defaultMode": 0o400,
                "items": [{ "key": item, "path": item }],
            },
        }));
        mounts.push(json!({
            "name": vol,
            "mountPath": layout.map(&f.raw),
            "subPath": item,
            "readOnly": true,
        }));
    }
    for e in &secrets.envs {
        if e.needed_by(s) {
            env.push(json!({
                "name": e.var,
                "valueFrom": { "secretKeyRef": { "name": e.secret_name, "key": "value" } },
            }));
        }
    }
    PodParts {
        volumes,
        mounts,
        env,
    }
}

/// The key inside the Kubernetes Secret: the file's name.
fn secret_item(raw: &Path) -> String {
    raw.file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| "key".into())
}

struct Names {
    id: String,
    pvc: String,
    configmap: String,
    config_key: String,
}

fn names(cfg: &Config) -> Names {
    let id = k8s_name(&cfg.run_id());
    let config_key = cfg
        .path()
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| "config.toml".into());
    Names {
        pvc: format!("{id}-work"),
        configmap: format!("{id}-config"),
        id,
        config_key,
    }
}

fn shared_objects(
    cfg: &Config,
    names: &Names,
    namespace: &str,
    storage_class: &str,
    config_text: &str,
) -> (Value, Value) {
    let labels = json!({ "app.kubernetes.io/name": "sealtune", "sealtune.dev/run": names.id });
    let pvc = json!({
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": { "name": names.pvc, "namespace": namespace, "labels": labels },
        "spec": {
            "accessModes": ["ReadWriteMany"],
            "storageClassName": storage_class,
            "resources": { "requests": { "storage": "50Gi" } },
        },
    });
    let mut data = serde_json::Map::new();
    data.insert(names.config_key.clone(), json!(config_text));
    let cm = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": names.configmap,
            "namespace": namespace,
            "labels": labels,
            "annotations": { "sealtune.dev/config-sha256": cfg.sha256() },
        },
        "data": data,
    });
    (pvc, cm)
}

fn yaml(v: &Value) -> Result<String, PlanError> {
    serde_yaml::to_string(v).map_err(PlanError::Yaml)
}

fn k8s_common(
    cfg: &Config,
    opts: &Options,
    secrets: &Secrets,
    ph: &mut Placeholders,
) -> (Names, Layout, String, String, String, Vec<String>) {
    let names = names(cfg);
    let layout = Layout::new(cfg);
    let image = ph.get(
        &opts.image,
        "FILL_IN_IMAGE",
        "a container image with `sealtune` on its PATH (--image)",
    );
    let namespace = ph.get(
        &opts.namespace,
        "FILL_IN_NAMESPACE",
        "the namespace the jobs, volume, config and secrets live in (--namespace)",
    );
    let storage_class = ph.get(
        &opts.storage_class,
        "FILL_IN_STORAGE_CLASS",
        "a storage class that provides ReadWriteMany volumes with working flock, e.g. NFSv4 or CephFS (--storage-class)",
    );
    let mut notes = Vec::new();
    for f in &secrets.files {
        notes.push(format!(
            "create the Secret for {}: kubectl -n {namespace} create secret generic {} --from-file={}={}",
            f.key,
            f.secret_name,
            secret_item(&f.raw),
            shell_quote(&f.resolved.display().to_string())
        ));
    }
    for e in &secrets.envs {
        notes.push(format!(
            "create the Secret for {} (the variable {}): kubectl -n {namespace} create secret generic {} --from-literal=value=... (or --from-file=value=FILE)",
            e.key, e.var, e.secret_name
        ));
    }
    if secrets.kms_commands > 0 {
        notes.push(
            "kms_command recipients: the program must be in the image, with its credentials (not planned here); release runs it, and train and eval too with [train] seal_at_rest".into(),
        );
    }
    notes
        .push("the volume's size is 50Gi: change it to fit the data, the model and the run".into());
    let mut inputs = BTreeSet::new();
    for p in config_paths(cfg) {
        if secrets.files.iter().any(|f| f.raw == p) {
            continue;
        }
        let m = layout.map(&p);
        if m.starts_with(WORK_MOUNT) && m != layout.run_dir {
            inputs.insert(format!("{} -> {m}", cfg.resolve(&p).display()));
        }
    }
    for i in inputs {
        notes.push(format!(
            "copy onto the shared volume (config path -> path in the pod): {i}"
        ));
    }
    (names, layout, image, namespace, storage_class, notes)
}

fn kubernetes(
    cfg: &Config,
    opts: &Options,
    device: Device,
    secrets: &Secrets,
    config_text: &str,
    ph: &mut Placeholders,
) -> Result<Emitted, PlanError> {
    let (names, layout, image, namespace, storage_class, notes) =
        k8s_common(cfg, opts, secrets, ph);
    let (pvc, cm) = shared_objects(cfg, &names, &namespace, &storage_class, config_text);
    let mut files = vec![
        PlanFile {
            name: "00-volume.yaml".into(),
            text: yaml(&pvc)?,
            executable: false,
        },
        PlanFile {
            name: "01-config.yaml".into(),
            text: yaml(&cm)?,
            executable: false,
        },
    ];
    let mut job_names = Vec::new();
    for (i, s) in STAGES.iter().enumerate() {
        let parts = pod_parts(s, &layout, &names, secrets);
        let job_name = format!("{}-{}", names.id, s.name);
        let labels = json!({
            "app.kubernetes.io/name": "sealtune",
            "sealtune.dev/run": names.id,
            "sealtune.dev/stage": s.name,
        });
        let mut container = json!({
            "name": "sealtune",
            "image": image,
            "workingDir": WORK_MOUNT,
            "command": ["sealtune", "stage", s.name, "--config", layout.config_file, "--run-dir", layout.run_dir],
            "resources": resources(s, device),
            "volumeMounts": parts.mounts,
            "securityContext": security_context(),
        });
        if !parts.env.is_empty() {
            container["env"] = json!(parts.env);
        }
        let job = json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": { "name": job_name, "namespace": namespace, "labels": labels },
            "spec": {
                "backoffLimit": RETRY_BUDGET,
                "podFailurePolicy": { "rules": [
                    {
                        "action": "FailJob",
                        "onExitCodes": { "containerName": "sealtune", "operator": "In", "values": PERMANENT_EXIT_CODES },
                    },
                    {
                        "action": "Ignore",
                        "onPodConditions": [{ "type": "DisruptionTarget", "status": "True" }],
                    },
                    {
                        "action": "Count",
                        "onExitCodes": { "containerName": "sealtune", "operator": "In", "values": [RETRY_EXIT_CODE] },
                    },
                ]},
                "template": {
                    "metadata": { "labels": labels },
                    "spec": {
                        "restartPolicy": "Never",
                        "terminationGracePeriodSeconds": s.grace_s,
                        "containers": [container],
                        "volumes": parts.volumes,
                    },
                },
            },
        });
        files.push(PlanFile {
            name: format!("{}-{}.yaml", (i + 1) * 10, s.name),
            text: yaml(&job)?,
            executable: false,
        });
        job_names.push((job_name, format!("{}-{}.yaml", (i + 1) * 10, s.name)));
    }
    let mut run = String::new();
    run += "#!/bin/bash\n";
    run += &format!(
        "# Run {}'s stages as Kubernetes Jobs, one after the other: each Job is applied only when the\n# one before it completed. A Job that failed stops the chain with its pod's exit code.\n",
        names.id
    );
    run += "set -euo pipefail\ncd \"$(dirname \"$0\")\"\n";
    run += &format!("NS=${{NAMESPACE:-{}}}\n", shell_quote(&namespace));
    run += "kubectl -n \"$NS\" apply -f 00-volume.yaml -f 01-config.yaml\n";
    run += r#"wait_job() {
  while :; do
    conds=$(kubectl -n "$NS" get job "$1" -o jsonpath='{range .status.conditions[?(@.status=="True")]}{.type}{" "}{end}')
    case " $conds " in
      *" Complete "*) echo "$1: complete"; return 0 ;;
      *" Failed "*)
        code=$(kubectl -n "$NS" get pods -l job-name="$1" -o jsonpath='{.items[-1:].status.containerStatuses[0].state.terminated.exitCode}' || true)
        echo "$1: failed (exit ${code:-unknown}); see: kubectl -n $NS logs -l job-name=$1" >&2
        return "${code:-1}" ;;
    esac
    sleep 10
  done
}
"#;
    for (job, file) in &job_names {
        run += &format!("kubectl -n \"$NS\" apply -f {file}\nwait_job {job}\n");
    }
    files.push(PlanFile {
        name: "run.sh".into(),
        text: run,
        executable: true,
    });
    Ok((files, notes))
}

fn argo(
    cfg: &Config,
    opts: &Options,
    device: Device,
    secrets: &Secrets,
    config_text: &str,
    ph: &mut Placeholders,
) -> Result<Emitted, PlanError> {
    let (names, layout, image, namespace, storage_class, notes) =
        k8s_common(cfg, opts, secrets, ph);
    let (pvc, cm) = shared_objects(cfg, &names, &namespace, &storage_class, config_text);
    let mut tasks = Vec::new();
    let mut templates = Vec::new();
    let mut prev: Option<&str> = None;
    for s in &STAGES {
        let parts = pod_parts(s, &layout, &names, secrets);
        let mut task = json!({ "name": s.name, "template": s.name });
        if let Some(p) = prev {
            task["dependencies"] = json!([p]);
        }
        tasks.push(task);
        prev = Some(s.name);
        let mut container = json!({
            "image": image,
            "workingDir": WORK_MOUNT,
            "command": ["sealtune", "stage", s.name, "--config", layout.config_file, "--run-dir", layout.run_dir],
            "resources": resources(s, device),
            "volumeMounts": parts.mounts,
            "securityContext": security_context(),
        });
        if !parts.env.is_empty() {
            container["env"] = json!(parts.env);
        }
        // The shared volume and the config are workflow volumes; the
        // secrets are declared per template so only their stages get them.
        let secret_vols: Vec<Value> = parts
            .volumes
            .into_iter()
            .filter(|v| v.get("secret").is_some())
            .collect();
        let mut t = json!({
            "name": s.name,
            "metadata": { "labels": { "sealtune.dev/stage": s.name } },
            "retryStrategy": {
                "limit": RETRY_BUDGET.to_string(),
                "retryPolicy": "Always",
                "expression": format!("asInt(lastRetry.exitCode) == {RETRY_EXIT_CODE} || lastRetry.status == \"Error\""),
                "backoff": { "duration": "30s", "factor": "2" },
            },
            "podSpecPatch": format!("{{\"terminationGracePeriodSeconds\": {}}}", s.grace_s),
            "container": container,
        });
        if !secret_vols.is_empty() {
            t["volumes"] = json!(secret_vols);
        }
        templates.push(t);
    }
    templates.insert(0, json!({ "name": "pipeline", "dag": { "tasks": tasks } }));
    let wf = json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {
            "generateName": format!("{}-", names.id),
            "namespace": namespace,
            "labels": { "app.kubernetes.io/name": "sealtune", "sealtune.dev/run": names.id },
        },
        "spec": {
            "entrypoint": "pipeline",
            "volumes": [
                { "name": "work", "persistentVolumeClaim": { "claimName": names.pvc } },
                { "name": "config", "configMap": { "name": names.configmap, "defaultMode": 0o444 } },
            ],
            "templates": templates,
        },
    });
    let files = vec![
        PlanFile {
            name: "00-volume.yaml".into(),
            text: yaml(&pvc)?,
            executable: false,
        },
        PlanFile {
            name: "01-config.yaml".into(),
            text: yaml(&cm)?,
            executable: false,
        },
        PlanFile {
            name: "workflow.yaml".into(),
            text: yaml(&wf)?,
            executable: false,
        },
    ];
    Ok((files, notes))
}

#[cfg(test)]
mod tests;
