//! The `[data]` config section.

use serde::{Deserialize, Serialize};

use sealtune_pipeline::{Config, ConfigError};

/// Record format of the input files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// JSONL: `{"messages":[{"role":"system|user|assistant","content":"..."}]}`
    Chat,
    /// JSONL: `{"instruction":"...","input":"..."?,"output":"..."}`
    Instruction,
    /// JSONL: `{"text":"..."}`
    Text,
    /// CSV with a header row, mapped to one of the above by `[data.csv]`.
    Csv,
}

impl Format {
    /// The name used in configs.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Chat => "chat",
            Format::Instruction => "instruction",
            Format::Text => "text",
            Format::Csv => "csv",
        }
    }
}

/// What to do with a record that fails validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnInvalid {
    /// Stop with exit 65 and list the first errors.
    Fail,
    /// Set the record aside (reported by file, line and reason, never content) and go on.
    Quarantine,
}

/// Column mapping for `format = "csv"`. Map either `text`; or `instruction`
/// and `output` (and optionally `input`); or `user` and `assistant` (and
/// optionally `system`) to column names of the header row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvConfig {
    /// Field delimiter, one ASCII character. Default `","`.
    #[serde(default = "default_delimiter")]
    pub delimiter: String,
    /// Column holding plain text (gives text records).
    #[serde(default)]
    pub text: Option<String>,
    /// Column holding the instruction (gives instruction records).
    #[serde(default)]
    pub instruction: Option<String>,
    /// Optional column holding the instruction's input.
    #[serde(default)]
    pub input: Option<String>,
    /// Column holding the expected output.
    #[serde(default)]
    pub output: Option<String>,
    /// Optional column holding a system prompt (chat records).
    #[serde(default)]
    pub system: Option<String>,
    /// Column holding the user turn (gives one-turn chat records).
    #[serde(default)]
    pub user: Option<String>,
    /// Column holding the assistant turn.
    #[serde(default)]
    pub assistant: Option<String>,
}

fn default_delimiter() -> String {
    ",".into()
}

/// The kind of record a CSV mapping produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsvKind {
    /// `text`.
    Text,
    /// `instruction`, `input`?, `output`.
    Instruction,
    /// `system`?, `user`, `assistant`.
    Chat,
}

impl CsvConfig {
    /// Which record kind the mapping describes, or why it is inconsistent
    /// (the key path and message).
    pub fn kind(&self) -> Result<CsvKind, (String, String)> {
        let text = self.text.is_some();
        let instr = self.instruction.is_some() || self.output.is_some() || self.input.is_some();
        let chat = self.user.is_some() || self.assistant.is_some() || self.system.is_some();
        match (text, instr, chat) {
            (true, false, false) => Ok(CsvKind::Text),
            (false, true, false) => {
                if self.instruction.is_none() {
                    Err(("data.csv.instruction".into(), "missing: an instruction mapping needs `instruction` and `output` columns".into()))
                } else if self.output.is_none() {
                    Err(("data.csv.output".into(), "missing: an instruction mapping needs `instruction` and `output` columns".into()))
                } else {
                    Ok(CsvKind::Instruction)
                }
            }
            (false, false, true) => {
                if self.user.is_none() {
                    Err(("data.csv.user".into(), "missing: a chat mapping needs `user` and `assistant` columns".into()))
                } else if self.assistant.is_none() {
                    Err(("data.csv.assistant".into(), "missing: a chat mapping needs `user` and `assistant` columns".into()))
                } else {
                    Ok(CsvKind::Chat)
                }
            }
            (false, false, false) => Err((
                "data.csv".into(),
                "maps no column: set `text`, or `instruction` + `output`, or `user` + `assistant`".into(),
            )),
            _ => Err((
                "data.csv".into(),
                "mixes record kinds: map either `text`, or `instruction`/`input`/`output`, or `system`/`user`/`assistant`".into(),
            )),
        }
    }

    /// The delimiter as a byte.
    pub fn delimiter_byte(&self) -> Result<u8, (String, String)> {
        let b = self.delimiter.as_bytes();
        if b.len() == 1 && b[0].is_ascii() && b[0] != b'"' && b[0] != b'\n' && b[0] != b'\r' {
            Ok(b[0])
        } else {
            Err((
                "data.csv.delimiter".into(),
                format!(
                    "{:?} is not allowed: use one ASCII character other than quote or newline, e.g. \",\" or \"\\t\"",
                    self.delimiter
                ),
            ))
        }
    }
}

/// The `[data]` section: where the records are and how to read them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// Input files: paths or glob patterns, resolved against the config file's
    /// directory. Required. Each must match at least one file.
    pub inputs: Vec<String>,
    /// Record format: `chat`, `instruction`, `text` or `csv`. Required.
    pub format: Format,
    /// Column mapping, required when `format = "csv"`.
    #[serde(default)]
    pub csv: Option<CsvConfig>,
    /// Share of records that go to the eval split, in [0, 1). Default 0.1.
    #[serde(default = "default_eval_fraction")]
    pub eval_fraction: f64,
    /// Seed of the split hash. Default 0. Changing it reshuffles the split.
    #[serde(default)]
    pub split_seed: u64,
    /// `fail` (default): stop with exit 65 on the first invalid records.
    /// `quarantine`: set them aside, report file:line and reason, and go on.
    #[serde(default = "default_on_invalid")]
    pub on_invalid: OnInvalid,
    /// Largest record (one JSONL line or CSV row) in bytes, 1 KiB to 64 MiB.
    /// Default 1 MiB. Longer records are refused without being read into memory.
    #[serde(default = "default_max_record_bytes")]
    pub max_record_bytes: u64,
    /// Drop exact duplicates (same content after parsing). Default true.
    #[serde(default = "default_true")]
    pub dedup: bool,
    /// How many errors to list when failing, 1 to 1000. Default 20.
    #[serde(default = "default_max_errors")]
    pub max_errors_listed: usize,
}

fn default_eval_fraction() -> f64 {
    0.1
}
fn default_on_invalid() -> OnInvalid {
    OnInvalid::Fail
}
fn default_max_record_bytes() -> u64 {
    1 << 20
}
fn default_true() -> bool {
    true
}
fn default_max_errors() -> usize {
    20
}

impl DataConfig {
    /// Parse and range-check `[data]`.
    pub fn from_config(cfg: &Config) -> Result<DataConfig, ConfigError> {
        if !cfg.has_section("data") {
            return Err(cfg.error_at(
                "data",
                "missing: the [data] section with `inputs` and `format` is required",
            ));
        }
        let d: DataConfig = cfg.section("data")?;
        if d.inputs.is_empty() {
            return Err(cfg.error_at("data.inputs", "is empty: list at least one file or glob"));
        }
        if !(0.0..1.0).contains(&d.eval_fraction) || d.eval_fraction.is_nan() {
            return Err(cfg.error_at(
                "data.eval_fraction",
                format!(
                    "= {}: must be at least 0 and less than 1 (e.g. 0.1)",
                    d.eval_fraction
                ),
            ));
        }
        if !(1024..=64 << 20).contains(&d.max_record_bytes) {
            return Err(cfg.error_at(
                "data.max_record_bytes",
                format!(
                    "= {}: must be 1024 to 67108864 (1 KiB to 64 MiB)",
                    d.max_record_bytes
                ),
            ));
        }
        if !(1..=1000).contains(&d.max_errors_listed) {
            return Err(cfg.error_at(
                "data.max_errors_listed",
                format!("= {}: must be 1 to 1000", d.max_errors_listed),
            ));
        }
        match (&d.format, &d.csv) {
            (Format::Csv, None) => {
                return Err(cfg.error_at(
                    "data.csv",
                    "missing: format = \"csv\" needs a [data.csv] column mapping",
                ));
            }
            (Format::Csv, Some(c)) => {
                c.kind().map_err(|(k, m)| cfg.error_at(&k, m))?;
                c.delimiter_byte().map_err(|(k, m)| cfg.error_at(&k, m))?;
            }
            (f, Some(_)) => {
                return Err(cfg.error_at(
                    "data.csv",
                    format!(
                        "is only used with format = \"csv\", but format = \"{}\"; remove it",
                        f.as_str()
                    ),
                ));
            }
            _ => {}
        }
        Ok(d)
    }
}
