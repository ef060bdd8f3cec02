//! Writing a JSON document in pieces: the two JSON snapshots are a few small objects around
//! long lists (services, metrics, series), and building the whole document before writing it
//! cost several times the store's memory per read. Here each object around a list is written
//! as soon as it is known, each list item (one metric with its series) is serialized on its own
//! into a buffer, and the buffer is handed over whenever it reaches the piece size, so a read
//! holds at most one piece and one metric.
//!
//! The objects around the lists are serialized by their own `Serialize` impls with the list
//! left empty, and split at `"<key>":[]`: the bytes before go out at once, the bytes after when
//! the list is done. So the streamed document is byte for byte the one `serde_json::to_vec`
//! gives for the whole value. The split is at the last `"<key>":[]`: each list is the last
//! field of its object but for string fields and fields left out when empty, and in
//! serde_json's output a quote inside a string is always escaped, so nothing after the list can
//! look like it (an attribute map before it can: a resource attribute `metrics` set to `[]`).

use serde::Serialize;

/// A JSON document being written in pieces.
pub(super) struct JsonStream<'e> {
    out: Vec<u8>,
    chunk: usize,
    emit: &'e mut dyn FnMut(Vec<u8>) -> bool,
    /// The reader went away: nothing more is written.
    stopped: bool,
}

/// The end of an object opened with [`JsonStream::open`]: the list's `]` and what follows it.
pub(super) struct Close(Vec<u8>);

impl<'e> JsonStream<'e> {
    /// A stream handing pieces of about `chunk` bytes to `emit`.
    pub(super) fn new(chunk: usize, emit: &'e mut dyn FnMut(Vec<u8>) -> bool) -> Self {
        let capacity = if chunk == usize::MAX {
            0
        } else {
            chunk.saturating_add(chunk / 4)
        };
        JsonStream {
            out: Vec::with_capacity(capacity),
            chunk,
            emit,
            stopped: false,
        }
    }

    /// Whether the reader went away.
    pub(super) fn stopped(&self) -> bool {
        self.stopped
    }

    /// Write `shell` up to and including the `[` of its empty list `key`; the returned
    /// [`Close`] writes the rest. `None` (and nothing written) when `shell` has no such list.
    pub(super) fn open<T: Serialize>(&mut self, shell: &T, key: &str) -> Option<Close> {
        let text = serde_json::to_vec(shell).ok()?;
        let marker = format!("\"{key}\":[]");
        let at = rfind(&text, marker.as_bytes())?;
        let split = at + marker.len() - 1;
        self.out.extend_from_slice(&text[..split]);
        Some(Close(text[split..].to_vec()))
    }

    /// Write `item` into the list opened last, after a comma unless it is the list's `first`.
    /// An item that cannot be serialized is left out; returns whether it was written.
    pub(super) fn item<T: Serialize>(&mut self, first: &mut bool, item: &T) -> bool {
        let mark = self.out.len();
        if !*first {
            self.out.push(b',');
        }
        if serde_json::to_writer(&mut self.out, item).is_err() {
            self.out.truncate(mark);
            return false;
        }
        *first = false;
        self.flush();
        true
    }

    /// Write a comma before a list item written with [`JsonStream::open`], unless it is the
    /// list's `first`.
    pub(super) fn separate(&mut self, first: &mut bool) {
        if !*first {
            self.out.push(b',');
        }
        *first = false;
    }

    /// End an object opened with [`JsonStream::open`], with `extra` (`"key":value` pairs) put
    /// right after its list.
    pub(super) fn close(&mut self, close: Close, extra: Option<&str>) {
        let (list_end, rest) = close.0.split_at(1.min(close.0.len()));
        self.out.extend_from_slice(list_end);
        if let Some(extra) = extra {
            self.out.push(b',');
            self.out.extend_from_slice(extra.as_bytes());
        }
        self.out.extend_from_slice(rest);
        self.flush();
    }

    /// Hand over the last piece.
    pub(super) fn finish(mut self) {
        if !self.stopped && !self.out.is_empty() {
            let last = std::mem::take(&mut self.out);
            (self.emit)(last);
        }
    }

    fn flush(&mut self) {
        if self.stopped || self.out.len() < self.chunk {
            return;
        }
        let capacity = self.out.capacity();
        let piece = std::mem::replace(&mut self.out, Vec::with_capacity(capacity));
        if !(self.emit)(piece) {
            self.stopped = true;
        }
    }
}

/// The last occurrence of `needle`.
fn rfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

/// Collect a chunked encoding into one body.
pub(super) fn whole(encode: impl FnOnce(&mut dyn FnMut(Vec<u8>) -> bool)) -> Vec<u8> {
    let mut body = Vec::new();
    encode(&mut |piece: Vec<u8>| {
        if body.is_empty() {
            body = piece;
        } else {
            body.extend_from_slice(&piece);
        }
        true
    });
    body
}
