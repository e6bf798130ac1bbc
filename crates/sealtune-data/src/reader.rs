//! Streaming readers with bounded memory.

use std::io::{self, BufRead, Read};

use sha2::{Digest, Sha256};

/// A reader that hashes everything read through it and counts bytes.
#[derive(Debug)]
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> HashingReader<R> {
    /// Wrap a reader.
    pub fn new(inner: R) -> HashingReader<R> {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    /// Bytes read so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The SHA-256 of everything read.
    pub fn finish(self) -> [u8; 32] {
        self.hasher.finalize().into()
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// One line from [`LineReader`].
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// The line's bytes, without the trailing `\n` (or `\r\n`).
    Ok(&'a [u8]),
    /// The line was longer than the limit; it was skipped, not stored.
    TooLong {
        /// Its full length in bytes.
        len: u64,
    },
}

/// Reads `\n`-terminated lines, never holding more than `max` bytes of one
/// line in memory: a longer line is consumed and reported as [`Line::TooLong`].
#[derive(Debug)]
pub struct LineReader<R> {
    inner: R,
    max: usize,
    buf: Vec<u8>,
    /// 1-based number of the line last returned.
    pub line_no: u64,
    /// Byte offset where the line last returned starts.
    pub offset: u64,
    next_offset: u64,
}

impl<R: BufRead> LineReader<R> {
    /// `max`: the longest line kept, in bytes (excluding the newline).
    pub fn new(inner: R, max: usize) -> LineReader<R> {
        LineReader {
            inner,
            max,
            buf: Vec::new(),
            line_no: 0,
            offset: 0,
            next_offset: 0,
        }
    }

    /// The next line, or `None` at end of input.
    pub fn next_line(&mut self) -> io::Result<Option<(u64, u64, Line<'_>)>> {
        self.buf.clear();
        let mut len: u64 = 0;
        let mut too_long = false;
        let mut saw_any = false;
        loop {
            let avail = match self.inner.fill_buf() {
                Ok(a) => a,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if avail.is_empty() {
                break;
            }
            saw_any = true;
            let (chunk, done) = match memchr(b'\n', avail) {
                Some(i) => (&avail[..i], Some(i + 1)),
                None => (avail, None),
            };
            len += chunk.len() as u64;
            if !too_long {
                if self.buf.len() + chunk.len() > self.max {
                    too_long = true;
                    self.buf.clear();
                } else {
                    self.buf.extend_from_slice(chunk);
                }
            }
            let consumed = done.unwrap_or(chunk.len());
            self.inner.consume(consumed);
            if done.is_some() {
                self.offset = self.next_offset;
                self.next_offset += len + 1;
                self.line_no += 1;
                return Ok(Some((
                    self.line_no,
                    self.offset,
                    self.finish_line(too_long, len),
                )));
            }
        }
        if !saw_any && len == 0 {
            return Ok(None);
        }
        // Last line without a trailing newline.
        self.offset = self.next_offset;
        self.next_offset += len;
        self.line_no += 1;
        Ok(Some((
            self.line_no,
            self.offset,
            self.finish_line(too_long, len),
        )))
    }

    fn finish_line(&mut self, too_long: bool, len: u64) -> Line<'_> {
        if too_long {
            return Line::TooLong { len };
        }
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        Line::Ok(&self.buf)
    }

    /// The wrapped reader.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], max: usize) -> Vec<(u64, u64, Result<Vec<u8>, u64>)> {
        let mut r = LineReader::new(io::BufReader::with_capacity(4, input), max);
        let mut out = Vec::new();
        while let Some((n, off, l)) = r.next_line().unwrap() {
            let v = match l {
                Line::Ok(b) => Ok(b.to_vec()),
                Line::TooLong { len } => Err(len),
            };
            out.push((n, off, v));
        }
        out
    }

    #[test]
    fn splits_lines_with_offsets() {
        let got = lines(b"ab\r\n\ncdef\ngh", 10);
        assert_eq!(
            got,
            vec![
                (1, 0, Ok(b"ab".to_vec())),
                (2, 4, Ok(vec![])),
                (3, 5, Ok(b"cdef".to_vec())),
                (4, 10, Ok(b"gh".to_vec())),
            ]
        );
        assert!(lines(b"", 10).is_empty());
    }

    #[test]
    fn long_lines_are_skipped_not_stored() {
        let mut input = vec![b'x'; 100];
        input.extend_from_slice(b"\nok\n");
        let got = lines(&input, 10);
        assert_eq!(got[0], (1, 0, Err(100)));
        assert_eq!(got[1], (2, 101, Ok(b"ok".to_vec())));
    }
}
