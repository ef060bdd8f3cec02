//! The segment file format: encoding a record, scanning a segment at start-up, and reading one
//! record back for delivery.
//!
//! A segment is an 8-byte header (`VIGILSQ` and a format version byte, 1) followed by records,
//! each a 17-byte header and a body, all integers little-endian:
//!
//! ```text
//! offset  size  field
//! 0       4     len     body length in bytes (at most MAX_BODY)
//! 4       4     crc     CRC-32 (IEEE) of len, tag, items and body, in that order
//! 8       1     tag     Signal::tag (1 metrics, 2 traces, 3 logs)
//! 9       8     items   the batch's item count
//! 17      len   body    the encoded OTLP request, as pushed
//! ```
//!
//! Scanning never trusts the file: the first record that is cut short, fails its checksum, has an
//! unknown tag or an absurd length ends the segment's readable part, and the reason is returned
//! as a [`Damage`] instead of an error. Scanning streams bodies through the checksum, so a
//! corrupt length never makes it allocate.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use bytes::Bytes;

use crate::pipeline::Signal;

/// The segment header: a magic string and the format version.
pub(super) const MAGIC: [u8; 8] = *b"VIGILSQ\x01";
/// Bytes in a record header.
pub(super) const RECORD_HEADER: u64 = 17;
/// The largest body a record may hold. A pushed batch above it is refused; a length above it
/// read from disk is corruption.
pub const MAX_BODY: u32 = 1 << 30;

/// Why a segment's readable part ended before the end of the file.
#[derive(Debug, thiserror::Error)]
pub enum Damage {
    /// The file is shorter than the segment header (the process died while creating it).
    #[error("the file ends inside the segment header ({len} bytes)")]
    TruncatedHeader {
        /// The file's length.
        len: u64,
    },
    /// The last record is cut short (the process died while writing it).
    #[error(
        "the record at offset {offset} is cut short: it needs {needed} bytes, {available} remain"
    )]
    Truncated {
        /// Where the record starts.
        offset: u64,
        /// Bytes the record needs (its header, or header and body).
        needed: u64,
        /// Bytes left in the file from `offset`.
        available: u64,
    },
    /// A record's checksum does not match its contents.
    #[error("the record at offset {offset} fails its checksum")]
    BadChecksum {
        /// Where the record starts.
        offset: u64,
    },
    /// A record's signal tag is none of [`Signal::tag`]'s.
    #[error("the record at offset {offset} has unknown signal tag {tag}")]
    UnknownSignal {
        /// Where the record starts.
        offset: u64,
        /// The tag found.
        tag: u8,
    },
    /// A record claims a body larger than [`MAX_BODY`].
    #[error("the record at offset {offset} claims a body of {len} bytes (the limit is {MAX_BODY})")]
    AbsurdLength {
        /// Where the record starts.
        offset: u64,
        /// The length found.
        len: u32,
    },
    /// Reading failed.
    #[error("reading at offset {offset} failed: {source}")]
    Unreadable {
        /// Where reading failed.
        offset: u64,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
}

/// A record's place and description, from a scan or from the writer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Record {
    /// Where the record's header starts in the segment.
    pub(super) offset: u64,
    /// The body's length.
    pub(super) len: u32,
    /// The batch's signal.
    pub(super) signal: Signal,
    /// The batch's item count.
    pub(super) items: u64,
}

/// What scanning a segment found.
#[derive(Debug)]
pub(super) enum Scanned {
    /// A segment of this format: its readable records, and why it ended early, if it did.
    Segment {
        /// The readable records, in order.
        records: Vec<Record>,
        /// Bytes past the readable part.
        discarded: u64,
        /// Why the readable part ended before the end of the file.
        damage: Option<Damage>,
    },
    /// Not a segment of this format; the reason.
    Foreign(String),
}

/// The 17-byte header of a record holding `body`.
pub(super) fn encode_header(signal: Signal, items: u64, body: &[u8]) -> io::Result<[u8; 17]> {
    let len = u32::try_from(body.len())
        .ok()
        .filter(|len| *len <= MAX_BODY)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a batch of {} bytes is larger than the queue's record limit of {MAX_BODY}",
                    body.len()
                ),
            )
        })?;
    let tag = signal.tag();
    let mut hasher = checksum_start(len, tag, items);
    hasher.update(body);
    let mut header = [0u8; 17];
    header[0..4].copy_from_slice(&len.to_le_bytes());
    header[4..8].copy_from_slice(&hasher.finalize().to_le_bytes());
    header[8] = tag;
    header[9..17].copy_from_slice(&items.to_le_bytes());
    Ok(header)
}

fn checksum_start(len: u32, tag: u8, items: u64) -> crc32fast::Hasher {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&len.to_le_bytes());
    hasher.update(&[tag]);
    hasher.update(&items.to_le_bytes());
    hasher
}

/// A record header's fields.
struct Header {
    len: u32,
    crc: u32,
    tag: u8,
    items: u64,
}

fn decode_header(bytes: &[u8; 17]) -> Header {
    let [
        l0,
        l1,
        l2,
        l3,
        c0,
        c1,
        c2,
        c3,
        tag,
        i0,
        i1,
        i2,
        i3,
        i4,
        i5,
        i6,
        i7,
    ] = *bytes;
    Header {
        len: u32::from_le_bytes([l0, l1, l2, l3]),
        crc: u32::from_le_bytes([c0, c1, c2, c3]),
        tag,
        items: u64::from_le_bytes([i0, i1, i2, i3, i4, i5, i6, i7]),
    }
}

/// Reads every readable record of the segment at `path`. Fails only if the file cannot be opened
/// or measured; everything found inside it is reported in the result.
pub(super) fn scan(path: &Path) -> io::Result<Scanned> {
    let file = File::open(path)?;
    let file_len = file.metadata()?.len();
    let mut reader = BufReader::with_capacity(64 * 1024, file);

    let mut magic = [0u8; 8];
    let got = read_up_to(&mut reader, &mut magic)?;
    if got < magic.len() {
        if magic[..got] == MAGIC[..got] {
            return Ok(Scanned::Segment {
                records: Vec::new(),
                discarded: file_len,
                damage: Some(Damage::TruncatedHeader { len: file_len }),
            });
        }
        return Ok(Scanned::Foreign(
            "not a Vigil queue segment (no header)".to_owned(),
        ));
    }
    if magic != MAGIC {
        if magic[..7] == MAGIC[..7] {
            return Ok(Scanned::Foreign(format!(
                "a Vigil queue segment of unsupported format version {}",
                magic[7]
            )));
        }
        return Ok(Scanned::Foreign(
            "not a Vigil queue segment (bad header)".to_owned(),
        ));
    }

    let mut records = Vec::new();
    let mut offset = MAGIC.len() as u64;
    let mut chunk = vec![0u8; 64 * 1024];
    let damage = loop {
        let available = file_len.saturating_sub(offset);
        if available == 0 {
            break None;
        }
        if available < RECORD_HEADER {
            break Some(Damage::Truncated {
                offset,
                needed: RECORD_HEADER,
                available,
            });
        }
        let mut raw = [0u8; 17];
        if let Err(source) = reader.read_exact(&mut raw) {
            break Some(Damage::Unreadable { offset, source });
        }
        let header = decode_header(&raw);
        let Some(signal) = Signal::from_tag(header.tag) else {
            break Some(Damage::UnknownSignal {
                offset,
                tag: header.tag,
            });
        };
        if header.len > MAX_BODY {
            break Some(Damage::AbsurdLength {
                offset,
                len: header.len,
            });
        }
        let needed = RECORD_HEADER + u64::from(header.len);
        if needed > available {
            break Some(Damage::Truncated {
                offset,
                needed,
                available,
            });
        }
        let mut hasher = checksum_start(header.len, header.tag, header.items);
        let mut left = u64::from(header.len);
        let mut failed = None;
        while left > 0 {
            let take = usize::try_from(left).unwrap_or(usize::MAX).min(chunk.len());
            let buf = &mut chunk[..take];
            if let Err(source) = reader.read_exact(buf) {
                failed = Some(source);
                break;
            }
            hasher.update(buf);
            left -= take as u64;
        }
        if let Some(source) = failed {
            break Some(Damage::Unreadable { offset, source });
        }
        if hasher.finalize() != header.crc {
            break Some(Damage::BadChecksum { offset });
        }
        records.push(Record {
            offset,
            len: header.len,
            signal,
            items: header.items,
        });
        offset += needed;
    };
    let discarded = if damage.is_some() {
        file_len.saturating_sub(offset)
    } else {
        0
    };
    Ok(Scanned::Segment {
        records,
        discarded,
        damage,
    })
}

/// Reads as many bytes as fit in `buf` or remain, whichever is fewer.
fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Reads back the record `expected` describes and checks it against its checksum and
/// description. Blocking: call it off the async runtime.
pub(super) fn read(path: &Path, expected: &Record) -> io::Result<Bytes> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(expected.offset))?;
    let mut buf = vec![0u8; RECORD_HEADER as usize + expected.len as usize];
    file.read_exact(&mut buf)?;
    let mut raw = [0u8; 17];
    raw.copy_from_slice(&buf[..17]);
    let header = decode_header(&raw);
    let mut hasher = checksum_start(header.len, header.tag, header.items);
    hasher.update(&buf[17..]);
    let intact = header.len == expected.len
        && header.tag == expected.signal.tag()
        && header.items == expected.items
        && hasher.finalize() == header.crc;
    if !intact {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "the record at offset {} changed on disk since it was written (checksum or header mismatch)",
                expected.offset
            ),
        ));
    }
    Ok(Bytes::from(buf).slice(17..))
}
