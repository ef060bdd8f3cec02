//! Where a queue's files live: the queue's directory name, segment and ack file names, and the
//! in-process registry that keeps one queue directory from being opened twice.
//!
//! Kept apart from the reading and writing code so the naming rules (which must never change
//! once data is on disk) are in one short place.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

/// Extension of a segment file: `00000000000000000001.seg`.
pub(super) const SEGMENT_EXT: &str = "seg";
/// Extension of a segment's ack file: `00000000000000000001.ack`.
pub(super) const ACK_EXT: &str = "ack";

/// A directory name for the exporter id `name` (`otlp/vendor` -> `otlp_vendor`).
///
/// The mapping is one-to-one, so two exporters never share a directory: ASCII letters, digits,
/// `-` and `.` stay (except a leading `.`, so the name is never `.`, `..` or hidden); `/` becomes
/// `_`; every other byte, `_` included, becomes `~HH` (its hex value). An empty name becomes `~`.
pub(super) fn directory_name(name: &str) -> String {
    if name.is_empty() {
        return "~".to_owned();
    }
    let mut out = String::with_capacity(name.len());
    for (i, byte) in name.bytes().enumerate() {
        match byte {
            b'.' if i == 0 => out.push_str("~2E"),
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' => out.push(char::from(byte)),
            b'/' => out.push('_'),
            _ => out.push_str(&format!("~{byte:02X}")),
        }
    }
    out
}

/// The path of segment `seq` in `dir`.
pub(super) fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}.{SEGMENT_EXT}"))
}

/// The path of the ack file of segment `seq` in `dir`.
pub(super) fn ack_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}.{ACK_EXT}"))
}

/// What a file name in a queue directory is.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum FileKind {
    /// `<20 digits>.seg`.
    Segment(u64),
    /// `<20 digits>.ack`.
    Ack(u64),
    /// Anything else.
    Other,
}

/// Classifies a file name (not a path).
pub(super) fn classify(file_name: &str) -> FileKind {
    let Some((stem, ext)) = file_name.split_once('.') else {
        return FileKind::Other;
    };
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return FileKind::Other;
    }
    // Twenty digits can exceed u64; such a name is not one this module wrote.
    let Ok(seq) = stem.parse::<u64>() else {
        return FileKind::Other;
    };
    match ext {
        SEGMENT_EXT => FileKind::Segment(seq),
        ACK_EXT => FileKind::Ack(seq),
        _ => FileKind::Other,
    }
}

/// Queue directories open in this process (canonical paths).
static OPEN: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

/// A queue directory held open by this process; released on drop.
#[derive(Debug)]
pub(super) struct DirLock {
    path: PathBuf,
}

impl DirLock {
    /// Claims `dir` (canonicalized, so two spellings of one directory collide), or says which
    /// path is already held.
    pub(super) fn acquire(dir: &Path) -> std::io::Result<DirLock> {
        let path = dir.canonicalize()?;
        let mut open = OPEN.lock().unwrap_or_else(PoisonError::into_inner);
        if !open.insert(path.clone()) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "this queue directory is already open in this process (two exporters with the \
                 same id, or a queue opened twice)",
            ));
        }
        Ok(DirLock { path })
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        OPEN.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_names_are_readable_and_distinct() {
        let cases = [
            ("otlp", "otlp"),
            ("otlp/vendor", "otlp_vendor"),
            ("otlp_vendor", "otlp~5Fvendor"),
            ("otlphttp/eu-west.1", "otlphttp_eu-west.1"),
            ("..", "~2E."),
            (".hidden", "~2Ehidden"),
            ("a b", "a~20b"),
            ("", "~"),
            ("é", "~C3~A9"),
        ];
        for (name, want) in cases {
            assert_eq!(directory_name(name), want, "{name:?}");
        }
    }

    #[test]
    fn file_names_round_trip() {
        let dir = Path::new("/q");
        let seg = segment_path(dir, 7);
        let ack = ack_path(dir, 7);
        let name = |p: &Path| p.file_name().unwrap().to_str().unwrap().to_owned();
        assert_eq!(name(&seg), "00000000000000000007.seg");
        assert_eq!(classify(&name(&seg)), FileKind::Segment(7));
        assert_eq!(classify(&name(&ack)), FileKind::Ack(7));
        assert_eq!(classify("7.seg"), FileKind::Other);
        assert_eq!(classify("99999999999999999999.seg"), FileKind::Other);
        assert_eq!(classify("00000000000000000007.tmp"), FileKind::Other);
        assert_eq!(classify("notes.txt"), FileKind::Other);
    }
}
