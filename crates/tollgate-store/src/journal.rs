//! The ledger's journal: each call's record is appended to a file before the call is answered,
//! and reaches the database afterwards, in the writer's batches. A killed process therefore loses
//! no answered call, even while the database is locked or slow: at the next start the records
//! the database does not hold are replayed from the journal.
//!
//! Records get dense sequence numbers in journal order and reach the writer in that order (both
//! under one lock), so the database needs to remember only the highest number it has committed
//! (`settings.ledger_journal_seq`, written in the same transaction as the records): everything
//! above it is replayed, nothing is replayed twice. The journal is a directory of segments named
//! by their first number; a segment wholly at or below that mark is deleted.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use tollgate_core::UsageRecord;

/// How sure an answered call is to be in the ledger.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Durability {
    /// Answered once queued for the next commit: a crash loses at most one commit window.
    Queued,
    /// Answered once written to the journal: survives the process being killed (the file is in
    /// the operating system's hands), not a power cut.
    #[default]
    Journal,
    /// Answered once the journal is flushed to the disk (`fdatasync`, shared by the calls of the
    /// moment): survives a power cut too.
    JournalFsync,
}

impl Durability {
    pub fn as_str(self) -> &'static str {
        match self {
            Durability::Queued => "queued",
            Durability::Journal => "journal",
            Durability::JournalFsync => "journal-fsync",
        }
    }
}

/// A new segment after this many bytes.
const SEGMENT_BYTES: u64 = 16 << 20;

/// The settings key of the highest journal number the database holds.
pub(crate) const COMMITTED_SETTING: &str = "ledger_journal_seq";

/// One journal line, as written.
#[derive(Serialize)]
struct LineOut<'a> {
    seq: u64,
    record: &'a UsageRecord,
}

/// One journal line, as read back.
#[derive(Deserialize)]
struct LineIn {
    seq: u64,
    record: UsageRecord,
}

/// Where a database's journal lives: `tollgate.db` → `tollgate.db.journal/`.
pub fn journal_dir(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".journal");
    PathBuf::from(name)
}

struct Active {
    file: File,
    bytes: u64,
    next_seq: u64,
    line: Vec<u8>,
}

#[derive(Debug)]
pub(crate) struct Journal {
    dir: PathBuf,
    active: Mutex<Option<Active>>,
    fsync: bool,
    /// Highest number flushed to the disk (fsync mode).
    pub(crate) synced: tokio::sync::watch::Sender<u64>,
    /// Highest number written.
    pub(crate) written: AtomicU64,
    /// When the latest write failed (ms since the epoch), 0 while writes succeed.
    pub(crate) failing_since_ms: AtomicI64,
    pub(crate) last_error: Mutex<Option<String>>,
    /// The flusher is parked waiting for writes.
    flusher_idle: AtomicBool,
    flusher: std::sync::OnceLock<std::thread::Thread>,
}

impl std::fmt::Debug for Active {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Active")
            .field("bytes", &self.bytes)
            .field("next_seq", &self.next_seq)
            .finish_non_exhaustive()
    }
}

fn segment_path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(format!("{first_seq:020}.jsonl"))
}

/// The segments of a journal directory, oldest first, with their first numbers.
pub(crate) fn segments(dir: &Path) -> std::io::Result<Vec<(u64, PathBuf)>> {
    let mut found = Vec::new();
    match std::fs::read_dir(dir) {
        Ok(entries) => {
            for entry in entries {
                let path = entry?.path();
                let first = path
                    .file_stem()
                    .and_then(|stem| stem.to_str())
                    .filter(|_| path.extension().is_some_and(|ext| ext == "jsonl"))
                    .and_then(|stem| stem.parse::<u64>().ok());
                if let Some(first) = first {
                    found.push((first, path));
                }
            }
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(error),
    }
    found.sort();
    Ok(found)
}

/// What a journal holds beyond the database.
pub(crate) struct Replay {
    /// The records above the committed mark, in order, with their numbers.
    pub(crate) records: Vec<(u64, UsageRecord)>,
    /// The highest number seen (or the mark).
    pub(crate) highest: u64,
    /// Lines cut short by a crash (never answered) or otherwise unreadable, skipped.
    pub(crate) unreadable: usize,
}

/// Reads the journal in `dir` against the database's `committed` mark.
pub(crate) fn replayable(dir: &Path, committed: u64) -> std::io::Result<Replay> {
    let mut records = Vec::new();
    let mut highest = committed;
    let mut unreadable = 0;
    for (_, path) in segments(dir)? {
        let reader = BufReader::new(File::open(&path)?);
        for line in reader.split(b'\n') {
            let line = line?;
            if line.is_empty() {
                continue;
            }
            match serde_json::from_slice::<LineIn>(&line) {
                Ok(parsed) => {
                    highest = highest.max(parsed.seq);
                    if parsed.seq > committed {
                        records.push((parsed.seq, parsed.record));
                    }
                }
                Err(_) => unreadable += 1,
            }
        }
    }
    records.sort_by_key(|(seq, _)| *seq);
    records.dedup_by_key(|(seq, _)| *seq);
    Ok(Replay {
        records,
        highest,
        unreadable,
    })
}

/// Deletes the segments whose every record is at or below `committed`; never the newest, which
/// is being written.
pub(crate) fn prune(dir: &Path, committed: u64) -> std::io::Result<()> {
    let found = segments(dir)?;
    for pair in found.windows(2) {
        let (_, path) = &pair[0];
        let (next_first, _) = pair[1];
        if next_first <= committed.saturating_add(1) {
            std::fs::remove_file(path)?;
        }
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

impl Journal {
    /// Starts a fresh segment numbered from `next_seq` (after any replay) in `dir`.
    pub(crate) fn open(dir: &Path, next_seq: u64, fsync: bool) -> std::io::Result<Journal> {
        std::fs::create_dir_all(dir)?;
        let file = Self::create_segment(dir, next_seq)?;
        Ok(Journal {
            dir: dir.to_owned(),
            active: Mutex::new(Some(Active {
                file,
                bytes: 0,
                next_seq,
                line: Vec::with_capacity(512),
            })),
            fsync,
            synced: tokio::sync::watch::Sender::new(next_seq - 1),
            written: AtomicU64::new(next_seq - 1),
            failing_since_ms: AtomicI64::new(0),
            last_error: Mutex::new(None),
            flusher_idle: AtomicBool::new(false),
            flusher: std::sync::OnceLock::new(),
        })
    }

    fn create_segment(dir: &Path, first_seq: u64) -> std::io::Result<File> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(segment_path(dir, first_seq))?;
        // The new name must survive a crash as well as its contents.
        sync_dir(dir)?;
        Ok(file)
    }

    /// Appends `record` and, still in journal order, hands its number to `forward` (which queues
    /// it for the database). Returns the number; an error leaves the journal as it was.
    pub(crate) fn append(
        &self,
        record: UsageRecord,
        forward: impl FnOnce(u64, UsageRecord),
    ) -> Result<u64, Box<(std::io::Error, UsageRecord)>> {
        let mut guard = self
            .active
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(active) = guard.as_mut() else {
            return Err(Box::new((
                std::io::Error::other("the journal is closed"),
                record,
            )));
        };
        let seq = active.next_seq;
        active.line.clear();
        if let Err(error) = serde_json::to_writer(
            &mut active.line,
            &LineOut {
                seq,
                record: &record,
            },
        ) {
            return Err(Box::new((std::io::Error::other(error), record)));
        }
        active.line.push(b'\n');
        if let Err(error) = active.file.write_all(&active.line) {
            // A torn line would glue onto the next one: cut it off.
            let _ = active.file.set_len(active.bytes);
            self.failed(&error);
            return Err(Box::new((error, record)));
        }
        active.bytes += active.line.len() as u64;
        active.next_seq += 1;
        self.written.store(seq, Ordering::SeqCst);
        if self.failing_since_ms.load(Ordering::Relaxed) != 0 {
            self.failing_since_ms.store(0, Ordering::Relaxed);
        }
        forward(seq, record);
        if active.bytes >= SEGMENT_BYTES
            && let Err(error) = self.rotate(active)
        {
            // The record is written; the next append tries a new segment again.
            self.failed(&error);
        }
        drop(guard);
        if self.fsync
            && self.flusher_idle.swap(false, Ordering::SeqCst)
            && let Some(flusher) = self.flusher.get()
        {
            flusher.unpark();
        }
        Ok(seq)
    }

    fn rotate(&self, active: &mut Active) -> std::io::Result<()> {
        if self.fsync {
            active.file.sync_data()?;
        }
        active.file = Self::create_segment(&self.dir, active.next_seq)?;
        active.bytes = 0;
        Ok(())
    }

    fn failed(&self, error: &std::io::Error) {
        let now = crate::now_ms();
        let _ = self.failing_since_ms.compare_exchange(
            0,
            now.max(1),
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(format!("the ledger journal cannot be written: {error}"));
        }
    }

    /// Stops taking records; what was written stays for the next start to check.
    pub(crate) fn close(&self) {
        let mut guard = self
            .active
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(active) = guard.take() {
            let _ = active.file.sync_data();
        }
        if let Some(flusher) = self.flusher.get() {
            flusher.unpark();
        }
    }

    fn closed(&self) -> bool {
        self.active
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_none()
    }

    /// The fsync mode's flusher: whenever records were written since the last flush, flushes the
    /// active segment once for all of them and publishes the highest number flushed.
    pub(crate) fn run_flusher(&self) {
        let _ = self.flusher.set(std::thread::current());
        loop {
            let (target, file) = {
                let guard = self
                    .active
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let Some(active) = guard.as_ref() else { return };
                // Numbers up to `target` are in this file or in segments flushed at rotation.
                (active.next_seq - 1, active.file.try_clone())
            };
            if target <= *self.synced.borrow() {
                self.flusher_idle.store(true, Ordering::SeqCst);
                // A write after `target` was read either sees the flag and unparks this thread,
                // or came before the flag and shows in `written`.
                if self.written.load(Ordering::SeqCst) <= target && !self.closed() {
                    std::thread::park_timeout(std::time::Duration::from_millis(200));
                }
                self.flusher_idle.store(false, Ordering::SeqCst);
                continue;
            }
            match file.and_then(|file| file.sync_data()) {
                Ok(()) => {
                    self.synced.send_replace(target);
                }
                Err(error) => {
                    self.failed(&error);
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
            }
        }
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }
}
