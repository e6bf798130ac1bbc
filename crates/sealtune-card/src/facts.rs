//! [`RunFacts`]: everything the card says, read from a run directory.
//!
//! Every optional artifact that is absent becomes [`Fact::NotAvailable`] with
//! the reason; nothing is ever filled in. An artifact that is present but does
//! not follow its contract is an error ([`CardError::Artifact`]): a card over
//! a corrupt file would mislead its reader.

use sealtune_contract::artifacts;
use sealtune_contract::artifacts::train::MetricsLine;
use sealtune_data::canary::CanarySet;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize, Serializer};

use crate::config::CardConfig;
use crate::error::CardError;

/// Schema identifier of `model-card.json`.
pub const CARD_SCHEMA: &str = artifacts::release::CARD_SCHEMA;
/// Directory (under the run directory) that holds reviewer attestations.
pub const ATTESTATIONS_DIR: &str = "attestations";
/// Files the engine writes into every stage directory; never signed content.
pub const STAGE_MANIFEST: &str = artifacts::run::MANIFEST;

/// A fact read from an artifact, or why it is not available.
#[derive(Debug, Clone, PartialEq)]
pub enum Fact<T> {
    /// Read from the artifact.
    Known(T),
    /// The artifact (or the field) is absent; the text says which and why.
    NotAvailable(String),
}

impl<T> Fact<T> {
    /// The value, if known.
    pub fn known(&self) -> Option<&T> {
        match self {
            Fact::Known(v) => Some(v),
            Fact::NotAvailable(_) => None,
        }
    }

    fn missing(name: &str) -> Self {
        Fact::NotAvailable(format!("not available: {name} is missing"))
    }
}

/// `model-card.json` writes a known fact as its value and a missing one as
/// `{"not_available": "<reason>"}`.
impl<T: Serialize> Serialize for Fact<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Fact::Known(v) => v.serialize(s),
            Fact::NotAvailable(r) => {
                let mut m = BTreeMap::new();
                m.insert("not_available", r);
                m.serialize(s)
            }
        }
    }
}

pub use sealtune_contract::artifacts::FileRef;
pub use sealtune_contract::artifacts::eval::{
    BenchmarkScope, BreakdownRow, Estimate, ExposureEntry, ExposureTable, Gate, GroupRow, Metric,
    Report as Eval,
};
pub use sealtune_contract::artifacts::ingest::Report as Ingest;
pub use sealtune_contract::artifacts::mask::{Report as Mask, Residual};
pub use sealtune_contract::artifacts::release::Acceptance;
pub use sealtune_contract::artifacts::train::Training;

/// One point of a loss curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LossPoint {
    /// Optimiser step.
    pub step: u64,
    /// Loss at that step.
    pub loss: f64,
}

/// `train/metrics.jsonl`, split by kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LossCurve {
    /// Training loss per logged step.
    pub train: Vec<LossPoint>,
    /// Evaluation loss per evaluation.
    pub eval: Vec<LossPoint>,
}

/// What the card says of `train/canaries.json`: how the canaries were drawn and how
/// many, never their values (they are synthetic, but the card has no use for them).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Canaries {
    /// Seed they were drawn with.
    pub seed: u64,
    /// Times each inserted canary appears in training.
    pub repeats: u64,
    /// Formats used.
    pub formats: Vec<String>,
    /// Number inserted into training.
    pub inserted: u64,
    /// Number held out (reference values never trained on).
    pub held_out: u64,
}

/// `release/acceptance.json`: the gates that failed eval and were accepted on the
/// command line.
pub const ACCEPTANCE_FILE: &str = artifacts::release::ACCEPTANCE;

/// Schema of [`ACCEPTANCE_FILE`].
pub const ACCEPTANCE_SCHEMA: &str = artifacts::release::ACCEPTANCE_SCHEMA;

/// One recipient of a sealed file, as its header records it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct RecipientFact {
    /// `aes-kw`, `argon2id` or `kms`.
    pub kind: String,
    /// KEK id, KMS program label, or the Argon2id parameters.
    pub id: String,
}

/// One sealed file of the release.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SealedFile {
    /// Path relative to the release directory.
    pub name: String,
    /// SHA-256 of the sealed bytes.
    pub sha256: String,
    /// Sealed size.
    pub bytes: u64,
    /// Plaintext size recorded in the header.
    pub plaintext_bytes: u64,
    /// Cipher suite recorded in the header.
    pub suite: String,
    /// Recipients of this file.
    pub recipients: Vec<RecipientFact>,
}

/// The release directory as found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Release {
    /// Sealed files.
    pub sealed: Vec<SealedFile>,
    /// Files in clear (besides the card, provenance and signature).
    pub clear: Vec<FileRef>,
}

/// What `model.sig` says, read without verifying it (verification needs the
/// public key: see the commands in the card).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Signature {
    /// OMS root digest (the statement subject).
    pub root_digest: String,
    /// Subject name.
    pub model_name: String,
    /// Key hint (SHA-256 of the signer's SPKI PEM).
    pub key_hint: Option<String>,
    /// Serialization method.
    pub method: String,
    /// Number of resources (files or shards) covered.
    pub resources: u64,
    /// Paths the signature leaves out.
    pub ignore_paths: Vec<String>,
}

/// One statement of `provenance.intoto.jsonl`, read without verifying.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatementFact {
    /// Predicate type.
    pub predicate_type: String,
    /// Subjects (name → sha256).
    pub subjects: BTreeMap<String, String>,
    /// DSSE key ids of the signatures.
    pub keyids: Vec<String>,
}

/// A reviewer's attestation found under `attestations/`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttestationFact {
    /// File name.
    pub file: String,
    /// `approve` or `reject`.
    pub decision: String,
    /// Reviewer note.
    pub note: String,
    /// Reviewer key hint.
    pub reviewer_key: String,
    /// When it was made (RFC 3339 UTC).
    pub time: String,
    /// OMS root digest it refers to.
    pub root_digest: String,
    /// Whether that digest is the current `model.sig` root digest.
    pub matches_current_signature: Option<bool>,
}

/// A stage manifest, summarised.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageFact {
    /// Stage key.
    pub key: String,
    /// Code version.
    pub code_version: String,
    /// sealtune version.
    pub sealtune_version: String,
    /// Start time.
    pub started: String,
    /// End time.
    pub finished: String,
    /// Wall time.
    pub duration_s: f64,
    /// Digest over the stage's outputs.
    pub outputs_digest: String,
}

/// Everything the card says, with its source.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunFacts {
    /// Always [`CARD_SCHEMA`].
    pub schema: &'static str,
    /// Run id (the run directory's name).
    pub run_id: String,
    /// Reviewer-facing fields from `[release.card]`.
    pub card: CardConfig,
    /// `train/training.json`.
    pub training: Fact<Training>,
    /// `train/metrics.jsonl`.
    pub loss_curve: Fact<LossCurve>,
    /// `train/canaries.json`.
    pub canaries: Fact<Canaries>,
    /// `ingest/report.json`.
    pub ingest: Fact<Ingest>,
    /// `mask/report.json`.
    pub mask: Fact<Mask>,
    /// The masked splits training read (`mask/train.jsonl`, `mask/eval.jsonl`)
    /// with the digests the mask stage's manifest records.
    pub masked_data: Fact<Vec<FileRef>>,
    /// `eval/report.json`.
    pub eval: Fact<Eval>,
    /// The release directory.
    pub release: Fact<Release>,
    /// `release/model.sig`.
    pub signature: Fact<Signature>,
    /// `release/provenance.intoto.jsonl`.
    pub provenance: Fact<Vec<StatementFact>>,
    /// `attestations/*.intoto.json`.
    pub attestations: Vec<AttestationFact>,
    /// Stage manifests by stage name.
    pub stages: BTreeMap<String, Fact<StageFact>>,
}

/// Names of the pipeline stages, in order.
pub const STAGES: [&str; 5] = ["ingest", "mask", "train", "eval", "release"];

fn read_bytes(path: &Path) -> Result<Option<Vec<u8>>, CardError> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CardError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn parse<T: DeserializeOwned>(path: &Path, bytes: &[u8]) -> Result<T, CardError> {
    serde_json::from_slice(bytes).map_err(|e| CardError::artifact(path, e.to_string()))
}

/// Reads a JSON artifact that carries a `schema` field.
fn read_json<T: DeserializeOwned>(
    path: &Path,
    name: &str,
    schema: &str,
) -> Result<Fact<T>, CardError> {
    let Some(bytes) = read_bytes(path)? else {
        return Ok(Fact::missing(name));
    };
    let v: serde_json::Value = parse(path, &bytes)?;
    if v.get("schema").and_then(|s| s.as_str()) != Some(schema) {
        return Err(CardError::artifact(
            path,
            format!("field `schema`: expected {schema:?}"),
        ));
    }
    serde_json::from_value(v)
        .map(Fact::Known)
        .map_err(|e| CardError::artifact(path, e.to_string()))
}

/// `eval/report.json`, with the gates the release accepted on the command
/// line (`release/acceptance.json`) marked accepted.
fn read_eval(run: &Path, release_dir: &Path) -> Result<Fact<Eval>, CardError> {
    use artifacts::eval;
    let mut eval: Fact<Eval> = read_artifact(run, eval::DIR, eval::REPORT, eval::REPORT_SCHEMA)?;
    let acc: Fact<Acceptance> = read_json(
        &release_dir.join(ACCEPTANCE_FILE),
        ACCEPTANCE_FILE,
        ACCEPTANCE_SCHEMA,
    )?;
    if let (Fact::Known(e), Fact::Known(a)) = (&mut eval, &acc) {
        a.apply(e);
    }
    Ok(eval)
}

/// `dir/file` of the run, checked against its schema id.
fn read_artifact<T: DeserializeOwned>(
    run: &Path,
    dir: &str,
    file: &str,
    schema: &str,
) -> Result<Fact<T>, CardError> {
    read_json(
        &run.join(dir).join(file),
        &artifacts::rel(dir, file),
        schema,
    )
}

fn read_loss_curve(path: &Path, name: &str) -> Result<Fact<LossCurve>, CardError> {
    let Some(bytes) = read_bytes(path)? else {
        return Ok(Fact::missing(name));
    };
    let text =
        std::str::from_utf8(&bytes).map_err(|_| CardError::artifact(path, "not UTF-8 text"))?;
    let mut curve = LossCurve {
        train: Vec::new(),
        eval: Vec::new(),
    };
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let line: MetricsLine = serde_json::from_str(line)
            .map_err(|e| CardError::artifact(path, format!("line {}: {e}", i + 1)))?;
        match line {
            MetricsLine::Train { step, loss, .. } => curve.train.push(LossPoint { step, loss }),
            MetricsLine::Eval {
                step, eval_loss, ..
            } => curve.eval.push(LossPoint {
                step,
                loss: eval_loss,
            }),
        }
    }
    Ok(Fact::Known(curve))
}

fn read_canaries(path: &Path, name: &str) -> Result<Fact<Canaries>, CardError> {
    let Some(bytes) = read_bytes(path)? else {
        return Ok(Fact::missing(name));
    };
    let set: CanarySet = parse(path, &bytes)?;
    if set.schema != artifacts::train::CANARIES_SCHEMA {
        return Err(CardError::artifact(
            path,
            format!(
                "field `schema`: expected \"{}\"",
                artifacts::train::CANARIES_SCHEMA
            ),
        ));
    }
    Ok(Fact::Known(Canaries {
        seed: set.seed,
        repeats: u64::from(set.repeats),
        formats: set.formats.iter().map(|f| f.name().to_owned()).collect(),
        inserted: set.inserted.len() as u64,
        held_out: set.held_out.len() as u64,
    }))
}

fn read_stage(dir: &Path, stage: &str) -> Result<Fact<StageFact>, CardError> {
    let path = dir.join(STAGE_MANIFEST);
    let Some(bytes) = read_bytes(&path)? else {
        return Ok(Fact::NotAvailable(format!(
            "not available: {stage}/{STAGE_MANIFEST} is missing (the stage has not completed)"
        )));
    };
    let m: sealtune_pipeline::manifest::Manifest = parse(&path, &bytes)?;
    Ok(Fact::Known(StageFact {
        key: m.key,
        code_version: m.code_version,
        sealtune_version: m.sealtune_version,
        started: m.started,
        finished: m.finished,
        duration_s: m.duration_s,
        outputs_digest: m.outputs_digest,
    }))
}

fn read_masked_data(run: &Path) -> Result<Fact<Vec<FileRef>>, CardError> {
    let path = run.join("mask").join(STAGE_MANIFEST);
    let Some(bytes) = read_bytes(&path)? else {
        return Ok(Fact::missing("mask/manifest.json"));
    };
    let m: sealtune_pipeline::manifest::Manifest = parse(&path, &bytes)?;
    let files: Vec<FileRef> = [artifacts::mask::TRAIN, artifacts::mask::EVAL]
        .iter()
        .filter_map(|n| {
            m.outputs.get(*n).map(|d| FileRef {
                name: format!("mask/{n}"),
                sha256: d.sha256.clone(),
                bytes: Some(d.bytes),
            })
        })
        .collect();
    if files.is_empty() {
        return Ok(Fact::NotAvailable(
            "not available: mask/manifest.json lists no train.jsonl or eval.jsonl".into(),
        ));
    }
    Ok(Fact::Known(files))
}

/// Reads a sealed file's header through the seal crate (unauthenticated by itself; the
/// release signature covers the whole file).
fn sealed_header(path: &Path) -> Result<sealtune_seal::format::Header, CardError> {
    let mut f = std::fs::File::open(path).map_err(|source| CardError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    sealtune_seal::format::peek_header(&mut std::io::BufReader::new(&mut f))
        .map_err(|e| CardError::artifact(path, e.to_string()))
}

fn recipient_fact(r: &sealtune_seal::format::Recipient) -> RecipientFact {
    use sealtune_seal::format::Recipient;
    let id = match r {
        Recipient::Kek { kek_id, .. } => kek_id.clone(),
        Recipient::Passphrase {
            memory_kib,
            iterations,
            parallelism,
            ..
        } => format!("passphrase (Argon2id m={memory_kib} KiB, t={iterations}, p={parallelism})"),
        Recipient::Kms { label, .. } => label.clone(),
        _ => String::new(),
    };
    RecipientFact {
        kind: r.kind().to_owned(),
        id,
    }
}

/// Files the release writes that describe the release rather than carry it.
pub const DESCRIPTIVE_FILES: [&str; 8] = [
    ACCEPTANCE_FILE,
    artifacts::release::CARD_MD,
    artifacts::release::CARD_HTML,
    artifacts::release::CARD_JSON,
    artifacts::release::BOM,
    artifacts::release::PROVENANCE,
    artifacts::release::SIGNATURE,
    STAGE_MANIFEST,
];

fn digest(path: &Path) -> Result<sealtune_pipeline::fsutil::FileDigest, CardError> {
    sealtune_pipeline::fsutil::sha256_file(path).map_err(|source| CardError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads the sealed and clear files of a release directory.
pub fn read_release(dir: &Path) -> Result<Fact<Release>, CardError> {
    if !dir.is_dir() {
        return Ok(Fact::NotAvailable(
            "not available: the release directory is missing (the release stage has not run)"
                .into(),
        ));
    }
    let files = sealtune_pipeline::fsutil::list_files(dir).map_err(|source| CardError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut sealed = Vec::new();
    let mut clear = Vec::new();
    for rel in files {
        if DESCRIPTIVE_FILES.contains(&rel.as_str()) {
            continue;
        }
        let path = dir.join(&rel);
        let d = digest(&path)?;
        if rel.ends_with(".seal") {
            let h = sealed_header(&path)?;
            let mut recipients: Vec<RecipientFact> =
                h.recipients.iter().map(recipient_fact).collect();
            recipients.sort();
            sealed.push(SealedFile {
                name: rel,
                sha256: d.sha256,
                bytes: d.bytes,
                plaintext_bytes: h.plaintext_size,
                suite: h.suite,
                recipients,
            });
        } else {
            clear.push(FileRef {
                name: rel,
                sha256: d.sha256,
                bytes: Some(d.bytes),
            });
        }
    }
    Ok(Fact::Known(Release { sealed, clear }))
}

fn decode_payload(path: &Path, env: &serde_json::Value) -> Result<serde_json::Value, CardError> {
    let b64 = env["payload"]
        .as_str()
        .ok_or_else(|| CardError::artifact(path, "DSSE envelope has no `payload`"))?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| CardError::artifact(path, "DSSE payload is not base64"))?;
    parse(path, &bytes)
}

/// Reads `model.sig` without verifying it.
pub fn read_signature(path: &Path) -> Result<Fact<Signature>, CardError> {
    let Some(bytes) = read_bytes(path)? else {
        return Ok(Fact::NotAvailable(
            "not available: release/model.sig is written after this card, over it; `sealtune verify` reports its root digest, and `sealtune card` shows it".into(),
        ));
    };
    let bundle: serde_json::Value = parse(path, &bytes)?;
    let st = decode_payload(path, &bundle["dsseEnvelope"])?;
    let subject = &st["subject"][0];
    let root_digest = subject["digest"]["sha256"]
        .as_str()
        .ok_or_else(|| CardError::artifact(path, "statement subject has no sha256 digest"))?
        .to_owned();
    let ser = &st["predicate"]["serialization"];
    Ok(Fact::Known(Signature {
        root_digest,
        model_name: subject["name"].as_str().unwrap_or_default().to_owned(),
        key_hint: bundle["verificationMaterial"]["publicKey"]["hint"]
            .as_str()
            .map(str::to_owned),
        method: ser["method"].as_str().unwrap_or_default().to_owned(),
        resources: st["predicate"]["resources"]
            .as_array()
            .map_or(0, |a| a.len() as u64),
        ignore_paths: ser["ignore_paths"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
    }))
}

/// Reads `provenance.intoto.jsonl` without verifying it.
pub fn read_provenance(path: &Path) -> Result<Fact<Vec<StatementFact>>, CardError> {
    let Some(bytes) = read_bytes(path)? else {
        return Ok(Fact::missing("release/provenance.intoto.jsonl"));
    };
    let text =
        std::str::from_utf8(&bytes).map_err(|_| CardError::artifact(path, "not UTF-8 text"))?;
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let env: serde_json::Value = parse(path, line.as_bytes())?;
        let st = decode_payload(path, &env)?;
        let subjects = st["subject"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|s| {
                        (
                            s["name"].as_str().unwrap_or_default().to_owned(),
                            s["digest"]["sha256"]
                                .as_str()
                                .unwrap_or_default()
                                .to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.push(StatementFact {
            predicate_type: st["predicateType"].as_str().unwrap_or_default().to_owned(),
            subjects,
            keyids: env["signatures"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s["keyid"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
        });
    }
    Ok(Fact::Known(out))
}

/// Lists reviewer attestations (`<run>/attestations/*.intoto.json`), oldest first.
pub fn read_attestations(
    run_dir: &Path,
    current_root: Option<&str>,
) -> Result<Vec<AttestationFact>, CardError> {
    let dir = run_dir.join(ATTESTATIONS_DIR);
    let rd = match std::fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(CardError::Read { path: dir, source }),
    };
    let mut names: Vec<String> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".intoto.json"))
        .collect();
    names.sort();
    let mut out = Vec::new();
    for name in names {
        let path = dir.join(&name);
        let Some(bytes) = read_bytes(&path)? else {
            continue;
        };
        let env: serde_json::Value = parse(&path, &bytes)?;
        let st = decode_payload(&path, &env)?;
        if st["predicateType"].as_str() != Some(crate::attest::REVIEW_PREDICATE_TYPE) {
            return Err(CardError::artifact(
                &path,
                format!(
                    "predicateType must be {:?}",
                    crate::attest::REVIEW_PREDICATE_TYPE
                ),
            ));
        }
        let p = &st["predicate"];
        let root = st["subject"][0]["digest"]["sha256"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        out.push(AttestationFact {
            file: name,
            decision: p["decision"].as_str().unwrap_or_default().to_owned(),
            note: p["note"].as_str().unwrap_or_default().to_owned(),
            reviewer_key: p["reviewer_key"].as_str().unwrap_or_default().to_owned(),
            time: p["time"].as_str().unwrap_or_default().to_owned(),
            matches_current_signature: current_root.map(|c| c == root),
            root_digest: root,
        });
    }
    Ok(out)
}

/// Where [`RunFacts::load`] reads.
#[derive(Debug, Clone)]
pub struct Sources {
    /// The run directory (`ingest/`, `mask/`, `train/`, `eval/` below it).
    pub run_dir: PathBuf,
    /// The release directory: `<run>/release` for regeneration, the staging
    /// directory while the release stage runs.
    pub release_dir: PathBuf,
}

impl Sources {
    /// The usual layout: `<run>/release`.
    pub fn for_run(run_dir: &Path) -> Self {
        Self {
            run_dir: run_dir.to_path_buf(),
            release_dir: run_dir.join("release"),
        }
    }
}

impl RunFacts {
    /// Reads every artifact of the run. Missing artifacts become
    /// [`Fact::NotAvailable`]; malformed ones are errors.
    pub fn load(src: &Sources, card: CardConfig) -> Result<Self, CardError> {
        use artifacts::{ingest, mask, train};
        let run = &src.run_dir;
        if !run.is_dir() {
            return Err(CardError::RunDirMissing { path: run.clone() });
        }
        let run_id = run
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "run".to_owned());
        let signature = read_signature(&src.release_dir.join(artifacts::release::SIGNATURE))?;
        let root = signature.known().map(|s| s.root_digest.clone());
        let mut stages = BTreeMap::new();
        for s in STAGES {
            stages.insert(s.to_owned(), read_stage(&run.join(s), s)?);
        }
        Ok(RunFacts {
            schema: CARD_SCHEMA,
            run_id,
            card,
            training: read_artifact(run, train::DIR, train::TRAINING, train::TRAINING_SCHEMA)?,
            loss_curve: read_loss_curve(
                &run.join(train::DIR).join(train::METRICS),
                &artifacts::rel(train::DIR, train::METRICS),
            )?,
            canaries: read_canaries(
                &run.join(train::DIR).join(train::CANARIES),
                &artifacts::rel(train::DIR, train::CANARIES),
            )?,
            ingest: read_artifact(run, ingest::DIR, ingest::REPORT, ingest::REPORT_SCHEMA)?,
            mask: read_artifact(run, mask::DIR, mask::REPORT, mask::REPORT_SCHEMA)?,
            masked_data: read_masked_data(run)?,
            eval: read_eval(run, &src.release_dir)?,
            release: read_release(&src.release_dir)?,
            signature,
            provenance: read_provenance(&src.release_dir.join(artifacts::release::PROVENANCE))?,
            attestations: read_attestations(run, root.as_deref())?,
            stages,
        })
    }

    /// The model's display name: `[release.card] model_name`, else
    /// `<base model>-<run id>`, else the run id.
    pub fn model_name(&self) -> String {
        if let Some(n) = &self.card.model_name {
            return n.clone();
        }
        match self
            .training
            .known()
            .and_then(|t| t.base_model.name.as_deref())
        {
            Some(base) => format!(
                "{}-sealtune-{}",
                base.rsplit('/').next().unwrap_or(base),
                self.run_id
            ),
            None => format!("sealtune-{}", self.run_id),
        }
    }

    /// The licence: `[release.card] license`, else the base model's.
    pub fn license(&self) -> Fact<String> {
        if let Some(l) = &self.card.license {
            return Fact::Known(l.clone());
        }
        match self.training.known() {
            Some(t) => match &t.base_model.license {
                Some(l) => Fact::Known(l.clone()),
                None => Fact::NotAvailable(
                    "not available: neither [release.card] license nor [model] license is set"
                        .into(),
                ),
            },
            None => Fact::NotAvailable(
                "not available: train/training.json is missing and [release.card] license is not set"
                    .into(),
            ),
        }
    }
}
