//! The pipeline configuration: one TOML file with a section per stage.
//!
//! `[run]` belongs to the engine; every other section belongs to the stage that
//! reads it and is parsed by that stage through [`Config::section`], so each
//! crate owns its own schema. Every table rejects unknown keys.
//!
//! Secrets never appear inline: keys that name a secret take the forms
//! `*_file` (a path to a file with the secret) or `*_env` (the name of an
//! environment variable). [`Config::load`] refuses a document in which
//! something that looks like key material sits anywhere else, and it never
//! repeats the offending value in its error.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::fsutil::sha256_hex;

/// A configuration problem, located by file, key path and (when known) line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The configuration file.
    pub file: PathBuf,
    /// The dotted key path, e.g. `data.eval_fraction`; empty for file-level errors.
    pub key: String,
    /// 1-based line in the file, when it could be located.
    pub line: Option<usize>,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// The `[run]` section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Run identifier, `[A-Za-z0-9._-]`, 1 to 64 characters. Default: the
    /// config file's stem (`configs/quickstart.toml` gives `quickstart`).
    #[serde(default)]
    pub id: Option<String>,
    /// Run directory. Relative paths are resolved against the config file's
    /// directory. Default: `runs/<id>` under the current directory.
    /// `--run-dir` on the command line wins over this key.
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// Free text describing the run, copied into the audit log and the card.
    #[serde(default)]
    pub description: Option<String>,
}

/// A loaded, secret-checked configuration file.
#[derive(Debug, Clone)]
pub struct Config {
    path: PathBuf,
    base_dir: PathBuf,
    text: String,
    sha256: String,
    doc: toml::Table,
    /// Values replaced by command-line flags: dotted key -> flag.
    overrides: Vec<(String, &'static str)>,
    /// The validated `[run]` section.
    pub run: RunConfig,
}

/// Every section the configuration format knows, in pipeline order.
pub const ALL_SECTIONS: [&str; 8] = [
    "run", "data", "mask", "model", "compute", "train", "eval", "release",
];

impl Config {
    /// Read and check a config file. `supported` lists the sections this build
    /// understands (besides `[run]`); any other top-level key is an error.
    pub fn load(path: &Path, supported: &[&str]) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            key: String::new(),
            line: None,
            message: format!("cannot read the config file: {e}"),
        })?;
        Self::from_str(path, text, supported)
    }

    /// Parse config text as if read from `path`.
    pub fn from_str(path: &Path, text: String, supported: &[&str]) -> Result<Config, ConfigError> {
        let err = |key: &str, line: Option<usize>, message: String| ConfigError {
            file: path.to_path_buf(),
            key: key.to_string(),
            line,
            message,
        };
        let doc: toml::Table = match text.parse::<toml::Table>() {
            Ok(t) => t,
            Err(e) => {
                let line = e.span().map(|s| line_of_offset(&text, s.start));
                return Err(err("", line, format!("invalid TOML: {}", e.message())));
            }
        };
        // Secrets first, so that nothing below can echo one back.
        scan_secrets(&doc, "", &mut |key, why| {
            Err(err(key, find_key_line(&text, key), why))
        })?;
        for (k, v) in &doc {
            if k == "run" || supported.contains(&k.as_str()) {
                if !v.is_table() {
                    return Err(err(
                        k,
                        find_key_line(&text, k),
                        format!("expected a table `[{k}]`"),
                    ));
                }
                continue;
            }
            let msg = if ALL_SECTIONS.contains(&k.as_str()) {
                format!(
                    "section [{k}] configures the {k} stage, which this build of sealtune does not include; remove it"
                )
            } else {
                let mut allowed = vec!["run"];
                allowed.extend(supported);
                format!("unknown section; expected one of: {}", allowed.join(", "))
            };
            return Err(err(k, find_key_line(&text, k), msg));
        }
        let base_dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let sha256 = sha256_hex(text.as_bytes());
        let mut cfg = Config {
            path: path.to_path_buf(),
            base_dir,
            text,
            sha256,
            doc,
            overrides: Vec::new(),
            run: RunConfig::default(),
        };
        let run: RunConfig = cfg.section("run")?;
        if let Some(id) = &run.id {
            validate_run_id(id).map_err(|m| cfg.error_at("run.id", m))?;
        } else if let Some(stem) = path.file_stem() {
            let stem = stem.to_string_lossy();
            validate_run_id(&stem).map_err(|m| {
                cfg.error_at(
                    "run.id",
                    format!("not set, and the file name cannot serve as one: {m}; set [run].id"),
                )
            })?;
        }
        cfg.run = run;
        Ok(cfg)
    }

    /// The config file path as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// SHA-256 of the config file's bytes.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The run identifier: `[run].id`, or the config file's stem.
    pub fn run_id(&self) -> String {
        match &self.run.id {
            Some(id) => id.clone(),
            None => self
                .path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "run".into()),
        }
    }

    /// The run directory: `[run].dir` resolved against the config directory,
    /// or `runs/<id>` under the current directory.
    pub fn default_run_dir(&self) -> PathBuf {
        match &self.run.dir {
            Some(d) => self.resolve(d),
            None => Path::new("runs").join(self.run_id()),
        }
    }

    /// Resolve a path from the config against the config file's directory
    /// (lexically: `a/../b` becomes `b`).
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            normalize(p)
        } else {
            normalize(&self.base_dir.join(p))
        }
    }

    /// The config file's directory.
    pub fn base_dir(&self) -> &Path {
        &self.base_dir
    }

    /// `p` relative to the config file's directory when it lies below it
    /// (or reached through `..` from it), for stable names in reports.
    pub fn display_relative(&self, p: &Path) -> String {
        let base = normalize(&self.base_dir);
        let p = normalize(p);
        let b: Vec<_> = base
            .components()
            .filter(|c| !matches!(c, std::path::Component::CurDir))
            .collect();
        let c: Vec<_> = p
            .components()
            .filter(|c| !matches!(c, std::path::Component::CurDir))
            .collect();
        if base.is_absolute() != p.is_absolute() {
            return p.display().to_string();
        }
        let common = b.iter().zip(&c).take_while(|(x, y)| x == y).count();
        if b[common..]
            .iter()
            .any(|x| matches!(x, std::path::Component::ParentDir))
        {
            return p.display().to_string();
        }
        let mut out = PathBuf::new();
        for _ in common..b.len() {
            out.push("..");
        }
        for x in &c[common..] {
            out.push(x);
        }
        out.display().to_string()
    }

    /// Whether a top-level section is present.
    pub fn has_section(&self, name: &str) -> bool {
        self.doc.contains_key(name)
    }

    /// The raw TOML of one section (an empty table when absent), as JSON, for
    /// stage keys and records.
    pub fn section_json(&self, name: &str) -> serde_json::Value {
        match self.doc.get(name) {
            Some(v) => serde_json::to_value(v).unwrap_or(serde_json::Value::Null),
            None => serde_json::Value::Object(Default::default()),
        }
    }

    /// Deserialize a section into its typed form, rejecting unknown keys and
    /// naming the key path on any error. An absent section is deserialized from
    /// an empty table, so its defaults apply.
    pub fn section<T: DeserializeOwned>(&self, name: &str) -> Result<T, ConfigError> {
        let value = self
            .doc
            .get(name)
            .cloned()
            .unwrap_or_else(|| toml::Value::Table(Default::default()));
        serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
            let inner = e.path().to_string();
            let key = if inner == "." || inner.is_empty() {
                name.to_string()
            } else {
                format!("{name}.{inner}")
            };
            let msg = redact_values(&e.into_inner().to_string());
            // Unknown-field errors point at the table; name the offending key.
            let key = match unknown_field_name(&msg) {
                Some(field) if !key.ends_with(&format!(".{field}")) => format!("{key}.{field}"),
                Some(_) => key,
                None => key,
            };
            self.error_at(&key, msg)
        })
    }

    /// Replace `[section] key` with a string given by a command-line `flag` (such as
    /// `--device`). Stages and their keys see the new value as if the file held it, and
    /// [`Config::origin`] names the flag. The section must be one this build supports.
    pub fn override_value(
        &mut self,
        section: &str,
        key: &str,
        value: &str,
        flag: &'static str,
    ) -> Result<(), ConfigError> {
        let table = self
            .doc
            .entry(section)
            .or_insert_with(|| toml::Value::Table(Default::default()));
        let Some(table) = table.as_table_mut() else {
            return Err(self.error_at(section, format!("expected a table `[{section}]`")));
        };
        table.insert(key.to_string(), toml::Value::String(value.to_string()));
        let dotted = format!("{section}.{key}");
        self.overrides.retain(|(k, _)| *k != dotted);
        self.overrides.push((dotted, flag));
        Ok(())
    }

    /// Where the value of a dotted key came from, for messages: the flag that replaced
    /// it (`--device`) or `[section] key`.
    pub fn origin(&self, dotted: &str) -> String {
        if let Some((_, flag)) = self.overrides.iter().find(|(k, _)| k == dotted) {
            return (*flag).to_string();
        }
        match dotted.split_once('.') {
            Some((sec, key)) => format!("[{sec}] {key}"),
            None => format!("[{dotted}]"),
        }
    }

    /// Build an error for `key` (dotted path), locating its line if possible.
    pub fn error_at(&self, key: &str, message: impl Into<String>) -> ConfigError {
        if let Some((_, flag)) = self.overrides.iter().find(|(k, _)| k == key) {
            return ConfigError {
                file: self.path.clone(),
                key: format!("{key} (from {flag})"),
                line: None,
                message: message.into(),
            };
        }
        ConfigError {
            file: self.path.clone(),
            key: key.to_string(),
            line: find_key_line(&self.text, key),
            message: message.into(),
        }
    }
}

/// Lexical path normalisation: drops `.` and folds `name/..`.
pub fn normalize(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out: Vec<Component<'_>> = Vec::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.last() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir) => {}
                _ => out.push(c),
            },
            other => out.push(other),
        }
    }
    if out.is_empty() {
        return PathBuf::from(".");
    }
    out.iter().collect()
}

/// serde's messages quote the offending value (`invalid value: string
/// "..."`, ``unknown variant `...` ``); a config value can be anything,
/// a pasted secret included, so the value is replaced. Key names stay: they
/// are the schema's, and the secret scan has refused any key that looks like
/// key material.
fn redact_values(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    loop {
        let string_at = rest.find("string \"");
        let variant_at = rest.find("unknown variant `");
        let (at, open_len, close) = match (string_at, variant_at) {
            (Some(a), Some(b)) if b < a => (b, "unknown variant `".len(), '`'),
            (Some(a), _) => (a, "string \"".len(), '"'),
            (None, Some(b)) => (b, "unknown variant `".len(), '`'),
            (None, None) => break,
        };
        let body = &rest[at + open_len..];
        // The value ends at the last closing quote before ", expected" (a
        // value may itself hold quotes).
        let end = body
            .find(", expected")
            .map(|e| &body[..e])
            .and_then(|b| b.rfind(close))
            .or_else(|| body.rfind(close));
        let Some(end) = end else { break };
        out.push_str(&rest[..at]);
        out.push_str(if close == '`' {
            "unknown variant"
        } else {
            "string"
        });
        out.push_str(" (value not shown)");
        rest = &body[end + 1..];
    }
    out.push_str(rest);
    out
}

fn unknown_field_name(msg: &str) -> Option<&str> {
    let rest = msg.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

fn validate_run_id(id: &str) -> Result<(), &'static str> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && !id.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err("must be 1 to 64 characters of A-Z a-z 0-9 . _ - and not start with '.'")
    }
}

fn line_of_offset(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|&b| b == b'\n')
        .count()
        + 1
}

/// Find the line that defines a dotted key, by scanning table headers and
/// `key =` lines. Best effort: used to point humans at the right line.
fn find_key_line(text: &str, key: &str) -> Option<usize> {
    // `release.recipients[0].kek_file`: the array's own line is found as a
    // prefix, then the element's key on or after it.
    let parts: Vec<&str> = key
        .split('.')
        .map(|p| p.split('[').next().unwrap_or(p))
        .filter(|p| !p.is_empty())
        .collect();
    let index = key
        .rsplit_once('[')
        .and_then(|(_, r)| r.split(']').next())
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(0);
    let found = find_key_line_parts(text, &parts)?;
    let (line, exact) = found;
    if exact || parts.len() < 2 {
        return Some(line);
    }
    // Inside an inline table or an array of them: from the prefix line, skip
    // to the start of element `index` (its `{`), then find `last =`.
    let last = parts[parts.len() - 1];
    let start: usize = text.lines().take(line - 1).map(|l| l.len() + 1).sum();
    let body = &text[start.min(text.len())..];
    let mut from = 0;
    if key.contains('[') {
        let mut opened = body.match_indices('{').map(|(i, _)| i);
        match opened.nth(index) {
            Some(i) => from = i,
            None => return Some(line),
        }
    }
    let rest = &body[from..];
    let mut offset = 0;
    while let Some(pos) = rest[offset..].find(last) {
        let at = offset + pos;
        let before = rest[..at].chars().next_back();
        let after = rest[at + last.len()..].trim_start_matches([' ', '\t']);
        if after.starts_with('=')
            && before.is_none_or(|c| c == '{' || c == ',' || c == '"' || c.is_whitespace())
        {
            return Some(line_of_offset(text, start + from + at));
        }
        offset = at + last.len();
        if rest[..offset]
            .lines()
            .skip(1)
            .any(|l| l.trim_start().starts_with('['))
        {
            break;
        }
    }
    Some(line)
}

/// The line of `parts` and whether it matched exactly (else it is the line
/// of the longest prefix, such as `csv = {...}` for `data.csv.text`).
fn find_key_line_parts(text: &str, parts: &[&str]) -> Option<(usize, bool)> {
    let mut current: Vec<String> = Vec::new();
    let mut best = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.starts_with('[') {
            let name = line
                .trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or("")
                .trim();
            current = name.split('.').map(|s| s.trim().to_string()).collect();
            if current.iter().map(String::as_str).eq(parts.iter().copied()) {
                best = Some((i + 1, true));
            }
            continue;
        }
        let Some((lhs, _)) = line.split_once('=') else {
            continue;
        };
        let lhs = lhs.trim().trim_matches('"');
        let mut full = current.clone();
        full.extend(
            lhs.split('.')
                .map(|s| s.trim().trim_matches('"').to_string()),
        );
        // An exact match wins; a prefix (e.g. `csv = {...}` for `data.csv.text`) is kept
        // as a fallback.
        if full.iter().map(String::as_str).eq(parts.iter().copied()) {
            return Some((i + 1, true));
        }
        if full.len() < parts.len()
            && full
                .iter()
                .map(String::as_str)
                .eq(parts[..full.len()].iter().copied())
        {
            best = Some((i + 1, false));
        }
    }
    best
}

/// Key names that hold a secret themselves (and so are never allowed inline).
const SECRET_KEY_NAMES: &[&str] = &[
    "key",
    "kek",
    "token",
    "secret",
    "password",
    "passphrase",
    "passwd",
    "credential",
    "credentials",
    "api_key",
    "apikey",
    "auth_token",
    "access_token",
    "hf_token",
    "hmac_key",
    "signing_key",
    "private_key",
    "secret_key",
    "access_key",
    "client_secret",
    "mask_key",
];

fn key_names_secret(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    if SECRET_KEY_NAMES.contains(&n.as_str()) {
        return true;
    }
    n.split('_').any(|seg| {
        matches!(
            seg,
            "password" | "passphrase" | "passwd" | "secret" | "kek" | "apikey"
        )
    }) && !n.ends_with("_file")
        && !n.ends_with("_env")
}

/// Whether a key name says its value is a digest (a hex SHA-256, a commit id):
/// long hex strings are expected there and nowhere else.
fn key_names_digest(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.split(['_', '-']).any(|seg| {
        matches!(
            seg,
            "sha" | "sha256" | "sha512" | "digest" | "hash" | "checksum" | "revision" | "commit"
        )
    })
}

/// Why a string value looks like key material, if it does: a PEM block, one
/// of sealtune's own key encodings, a well-known token, a JWT, or a long
/// random-looking run of base64 or hex characters, alone or inside free text.
/// Long hex runs are allowed where `digest_ok` (the key names a digest).
fn key_material_in(v: &str, digest_ok: bool) -> bool {
    if v.contains("-----BEGIN") || v.contains("PRIVATE KEY") {
        return true;
    }
    v.split(|c: char| {
        c.is_whitespace() || matches!(c, '"' | '\'' | ',' | ';' | '(' | ')' | '<' | '>')
    })
    .any(|tok| token_is_key_material(tok, digest_ok))
}

fn token_is_key_material(tok: &str, digest_ok: bool) -> bool {
    // sealtune's own encodings (`sealtune-kek-v1:<hex>`) and age identities.
    let lower = tok.to_ascii_lowercase();
    if (lower.starts_with("sealtune-") && lower.contains("-v1:"))
        || lower.starts_with("age-secret-key-")
    {
        return true;
    }
    const PREFIXES: &[&str] = &[
        "AKIA",
        "ASIA",
        "ghp_",
        "gho_",
        "ghs_",
        "ghu_",
        "github_pat_",
        "glpat-",
        "sk-",
        "sk_live_",
        "rk_live_",
        "xoxb-",
        "xoxp-",
        "xoxa-",
        "hf_",
        "AIza",
        "ya29.",
    ];
    if tok.len() >= 20 && PREFIXES.iter().any(|p| tok.starts_with(p)) {
        return true;
    }
    // A JWT: three base64url parts, the first a JSON header.
    if tok.starts_with("eyJ") && tok.split('.').count() == 3 && tok.len() >= 30 {
        return true;
    }
    random_looking(tok, digest_ok)
}

/// A long run of base64/hex characters whose character classes change as
/// often as random text's do. Words, paths, file names, run ids and licence
/// ids change class rarely (`clinical-notes-finetune-v2`,
/// `LicenseRef-Proprietary-Internal`, `models/smollm2-135m`); random keys
/// change class at about every other character.
fn random_looking(tok: &str, digest_ok: bool) -> bool {
    let tok = tok.trim_matches(|c: char| matches!(c, '.' | ':' | '!' | '?'));
    if !tok
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '-' | '_'))
    {
        return false;
    }
    // A UUID is an identifier, not a key.
    let parts: Vec<&str> = tok.split('-').collect();
    if parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && tok.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
    {
        return false;
    }
    let core: Vec<u8> = tok.bytes().filter(u8::is_ascii_alphanumeric).collect();
    if core.len() < 20 {
        return false;
    }
    let all_hex = core.iter().all(u8::is_ascii_hexdigit);
    if all_hex && core.len() >= 32 {
        return !digest_ok;
    }
    let has = |f: fn(&u8) -> bool| core.iter().any(f);
    let (upper, lower, digit) = (
        has(u8::is_ascii_uppercase),
        has(u8::is_ascii_lowercase),
        has(u8::is_ascii_digit),
    );
    // The shape of an AWS secret access key: 40 base64 characters with a `/`
    // or `+`, mixed case and digits.
    if tok.len() == 40 && tok.contains(['/', '+']) && upper && lower && digit {
        return true;
    }
    let class = |b: u8| match b {
        b'0'..=b'9' => 0,
        b'a'..=b'z' => 1,
        b'A'..=b'Z' => 2,
        _ => 3,
    };
    let changes = core
        .windows(2)
        .filter(|w| class(w[0]) != class(w[1]))
        .count();
    let rate = changes as f64 / (core.len() - 1) as f64;
    let mut counts = [0u32; 128];
    for &b in &core {
        counts[b as usize & 127] += 1;
    }
    let n = core.len() as f64;
    let entropy: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum();
    // CamelCase words change class at each word start and end (about one
    // change in three); without capitals, words and numbers change class
    // far less often still.
    let threshold = if upper { 0.4 } else { 0.25 };
    rate >= threshold && entropy >= 3.5
}

fn is_env_name(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 128
        && v.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn scan_secrets(
    table: &toml::Table,
    prefix: &str,
    fail: &mut dyn FnMut(&str, String) -> Result<(), ConfigError>,
) -> Result<(), ConfigError> {
    for (k, v) in table {
        if key_material_in(k, false) {
            // The key itself is the secret: name where it is, never what.
            let at = if prefix.is_empty() {
                "the top level"
            } else {
                prefix
            };
            return fail(
                prefix,
                format!("a key in {at} looks like key material; remove it from the file"),
            );
        }
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        scan_value(k, &path, v, fail)?;
    }
    Ok(())
}

fn scan_value(
    name: &str,
    path: &str,
    v: &toml::Value,
    fail: &mut dyn FnMut(&str, String) -> Result<(), ConfigError>,
) -> Result<(), ConfigError> {
    let lower = name.to_ascii_lowercase();
    match v {
        toml::Value::Table(t) => scan_secrets(t, path, fail),
        toml::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                scan_value(name, &format!("{path}[{i}]"), item, fail)?;
            }
            Ok(())
        }
        toml::Value::String(s) => {
            if lower.ends_with("_env") {
                if !is_env_name(s) || key_material_in(s, false) {
                    return fail(
                        path,
                        "takes the NAME of an environment variable (A-Z, 0-9, _), and this value is not one or looks like key material; if it is a secret, remove it from the file and export it in a variable instead".into(),
                    );
                }
                return Ok(());
            }
            if lower.ends_with("_file") {
                if key_material_in(s, false) || s.contains('\n') {
                    return fail(
                        path,
                        "takes a path to a file holding the secret, and this value looks like the secret itself; write it to a file readable only by you (chmod 600) and give that path".into(),
                    );
                }
                return Ok(());
            }
            if key_names_secret(&lower) {
                return fail(
                    path,
                    format!(
                        "secrets are never written inline in a config; use `{name}_file` (path to a file readable only by you) or `{name}_env` (an environment variable name)"
                    ),
                );
            }
            if key_material_in(s, key_names_digest(&lower)) {
                return fail(
                    path,
                    "this value looks like key material (a PEM block, a sealtune key, an access token or a random key), alone or inside the text; secrets are referenced only through `*_file` or `*_env` keys. If it is not a secret, reword it".into(),
                );
            }
            Ok(())
        }
        _ => {
            if key_names_secret(&lower) {
                return fail(
                    path,
                    format!(
                        "secrets are never written inline in a config; use `{name}_file` or `{name}_env`"
                    ),
                );
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, ConfigError> {
        Config::from_str(Path::new("cfg/test.toml"), text.to_string(), &["data"])
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Data {
        inputs: Vec<String>,
        #[serde(default)]
        eval_fraction: f64,
    }

    #[test]
    fn a_flag_overrides_a_key_and_is_named_in_errors() {
        let mut c = load("[data]\ninputs = []\neval_fraction = 0.5\n").unwrap();
        assert_eq!(c.origin("data.eval_fraction"), "[data] eval_fraction");
        assert_eq!(c.error_at("data.eval_fraction", "bad").line, Some(3));
        c.override_value("data", "eval_fraction", "x", "--fraction")
            .unwrap();
        assert_eq!(c.section_json("data")["eval_fraction"], "x");
        assert_eq!(c.origin("data.eval_fraction"), "--fraction");
        let e = c.section::<Data>("data").unwrap_err();
        assert_eq!(e.key, "data.eval_fraction (from --fraction)");
        assert_eq!(e.line, None);
        // An absent section is created.
        c.override_value("compute", "device", "cpu", "--device")
            .unwrap();
        assert_eq!(c.section_json("compute")["device"], "cpu");
    }

    #[test]
    fn run_id_defaults_to_stem() {
        let c = load("[data]\ninputs = []\n").unwrap();
        assert_eq!(c.run_id(), "test");
        assert_eq!(c.default_run_dir(), PathBuf::from("runs/test"));
        assert_eq!(
            c.resolve(Path::new("x.jsonl")),
            PathBuf::from("cfg/x.jsonl")
        );
        assert_eq!(
            c.resolve(Path::new("../d/./x.jsonl")),
            PathBuf::from("d/x.jsonl")
        );
        assert_eq!(c.display_relative(Path::new("d/x.jsonl")), "../d/x.jsonl");
        assert_eq!(
            c.display_relative(Path::new("cfg/sub/x.jsonl")),
            "sub/x.jsonl"
        );
        assert_eq!(normalize(Path::new("../../a")), PathBuf::from("../../a"));
        let top = Config::from_str(Path::new("t.toml"), "[data]\n".into(), &["data"]).unwrap();
        assert_eq!(
            top.display_relative(Path::new("data/a.jsonl")),
            "data/a.jsonl"
        );
        assert_eq!(normalize(Path::new("/a/../../b")), PathBuf::from("/b"));
    }

    #[test]
    fn unknown_key_is_named_with_line() {
        let c = load("[data]\ninputs = []\nbogus = 1\n").unwrap();
        let e = c.section::<Data>("data").unwrap_err();
        assert_eq!(e.key, "data.bogus");
        assert_eq!(e.line, Some(3));
        assert!(e.message.contains("unknown field"), "{e}");
    }

    #[test]
    fn wrong_type_names_key() {
        let c = load("[data]\ninputs = []\neval_fraction = \"x\"\n").unwrap();
        let e = c.section::<Data>("data").unwrap_err();
        assert_eq!(e.key, "data.eval_fraction");
    }

    #[test]
    fn unsupported_and_unknown_sections() {
        let e = load("[mask]\nx = 1\n").unwrap_err();
        assert_eq!(e.key, "mask");
        assert!(e.message.contains("does not include"));
        let e = load("[wat]\n").unwrap_err();
        assert!(e.message.contains("unknown section"));
        let e = load("[run]\nbogus = 1\n").unwrap_err();
        assert_eq!(e.key, "run.bogus");
    }

    #[test]
    fn inline_secrets_are_refused_without_echo() {
        let secret = "q8Zr3LkP0vN2xW7yT5uB1mC4aD9eF6gH";
        for text in [
            format!("[data]\npassphrase = \"{secret}\"\n"),
            format!("[data]\nkey_file = \"{secret}\"\n"),
            format!("[data]\nkey_env = \"{secret}=\"\n"),
            "[data]\nanything = \"-----BEGIN PRIVATE KEY-----\\nabc\"\n".to_string(),
            "[data]\nnote = \"hf_abcdefghijklmnopqrstuvwxyz0123\"\n".to_string(),
        ] {
            let e = load(&text).unwrap_err();
            assert!(e.key.starts_with("data."), "{e}");
            assert_eq!(e.line, Some(2), "{e}");
            assert!(!e.to_string().contains(secret), "{e}");
        }
    }

    #[test]
    fn key_material_is_recognised_wherever_it_sits() {
        let hex64 = "9f2c4e8a1b7d3f6052e9c1a4b8d7f3e6a0c5b9d2e8f1a7c4b3d6e9f0a2c5b8d1";
        let b64_slash = "Xk9/bP2q+Lr8Zt3vWm5N/aQ7cY1dE6fG0hJ4kS8u=";
        let aws_example = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzZWFsdHVuZSJ9.dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let sk = "sk-proj-4fJ9kL2mN8pQ1rS6tU3vW7xY0zA5bC";
        let cases = [
            (
                format!("[data]\nkey_file = \"sealtune-kek-v1:{hex64}\"\n"),
                hex64,
            ),
            (format!("[data]\nkey_env = \"{hex64}\"\n"), hex64),
            (
                format!("[run]\nid = \"t\"\ndescription = \"{hex64}\"\n"),
                hex64,
            ),
            (format!("[data]\ncontact = \"{hex64}\"\n"), hex64),
            (format!("[data]\nname = \"{hex64}\"\n"), hex64),
            (format!("[data]\nnote = \"{b64_slash}\"\n"), b64_slash),
            (format!("[data]\nnote = \"{aws_example}\"\n"), aws_example),
            (format!("[data]\nnote = \"{jwt}\"\n"), jwt),
            (
                format!("[data]\nnote = \"call the API with {sk} for now\"\n"),
                sk,
            ),
            (
                format!("[data]\nlist = [\"ok\", {{ inner = \"x {sk}\" }}]\n"),
                sk,
            ),
            (format!("[data]\n\"{sk}\" = 1\n"), sk),
        ];
        for (text, secret) in cases {
            let e = load(&text).expect_err(&text);
            assert!(!e.to_string().contains(secret), "{e}");
            assert!(!format!("{e:?}").contains(secret), "{e:?}");
            assert!(e.line.is_some(), "{e}");
        }
    }

    #[test]
    fn ordinary_values_are_not_taken_for_keys() {
        for text in [
            "[run]\nid = \"clinical-notes-finetune-v2\"\n",
            "[data]\nlicense = \"LicenseRef-Proprietary-Internal\"\n",
            "[data]\nname = \"HuggingFaceTB/SmolLM2-135M-Instruct\"\n",
            "[data]\npath = \"models/smollm2-135m-instruct\"\ndir = \"../runs/quickstart\"\n",
            "[data]\ninputs = [\"datasets/sample/*.jsonl\", \"/srv/data/ClaimsArchive2024/batch07\"]\n",
            "[data]\nurl = \"https://example.org/datasets/notes-v2\"\n",
            "[data]\nid = \"123e4567-e89b-12d3-a456-426614174000\"\n",
            "[data]\nbase_model_sha256 = \"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\"\n",
            "[run]\nid = \"t\"\ndescription = \"LoRA r16 on discharge summaries, 2024Q3 export; reviewed by the privacy office\"\n",
            "[data]\nkey_env = \"SEALTUNE_MASK_KEY\"\n",
        ] {
            load(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        }
    }

    #[test]
    fn serde_messages_never_carry_the_value() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        enum Mode {
            Fast,
        }
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct T {
            n: Option<u32>,
            mode: Option<Mode>,
        }
        for (text, value) in [
            ("[data]\nn = \"Jane Roe 933-11-2222\"\n", "Jane Roe"),
            ("[data]\nmode = \"Jane \\\"Roe\\\", expected x\"\n", "Jane"),
        ] {
            let c = load(text).unwrap();
            let e = c.section::<T>("data").unwrap_err();
            assert!(!e.to_string().contains(value), "{e}");
            assert!(e.to_string().contains("value not shown"), "{e}");
        }
    }

    #[test]
    fn errors_inside_inline_tables_and_arrays_have_their_line() {
        let text = "[data]\ninputs = []\n\n[release]\nrecipients = [\n  { kek_file = \"a.kek\" },\n  { kek_file = \"b.kek\", x = 1 },\n]\ncsv = { text = \"t\",\n  id = 2 }\n";
        assert_eq!(
            find_key_line(text, "release.recipients[1].kek_file"),
            Some(7)
        );
        assert_eq!(
            find_key_line(text, "release.recipients[0].kek_file"),
            Some(6)
        );
        assert_eq!(find_key_line(text, "release.recipients[1].x"), Some(7));
        assert_eq!(find_key_line(text, "release.csv.id"), Some(10));
        assert_eq!(find_key_line(text, "release.recipients"), Some(5));
        assert_eq!(find_key_line(text, "data.inputs"), Some(2));
    }

    #[test]
    fn references_and_digests_are_fine() {
        load(
            "[data]\nkey_file = \"secrets/run.key\"\nkey_env = \"SEALTUNE_KEY\"\nsha256 = \"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\"\nmax_tokens = 5\n",
        )
        .unwrap();
    }

    /// Mutated configs never panic the loader or the section parser.
    #[test]
    fn arbitrary_configs_never_panic() {
        let seed = "[run]\nid = \"x\"\n[data]\ninputs = [\"a/*.jsonl\"]\nkey_file = \"k\"\neval_fraction = 0.1\n";
        let mut x: u64 = 88172645463325252;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..5_000 {
            let mut b: Vec<char> = seed.chars().collect();
            for _ in 0..(1 + next() % 5) {
                let i = (next() as usize) % b.len().max(1);
                let c = ['[', ']', '=', '"', '\n', '.', 'é', '#', ' ', '0'][(next() % 10) as usize];
                match next() % 3 {
                    0 => b[i] = c,
                    1 => b.insert(i, c),
                    _ => {
                        b.remove(i);
                    }
                }
                if b.is_empty() {
                    break;
                }
            }
            let text: String = b.into_iter().collect();
            if let Ok(c) = Config::from_str(Path::new("f.toml"), text, &["data"]) {
                let _ = c.section::<Data>("data");
                let _ = c.default_run_dir();
            }
        }
    }

    #[test]
    fn syntax_error_has_line() {
        let e = load("[data]\ninputs = [\n").unwrap_err();
        assert!(e.line.is_some());
        assert!(e.message.contains("invalid TOML"));
    }
}
