//! Server-sent events framing.
//!
//! `SseSplitter` cuts an incoming byte stream into complete events (blocks ended by a blank
//! line) without copying more than the partial tail; `SseEvent::parse` reads one block's
//! `event:` and `data:` fields. Comments (`:` lines), `id:`/`retry:` and unknown fields are
//! tolerated and ignored. Line endings `\n`, `\r\n` and `\r` are all accepted.

use bytes::{Bytes, BytesMut};

/// Upper bound on one event's size; a larger one is a protocol error (never unbounded memory).
pub const MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

/// Errors of SSE framing.
#[derive(Debug, thiserror::Error)]
pub enum SseError {
    #[error("an SSE event exceeded {MAX_EVENT_BYTES} bytes")]
    EventTooLarge,
}

/// Splits a byte stream into raw SSE event blocks (each including its terminating blank line).
#[derive(Debug, Default)]
pub struct SseSplitter {
    buf: BytesMut,
    /// Bytes already scanned for a terminator (so each byte is scanned once).
    scanned: usize,
}

impl SseSplitter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes received from the network.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), SseError> {
        self.buf.extend_from_slice(chunk);
        if self.buf.len() > MAX_EVENT_BYTES {
            return Err(SseError::EventTooLarge);
        }
        Ok(())
    }

    /// The next complete event block, if one is buffered.
    pub fn next_event(&mut self) -> Option<Bytes> {
        let start = self.scanned.saturating_sub(3);
        let hay = &self.buf[start..];
        let mut i = 0;
        while let Some(pos) = memchr::memchr2(b'\n', b'\r', &hay[i..]) {
            let p = i + pos;
            // Find the end of this line terminator and check if a blank line follows.
            let after = match (hay[p], hay.get(p + 1)) {
                (b'\r', Some(b'\n')) => p + 2,
                (b'\r', None) => {
                    // Could be the start of \r\n: wait for more bytes.
                    self.scanned = start + p;
                    return None;
                }
                _ => p + 1,
            };
            match hay.get(after) {
                Some(b'\n') => return Some(self.take(start + after + 1)),
                Some(b'\r') => match hay.get(after + 1) {
                    Some(b'\n') => return Some(self.take(start + after + 2)),
                    Some(_) => return Some(self.take(start + after + 1)),
                    None => {
                        self.scanned = start + after;
                        return None;
                    }
                },
                Some(_) => i = after,
                None => {
                    self.scanned = start + p;
                    return None;
                }
            }
        }
        self.scanned = self.buf.len();
        None
    }

    /// What is left when the stream ends: a last event without its blank line, if any.
    pub fn take_rest(&mut self) -> Option<Bytes> {
        self.scanned = 0;
        let rest = self.buf.split().freeze();
        rest.iter()
            .any(|b| !b.is_ascii_whitespace())
            .then_some(rest)
    }

    fn take(&mut self, end: usize) -> Bytes {
        self.scanned = 0;
        self.buf.split_to(end).freeze()
    }
}

/// One parsed SSE event.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SseEvent<'a> {
    /// The `event:` field, if any.
    pub event: Option<&'a str>,
    /// The `data:` lines joined with `\n`; `None` when the block had no data (a comment or ping).
    pub data: Option<std::borrow::Cow<'a, str>>,
}

impl<'a> SseEvent<'a> {
    /// Parses a raw event block. Invalid UTF-8 lines are skipped.
    pub fn parse(block: &'a [u8]) -> SseEvent<'a> {
        let mut ev = SseEvent::default();
        let text = match std::str::from_utf8(block) {
            Ok(t) => t,
            Err(e) => match std::str::from_utf8(&block[..e.valid_up_to()]) {
                Ok(t) => t,
                Err(_) => return ev,
            },
        };
        // Lines end at `\n` or `\r` (both ASCII, so every cut is a char boundary).
        let bytes = text.as_bytes();
        let mut start = 0;
        loop {
            let end =
                memchr::memchr2(b'\n', b'\r', &bytes[start..]).map_or(bytes.len(), |i| start + i);
            ev.field(&text[start..end]);
            if end >= bytes.len() {
                break;
            }
            start = end + 1;
        }
        ev
    }

    /// Applies one line of a block.
    fn field(&mut self, line: &'a str) {
        if line.is_empty() || line.starts_with(':') {
            return;
        }
        let (field, value) = match line.find(':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(' ').unwrap_or(v))
            }
            None => (line, ""),
        };
        match field {
            "event" => self.event = Some(value),
            "data" => {
                self.data = Some(match self.data.take() {
                    None => std::borrow::Cow::Borrowed(value),
                    Some(prev) => std::borrow::Cow::Owned(format!("{prev}\n{value}")),
                })
            }
            _ => {}
        }
    }
}

/// Encodes a `data:` event.
pub fn data_event(data: &str) -> Bytes {
    let mut out = String::with_capacity(data.len() + 8);
    for line in data.split('\n') {
        out.push_str("data: ");
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(chunks: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut s = SseSplitter::new();
        let mut out = vec![];
        for c in chunks {
            s.push(c).unwrap();
            while let Some(e) = s.next_event() {
                out.push(e.to_vec());
            }
        }
        out
    }

    #[test]
    fn splits_across_chunk_boundaries() {
        let evs = collect(&[b"data: a\n", b"\ndata: b\n\nda", b"ta: c\n", b"\n"]);
        assert_eq!(
            evs,
            vec![
                b"data: a\n\n".to_vec(),
                b"data: b\n\n".to_vec(),
                b"data: c\n\n".to_vec()
            ]
        );
    }

    #[test]
    fn crlf_and_split_crlf() {
        let evs = collect(&[b"data: a\r", b"\n\r", b"\ndata: b\r\n\r\n"]);
        assert_eq!(
            evs,
            vec![b"data: a\r\n\r\n".to_vec(), b"data: b\r\n\r\n".to_vec()]
        );
    }

    #[test]
    fn parses_fields_and_tolerates_comments() {
        let e = SseEvent::parse(
            b": ping\nevent: message\nid: 3\nretry: 10\nfoo: bar\ndata: {\"a\":1}\ndata:x\n\n",
        );
        assert_eq!(e.event, Some("message"));
        assert_eq!(e.data.as_deref(), Some("{\"a\":1}\nx"));
        let c = SseEvent::parse(b": keep-alive\n\n");
        assert_eq!(c.data, None);
    }

    #[test]
    fn a_last_event_without_blank_line_is_kept() {
        let mut s = SseSplitter::new();
        s.push(b"data: a\n\ndata: b").unwrap();
        assert_eq!(s.next_event().unwrap().as_ref(), b"data: a\n\n");
        assert!(s.next_event().is_none());
        assert_eq!(s.take_rest().unwrap().as_ref(), b"data: b");
        s.push(b"\n\n").unwrap();
        assert!(s.take_rest().is_none());
    }

    #[test]
    fn encodes() {
        assert_eq!(&data_event("x")[..], b"data: x\n\n");
    }
}
