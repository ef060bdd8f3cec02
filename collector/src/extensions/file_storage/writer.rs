//! The writer thread: the only code that writes or deletes a queue's files.
//!
//! Pushes, acks and deletions arrive as [`Command`]s. Each round the thread takes everything
//! waiting (up to [`GROUP_BYTES`] of bodies), appends the batches to the current segment,
//! flushes once (`fsync: true`), registers the batches for `pop`, and only then answers every
//! push of the round: that is the group commit, and it is why concurrent pushers share one fsync.
//! Acks are appended to the segments' ack files without a flush (a lost ack only means a
//! duplicate delivery), and finished segments are deleted.
//!
//! A dedicated thread rather than `spawn_blocking`: the work is a loop that lives as long as the
//! queue, and it keeps the file handles in one place. A failed write fails the whole round; the
//! segment is cut back to where the round began so later records never follow a torn one, or
//! abandoned if even that fails.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::Receiver;

use super::layout::{ack_path, segment_path};
use super::segment::{self, MAGIC, RECORD_HEADER, Record};
use super::state::{Append, Command, Shared};
use crate::pipeline::QueueError;

/// Bodies taken into one round, at most (one batch larger than this is a round of its own). It
/// bounds how far a round can push a segment past its size.
pub(super) const GROUP_BYTES: usize = 8 << 20;
/// Batches taken into one round, at most (bounds the record count a round adds to a segment).
const GROUP_RECORDS: usize = 1 << 16;

/// Where the writer starts, from recovery.
pub(super) struct Start {
    /// The first segment sequence number free to create.
    pub(super) next_seq: u64,
    /// The first delivery id not used by a recovered record.
    pub(super) next_id: u64,
    /// Segments on disk that acks may still refer to.
    pub(super) live: BTreeSet<u64>,
}

/// The segment being appended to.
struct Current {
    seq: u64,
    file: File,
    /// Bytes in the file.
    len: u64,
    /// Records in the file.
    count: u32,
    /// The delivery id of record 0.
    first_id: u64,
    /// The directory entry is not flushed yet.
    new_entry: bool,
}

/// The writer thread's state.
pub(super) struct Writer {
    shared: Arc<Shared>,
    fsync: bool,
    segment_bytes: u64,
    current: Option<Current>,
    next_seq: u64,
    next_id: u64,
    live: BTreeSet<u64>,
}

impl Writer {
    pub(super) fn new(shared: Arc<Shared>, fsync: bool, segment_bytes: u64, start: Start) -> Self {
        Writer {
            shared,
            fsync,
            segment_bytes,
            current: None,
            next_seq: start.next_seq,
            next_id: start.next_id,
            live: start.live,
        }
    }

    /// Serves commands until [`Command::Stop`] or until every sender is gone.
    pub(super) fn run(mut self, commands: Receiver<Command>) {
        let _gone = GoneGuard(Arc::clone(&self.shared));
        let mut stop = false;
        while !stop {
            let Ok(first) = commands.recv() else { break };
            let mut appends = Vec::new();
            let mut acks: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
            let mut deletes = BTreeSet::new();
            let mut bytes = 0usize;
            let mut next = Some(first);
            while let Some(command) = next.take() {
                match command {
                    Command::Append(append) => {
                        bytes = bytes.saturating_add(append.batch.body.len());
                        appends.push(append);
                    }
                    Command::Ack { seq, index } => {
                        acks.entry(seq)
                            .or_default()
                            .extend_from_slice(&index.to_le_bytes());
                    }
                    Command::Delete { seq } => {
                        deletes.insert(seq);
                    }
                    Command::Stop => stop = true,
                }
                if !stop && bytes < GROUP_BYTES && appends.len() < GROUP_RECORDS {
                    next = commands.try_recv().ok();
                }
            }
            if !appends.is_empty() {
                self.append(appends);
            }
            self.write_acks(acks, &deletes);
            for seq in deletes {
                self.delete(seq);
            }
        }
        if stop {
            // A clean stop: if everything in the current segment was delivered, leave no file.
            self.seal_current();
        }
    }

    /// Writes one round of batches, flushes, registers them and answers their pushes.
    fn append(&mut self, appends: Vec<Append>) {
        let full = |c: &Current| {
            c.len >= self.segment_bytes || c.count as usize >= u32::MAX as usize - GROUP_RECORDS
        };
        if self.current.as_ref().is_some_and(full) {
            self.seal_current();
        }
        if self.current.is_none() {
            match self.create_segment() {
                Ok(current) => self.current = Some(current),
                Err((path, e)) => return self.fail(appends, &path, &e),
            }
        }
        let Some(current) = self.current.as_mut() else {
            return;
        };
        let path = segment_path(&self.shared.dir, current.seq);
        let written = write_round(current, &appends, self.fsync, &self.shared.dir);
        let records = match written {
            Ok(records) => records,
            Err(e) => {
                // Cut the segment back so nothing follows a torn record; if that fails too,
                // leave the segment (recovery stops at the tear) and start a new one.
                let n = appends.len() as u64;
                let (first_id, count) = (current.first_id, u64::from(current.count));
                if current.file.set_len(current.len).is_err() {
                    self.next_id = self.next_id.max(first_id + count + n);
                    self.seal_current();
                }
                return self.fail(appends, &path, &e);
            }
        };

        let (seq, first_id, start) = (current.seq, current.first_id, current.count);
        current.count += records.len() as u32;
        current.len = records
            .last()
            .map_or(current.len, |r| r.offset + RECORD_HEADER + u64::from(r.len));
        self.next_id = self.next_id.max(first_id + u64::from(current.count));

        let mut replies = Vec::with_capacity(appends.len());
        {
            let mut state = self.shared.lock();
            for (i, (append, record)) in appends.into_iter().zip(records).enumerate() {
                state.register(seq, first_id, start + i as u32, record, append.permit);
                state.writing = state.writing.saturating_sub(1);
                replies.push(append.reply);
            }
        }
        for reply in replies {
            self.shared.notify.notify_one();
            // The pusher may have gone away; the batch is queued regardless.
            let _ = reply.send(Ok(()));
        }
    }

    /// Answers every push of a failed round with the error.
    fn fail(&self, appends: Vec<Append>, path: &Path, error: &io::Error) {
        tracing::error!(path = %path.display(), error = %error, batches = appends.len(), "persistent queue: write failed; the batches were refused");
        {
            let mut state = self.shared.lock();
            state.writing = state.writing.saturating_sub(appends.len());
        }
        self.shared.notify.notify_waiters();
        for append in appends {
            let _ = append.reply.send(Err(QueueError::Io {
                path: path.display().to_string(),
                source: io::Error::new(error.kind(), error.to_string()),
            }));
        }
    }

    /// Opens a new segment and writes its header.
    fn create_segment(&mut self) -> Result<Current, (std::path::PathBuf, io::Error)> {
        // A file may already hold the next number (an unreadable one recovery left alone):
        // never write into it, take the next free number.
        for _ in 0..1000 {
            let seq = self.next_seq;
            self.next_seq = self.next_seq.saturating_add(1);
            let path = segment_path(&self.shared.dir, seq);
            let opened = OpenOptions::new().append(true).create_new(true).open(&path);
            let mut file = match opened {
                Ok(file) => file,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err((path, e)),
            };
            if let Err(e) = file.write_all(&MAGIC) {
                // Best effort: a header-less file is deleted by the next recovery anyway.
                let _ = std::fs::remove_file(&path);
                return Err((path, e));
            }
            self.live.insert(seq);
            return Ok(Current {
                seq,
                file,
                len: MAGIC.len() as u64,
                count: 0,
                first_id: self.next_id,
                new_entry: true,
            });
        }
        Err((
            self.shared.dir.clone(),
            io::Error::new(io::ErrorKind::AlreadyExists, "no free segment file name"),
        ))
    }

    /// Stops writing to the current segment; deletes it if nothing in it is left to deliver.
    fn seal_current(&mut self) {
        let Some(current) = self.current.take() else {
            return;
        };
        let delete = self.shared.lock().seal(current.seq);
        drop(current.file);
        if delete {
            self.delete(current.seq);
        }
    }

    /// Appends acks to the ack files of segments still on disk and not about to be deleted.
    fn write_acks(&self, acks: BTreeMap<u64, Vec<u8>>, deletes: &BTreeSet<u64>) {
        for (seq, bytes) in acks {
            if !self.live.contains(&seq) || deletes.contains(&seq) {
                continue;
            }
            let path = ack_path(&self.shared.dir, seq);
            let written = OpenOptions::new()
                .append(true)
                .create(true)
                .open(&path)
                .and_then(|mut file| file.write_all(&bytes));
            if let Err(e) = written {
                tracing::warn!(path = %path.display(), error = %e, "persistent queue: could not record acks; those batches will be delivered again after a restart");
            }
        }
    }

    /// Deletes a finished segment: the segment first, so a crash in between leaves an orphan
    /// ack file (removed by recovery), never a segment without its acks.
    fn delete(&mut self, seq: u64) {
        if !self.live.remove(&seq) {
            return;
        }
        for path in [
            segment_path(&self.shared.dir, seq),
            ack_path(&self.shared.dir, seq),
        ] {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "persistent queue: could not delete a delivered segment");
                    return;
                }
            }
        }
    }
}

/// Writes a round's records after the current end of `current` and flushes them. Returns where
/// each landed. Does not update `current`: the caller does, once the round succeeded.
fn write_round(
    current: &mut Current,
    appends: &[Append],
    fsync: bool,
    dir: &Path,
) -> io::Result<Vec<Record>> {
    let mut records = Vec::with_capacity(appends.len());
    let mut offset = current.len;
    {
        let mut out = BufWriter::with_capacity(256 * 1024, &current.file);
        for append in appends {
            let batch = &append.batch;
            let header = segment::encode_header(batch.signal, batch.items, &batch.body)?;
            out.write_all(&header)?;
            out.write_all(&batch.body)?;
            let len = batch.body.len() as u32;
            records.push(Record {
                offset,
                len,
                signal: batch.signal,
                items: batch.items,
            });
            offset += RECORD_HEADER + u64::from(len);
        }
        out.flush()?;
    }
    if fsync {
        current.file.sync_data()?;
        if current.new_entry {
            sync_dir(dir)?;
            current.new_entry = false;
        }
    }
    Ok(records)
}

/// Flushes a directory's entries (a new segment's name) to stable storage.
pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        // Directories cannot be opened as files here; the file's own flush covers its entry.
        let _ = dir;
        Ok(())
    }
}

/// Marks the writer gone when its thread ends, however it ends, so `pop` never waits for
/// pushes that will not be answered.
struct GoneGuard(Arc<Shared>);

impl Drop for GoneGuard {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.writer_gone = true;
        drop(state);
        self.0.notify.notify_waiters();
    }
}
