//! Start-up: what a queue directory holds, and what of it is still to be delivered.
//!
//! Recovery reads every segment and its ack file, keeps the records not yet acked (in order,
//! to be handed out before anything new), deletes segments that were completely delivered, and
//! reports the rest in a [`Recovery`]: damaged segments (their readable part is kept, the bytes
//! after it are counted as discarded) and files that are not the queue's (left alone). Damage
//! never stops the queue from opening; only a directory that cannot be listed does.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use super::layout::{FileKind, ack_path, classify, segment_path};
use super::segment::{self, Damage, Record, Scanned};
use super::state::SegmentState;

/// What opening a queue found on disk.
#[derive(Debug, Default)]
pub struct Recovery {
    /// Batches found and not yet acked; they are handed out again, in order, before new ones.
    pub batches: usize,
    /// Items (points, spans, log records) in those batches.
    pub items: u64,
    /// Segment files read (including damaged ones and ones deleted as fully delivered).
    pub segments: usize,
    /// Segments whose readable part ended before the end of the file.
    pub damaged: Vec<DamagedSegment>,
    /// Bytes past the readable part of damaged segments (lost; the segment is deleted once its
    /// readable records are delivered).
    pub discarded_bytes: u64,
    /// Files and directories in the queue's directory that are not the queue's: left alone.
    pub foreign: Vec<ForeignFile>,
    /// Recovered batches beyond the queue's capacity: new batches are refused until the queue
    /// has drained below its capacity.
    pub over_capacity: usize,
}

/// A segment whose readable part ends early.
#[derive(Debug)]
pub struct DamagedSegment {
    /// The segment file.
    pub path: PathBuf,
    /// Why reading stopped.
    pub damage: Damage,
    /// Readable records kept from it.
    pub kept: usize,
    /// Bytes after the readable part.
    pub discarded_bytes: u64,
}

/// A file the queue did not write, or cannot read.
#[derive(Debug)]
pub struct ForeignFile {
    /// The file.
    pub path: PathBuf,
    /// Why it is left alone.
    pub reason: String,
}

/// Recovery's result: the report, plus what the queue needs to resume.
pub(super) struct Recovered {
    pub(super) report: Recovery,
    /// Segments still holding records to deliver, by the id of their first record.
    pub(super) segments: BTreeMap<u64, SegmentState>,
    /// Records to hand out, in order: (id, segment, record).
    pub(super) pending: Vec<(u64, u64, Record)>,
    /// Segments left on disk that acks may refer to.
    pub(super) live: BTreeSet<u64>,
    /// The first free segment number.
    pub(super) next_seq: u64,
    /// The first free delivery id.
    pub(super) next_id: u64,
}

/// Reads the queue directory `dir`.
pub(super) fn recover(dir: &Path) -> io::Result<Recovered> {
    let mut report = Recovery::default();
    let mut segments = BTreeSet::new();
    let mut acks = BTreeSet::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                foreign(
                    &mut report,
                    dir.to_path_buf(),
                    format!("unreadable directory entry: {e}"),
                );
                continue;
            }
        };
        let path = entry.path();
        let kind = entry.file_name().to_str().map_or(FileKind::Other, classify);
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        match kind {
            FileKind::Segment(seq) if is_file => {
                segments.insert(seq);
            }
            FileKind::Ack(seq) if is_file => {
                acks.insert(seq);
            }
            _ => foreign(&mut report, path, "not a file this queue writes".to_owned()),
        }
    }
    let max_seq = segments
        .iter()
        .chain(acks.iter())
        .max()
        .copied()
        .unwrap_or(0);

    let mut recovered = Recovered {
        report,
        segments: BTreeMap::new(),
        pending: Vec::new(),
        live: BTreeSet::new(),
        next_seq: max_seq.saturating_add(1),
        next_id: 0,
    };
    for &seq in &segments {
        recover_segment(&mut recovered, dir, seq);
    }
    for seq in acks.difference(&segments) {
        // The segment was deleted and the process stopped before its ack file went too.
        let path = ack_path(dir, *seq);
        if let Err(e) = std::fs::remove_file(&path) {
            tracing::warn!(path = %path.display(), error = %e, "persistent queue: could not delete an orphan ack file");
        }
    }
    Ok(recovered)
}

fn foreign(report: &mut Recovery, path: PathBuf, reason: String) {
    tracing::warn!(path = %path.display(), reason = %reason, "persistent queue: leaving alone a file it did not write");
    report.foreign.push(ForeignFile { path, reason });
}

/// Recovers one segment into `recovered`.
fn recover_segment(recovered: &mut Recovered, dir: &Path, seq: u64) {
    let path = segment_path(dir, seq);
    let (records, discarded, damage) = match segment::scan(&path) {
        Ok(Scanned::Segment {
            records,
            discarded,
            damage,
        }) => (records, discarded, damage),
        Ok(Scanned::Foreign(reason)) => return foreign(&mut recovered.report, path, reason),
        Err(e) => return foreign(&mut recovered.report, path, format!("unreadable: {e}")),
    };
    let report = &mut recovered.report;
    report.segments += 1;
    if let Some(damage) = damage {
        tracing::warn!(
            path = %path.display(),
            damage = %damage,
            kept = records.len(),
            discarded_bytes = discarded,
            "persistent queue: segment damaged; keeping the records before the damage",
        );
        report.discarded_bytes += discarded;
        report.damaged.push(DamagedSegment {
            path: path.clone(),
            damage,
            kept: records.len(),
            discarded_bytes: discarded,
        });
    }

    let count = u32::try_from(records.len()).unwrap_or(u32::MAX);
    let mut state = SegmentState::new(seq, true);
    state.count = count;
    let ack_file = ack_path(dir, seq);
    match read_acks(&ack_file, &mut state) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::warn!(path = %ack_file.display(), error = %e, "persistent queue: could not read acks; those batches will be delivered again")
        }
    }
    if state.acked >= count {
        // Completely delivered (or nothing readable): the segment is done with.
        let removed =
            std::fs::remove_file(&path).and_then(|()| match std::fs::remove_file(&ack_file) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            });
        if let Err(e) = removed {
            tracing::warn!(path = %path.display(), error = %e, "persistent queue: could not delete a delivered segment");
        }
        return;
    }

    let first_id = recovered.next_id;
    for (index, record) in (0..count).zip(records) {
        if !state.is_acked(index) {
            report.batches += 1;
            report.items = report.items.saturating_add(record.items);
            recovered
                .pending
                .push((first_id + u64::from(index), seq, record));
        }
    }
    recovered.next_id = first_id + u64::from(count);
    recovered.live.insert(seq);
    recovered.segments.insert(first_id, state);
}

/// Applies an ack file (little-endian `u32` record indices) to `state`. Indices out of range
/// and a torn last entry are ignored.
fn read_acks(path: &Path, state: &mut SegmentState) -> io::Result<()> {
    let mut reader = BufReader::new(File::open(path)?);
    let mut entry = [0u8; 4];
    loop {
        match reader.read_exact(&mut entry) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        }
        let index = u32::from_le_bytes(entry);
        if index < state.count {
            state.set_acked(index);
        }
    }
}
