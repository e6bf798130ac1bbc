//! Training records and their validation.
//!
//! Validation messages name the field and the expected type but never quote
//! the content: records are sensitive, and messages end up on stderr, in the
//! audit log, `status.json`, `quarantine.jsonl` and `report.json`. Keys count
//! as content too (a key can be a name or an account number), and so do a CSV
//! file's header names (without a header row they are the first record): a
//! message names an unknown key by its position (`the record object's key #3`)
//! and lists the allowed keys, which are ours. serde_json's message texts are
//! never passed through, since they quote the data (`unknown field ...`,
//! `invalid type: string "..."`). A key that appears twice in one object is
//! refused ("duplicate key"), never resolved by keeping the last value.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Who speaks in a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// System prompt.
    System,
    /// The user.
    User,
    /// The model.
    Assistant,
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Speaker.
    pub role: Role,
    /// Text.
    pub content: String,
}

/// A validated record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Record {
    /// A conversation.
    Chat {
        /// Messages in order.
        messages: Vec<Message>,
    },
    /// An instruction with optional input and the expected output.
    Instruction {
        /// The instruction.
        instruction: String,
        /// Optional input.
        #[serde(skip_serializing_if = "Option::is_none")]
        input: Option<String>,
        /// Expected output.
        output: String,
    },
    /// Plain text.
    Text {
        /// The text.
        text: String,
    },
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Why a line or row is not a valid record, in sealtune's own words: field names,
/// positions and the allowed keys, never the record's content (keys and values can be
/// PII themselves).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RecordError(String);

impl RecordError {
    pub(crate) fn new(reason: impl Into<String>) -> RecordError {
        RecordError(reason.into())
    }

    /// The reason, as the quarantine file and the errors show it.
    pub fn reason(&self) -> &str {
        &self.0
    }
}

impl sealtune_contract::ExitStatus for RecordError {
    fn exit(&self) -> sealtune_contract::Exit {
        sealtune_contract::Exit::DataErr
    }
}

fn take_string(
    obj: &serde_json::Map<String, Value>,
    key: &str,
    path: &str,
    required: bool,
) -> Result<Option<String>, RecordError> {
    match obj.get(key) {
        None if required => Err(RecordError::new(format!("missing field `{path}`"))),
        None => Ok(None),
        Some(Value::Null) if !required => Ok(None),
        Some(Value::String(s)) => {
            if required && s.trim().is_empty() {
                Err(RecordError::new(format!("`{path}` is empty")))
            } else {
                Ok(Some(s.clone()))
            }
        }
        Some(v) => Err(RecordError::new(format!(
            "`{path}` must be a string, found {}",
            type_name(v)
        ))),
    }
}

fn check_keys(
    obj: &serde_json::Map<String, Value>,
    allowed: &[&str],
    at: &str,
) -> Result<(), RecordError> {
    // Keys come from the data and may be content themselves (a name, an
    // account number): never quote one. The map's order is not the file's, so
    // no position either; [`parse_record`] gives the key's position.
    if obj.keys().any(|k| !allowed.contains(&k.as_str())) {
        return Err(RecordError::new(format!(
            "{at} a key that is not allowed; allowed keys: {} (unknown keys are refused so that unmasked data cannot ride along)",
            allowed.join(", ")
        )));
    }
    Ok(())
}

/// The JSONL record kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonKind {
    /// `{"messages": [...]}`
    Chat,
    /// `{"instruction", "input"?, "output"}`
    Instruction,
    /// `{"text"}`
    Text,
}

const TEXT_KEYS: &[&str] = &["text", "id"];
const INSTRUCTION_KEYS: &[&str] = &["instruction", "input", "output", "id"];
const CHAT_KEYS: &[&str] = &["messages", "id"];
const MESSAGE_KEYS: &[&str] = &["role", "content"];

impl JsonKind {
    /// The keys a record of this kind may have.
    pub fn allowed_keys(self) -> &'static [&'static str] {
        match self {
            JsonKind::Chat => CHAT_KEYS,
            JsonKind::Instruction => INSTRUCTION_KEYS,
            JsonKind::Text => TEXT_KEYS,
        }
    }
}

/// Parse and validate one JSONL line as a record of `kind`.
///
/// Unlike `serde_json::from_slice` followed by [`validate_json`], this
/// refuses duplicate keys anywhere in the line (serde_json would keep the
/// last one silently), names an unknown key by its position in the file, and
/// never passes serde_json's message text through: those messages can quote
/// the data (`unknown field `...``, `invalid type: string "..."`). Every
/// message is built from our own words, positions and the allowed keys.
pub fn parse_record(line: &[u8], kind: JsonKind) -> Result<Record, RecordError> {
    if let Err(e) = std::str::from_utf8(line) {
        return Err(RecordError::new(format!(
            "not valid UTF-8 (invalid byte at column {})",
            e.valid_up_to() + 1
        )));
    }
    let issue = std::cell::Cell::new(None);
    let mut de = serde_json::Deserializer::from_slice(line);
    let parsed = serde::de::DeserializeSeed::deserialize(
        strict::Strict {
            shape: strict::Shape::Record(kind.allowed_keys()),
            issue: &issue,
        },
        &mut de,
    )
    .and_then(|v| de.end().map(|()| v));
    match parsed {
        Ok(v) => validate_json(v, kind),
        Err(e) => Err(RecordError::new(json_error(&e, issue.get(), kind))),
    }
}

/// Our wording for a serde_json syntax error: its message is matched against
/// serde_json's fixed texts and never shown itself.
fn syntax_wording(e: &serde_json::Error) -> &'static str {
    let msg = e.to_string();
    let msg = msg.split(" at line ").next().unwrap_or("");
    match msg {
        "EOF while parsing a list" => "the line ends inside an array",
        "EOF while parsing an object" => "the line ends inside an object",
        "EOF while parsing a string" => "the line ends inside a string (a quote is never closed)",
        "EOF while parsing a value" => "the line ends where a value was expected",
        "expected `:`" => "expected `:` after a key",
        "expected `,` or `]`" => "expected `,` or `]` in an array",
        "expected `,` or `}`" => "expected `,` or `}` in an object",
        "expected ident" => "expected true, false or null",
        "expected value" => "expected a JSON value",
        "expected `\"`" => "expected a quoted string",
        "invalid escape" => "invalid escape sequence in a string",
        "invalid number" => "invalid number",
        "number out of range" => "number out of range",
        "invalid unicode code point"
        | "lone leading surrogate in hex escape"
        | "unexpected end of hex escape" => "invalid \\u escape in a string",
        "control character (\\u0000-\\u001F) found while parsing a string" => {
            "unescaped control character in a string (write it as \\n, \\t or \\u00XX)"
        }
        "key must be a string" => "object keys must be quoted strings",
        "trailing comma" => "trailing comma",
        "trailing characters" => "more text after the JSON value (one record per line)",
        "recursion limit exceeded" => "nested too deeply",
        _ => "not valid JSON",
    }
}

fn json_error(e: &serde_json::Error, issue: Option<strict::Issue>, kind: JsonKind) -> String {
    use serde_json::error::Category;
    let col = e.column();
    match issue {
        Some(strict::Issue::Unknown { at, nth }) => {
            let allowed = match at {
                strict::At::Record => kind.allowed_keys(),
                _ => MESSAGE_KEYS,
            };
            format!(
                "{} key #{nth} (near column {col}) is not allowed; allowed keys: {} (unknown keys are refused so that unmasked data cannot ride along)",
                at.describe(),
                allowed.join(", ")
            )
        }
        Some(strict::Issue::Duplicate { at, nth }) => format!(
            "duplicate key: {} key #{nth} (near column {col}) repeats an earlier key; each key may appear once (the record is refused rather than guessing which value counts)",
            at.describe()
        ),
        None => match e.classify() {
            Category::Syntax | Category::Eof => {
                format!("invalid JSON at column {col}: {}", syntax_wording(e))
            }
            Category::Data | Category::Io => format!("invalid JSON at column {col}"),
        },
    }
}

mod strict {
    //! A `serde_json::Value` builder that refuses duplicate keys anywhere and
    //! keys outside the record's shape, noting where without the key itself.
    use std::cell::Cell;
    use std::fmt;

    use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
    use serde_json::{Map, Number, Value};

    /// Which object a key problem is in.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum At {
        /// The record object itself.
        Record,
        /// `messages[i]`.
        Message(usize),
        /// Any other object inside a value.
        Nested,
    }

    impl At {
        pub fn describe(self) -> String {
            match self {
                At::Record => "the record object's".into(),
                At::Message(i) => format!("`messages[{i}]`'s"),
                At::Nested => "a nested object's".into(),
            }
        }
    }

    /// A key problem; the key's text is never kept.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Issue {
        /// The `nth` (1-based) key of the object is not allowed there.
        Unknown { at: At, nth: usize },
        /// The `nth` (1-based) key of the object repeats an earlier one.
        Duplicate { at: At, nth: usize },
    }

    /// What is expected where.
    #[derive(Debug, Clone, Copy)]
    pub enum Shape {
        /// Anything.
        Any,
        /// The record: an object with these keys (other values are left to
        /// validation to describe).
        Record(&'static [&'static str]),
        /// The value of `messages`.
        Messages,
        /// `messages[i]`.
        Message(usize),
    }

    /// The seed: builds a [`Value`], setting `issue` before failing on a key.
    pub struct Strict<'c> {
        pub shape: Shape,
        pub issue: &'c Cell<Option<Issue>>,
    }

    /// serde_json's private key for numbers with its `arbitrary_precision`
    /// feature, which another crate in a build may turn on.
    const NUMBER_TOKEN: &str = "$serde_json::private::Number";

    impl<'de> DeserializeSeed<'de> for Strict<'_> {
        type Value = Value;
        fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Strict<'_> {
        type Value = Value;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON value")
        }
        fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
            Ok(Value::Bool(b))
        }
        fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
            Ok(Value::Number(n.into()))
        }
        fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
            Ok(Value::Number(n.into()))
        }
        fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
            Ok(Number::from_f64(n).map_or(Value::Null, Value::Number))
        }
        fn visit_str<E>(self, s: &str) -> Result<Value, E> {
            Ok(Value::String(s.to_owned()))
        }
        fn visit_string<E>(self, s: String) -> Result<Value, E> {
            Ok(Value::String(s))
        }
        fn visit_unit<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_none<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
            self.deserialize(d)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
            let mut out = Vec::new();
            loop {
                let shape = match self.shape {
                    Shape::Messages => Shape::Message(out.len()),
                    _ => Shape::Any,
                };
                let seed = Strict {
                    shape,
                    issue: self.issue,
                };
                match seq.next_element_seed(seed)? {
                    Some(v) => out.push(v),
                    None => return Ok(Value::Array(out)),
                }
            }
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
            let (at, allowed): (At, Option<&[&str]>) = match self.shape {
                Shape::Record(keys) => (At::Record, Some(keys)),
                Shape::Message(i) => (At::Message(i), Some(super::MESSAGE_KEYS)),
                Shape::Any | Shape::Messages => (At::Nested, None),
            };
            let mut out = Map::new();
            let mut nth = 0usize;
            while let Some(k) = map.next_key::<String>()? {
                nth += 1;
                if nth == 1 && k == NUMBER_TOKEN {
                    let s: String = map.next_value()?;
                    return s
                        .parse::<Number>()
                        .map(Value::Number)
                        .map_err(|_| de::Error::custom("invalid number"));
                }
                if allowed.is_some_and(|a| !a.contains(&k.as_str())) {
                    self.issue.set(Some(Issue::Unknown { at, nth }));
                    return Err(de::Error::custom("key not allowed"));
                }
                if out.contains_key(&k) {
                    self.issue.set(Some(Issue::Duplicate { at, nth }));
                    return Err(de::Error::custom("duplicate key"));
                }
                let shape = match self.shape {
                    Shape::Record(_) if k == "messages" => Shape::Messages,
                    _ => Shape::Any,
                };
                let v = map.next_value_seed(Strict {
                    shape,
                    issue: self.issue,
                })?;
                out.insert(k, v);
            }
            Ok(Value::Object(out))
        }
    }
}

/// Validate one parsed JSON value as a record of `kind`. An optional `id`
/// field (string or number) is accepted and not kept.
pub fn validate_json(v: Value, kind: JsonKind) -> Result<Record, RecordError> {
    let Value::Object(obj) = v else {
        return Err(RecordError::new(format!(
            "a record must be a JSON object, found {}",
            type_name(&v)
        )));
    };
    if let Some(id) = obj.get("id")
        && !matches!(id, Value::String(_) | Value::Number(_))
    {
        return Err(RecordError::new(format!(
            "`id` must be a string or a number, found {}",
            type_name(id)
        )));
    }
    match kind {
        JsonKind::Text => {
            check_keys(&obj, TEXT_KEYS, "the record has")?;
            let text = take_string(&obj, "text", "text", true)?.unwrap_or_default();
            Ok(Record::Text { text })
        }
        JsonKind::Instruction => {
            check_keys(&obj, INSTRUCTION_KEYS, "the record has")?;
            let instruction =
                take_string(&obj, "instruction", "instruction", true)?.unwrap_or_default();
            let input = take_string(&obj, "input", "input", false)?;
            let output = take_string(&obj, "output", "output", true)?.unwrap_or_default();
            Ok(Record::Instruction {
                instruction,
                input,
                output,
            })
        }
        JsonKind::Chat => {
            check_keys(&obj, CHAT_KEYS, "the record has")?;
            let msgs = match obj.get("messages") {
                None => return Err(RecordError::new("missing field `messages`")),
                Some(Value::Array(a)) => a,
                Some(v) => {
                    return Err(RecordError::new(format!(
                        "`messages` must be an array, found {}",
                        type_name(v)
                    )));
                }
            };
            if msgs.is_empty() {
                return Err(RecordError::new("`messages` is empty"));
            }
            let mut out = Vec::with_capacity(msgs.len());
            for (i, m) in msgs.iter().enumerate() {
                let Value::Object(mo) = m else {
                    return Err(RecordError::new(format!(
                        "`messages[{i}]` must be an object, found {}",
                        type_name(m)
                    )));
                };
                check_keys(mo, MESSAGE_KEYS, &format!("`messages[{i}]` has"))?;
                let role = match mo.get("role") {
                    None => {
                        return Err(RecordError::new(format!(
                            "missing field `messages[{i}].role`"
                        )));
                    }
                    Some(Value::String(r)) => match r.as_str() {
                        "system" => Role::System,
                        "user" => Role::User,
                        "assistant" => Role::Assistant,
                        _ => {
                            return Err(RecordError::new(format!(
                                "`messages[{i}].role` must be one of system, user, assistant"
                            )));
                        }
                    },
                    Some(v) => {
                        return Err(RecordError::new(format!(
                            "`messages[{i}].role` must be a string, found {}",
                            type_name(v)
                        )));
                    }
                };
                let content = match mo.get("content") {
                    None => {
                        return Err(RecordError::new(format!(
                            "missing field `messages[{i}].content`"
                        )));
                    }
                    Some(Value::String(s)) => s.clone(),
                    Some(v) => {
                        return Err(RecordError::new(format!(
                            "`messages[{i}].content` must be a string, found {}",
                            type_name(v)
                        )));
                    }
                };
                if role == Role::System && i != 0 {
                    return Err(RecordError::new(format!(
                        "`messages[{i}]`: a system message may only come first"
                    )));
                }
                out.push(Message { role, content });
            }
            if !out
                .iter()
                .any(|m| m.role == Role::Assistant && !m.content.trim().is_empty())
            {
                return Err(RecordError::new(
                    "`messages` has no non-empty assistant message: nothing to train on",
                ));
            }
            Ok(Record::Chat { messages: out })
        }
    }
}

impl Record {
    /// A 32-byte digest of the record's content, independent of JSON layout,
    /// field order and the `id` field: the dedup and split key.
    pub fn content_hash(&self) -> [u8; 32] {
        let mut h = ContentHasher::new();
        let mut field = |tag: u8, s: &str| h.field(tag, s);
        match self {
            Record::Chat { messages } => {
                field(b'C', "");
                for m in messages {
                    let tag = match m.role {
                        Role::System => b's',
                        Role::User => b'u',
                        Role::Assistant => b'a',
                    };
                    field(tag, &m.content);
                }
            }
            Record::Instruction {
                instruction,
                input,
                output,
            } => {
                field(b'I', instruction);
                if let Some(i) = input {
                    field(b'i', i);
                }
                field(b'o', output);
            }
            Record::Text { text } => field(b'T', text),
        }
        h.finish()
    }

    /// Number of characters of content (all string fields).
    pub fn char_len(&self) -> usize {
        match self {
            Record::Chat { messages } => messages.iter().map(|m| m.content.chars().count()).sum(),
            Record::Instruction {
                instruction,
                input,
                output,
            } => {
                instruction.chars().count()
                    + input.as_ref().map_or(0, |s| s.chars().count())
                    + output.chars().count()
            }
            Record::Text { text } => text.chars().count(),
        }
    }
}

/// Builds [`Record::content_hash`] field by field.
struct ContentHasher(Sha256);

impl ContentHasher {
    fn new() -> ContentHasher {
        ContentHasher(Sha256::new())
    }
    fn field(&mut self, tag: u8, s: &str) {
        self.0.update([tag]);
        self.0.update((s.len() as u64).to_le_bytes());
        self.0.update(s.as_bytes());
    }
    fn finish(self) -> [u8; 32] {
        self.0.finalize().into()
    }
}

mod raw {
    //! Borrowing views of valid records, for the fast path.
    use std::borrow::Cow;

    use serde::Deserialize;

    /// An absent `id` reads as this (valid) value; a present `null` stays null
    /// and is refused, as the slow path does.
    pub fn absent() -> serde_json::Value {
        serde_json::Value::String(String::new())
    }

    /// A chat message. Deserialized by hand so that only a JSON object is
    /// accepted (derived impls also take `["user", "hi"]`).
    pub struct Msg<'a> {
        pub role: Cow<'a, str>,
        pub content: Cow<'a, str>,
    }

    impl<'de: 'a, 'a> Deserialize<'de> for Msg<'a> {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V<'a>(std::marker::PhantomData<&'a ()>);
            impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
                type Value = Msg<'a>;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a message object")
                }
                fn visit_map<M: serde::de::MapAccess<'de>>(
                    self,
                    mut m: M,
                ) -> Result<Msg<'a>, M::Error> {
                    #[derive(Deserialize)]
                    struct Field<'k>(#[serde(borrow)] Cow<'k, str>);
                    let mut role: Option<Cow<'a, str>> = None;
                    let mut content: Option<Cow<'a, str>> = None;
                    while let Some(Field(k)) = m.next_key::<Field<'de>>()? {
                        let slot = match k.as_ref() {
                            "role" => &mut role,
                            "content" => &mut content,
                            _ => return Err(serde::de::Error::custom("unknown field")),
                        };
                        if slot.is_some() {
                            return Err(serde::de::Error::custom("duplicate field"));
                        }
                        *slot = Some(m.next_value::<Borrowed<'de>>()?.0);
                    }
                    match (role, content) {
                        (Some(role), Some(content)) => Ok(Msg { role, content }),
                        _ => Err(serde::de::Error::custom("missing field")),
                    }
                }
            }
            d.deserialize_map(V(std::marker::PhantomData))
        }
    }

    #[derive(Deserialize)]
    struct Borrowed<'a>(#[serde(borrow)] Cow<'a, str>);

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Chat<'a> {
        #[serde(borrow)]
        pub messages: Vec<Msg<'a>>,
        #[serde(default = "absent")]
        pub id: serde_json::Value,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Instruction<'a> {
        #[serde(borrow)]
        pub instruction: Cow<'a, str>,
        #[serde(borrow, default)]
        pub input: Option<Cow<'a, str>>,
        #[serde(borrow)]
        pub output: Cow<'a, str>,
        #[serde(default = "absent")]
        pub id: serde_json::Value,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Text<'a> {
        #[serde(borrow)]
        pub text: Cow<'a, str>,
        #[serde(default = "absent")]
        pub id: serde_json::Value,
    }
}

fn id_ok(id: &Value) -> bool {
    matches!(id, Value::String(_) | Value::Number(_))
}

/// The fast path of ingest: parse a line without building a [`Record`] and
/// return its content hash and character length. Returns `None` whenever the
/// line is not a valid record, and then [`validate_json`] says why; whenever
/// it returns `Some`, `validate_json` accepts the line with the same hash.
pub fn fast_digest(line: &[u8], kind: JsonKind) -> Option<([u8; 32], usize)> {
    // Derived deserializers also accept a struct written as a JSON array
    // (`["text"]`); records are objects only.
    if line.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return None;
    }
    let mut h = ContentHasher::new();
    let mut chars = 0usize;
    let mut field = |tag: u8, s: &str| {
        h.field(tag, s);
        chars += s.chars().count();
    };
    match kind {
        JsonKind::Chat => {
            let c: raw::Chat<'_> = serde_json::from_slice(line).ok()?;
            if c.messages.is_empty() || !id_ok(&c.id) {
                return None;
            }
            let mut has_answer = false;
            field(b'C', "");
            for (i, m) in c.messages.iter().enumerate() {
                let tag = match m.role.as_ref() {
                    "system" if i == 0 => b's',
                    "user" => b'u',
                    "assistant" => {
                        has_answer |= !m.content.trim().is_empty();
                        b'a'
                    }
                    _ => return None,
                };
                field(tag, &m.content);
            }
            if !has_answer {
                return None;
            }
        }
        JsonKind::Instruction => {
            let r: raw::Instruction<'_> = serde_json::from_slice(line).ok()?;
            if r.instruction.trim().is_empty() || r.output.trim().is_empty() || !id_ok(&r.id) {
                return None;
            }
            field(b'I', &r.instruction);
            if let Some(i) = &r.input {
                field(b'i', i);
            }
            field(b'o', &r.output);
        }
        JsonKind::Text => {
            let r: raw::Text<'_> = serde_json::from_slice(line).ok()?;
            if r.text.trim().is_empty() || !id_ok(&r.id) {
                return None;
            }
            field(b'T', &r.text);
        }
    }
    Some((h.finish(), chars))
}

/// Deterministic split: true when the record goes to the eval split.
pub fn is_eval(content_hash: &[u8; 32], seed: u64, eval_fraction: f64) -> bool {
    if eval_fraction <= 0.0 {
        return false;
    }
    let mut h = Sha256::new();
    h.update(b"sealtune-split-v1");
    h.update(seed.to_le_bytes());
    h.update(content_hash);
    let d = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&d[..8]);
    let u = u64::from_le_bytes(first);
    // u / 2^64 < fraction
    (u as f64) < eval_fraction * 18_446_744_073_709_551_616.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn chat_ok_and_hash_ignores_layout_and_id() {
        let a = validate_json(json!({"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"yo"}]}), JsonKind::Chat).unwrap();
        let b = validate_json(json!({"id": 7, "messages":[{"content":"hi","role":"user"},{"role":"assistant","content":"yo"}]}), JsonKind::Chat).unwrap();
        assert_eq!(a.content_hash(), b.content_hash());
        let c = validate_json(json!({"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"yo!"}]}), JsonKind::Chat).unwrap();
        assert_ne!(a.content_hash(), c.content_hash());
    }

    #[test]
    fn errors_name_fields_not_content() {
        let secret = "John Q Patient 123-45-6789";
        let cases = [
            (
                json!({"messages":[{"role":"user","content": 5}]}),
                JsonKind::Chat,
                "messages[0].content",
            ),
            (
                json!({"messages":[{"role":secret,"content":"x"}]}),
                JsonKind::Chat,
                "messages[0].role",
            ),
            (
                json!({"messages":[{"role":"user","content":secret}]}),
                JsonKind::Chat,
                "assistant",
            ),
            (
                json!({"instruction":secret}),
                JsonKind::Instruction,
                "output",
            ),
            (json!({"text": [secret]}), JsonKind::Text, "text"),
            (
                json!({"text": "x", "patient": secret}),
                JsonKind::Text,
                "not allowed",
            ),
            (json!(secret), JsonKind::Text, "object"),
        ];
        for (v, k, want) in cases {
            let e = validate_json(v, k).unwrap_err();
            assert!(e.reason().contains(want), "{e}");
            assert!(!e.reason().contains("Patient"), "{e}");
        }
    }

    #[test]
    fn fast_path_agrees_with_validation() {
        let cases = [
            (
                r#"{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"yo"}]}"#,
                JsonKind::Chat,
            ),
            (
                r#"{"id":"x1","messages":[{"role":"system","content":"s"},{"role":"user","content":"h\u00e9\n"},{"role":"assistant","content":"é"}]}"#,
                JsonKind::Chat,
            ),
            (
                r#"{"messages":[{"role":"user","content":"hi"},{"role":"system","content":"late"},{"role":"assistant","content":"yo"}]}"#,
                JsonKind::Chat,
            ),
            (
                r#"{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"  "}]}"#,
                JsonKind::Chat,
            ),
            (r#"{"messages":[]}"#, JsonKind::Chat),
            (
                r#"{"messages":[{"role":"user","content":"hi","name":"x"},{"role":"assistant","content":"yo"}]}"#,
                JsonKind::Chat,
            ),
            (
                r#"{"id":[1],"messages":[{"role":"assistant","content":"yo"}]}"#,
                JsonKind::Chat,
            ),
            (r#"{"id":null,"text":"t"}"#, JsonKind::Text),
            (r#"{"text":"t","text":"u"}"#, JsonKind::Text),
            (r#"{"text":""}"#, JsonKind::Text),
            (r#"{"instruction":"i","output":"o"}"#, JsonKind::Instruction),
            (
                r#"{"instruction":"i","input":null,"output":"o"}"#,
                JsonKind::Instruction,
            ),
            (
                r#"{"instruction":"i","input":"x","output":"o"}"#,
                JsonKind::Instruction,
            ),
            (
                r#"{"instruction":"i","input":3,"output":"o"}"#,
                JsonKind::Instruction,
            ),
            (r#"{"instruction":" ","output":"o"}"#, JsonKind::Instruction),
            (r#"[1,2]"#, JsonKind::Text),
            (r#"["[["]"#, JsonKind::Text),
            (r#" ["i","x","o"]"#, JsonKind::Instruction),
            (
                r#"{"messages":[["user","hi"],["assistant","yo"]]}"#,
                JsonKind::Chat,
            ),
        ];
        for (line, kind) in cases {
            let slow = parse_record(line.as_bytes(), kind);
            match fast_digest(line.as_bytes(), kind) {
                Some((h, n)) => {
                    let rec =
                        slow.unwrap_or_else(|e| panic!("fast accepted, slow refused {line}: {e}"));
                    assert_eq!(rec.content_hash(), h, "{line}");
                    assert_eq!(rec.char_len(), n, "{line}");
                }
                None => assert!(slow.is_err(), "fast refused, slow accepted {line}"),
            }
        }
    }

    /// Mutated records and random bytes never panic either path, and the two
    /// paths never disagree on acceptance.
    #[test]
    fn arbitrary_lines_never_panic_or_disagree() {
        let seeds = [
            r#"{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"yo"}]}"#,
            r#"{"instruction":"i","input":"x","output":"o","id":3}"#,
            r#"{"text":"t\u00e9\n"}"#,
        ];
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..30_000 {
            let seed = seeds[round % 3].as_bytes();
            let mut b = seed.to_vec();
            for _ in 0..(1 + next() % 4) {
                let i = (next() as usize) % b.len().max(1);
                match next() % 4 {
                    0 => b[i] = next() as u8,
                    1 => {
                        b.remove(i);
                    }
                    2 => b.insert(i, b"{}[]\",:0 \xff"[(next() % 10) as usize]),
                    _ => b.truncate(i),
                }
                if b.is_empty() {
                    break;
                }
            }
            for kind in [JsonKind::Chat, JsonKind::Instruction, JsonKind::Text] {
                let fast = fast_digest(&b, kind);
                let slow = parse_record(&b, kind);
                if let Some((h, _)) = fast {
                    assert_eq!(
                        slow.as_ref().map(|r| r.content_hash()).ok(),
                        Some(h),
                        "{}",
                        String::from_utf8_lossy(&b)
                    );
                }
            }
        }
    }

    #[test]
    fn split_is_deterministic_and_close_to_fraction() {
        let mut n_eval = 0;
        for i in 0..20_000u32 {
            let r = Record::Text {
                text: format!("record {i}"),
            };
            let h = r.content_hash();
            let e = is_eval(&h, 42, 0.1);
            assert_eq!(e, is_eval(&h, 42, 0.1));
            n_eval += e as u32;
        }
        assert!((1800..2200).contains(&n_eval), "{n_eval}");
        let r = Record::Text { text: "x".into() };
        assert!(!is_eval(&r.content_hash(), 1, 0.0));
    }
}
