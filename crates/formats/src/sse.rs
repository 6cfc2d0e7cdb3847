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
///
/// A chunk handed over as `Bytes` (`push_bytes`) while nothing is buffered is cut into events
/// without a copy (the events share its memory); only an incomplete tail is copied into the
/// buffer, to be joined with what comes next.
#[derive(Debug, Default)]
pub struct SseSplitter {
    /// Partial data joined from several chunks (copied).
    buf: BytesMut,
    /// One received chunk not split yet (not copied). At most one of `buf` and `pending`
    /// holds bytes.
    pending: Bytes,
    /// Bytes already scanned for a terminator (so each byte is scanned once).
    scanned: usize,
}

impl SseSplitter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes received from the network (copied).
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), SseError> {
        self.join_pending();
        self.buf.extend_from_slice(chunk);
        self.check_size()
    }

    /// Adds a chunk received from the network, without copying it when nothing is buffered.
    pub fn push_bytes(&mut self, chunk: Bytes) -> Result<(), SseError> {
        if self.buf.is_empty() && self.pending.is_empty() {
            self.pending = chunk;
            self.scanned = 0;
            return self.check_size();
        }
        self.push(&chunk)
    }

    /// Moves an unsplit chunk into the buffer (its scan position stays valid).
    fn join_pending(&mut self) {
        if !self.pending.is_empty() {
            self.buf.extend_from_slice(&self.pending);
            self.pending = Bytes::new();
        }
    }

    fn check_size(&self) -> Result<(), SseError> {
        if self.buf.len() + self.pending.len() > MAX_EVENT_BYTES {
            return Err(SseError::EventTooLarge);
        }
        Ok(())
    }

    /// The next complete event block, if one is buffered.
    pub fn next_event(&mut self) -> Option<Bytes> {
        if !self.pending.is_empty() {
            return match event_end(&self.pending, self.scanned) {
                Ok(end) => {
                    self.scanned = 0;
                    Some(self.pending.split_to(end))
                }
                Err(scanned) => {
                    self.scanned = scanned;
                    None
                }
            };
        }
        match event_end(&self.buf, self.scanned) {
            Ok(end) => {
                self.scanned = 0;
                Some(self.buf.split_to(end).freeze())
            }
            Err(scanned) => {
                self.scanned = scanned;
                None
            }
        }
    }

    /// What is left when the stream ends: a last event without its blank line, if any.
    pub fn take_rest(&mut self) -> Option<Bytes> {
        self.scanned = 0;
        let rest = if self.pending.is_empty() {
            self.buf.split().freeze()
        } else {
            std::mem::take(&mut self.pending)
        };
        rest.iter()
            .any(|b| !b.is_ascii_whitespace())
            .then_some(rest)
    }
}

/// Where the first event block of `buf` ends (just past its blank line), looking from
/// `scanned` (bytes before it hold no terminator), or `Err(scanned)` with how far it is known
/// to hold none: the block is not complete yet.
fn event_end(buf: &[u8], scanned: usize) -> Result<usize, usize> {
    let start = scanned.saturating_sub(3);
    let hay = &buf[start..];
    let mut i = 0;
    while let Some(pos) = memchr::memchr2(b'\n', b'\r', &hay[i..]) {
        let p = i + pos;
        // Find the end of this line terminator and check if a blank line follows.
        let after = match (hay[p], hay.get(p + 1)) {
            (b'\r', Some(b'\n')) => p + 2,
            // Could be the start of \r\n: wait for more bytes.
            (b'\r', None) => return Err(start + p),
            _ => p + 1,
        };
        match hay.get(after) {
            Some(b'\n') => return Ok(start + after + 1),
            Some(b'\r') => match hay.get(after + 1) {
                Some(b'\n') => return Ok(start + after + 2),
                Some(_) => return Ok(start + after + 1),
                None => return Err(start + after),
            },
            Some(_) => i = after,
            None => return Err(start + p),
        }
    }
    Err(buf.len())
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

/// Where the value of a block that is exactly one `data:` line ends in a blank line
/// (`data: <value>\n\n`, the shape of nearly every event an OpenAI-style upstream sends):
/// the range of `<value>` (one leading space dropped, as `SseEvent::parse` drops it).
/// `None` for any other block, which then needs `SseEvent::parse`. Reads the block once,
/// without checking UTF-8: for blocks passed through as they are.
pub fn single_data_line(block: &[u8]) -> Option<std::ops::Range<usize>> {
    let line = block.strip_suffix(b"\n\n")?;
    let start = if line.starts_with(b"data: ") {
        6
    } else if line.starts_with(b"data:") {
        5
    } else {
        return None;
    };
    if memchr::memchr2(b'\n', b'\r', &line[start..]).is_some() {
        return None;
    }
    Some(start..line.len())
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

    /// The events of `chunks` fed with `push` (copying), checked to be the same fed with
    /// `push_bytes` (zero-copy when nothing is buffered), the rest included.
    fn collect(chunks: &[&[u8]]) -> Vec<Vec<u8>> {
        let (copied, rest) = collect_with(chunks, false);
        assert_eq!((copied.clone(), rest), collect_with(chunks, true));
        copied
    }

    fn collect_with(chunks: &[&[u8]], as_bytes: bool) -> (Vec<Vec<u8>>, Option<Vec<u8>>) {
        let mut s = SseSplitter::new();
        let mut out = vec![];
        for c in chunks {
            if as_bytes {
                s.push_bytes(Bytes::copy_from_slice(c)).unwrap();
            } else {
                s.push(c).unwrap();
            }
            while let Some(e) = s.next_event() {
                out.push(e.to_vec());
            }
        }
        (out, s.take_rest().map(|r| r.to_vec()))
    }

    #[test]
    fn whole_events_in_a_chunk_are_not_copied() {
        let chunk = Bytes::from_static(b"data: a\n\ndata: b\n\ndata: c");
        let mut s = SseSplitter::new();
        s.push_bytes(chunk.clone()).unwrap();
        let a = s.next_event().unwrap();
        let b = s.next_event().unwrap();
        assert_eq!(
            (a.as_ref(), b.as_ref()),
            (&b"data: a\n\n"[..], &b"data: b\n\n"[..])
        );
        let range = chunk.as_ptr_range();
        assert!(range.contains(&a.as_ptr()) && range.contains(&b.as_ptr()));
        assert!(s.next_event().is_none());
        // The tail waits for the rest, which is joined to it.
        s.push_bytes(Bytes::from_static(b"\n\n")).unwrap();
        assert_eq!(s.next_event().unwrap().as_ref(), b"data: c\n\n");
        assert!(s.take_rest().is_none());
    }

    proptest::proptest! {
        /// However a stream is cut into chunks, both ways of feeding it give the events of
        /// the uncut stream.
        #[test]
        fn any_cut_gives_the_same_events(
            events in proptest::collection::vec("[a-z ]{0,12}", 0..8),
            crlf in proptest::bool::ANY,
            cuts in proptest::collection::vec(0usize..200, 0..10),
        ) {
            let nl = if crlf { "\r\n" } else { "\n" };
            let stream: String = events.iter().map(|e| format!("data: {e}{nl}{nl}")).collect();
            let bytes = stream.as_bytes();
            let mut at: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
            at.sort_unstable();
            let mut chunks: Vec<&[u8]> = vec![];
            let mut prev = 0;
            for c in at.into_iter().chain([bytes.len()]) {
                chunks.push(&bytes[prev..c]);
                prev = c;
            }
            let expected: Vec<Vec<u8>> =
                events.iter().map(|e| format!("data: {e}{nl}{nl}").into_bytes()).collect();
            proptest::prop_assert_eq!(collect(&chunks), expected);
        }
    }

    #[test]
    fn a_single_data_line_is_found_without_the_parser() {
        let cases: [(&[u8], Option<&[u8]>); 9] = [
            (b"data: {\"a\":1}\n\n", Some(b"{\"a\":1}")),
            (b"data:{\"a\":1}\n\n", Some(b"{\"a\":1}")),
            (b"data: [DONE]\n\n", Some(b"[DONE]")),
            (b"data: \n\n", Some(b"")),
            (b"data: a\ndata: b\n\n", None),
            (b"event: x\ndata: a\n\n", None),
            (b"data: a\r\n\r\n", None),
            (b": ping\n\n", None),
            (b"data: a", None),
        ];
        for (block, want) in cases {
            let got = single_data_line(block).map(|r| &block[r]);
            assert_eq!(got, want, "{:?}", String::from_utf8_lossy(block));
        }
    }

    proptest::proptest! {
        /// Where it answers, it agrees with the general parser.
        #[test]
        fn a_single_data_line_agrees_with_parse(
            prefix in "(data: |data:|data|event: |: |id: |)",
            value in "[a-z :\\r\\n{}\"]{0,12}",
            end in "(\\n\\n|\\r\\n\\r\\n|\\n|)",
        ) {
            let block = format!("{prefix}{value}{end}");
            if let Some(r) = single_data_line(block.as_bytes()) {
                let ev = SseEvent::parse(block.as_bytes());
                proptest::prop_assert_eq!(ev.event, None);
                proptest::prop_assert_eq!(ev.data.as_deref(), Some(&block[r]));
            }
        }
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
