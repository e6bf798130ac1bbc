//! The stage engine: stage keys, skipping, atomic outputs, locking, audit and
//! status.
//!
//! A stage is a unit of work with declared inputs (upstream stages, external
//! files, config sections) and outputs (files in its directory). The engine
//! computes its key, skips it when a complete manifest with that key exists
//! and its outputs still check out, and otherwise runs it into a staging
//! directory that replaces the stage directory only when the stage succeeded.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::audit::{self, Actor, Anchor, AuditError, AuditLog, Head};
use crate::cancel::CancelToken;
use crate::config::{Config, ConfigError};
use crate::error::StageError;
use crate::events::Events;
use crate::fsutil::{self, FileDigest, sha256_file, sha256_hex};
use crate::lock::RunLock;
use crate::manifest::{
    ConfigRef, ExternalInput, MANIFEST_SCHEMA, Manifest, STATUS_SCHEMA, StageStatus, State, Status,
    outputs_digest,
};
use crate::time::now_rfc3339;
use sealtune_contract::Exit;

/// A pipeline stage. Implementations live in the crates that own the work
/// (`sealtune-data` for ingest, and so on); the binary registers them in order.
pub trait Stage: Send + Sync {
    /// The stage's name: `ingest`, `mask`, `train`, `eval`, `release`.
    fn name(&self) -> &'static str;

    /// A version string to bump whenever the stage's outputs would change for
    /// the same inputs; it is part of the stage key.
    fn code_version(&self) -> &'static str;

    /// Upstream stages whose outputs this stage reads.
    fn depends_on(&self) -> &'static [&'static str];

    /// Config sections this stage reads; their content is part of the key.
    fn sections(&self) -> &'static [&'static str];

    /// Check the stage's config sections without running anything.
    fn validate(&self, cfg: &Config) -> Result<(), ConfigError>;

    /// Checks a run makes before any stage starts that need more than the
    /// config text: key files exist and are private, environment variables
    /// are set. `sealtune validate` runs them too, so that it passes exactly
    /// the configs a run's start accepts. Never reads data.
    fn preflight(&self, _cfg: &Config) -> Result<(), StageError> {
        Ok(())
    }

    /// Files outside the run directory that the stage reads (raw data, base
    /// model). Their SHA-256 is part of the key.
    fn external_inputs(&self, cfg: &Config) -> Result<Vec<PathBuf>, StageError>;

    /// Anything else the outputs depend on that is neither a config section
    /// nor a file, such as the id of a key (never the key itself). Part of the
    /// stage key. Default: nothing.
    fn extra_key(&self, _cfg: &Config) -> Result<Value, StageError> {
        Ok(Value::Null)
    }

    /// Do the work, writing outputs under `ctx.out_dir()`. Returns a summary
    /// for the manifest. Must check `ctx.checkpoint()` at safe points.
    fn run(&self, ctx: &StageContext<'_>) -> Result<Value, StageError>;

    /// Whether the run may go on past this stage, judged from its committed
    /// outputs in `out_dir`. Called after the stage ran or was found up to
    /// date. An `Err` with [`Exit::GateFailed`] (a failed release gate) stops
    /// the run with exit 3 while the outputs stay in place for review, unless
    /// the run was given a reason to accept failed gates
    /// ([`Engine::accept_failed_gates`]); then it is recorded in the audit log
    /// and the run goes on. Default: always go on.
    fn verdict(&self, _out_dir: &Path) -> Result<(), StageError> {
        Ok(())
    }

    /// True when the stage reads the reason given to accept failed gates
    /// ([`StageContext::gate_acceptance`]); the reason is then part of its
    /// key. Default false.
    fn reads_gate_acceptance(&self) -> bool {
        false
    }
}

/// What a running stage can see and use.
#[derive(Debug)]
pub struct StageContext<'a> {
    cfg: &'a Config,
    run_dir: &'a Path,
    out_dir: PathBuf,
    work_dir: PathBuf,
    inputs: BTreeMap<String, PathBuf>,
    external: Vec<ExternalInput>,
    cancel: &'a CancelToken,
    events: &'a Events,
    stage: &'static str,
    gate_acceptance: Option<&'a GateAcceptance>,
    audit_head: Option<Head>,
}

/// A reason, given on the command line (`--accept-failed-gates --reason`),
/// to go on past failed release gates, and who gave it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GateAcceptance {
    /// Why the failures are acceptable, in the words of whoever accepted them.
    pub reason: String,
    /// Who accepted them.
    pub by: Actor,
}

impl<'a> StageContext<'a> {
    /// The audit log's head after this stage's `stage.start` entry. The
    /// release records it in its signed provenance, so that `sealtune verify
    /// --run-dir` can tell that the log of that run was not rewritten since.
    pub fn audit_head(&self) -> Option<&Head> {
        self.audit_head.as_ref()
    }

    /// The loaded configuration.
    pub fn config(&self) -> &Config {
        self.cfg
    }

    /// The run directory.
    pub fn run_dir(&self) -> &Path {
        self.run_dir
    }

    /// Where to write outputs. It becomes `<run>/<stage>/` on success only.
    pub fn out_dir(&self) -> &Path {
        &self.out_dir
    }

    /// A scratch directory that survives interruptions (for checkpoints), kept
    /// while the stage key stays the same and removed when the stage completes.
    pub fn work_dir(&self) -> &Path {
        &self.work_dir
    }

    /// The output directory of an upstream stage.
    pub fn input_dir(&self, stage: &str) -> Result<&Path, StageError> {
        self.inputs.get(stage).map(PathBuf::as_path).ok_or_else(|| {
            StageError::internal(format!("stage {stage} is not an input of {}", self.stage))
        })
    }

    /// External inputs with the digests they had when the key was computed.
    pub fn external_inputs(&self) -> &[ExternalInput] {
        &self.external
    }

    /// A safe point: returns `Err` when the run was asked to stop.
    pub fn checkpoint(&self) -> Result<(), StageError> {
        if self.cancel.is_cancelled() {
            Err(StageError::interrupted())
        } else {
            Ok(())
        }
    }

    /// Whether the run was asked to stop (for stages that save state first).
    pub fn cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Event sink, for warnings.
    pub fn events(&self) -> &Events {
        self.events
    }

    /// The reason given to accept failed gates, for stages whose
    /// [`Stage::reads_gate_acceptance`] is true; `None` otherwise.
    pub fn gate_acceptance(&self) -> Option<&GateAcceptance> {
        self.gate_acceptance
    }

    /// Start a progress report: a bar on a terminal, `stage_progress` events
    /// with `--json` (at most one per second).
    pub fn progress(&self, total: Option<u64>, unit: &'static str) -> Progress<'_> {
        let bar = if self.events.stderr_is_tty() {
            let b = match total {
                Some(t) => indicatif::ProgressBar::new(t),
                None => indicatif::ProgressBar::new_spinner(),
            };
            let style = if unit == "bytes" {
                "{prefix} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}"
            } else {
                "{prefix} [{bar:30}] {pos}/{len} {per_sec} eta {eta}"
            };
            if let Ok(s) = indicatif::ProgressStyle::with_template(style) {
                b.set_style(s.progress_chars("=> "));
            }
            b.set_prefix(self.stage);
            Some(b)
        } else {
            None
        };
        Progress {
            ctx_events: self.events,
            stage: self.stage,
            total,
            unit,
            done: 0,
            last_emit: Instant::now(),
            bar,
        }
    }
}

/// A progress reporter from [`StageContext::progress`].
#[derive(Debug)]
pub struct Progress<'a> {
    ctx_events: &'a Events,
    stage: &'static str,
    total: Option<u64>,
    unit: &'static str,
    done: u64,
    last_emit: Instant,
    bar: Option<indicatif::ProgressBar>,
}

impl Progress<'_> {
    /// Advance by `n` units.
    pub fn inc(&mut self, n: u64) {
        self.done += n;
        if let Some(b) = &self.bar {
            b.inc(n);
        }
        if self.last_emit.elapsed() >= Duration::from_secs(1) {
            self.last_emit = Instant::now();
            self.ctx_events.emit(
                "stage_progress",
                json!({"stage": self.stage, "done": self.done, "total": self.total, "unit": self.unit}),
                None,
            );
        }
    }
}

impl Drop for Progress<'_> {
    fn drop(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}

/// Options of `sealtune run`.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// First stage to consider; earlier ones must be up to date.
    pub from: Option<String>,
    /// Last stage to run.
    pub to: Option<String>,
    /// Stages to rerun even when up to date.
    pub force: Vec<String>,
}

/// What happened to one stage in a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageOutcome {
    /// It ran.
    Ran,
    /// It was up to date.
    Skipped,
}

/// A stage key with what it was computed from: external inputs and upstream
/// output digests.
type KeyParts = (String, Vec<ExternalInput>, BTreeMap<String, String>);

/// The stage registry and a run directory.
pub struct Engine<'a> {
    stages: &'a [Box<dyn Stage>],
    cfg: &'a Config,
    run_dir: PathBuf,
    events: &'a Events,
    cancel: CancelToken,
    gate_acceptance: Option<GateAcceptance>,
}

impl std::fmt::Debug for Engine<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field(
                "stages",
                &self.stages.iter().map(|s| s.name()).collect::<Vec<_>>(),
            )
            .field("run_dir", &self.run_dir)
            .finish()
    }
}

/// Held while a run writes to its directory.
struct Session {
    _lock: RunLock,
    audit: AuditLog,
    status: Status,
    dir: PathBuf,
}

impl Session {
    /// The status entry of one stage, created on first use.
    fn stage_mut(&mut self, name: &str) -> &mut StageStatus {
        self.status
            .stages
            .entry(name.to_string())
            .or_insert_with(StageStatus::not_started)
    }

    fn record(&mut self, event: &str, stage: Option<&str>, data: Value) -> Result<(), StageError> {
        let head = self
            .audit
            .append(event, stage, data)
            .map_err(|e| StageError::io("cannot append to the audit log", self.audit.path(), e))?;
        self.status.audit_head = Some(head);
        self.status.updated = now_rfc3339();
        self.status
            .write(&self.dir)
            .map_err(|e| StageError::io("cannot write status.json", &self.dir, e))
    }
}

impl<'a> Engine<'a> {
    /// An engine over `stages` (in pipeline order) for one config and run dir.
    pub fn new(
        stages: &'a [Box<dyn Stage>],
        cfg: &'a Config,
        run_dir: PathBuf,
        events: &'a Events,
        cancel: CancelToken,
    ) -> Engine<'a> {
        Engine {
            stages,
            cfg,
            run_dir,
            events,
            cancel,
            gate_acceptance: None,
        }
    }

    /// Go on past failed release gates for `reason` (`--accept-failed-gates
    /// --reason`). The acceptance is recorded in the audit log, and stages
    /// that read it (release) record it in their outputs. An empty reason is
    /// a usage error (64).
    pub fn accept_failed_gates(mut self, reason: &str) -> Result<Self, StageError> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(StageError::new(
                Exit::Usage,
                "--reason is empty; say why the failed gates are acceptable",
            ));
        }
        self.gate_acceptance = Some(GateAcceptance {
            reason: reason.to_string(),
            by: Actor::current(),
        });
        Ok(self)
    }

    /// The stage's gate acceptance, if it reads one and one was given.
    fn acceptance_for(&self, s: &dyn Stage) -> Option<&GateAcceptance> {
        self.gate_acceptance
            .as_ref()
            .filter(|_| s.reads_gate_acceptance())
    }

    /// Applies a stage's [`Stage::verdict`]: a failed gate stops the run (3)
    /// unless a reason to accept it was given; either way it is audited.
    fn check_verdict(&self, session: &mut Session, s: &dyn Stage) -> Result<(), StageError> {
        let name = s.name();
        let e = match s.verdict(&self.stage_dir(name)) {
            Ok(()) => return Ok(()),
            Err(e) if e.exit() == Exit::GateFailed => e,
            Err(e) => {
                self.record_failure(session, name, None, &e)?;
                return Err(e);
            }
        };
        match &self.gate_acceptance {
            Some(a) => {
                session.record(
                    "gates.accepted",
                    Some(name),
                    json!({ "failures": e.to_string(), "reason": a.reason, "accepted_by": a.by }),
                )?;
                self.events.emit(
                    "gates_accepted",
                    json!({ "stage": name, "failures": e.to_string(), "reason": a.reason }),
                    Some(format!(
                        "  {name:<8} gates failed; going on, accepted with --accept-failed-gates: {}",
                        a.reason
                    )),
                );
                Ok(())
            }
            None => {
                let st = session.stage_mut(name);
                st.error = Some(e.message().to_string());
                st.exit_code = Some(e.exit().code());
                session.record(
                    "gates.failed",
                    Some(name),
                    json!({ "failures": e.to_string() }),
                )?;
                self.events.emit(
                    "gates_failed",
                    json!({ "stage": name, "failures": e.to_string() }),
                    None,
                );
                Err(e)
            }
        }
    }

    fn stage(&self, name: &str) -> Result<&dyn Stage, StageError> {
        self.stages
            .iter()
            .find(|s| s.name() == name)
            .map(|s| s.as_ref())
            .ok_or_else(|| {
                StageError::new(
                    Exit::Usage,
                    format!(
                        "unknown stage `{name}`; this build has: {}",
                        self.stages
                            .iter()
                            .map(|s| s.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })
    }

    fn index_of(&self, name: &str) -> Result<usize, StageError> {
        self.stage(name)?;
        Ok(self
            .stages
            .iter()
            .position(|s| s.name() == name)
            .unwrap_or(0))
    }

    /// Validate every stage's config sections.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for s in self.stages {
            s.validate(self.cfg)?;
        }
        Ok(())
    }

    /// Every check a run makes at its start: [`Engine::validate`], then each
    /// stage's [`Stage::preflight`] (keys present and private).
    pub fn preflight(&self) -> Result<(), StageError> {
        self.validate()?;
        for s in self.stages {
            s.preflight(self.cfg)?;
        }
        Ok(())
    }

    /// The start checks of `sealtune stage NAME`: [`Stage::validate`] and
    /// [`Stage::preflight`] of `name` and of the stages it depends on,
    /// directly or not. A scheduler's job for one stage then needs only those
    /// stages' keys: ingest none, release the signing key and the KEKs.
    pub fn preflight_stage(&self, name: &str) -> Result<(), StageError> {
        let mut todo = vec![name];
        let mut seen: Vec<&str> = Vec::new();
        while let Some(n) = todo.pop() {
            if seen.contains(&n) {
                continue;
            }
            seen.push(n);
            let s = self.stage(n)?;
            todo.extend(s.depends_on().iter().copied());
        }
        for s in self.stages {
            if seen.contains(&s.name()) {
                s.validate(self.cfg)?;
            }
        }
        for s in self.stages {
            if seen.contains(&s.name()) {
                s.preflight(self.cfg)?;
            }
        }
        Ok(())
    }

    fn stage_dir(&self, name: &str) -> PathBuf {
        self.run_dir.join(name)
    }

    /// Compute a stage's key from the current config, upstream manifests and
    /// external files.
    fn compute_key(&self, s: &dyn Stage) -> Result<KeyParts, StageError> {
        let mut upstream = BTreeMap::new();
        for dep in s.depends_on() {
            let m = Manifest::read(&self.stage_dir(dep)).ok_or_else(|| {
                StageError::missing(format!(
                    "stage {} needs the output of stage {dep}, which has not completed in {}; run `sealtune stage {dep}` (or `sealtune run`) first",
                    s.name(),
                    self.run_dir.display()
                ))
            })?;
            upstream.insert(dep.to_string(), m.outputs_digest);
        }
        let mut external = Vec::new();
        for p in s.external_inputs(self.cfg)? {
            let digest = sha256_file(&p).map_err(|e| StageError::io("cannot read input", &p, e))?;
            external.push(ExternalInput {
                path: p.display().to_string(),
                digest,
            });
        }
        let sections: BTreeMap<&str, Value> = s
            .sections()
            .iter()
            .map(|sec| (*sec, self.cfg.section_json(sec)))
            .collect();
        let mut material = json!({
            "stage": s.name(),
            "code_version": s.code_version(),
            "sections": sections,
            "upstream": upstream,
            "external": external.iter().map(|e| &e.digest.sha256).collect::<Vec<_>>(),
            "extra": s.extra_key(self.cfg)?,
        });
        if let Some(a) = self.acceptance_for(s) {
            // The reason (not who gave it) changes what the stage writes.
            material["gate_acceptance"] = json!(a.reason);
        }
        Ok((
            sha256_hex(material.to_string().as_bytes()),
            external,
            upstream,
        ))
    }

    /// Why a completed stage is not usable as is, or `None` when it is fresh
    /// (its key matches, its outputs check out, and its upstreams are fresh).
    pub fn staleness(&self, name: &str) -> Result<Option<String>, StageError> {
        let s = self.stage(name)?;
        for dep in s.depends_on() {
            if let Some(why) = self.staleness(dep)? {
                return Ok(Some(format!(
                    "upstream stage {dep} is not up to date ({why})"
                )));
            }
        }
        let dir = self.stage_dir(name);
        let Some(m) = Manifest::read(&dir) else {
            return Ok(Some("it has not completed".into()));
        };
        let (key, _, _) = match self.compute_key(s) {
            Ok(k) => k,
            Err(e) => return Ok(Some(e.to_string())),
        };
        if m.key != key {
            return Ok(Some(
                "its config section, code version or inputs changed".into(),
            ));
        }
        if let Err(why) = m.verify_outputs(&dir) {
            return Ok(Some(why.to_string()));
        }
        Ok(None)
    }

    fn open_session(&self, command: &str) -> Result<Session, StageError> {
        self.check_run_dir()?;
        std::fs::create_dir_all(&self.run_dir)
            .map_err(|e| StageError::cant_create(&self.run_dir, e))?;
        let lock = RunLock::acquire(&self.run_dir)?;
        let existing = match Status::read_checked(&self.run_dir) {
            Ok(s) => s,
            Err(why) => {
                // Manifests and the audit log are the record; status.json is a
                // view of them, so it is rebuilt rather than trusted. The
                // manifests still anchor the log.
                self.events.warn(&format!("{why}; rebuilding it"));
                None
            }
        };
        let anchors = self.audit_anchors(existing.as_ref());
        let audit = AuditLog::open_anchored(&self.run_dir.join("audit.jsonl"), &anchors)?;
        let mut status = existing.unwrap_or_else(|| Status {
            schema: STATUS_SCHEMA.into(),
            run_id: self.cfg.run_id(),
            config: None,
            updated: now_rfc3339(),
            audit_head: None,
            stages: BTreeMap::new(),
        });
        let abs = std::fs::canonicalize(self.cfg.path())
            .unwrap_or_else(|_| self.cfg.path().to_path_buf());
        status.config = Some(ConfigRef {
            path: abs.display().to_string(),
            sha256: self.cfg.sha256().to_string(),
        });
        for s in self.stages {
            status
                .stages
                .entry(s.name().to_string())
                .or_insert_with(StageStatus::not_started);
        }
        let mut session = Session {
            _lock: lock,
            audit,
            status,
            dir: self.run_dir.clone(),
        };
        if let Some(w) = crate::lock::node_local_locking(&self.run_dir) {
            self.events.warn(&w);
        }
        if let Some(prev) = session._lock.recovered.clone() {
            let msg = format!(
                "the previous run (pid {} on {}, started {}) ended without releasing {}; its unfinished stage is discarded and will run again",
                prev.pid,
                prev.host,
                prev.since,
                session._lock.path().display()
            );
            self.events.warn(&msg);
            for st in session.status.stages.values_mut() {
                if st.state == State::Running {
                    st.state = State::Interrupted;
                    st.error = Some("the process running it died".into());
                }
            }
            session.record(
                "lock.recovered",
                None,
                serde_json::to_value(&prev).unwrap_or(Value::Null),
            )?;
        }
        self.clean_leftovers();
        session.record(
            "run.start",
            None,
            json!({
                "command": command,
                "config": self.cfg.path().display().to_string(),
                "config_sha256": self.cfg.sha256(),
                "sealtune_version": env!("CARGO_PKG_VERSION"),
            }),
        )?;
        Ok(session)
    }

    /// The heads the audit log must still hold: the one `status.json`
    /// recorded after the last entry, and each stage manifest's.
    fn audit_anchors(&self, status: Option<&Status>) -> Vec<Anchor> {
        run_dir_anchors(&self.run_dir, self.stages.iter().map(|s| s.name()), status)
    }

    /// Refuse a run directory that sealtune could not own safely: the file
    /// system root, a directory that holds the config, a non-empty directory
    /// that is not a run directory, and links where sealtune writes.
    fn check_run_dir(&self) -> Result<(), StageError> {
        let dir = &self.run_dir;
        let refuse = |why: String| {
            StageError::new(
                Exit::Config,
                format!(
                    "run directory {}: {why}; set `[run] dir` in the config (or --run-dir) to a new or empty directory of its own",
                    dir.display()
                ),
            )
        };
        let abs = resolve_existing(dir);
        if abs.parent().is_none() {
            return Err(refuse("is the root of the file system".into()));
        }
        if let Ok(cfg) = std::fs::canonicalize(self.cfg.path())
            && cfg.starts_with(&abs)
        {
            return Err(refuse(format!(
                "holds the config file {} (sealtune writes and removes files in its run directory)",
                self.cfg.path().display()
            )));
        }
        if let Some(home) = std::env::var_os("HOME").and_then(|h| std::fs::canonicalize(h).ok())
            && home == abs
        {
            return Err(refuse("is the home directory".into()));
        }
        match std::fs::read_dir(dir) {
            Ok(rd) => {
                let mut first_foreign = None;
                let mut ours = false;
                for e in rd.flatten() {
                    let n = e.file_name();
                    let is_stage = self.stages.iter().any(|s| n == s.name())
                        && e.path().join("manifest.json").is_file();
                    if n == "audit.jsonl" || n == "status.json" || n == "run.lock" || is_stage {
                        ours = true;
                        break;
                    }
                    if first_foreign.is_none() {
                        first_foreign = Some(n);
                    }
                }
                if !ours && let Some(f) = first_foreign {
                    return Err(refuse(format!(
                        "is not empty (it holds {}) and is not a sealtune run directory (no audit.jsonl, status.json or stage manifest)",
                        f.to_string_lossy()
                    )));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(StageError::io("cannot read the run directory", dir, e)),
        }
        let mut names: Vec<String> = ["audit.jsonl", "status.json", "run.lock", ".work"]
            .map(String::from)
            .to_vec();
        for s in self.stages {
            names.push(s.name().to_string());
            names.push(format!(".staging-{}", s.name()));
            names.push(format!(".old-{}", s.name()));
            names.push(format!(".work/{}", s.name()));
        }
        for n in names {
            let p = dir.join(&n);
            if let Ok(m) = std::fs::symlink_metadata(&p)
                && m.file_type().is_symlink()
            {
                return Err(StageError::new(
                    Exit::CantCreate,
                    format!(
                        "{}: is a symbolic link; sealtune does not follow links inside a run directory. Remove the link (and restore what it replaced) and run again",
                        p.display()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Refuse to replace a stage directory that holds files sealtune did not
    /// write (not in its manifest): they would be deleted with the old
    /// result.
    fn check_foreign_files(&self, name: &str, dir: &Path) -> Result<(), StageError> {
        let files = match fsutil::list_files(dir) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(StageError::io("cannot list the stage directory", dir, e)),
        };
        let listed = Manifest::read(dir).map(|m| m.outputs).unwrap_or_default();
        if let Some(f) = files
            .iter()
            .find(|f| f.as_str() != "manifest.json" && !listed.contains_key(f.as_str()))
        {
            return Err(StageError::new(
                Exit::CantCreate,
                format!(
                    "{}: was not written by sealtune (it is not in {name}/manifest.json), and running stage {name} would replace the directory that holds it. Move it out of the run directory and run again",
                    dir.join(f).display()
                ),
            ));
        }
        Ok(())
    }

    /// Remove staging directories left by a killed process. Called under the lock.
    fn clean_leftovers(&self) {
        if let Ok(rd) = std::fs::read_dir(&self.run_dir) {
            for e in rd.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                if n.starts_with(".staging-") || n.starts_with(".old-") {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
    }

    /// `sealtune run`: every stage in order (restricted by `opts`), skipping
    /// the up-to-date ones.
    pub fn run(&self, opts: &RunOptions) -> Result<Vec<(String, StageOutcome)>, StageError> {
        for f in &opts.force {
            self.stage(f)?;
        }
        let from = match &opts.from {
            Some(f) => self.index_of(f)?,
            None => 0,
        };
        let to = match &opts.to {
            Some(t) => self.index_of(t)?,
            None => self.stages.len().saturating_sub(1),
        };
        if from > to {
            return Err(StageError::new(
                Exit::Usage,
                format!(
                    "--from {} comes after --to {}",
                    self.stages[from].name(),
                    self.stages[to].name()
                ),
            ));
        }
        let planned: Vec<&str> = self.stages[from..=to].iter().map(|s| s.name()).collect();
        let mut session = self.open_session("run")?;
        let started = Instant::now();
        self.events.emit(
            "run_start",
            json!({
                "run_id": self.cfg.run_id(),
                "run_dir": self.run_dir.display().to_string(),
                "config": self.cfg.path().display().to_string(),
                "config_sha256": self.cfg.sha256(),
                "stages": planned,
            }),
            Some(format!(
                "sealtune: run {} in {}",
                self.cfg.run_id(),
                self.run_dir.display()
            )),
        );
        // Stages before --from must already be fresh.
        for s in &self.stages[..from] {
            if let Some(why) = self.staleness(s.name())? {
                let e = StageError::missing(format!(
                    "--from {}: stage {} is not up to date ({why}); run it first, or drop --from",
                    self.stages[from].name(),
                    s.name()
                ));
                return Err(self.finish_run(&mut session, started, Err(e)).unwrap_err());
            }
        }
        let mut outcomes = Vec::new();
        let mut result = Ok(());
        for s in &self.stages[from..=to] {
            let force = opts.force.iter().any(|f| f == s.name());
            match self.run_one(&mut session, s.as_ref(), force) {
                Ok(o) => outcomes.push((s.name().to_string(), o)),
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        self.finish_run(&mut session, started, result)?;
        Ok(outcomes)
    }

    fn finish_run(
        &self,
        session: &mut Session,
        started: Instant,
        result: Result<(), StageError>,
    ) -> Result<(), StageError> {
        let code = match &result {
            Ok(()) => 0,
            Err(e) => e.exit().code(),
        };
        let dur = started.elapsed().as_secs_f64();
        session.record(
            "run.end",
            None,
            json!({ "exit_code": code, "duration_s": dur }),
        )?;
        self.events.emit(
            "run_end",
            json!({ "exit_code": code, "duration_s": dur }),
            None,
        );
        result
    }

    /// `sealtune stage NAME`: one stage, for schedulers. Refuses (66) when an
    /// upstream stage is missing or stale.
    pub fn run_single(&self, name: &str, force: bool) -> Result<StageOutcome, StageError> {
        let s = self.stage(name)?;
        for dep in s.depends_on() {
            if let Some(why) = self.staleness(dep)? {
                return Err(StageError::missing(format!(
                    "stage {name} needs stage {dep}, which is not up to date in {} ({why}); run `sealtune stage {dep}` first",
                    self.run_dir.display()
                )));
            }
        }
        let mut session = self.open_session(&format!("stage {name}"))?;
        let started = Instant::now();
        let r = s
            .depends_on()
            .iter()
            .try_for_each(|dep| self.check_verdict(&mut session, self.stage(dep)?))
            .and_then(|()| self.run_one(&mut session, s, force));
        match r {
            Ok(o) => self.finish_run(&mut session, started, Ok(())).map(|_| o),
            Err(e) => self
                .finish_run(&mut session, started, Err(e))
                .map(|_| StageOutcome::Skipped),
        }
    }

    fn run_one(
        &self,
        session: &mut Session,
        s: &dyn Stage,
        force: bool,
    ) -> Result<StageOutcome, StageError> {
        let name = s.name();
        if self.cancel.is_cancelled() {
            return Err(StageError::interrupted());
        }
        let (key, external, upstream) = match self.compute_key(s) {
            Ok(k) => k,
            Err(e) => {
                self.record_failure(session, name, None, &e)?;
                return Err(e);
            }
        };
        let dir = self.stage_dir(name);
        if let Some(m) = Manifest::read(&dir).filter(|_| !force)
            && m.key == key
            && m.verify_outputs(&dir).is_ok()
        {
            let st = session.stage_mut(name);
            st.state = State::Skipped;
            st.key = Some(key.clone());
            st.outputs_digest = Some(m.outputs_digest.clone());
            st.duration_s = Some(m.duration_s);
            st.started = Some(m.started.clone());
            st.finished = Some(m.finished.clone());
            st.error = None;
            st.exit_code = None;
            session.record(
                "stage.skip",
                Some(name),
                json!({ "key": key, "outputs_digest": m.outputs_digest }),
            )?;
            self.events.emit(
                "stage_skipped",
                json!({ "stage": name, "key": key, "reason": "up to date" }),
                Some(format!("  {name:<8} skipped (up to date)")),
            );
            self.check_verdict(session, s)?;
            return Ok(StageOutcome::Skipped);
        }
        // Run it.
        if let Err(e) = self.check_foreign_files(name, &dir) {
            self.record_failure(session, name, Some(&key), &e)?;
            return Err(e);
        }
        let started_at = now_rfc3339();
        let t0 = Instant::now();
        {
            let st = session.stage_mut(name);
            st.state = State::Running;
            st.key = Some(key.clone());
            st.started = Some(started_at.clone());
            st.finished = None;
            st.error = None;
            st.exit_code = None;
        }
        session.record(
            "stage.start",
            Some(name),
            json!({ "key": key, "upstream": upstream, "external": external, "forced": force }),
        )?;
        self.events.emit(
            "stage_start",
            json!({ "stage": name, "key": key }),
            Some(format!("  {name:<8} running")),
        );
        let staging = self.run_dir.join(format!(".staging-{name}"));
        let _ = std::fs::remove_dir_all(&staging);
        if let Err(e) = std::fs::create_dir_all(&staging) {
            let e = StageError::cant_create(&staging, e);
            self.record_failure(session, name, Some(&key), &e)?;
            return Err(e);
        }
        let work = self.run_dir.join(".work").join(name);
        self.prepare_work_dir(&work, &key);
        let inputs = s
            .depends_on()
            .iter()
            .map(|d| (d.to_string(), self.stage_dir(d)))
            .collect();
        let ctx = StageContext {
            cfg: self.cfg,
            run_dir: &self.run_dir,
            out_dir: staging.clone(),
            work_dir: work.clone(),
            inputs,
            external: external.clone(),
            cancel: &self.cancel,
            events: self.events,
            stage: name,
            gate_acceptance: self.acceptance_for(s),
            audit_head: session.audit.head().cloned(),
        };
        let result = s.run(&ctx).and_then(|summary| {
            if self.cancel.is_cancelled() {
                return Err(StageError::interrupted());
            }
            self.commit(
                name,
                &key,
                &staging,
                &dir,
                &started_at,
                t0,
                upstream.clone(),
                external.clone(),
                summary,
                ctx.audit_head.clone(),
            )
        });
        match result {
            Ok(m) => {
                let _ = std::fs::remove_dir_all(&work);
                let st = session.stage_mut(name);
                st.state = State::Done;
                st.finished = Some(m.finished.clone());
                st.duration_s = Some(m.duration_s);
                st.outputs_digest = Some(m.outputs_digest.clone());
                let outputs: BTreeMap<&String, &String> =
                    m.outputs.iter().map(|(k, v)| (k, &v.sha256)).collect();
                session.record(
                    "stage.end",
                    Some(name),
                    json!({ "key": key, "duration_s": m.duration_s, "outputs": outputs, "outputs_digest": m.outputs_digest }),
                )?;
                self.events.emit(
                    "stage_end",
                    json!({ "stage": name, "key": key, "duration_s": m.duration_s, "outputs": outputs, "summary": m.summary }),
                    Some(format!("  {name:<8} done in {:.1}s", m.duration_s)),
                );
                self.check_verdict(session, s)?;
                Ok(StageOutcome::Ran)
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&staging);
                self.record_failure(session, name, Some(&key), &e)?;
                Err(e)
            }
        }
    }

    fn prepare_work_dir(&self, work: &Path, key: &str) {
        // Scratch state (checkpoints) belongs to one key; a new key starts afresh.
        let marker = work.join(".key");
        let same = std::fs::read_to_string(&marker)
            .map(|k| k == key)
            .unwrap_or(false);
        if !same {
            let _ = std::fs::remove_dir_all(work);
        }
        if std::fs::create_dir_all(work).is_ok() && !same {
            let _ = fsutil::atomic_write(&marker, key.as_bytes());
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn commit(
        &self,
        name: &str,
        key: &str,
        staging: &Path,
        dir: &Path,
        started_at: &str,
        t0: Instant,
        upstream: BTreeMap<String, String>,
        external: Vec<ExternalInput>,
        summary: Value,
        audit_head: Option<Head>,
    ) -> Result<Manifest, StageError> {
        let mut outputs: BTreeMap<String, FileDigest> = BTreeMap::new();
        let files = fsutil::list_files(staging)
            .map_err(|e| StageError::io("cannot list outputs", staging, e))?;
        for f in files {
            if f == "manifest.json" {
                return Err(StageError::internal(format!(
                    "stage {name} wrote its own manifest.json"
                )));
            }
            let p = staging.join(&f);
            let d = sha256_file(&p).map_err(|e| StageError::io("cannot hash output", &p, e))?;
            outputs.insert(f, d);
        }
        fsutil::fsync_tree(staging)
            .map_err(|e| StageError::io("cannot fsync outputs", staging, e))?;
        // Swap: old result aside, staging in place, then the manifest last.
        if dir.exists() {
            let old = self.run_dir.join(format!(".old-{name}"));
            let _ = std::fs::remove_dir_all(&old);
            std::fs::rename(dir, &old)
                .map_err(|e| StageError::io("cannot move the previous output aside", dir, e))?;
            let _ = std::fs::remove_dir_all(&old);
        }
        std::fs::rename(staging, dir)
            .map_err(|e| StageError::io("cannot move outputs into place", dir, e))?;
        fsutil::fsync_dir(&self.run_dir)
            .map_err(|e| StageError::io("cannot fsync", &self.run_dir, e))?;
        let m = Manifest {
            schema: MANIFEST_SCHEMA.into(),
            stage: name.into(),
            key: key.into(),
            code_version: self.stage(name)?.code_version().into(),
            sealtune_version: env!("CARGO_PKG_VERSION").into(),
            started: started_at.into(),
            finished: now_rfc3339(),
            duration_s: t0.elapsed().as_secs_f64(),
            upstream,
            external,
            outputs_digest: outputs_digest(&outputs),
            outputs,
            summary,
            audit_head,
        };
        let bytes =
            serde_json::to_vec_pretty(&m).map_err(|e| StageError::internal(e.to_string()))?;
        fsutil::atomic_write(&dir.join("manifest.json"), &bytes)
            .map_err(|e| StageError::io("cannot write the manifest", dir, e))?;
        Ok(m)
    }

    fn record_failure(
        &self,
        session: &mut Session,
        name: &str,
        key: Option<&str>,
        e: &StageError,
    ) -> Result<(), StageError> {
        let interrupted = e.exit() == Exit::TempFail && self.cancel.is_cancelled();
        let st = session.stage_mut(name);
        st.state = if interrupted {
            State::Interrupted
        } else {
            State::Failed
        };
        st.finished = Some(now_rfc3339());
        st.error = Some(e.message().to_string());
        st.exit_code = Some(e.exit().code());
        if let Some(k) = key {
            st.key = Some(k.to_string());
        }
        if interrupted {
            session.record("stage.interrupted", Some(name), json!({ "key": key }))?;
            self.events.emit(
                "stage_interrupted",
                json!({ "stage": name }),
                Some(format!("  {name:<8} interrupted")),
            );
        } else {
            session.record(
                "stage.fail",
                Some(name),
                json!({ "key": key, "exit_code": e.exit().code(), "error": e.message() }),
            )?;
            self.events.emit(
                "stage_failed",
                json!({ "stage": name, "exit_code": e.exit().code(), "error": e.message() }),
                Some(format!("  {name:<8} failed")),
            );
        }
        Ok(())
    }

    /// The current state of every stage, for `sealtune status`.
    pub fn report(&self) -> Vec<StageReport> {
        report_stages(&self.run_dir, self.stages.iter().map(|s| s.name()), |n| {
            self.staleness(n).ok().flatten()
        })
    }
}

/// The anchors of a run directory's audit log (see [`Anchor`]): the head in
/// `status.json` and each stage manifest's.
pub fn run_dir_anchors<'n>(
    run_dir: &Path,
    stages: impl IntoIterator<Item = &'n str>,
    status: Option<&Status>,
) -> Vec<Anchor> {
    let mut anchors = Vec::new();
    if let Some(h) = status.and_then(|s| s.audit_head.clone()) {
        anchors.push(Anchor::new(h, "status.json"));
    }
    for name in stages {
        if let Some(h) = Manifest::read(&run_dir.join(name)).and_then(|m| m.audit_head) {
            anchors.push(Anchor::new(h, format!("{name}/manifest.json")));
        }
    }
    anchors
}

/// Verifies a run directory's audit log: its hash chain, and that it still holds the
/// heads recorded in `status.json` and in the manifests of `stages` (the chain alone
/// cannot show that entries were cut off its end or that the whole log was replaced).
/// Returns the log's head, or `None` for an empty log.
pub fn verify_run_audit<'n>(
    run_dir: &Path,
    stages: impl IntoIterator<Item = &'n str>,
) -> Result<Option<Head>, AuditError> {
    let anchors = run_dir_anchors(run_dir, stages, Status::read(run_dir).as_ref());
    audit::verify_anchored(
        &run_dir.join(sealtune_contract::artifacts::run::AUDIT),
        &anchors,
    )
}

/// The absolute path of `p` with its longest existing prefix canonicalized
/// (links resolved) and the rest appended lexically.
fn resolve_existing(p: &Path) -> PathBuf {
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(p)
    };
    let mut rest = Vec::new();
    let mut cur = abs.as_path();
    loop {
        if let Ok(c) = std::fs::canonicalize(cur) {
            let mut out = c;
            for part in rest.iter().rev() {
                out.push(part);
            }
            return crate::config::normalize(&out);
        }
        match (cur.parent(), cur.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                cur = parent;
            }
            _ => return crate::config::normalize(&abs),
        }
    }
}

/// One row of `sealtune status`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StageReport {
    /// Stage name.
    pub stage: String,
    /// Current state.
    pub state: State,
    /// Why it is stale, failed or interrupted.
    pub reason: Option<String>,
    /// Start of the last attempt.
    pub started: Option<String>,
    /// End of the last attempt.
    pub finished: Option<String>,
    /// Duration of the completed run, seconds.
    pub duration_s: Option<f64>,
    /// Output files → SHA-256, from the manifest.
    pub outputs: BTreeMap<String, String>,
}

/// Build the status report for a run directory. `staleness` says why a
/// completed stage is stale (or `None`); it is given the config when known.
pub fn report_stages<'n>(
    run_dir: &Path,
    names: impl Iterator<Item = &'n str>,
    staleness: impl Fn(&str) -> Option<String>,
) -> Vec<StageReport> {
    let status = Status::read(run_dir);
    let live = crate::lock::probe(run_dir).is_some();
    let mut out = Vec::new();
    for name in names {
        let st = status
            .as_ref()
            .and_then(|s| s.stages.get(name).cloned())
            .unwrap_or_else(StageStatus::not_started);
        let manifest = Manifest::read(&run_dir.join(name));
        let mut state = st.state;
        let mut reason = st.error.clone();
        if state == State::Running && !live {
            state = State::Interrupted;
            reason = Some("the process running it died".into());
        }
        if matches!(state, State::Done | State::Skipped) {
            if manifest.is_none() {
                state = State::Stale;
                reason = Some("its manifest is missing".into());
            } else if let Some(why) = staleness(name) {
                state = State::Stale;
                reason = Some(why);
            }
        }
        let outputs = manifest
            .as_ref()
            .map(|m| {
                m.outputs
                    .iter()
                    .map(|(k, v)| (k.clone(), v.sha256.clone()))
                    .collect()
            })
            .unwrap_or_default();
        out.push(StageReport {
            stage: name.to_string(),
            state,
            reason,
            started: st.started,
            finished: st.finished,
            duration_s: st.duration_s,
            outputs,
        });
    }
    out
}
