//! One streaming pass over an input file, yielding each record (or why it is
//! invalid) with its position. Ingest uses it to validate and index; later
//! stages use it, through [`read_indexed`], to read exactly the records ingest
//! accepted.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use sealtune_pipeline::{Exit, StageError};

use crate::config::{CsvConfig, CsvKind, DataConfig, Format};
use crate::index::{Index, IndexEntry};
use crate::reader::{HashingReader, Line, LineReader};
use crate::record::{JsonKind, Message, Record, RecordError, Role, fast_digest, parse_record};

/// Where a record sits in its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    /// 0-based record number in the file (JSONL: non-blank line; CSV: data row).
    pub ordinal: u64,
    /// 1-based line where it starts.
    pub line: u64,
    /// Byte offset where it starts.
    pub offset: u64,
}

/// A record from [`scan_file`].
#[derive(Debug)]
pub enum Item {
    /// A valid record: its content hash, length in characters, and (when asked
    /// for) the parsed record.
    Valid {
        /// Position.
        pos: Pos,
        /// Content hash ([`Record::content_hash`]).
        hash: [u8; 32],
        /// Characters of content.
        chars: usize,
        /// The record, when `want_records` was set.
        record: Option<Record>,
    },
    /// An invalid record and why (never its content).
    Invalid {
        /// Position.
        pos: Pos,
        /// The reason.
        reason: String,
    },
    /// A blank line (JSONL), not a record.
    Blank,
}

/// Options of [`scan_file`].
pub struct Scan<'a> {
    /// The data config (format, CSV mapping, size limit).
    pub data: &'a DataConfig,
    /// Build [`Record`]s (slower) rather than only digests.
    pub want_records: bool,
    /// Progress in bytes.
    pub on_bytes: &'a mut dyn FnMut(u64),
    /// Returns true when the run must stop.
    pub cancelled: &'a dyn Fn() -> bool,
}

impl std::fmt::Debug for Scan<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scan")
            .field("want_records", &self.want_records)
            .finish()
    }
}

/// Bytes read between two safe points at most (besides every 1024 records),
/// so that a file of large records still stops soon after a signal.
const POLL_BYTES: u64 = 8 << 20;

/// Scan one file, calling `visit` for every record in order. Returns the
/// file's SHA-256 and size. `path` opens the file; `shown` names it in errors.
pub fn scan_file(
    path: &Path,
    shown: &str,
    scan: Scan<'_>,
    visit: &mut dyn FnMut(Item) -> Result<(), StageError>,
) -> Result<([u8; 32], u64), StageError> {
    let file = File::open(path).map_err(|e| StageError::io("cannot open input", path, e))?;
    match scan.data.format {
        Format::Csv => {
            let c = scan
                .data
                .csv
                .as_ref()
                .ok_or_else(|| StageError::internal("csv mapping missing"))?;
            scan_csv(path, shown, file, c, scan, visit)
        }
        Format::Chat => scan_jsonl(path, file, JsonKind::Chat, scan, visit),
        Format::Instruction => scan_jsonl(path, file, JsonKind::Instruction, scan, visit),
        Format::Text => scan_jsonl(path, file, JsonKind::Text, scan, visit),
    }
}

fn scan_jsonl(
    path: &Path,
    file: File,
    kind: JsonKind,
    scan: Scan<'_>,
    visit: &mut dyn FnMut(Item) -> Result<(), StageError>,
) -> Result<([u8; 32], u64), StageError> {
    let max = scan.data.max_record_bytes;
    let mut lines = LineReader::new(
        BufReader::with_capacity(1 << 20, HashingReader::new(file)),
        max as usize,
    );
    let mut ordinal = 0u64;
    let mut reported = 0u64;
    let mut at = 0u64;
    for iteration in 1u64.. {
        // A safe point every 1024 lines or every POLL_BYTES, whichever comes
        // first (large records): progress, and stop when asked.
        if iteration.is_multiple_of(1024) || at - reported >= POLL_BYTES {
            if (scan.cancelled)() {
                return Err(StageError::interrupted());
            }
            (scan.on_bytes)(at - reported);
            reported = at;
        }
        let next = lines
            .next_line()
            .map_err(|e| StageError::io("cannot read input", path, e))?;
        let Some((line, offset, content)) = next else {
            break;
        };
        at = offset;
        let item = match content {
            Line::TooLong { len } => {
                let pos = Pos {
                    ordinal,
                    line,
                    offset,
                };
                ordinal += 1;
                Item::Invalid {
                    pos,
                    reason: format!(
                        "record is {len} bytes, over data.max_record_bytes = {max}; it was not read (raise the limit or split the record)"
                    ),
                }
            }
            Line::Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Item::Blank,
            Line::Ok(bytes) => {
                let pos = Pos {
                    ordinal,
                    line,
                    offset,
                };
                ordinal += 1;
                match (scan.want_records, fast_digest(bytes, kind)) {
                    (false, Some((hash, chars))) => Item::Valid {
                        pos,
                        hash,
                        chars,
                        record: None,
                    },
                    _ => {
                        // Slow path: the record itself, or exactly what is wrong.
                        match parse_record(bytes, kind) {
                            Ok(r) => Item::Valid {
                                pos,
                                hash: r.content_hash(),
                                chars: r.char_len(),
                                record: Some(r),
                            },
                            Err(e) => Item::Invalid {
                                pos,
                                reason: e.reason().to_owned(),
                            },
                        }
                    }
                }
            }
        };
        visit(item)?;
    }
    let reader = lines.into_inner().into_inner();
    let total = reader.bytes();
    (scan.on_bytes)(total - reported);
    Ok((reader.finish(), total))
}

/// Guards CSV reads: fails when one record grows past the limit, because the
/// csv parser buffers a whole record.
struct LimitedRecords<R> {
    inner: HashingReader<R>,
    since_mark: std::rc::Rc<std::cell::Cell<u64>>,
    limit: u64,
}

impl<R: std::io::Read> std::io::Read for LimitedRecords<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let s = self.since_mark.get() + n as u64;
        self.since_mark.set(s);
        if s > self.limit {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "record over the size limit",
            ));
        }
        Ok(n)
    }
}

fn csv_record(
    kind: CsvKind,
    cols: &[Option<usize>; 7],
    rec: &csv::ByteRecord,
) -> Result<Record, RecordError> {
    let get = |i: Option<usize>,
               key: &str,
               required: bool|
     -> Result<Option<String>, RecordError> {
        let Some(i) = i else { return Ok(None) };
        match std::str::from_utf8(&rec[i]) {
            Err(e) => Err(RecordError::new(format!(
                "column {} (data.csv.{key}): not valid UTF-8 (invalid byte at position {} of the field)",
                i + 1,
                e.valid_up_to() + 1
            ))),
            Ok(s) if required && s.trim().is_empty() => Err(RecordError::new(format!(
                "column {} (data.csv.{key}) is empty",
                i + 1
            ))),
            Ok("") => Ok(None),
            Ok(s) => Ok(Some(s.to_string())),
        }
    };
    let missing = || RecordError::new("record is incomplete");
    Ok(match kind {
        CsvKind::Text => Record::Text {
            text: get(cols[0], "text", true)?.ok_or_else(missing)?,
        },
        CsvKind::Instruction => Record::Instruction {
            instruction: get(cols[1], "instruction", true)?.ok_or_else(missing)?,
            input: get(cols[2], "input", false)?,
            output: get(cols[3], "output", true)?.ok_or_else(missing)?,
        },
        CsvKind::Chat => {
            let system = get(cols[4], "system", false)?;
            let user = get(cols[5], "user", true)?.ok_or_else(missing)?;
            let assistant = get(cols[6], "assistant", true)?.ok_or_else(missing)?;
            let mut messages = Vec::with_capacity(3);
            if let Some(s) = system {
                messages.push(Message {
                    role: Role::System,
                    content: s,
                });
            }
            messages.push(Message {
                role: Role::User,
                content: user,
            });
            messages.push(Message {
                role: Role::Assistant,
                content: assistant,
            });
            Record::Chat { messages }
        }
    })
}

/// Our words for a CSV parser error; its own message can quote the data.
fn csv_error_kind(e: &csv::Error) -> &'static str {
    match e.kind() {
        csv::ErrorKind::Io(_) => "a read error",
        csv::ErrorKind::Utf8 { .. } => "not valid UTF-8",
        csv::ErrorKind::UnequalLengths { .. } => "a record with a different number of fields",
        csv::ErrorKind::Seek => "a seek error",
        csv::ErrorKind::Serialize(_) | csv::ErrorKind::Deserialize { .. } => {
            "a field of the wrong type"
        }
        _ => "malformed CSV",
    }
}

fn scan_csv(
    path: &Path,
    shown: &str,
    file: File,
    c: &CsvConfig,
    scan: Scan<'_>,
    visit: &mut dyn FnMut(Item) -> Result<(), StageError>,
) -> Result<([u8; 32], u64), StageError> {
    let kind = c
        .kind()
        .map_err(|(k, m)| StageError::new(Exit::Config, format!("{k}: {m}")))?;
    let delim = c
        .delimiter_byte()
        .map_err(|(k, m)| StageError::new(Exit::Config, format!("{k}: {m}")))?;
    let max = scan.data.max_record_bytes;
    let mark = std::rc::Rc::new(std::cell::Cell::new(0u64));
    // The parser reads ahead by its buffer; allow for it.
    let guarded = LimitedRecords {
        inner: HashingReader::new(file),
        since_mark: mark.clone(),
        limit: max + 256 * 1024,
    };
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(delim)
        .has_headers(true)
        .flexible(true)
        .from_reader(guarded);
    let oversize = |line: u64| {
        StageError::data(format!(
            "{shown}:{line}: a CSV record is longer than data.max_record_bytes = {max} (or a quote is never closed); raise the limit or fix the quoting"
        ))
    };
    let io_or_oversize = |e: &csv::Error, line: u64| -> Option<StageError> {
        match e.kind() {
            csv::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::InvalidData => {
                Some(oversize(line))
            }
            csv::ErrorKind::Io(io) => Some(StageError::io(
                "cannot read input",
                path,
                std::io::Error::new(io.kind(), io.to_string()),
            )),
            _ => None,
        }
    };
    let headers = match rdr.byte_headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            return Err(io_or_oversize(&e, 1).unwrap_or_else(|| {
                StageError::data(format!(
                    "{shown}:1: cannot read the CSV header ({}); the first line must be a header row naming the columns given in data.csv",
                    csv_error_kind(&e)
                ))
            }));
        }
    };
    // The header's names are never shown: in a file without a header row,
    // the first line is a record, and its fields are data.
    let names: Vec<String> = headers
        .iter()
        .map(|h| String::from_utf8_lossy(h).trim().to_string())
        .collect();
    let wanted: Vec<String> = [
        ("text", &c.text),
        ("instruction", &c.instruction),
        ("input", &c.input),
        ("output", &c.output),
        ("system", &c.system),
        ("user", &c.user),
        ("assistant", &c.assistant),
    ]
    .iter()
    .filter_map(|(k, n)| n.as_ref().map(|n| format!("{k} = {n:?}")))
    .collect();
    let col = |key: &str, name: &Option<String>| -> Result<Option<usize>, StageError> {
        match name {
            None => Ok(None),
            Some(n) => names.iter().position(|h| h == n).map(Some).ok_or_else(|| {
                StageError::data(format!(
                    "{shown}:1: the header has no column {n:?} (data.csv.{key}); the first line has {} column(s) and must be a header row naming the columns set in data.csv ({}); its names are not shown, since without a header row they would be a record's content",
                    names.len(),
                    wanted.join(", ")
                ))
            }),
        }
    };
    let cols = [
        col("text", &c.text)?,
        col("instruction", &c.instruction)?,
        col("input", &c.input)?,
        col("output", &c.output)?,
        col("system", &c.system)?,
        col("user", &c.user)?,
        col("assistant", &c.assistant)?,
    ];
    let n_cols = headers.len();
    let mut rec = csv::ByteRecord::new();
    let mut ordinal = 0u64;
    let mut reported = 0u64;
    loop {
        let at = rdr.position().byte();
        if ordinal.is_multiple_of(1024) || at - reported >= POLL_BYTES {
            if (scan.cancelled)() {
                return Err(StageError::interrupted());
            }
            (scan.on_bytes)(at - reported);
            reported = at;
        }
        mark.set(0);
        let before = rdr.position().clone();
        match rdr.read_byte_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = before.line() + 1;
                return Err(io_or_oversize(&e, line).unwrap_or_else(|| {
                    StageError::data(format!(
                        "{shown}:{line}: cannot parse CSV ({}); fix the record's quoting or delimiters",
                        csv_error_kind(&e)
                    ))
                }));
            }
        }
        let p = rec.position().cloned().unwrap_or(before);
        let pos = Pos {
            ordinal,
            line: p.line(),
            offset: p.byte(),
        };
        ordinal += 1;
        let item = if rec.len() != n_cols {
            Item::Invalid {
                pos,
                reason: format!(
                    "the record has {} field(s) but the header has {n_cols}; check the delimiter and quoting",
                    rec.len()
                ),
            }
        } else {
            match csv_record(kind, &cols, &rec) {
                Ok(r) => Item::Valid {
                    pos,
                    hash: r.content_hash(),
                    chars: r.char_len(),
                    record: scan.want_records.then_some(r),
                },
                Err(e) => Item::Invalid {
                    pos,
                    reason: e.reason().to_owned(),
                },
            }
        };
        visit(item)?;
    }
    let inner = rdr.into_inner().inner;
    let total = inner.bytes();
    (scan.on_bytes)(total.saturating_sub(reported));
    Ok((inner.finish(), total))
}

/// Read the records an ingest index accepted, in index order, checking each
/// against its indexed content hash and each file against its indexed
/// SHA-256. `files` are the paths to open, in the index's file order.
/// A mismatch means the input changed after ingest: exit 66, rerun ingest.
pub fn read_indexed(
    data: &DataConfig,
    index: &Index,
    files: &[std::path::PathBuf],
    on_bytes: &mut dyn FnMut(u64),
    cancelled: &dyn Fn() -> bool,
    visit: &mut dyn FnMut(&IndexEntry, Record) -> Result<(), StageError>,
) -> Result<(), StageError> {
    if files.len() != index.files.len() {
        return Err(StageError::missing(format!(
            "the ingest index lists {} input file(s) but {} were given; rerun ingest",
            index.files.len(),
            files.len()
        )));
    }
    let mut entries = index.entries.iter().peekable();
    for (fi, path) in files.iter().enumerate() {
        let shown = &index.files[fi].path;
        let changed = || {
            StageError::missing(format!(
                "{}: the file changed after ingest indexed it; rerun ingest (`sealtune run` does)",
                path.display()
            ))
        };
        let (sha, _) = scan_file(
            path,
            shown,
            Scan {
                data,
                want_records: true,
                on_bytes: &mut *on_bytes,
                cancelled,
            },
            &mut |item| {
                let Item::Valid {
                    pos, hash, record, ..
                } = item
                else {
                    return Ok(());
                };
                let Some(e) = entries
                    .peek()
                    .copied()
                    .filter(|e| e.file as usize == fi && e.ordinal == pos.ordinal)
                else {
                    return Ok(());
                };
                entries.next();
                if hash[..16] != e.hash {
                    return Err(changed());
                }
                let rec = record.ok_or_else(|| StageError::internal("record not built"))?;
                visit(e, rec)
            },
        )?;
        if entries.peek().is_some_and(|e| e.file as usize == fi) || sha != index.files[fi].sha256 {
            return Err(changed());
        }
    }
    if entries.next().is_some() {
        return Err(StageError::internal("index entries out of file order"));
    }
    Ok(())
}
