//! The ledger writer's thread: gathers records into batches, commits each with its rollups and the
//! journal's committed mark, splits a batch the database refuses until the bad record is alone and
//! sets that one aside in `ledger_quarantine`, and retries what fails for a passing reason (a
//! locked or full database) without ever giving up on it while the process runs.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use rusqlite::{Connection, ErrorCode};
use tollgate_core::{UsageRecord, Zone};

use crate::error::{Result, StoreError};
use crate::journal;
use crate::ledger::{Command, Shared, WriterConfig, WriterStats};
use crate::ledger_sql::{DayCache, mark_committed, quarantine, write_batch};
use crate::names::NameCache;

type Entry = (u64, UsageRecord);
type Waiters = Vec<Sender<std::result::Result<(), String>>>;

const COMMIT_ATTEMPTS_AT_SHUTDOWN: u32 = 5;
/// Most records replayed in one transaction at start.
const REPLAY_BATCH: usize = 8_192;

/// Why a batch did not commit.
enum Refusal {
    /// Worth retrying as it is: the database is locked, busy, full or unreachable.
    Passing(String),
    /// Something in the batch itself: split it to find the record.
    Bad(String),
}

pub(crate) struct Worker {
    connection: Connection,
    zone: Zone,
    config: WriterConfig,
    receiver: Receiver<Command>,
    shared: Arc<Shared>,
    day_cache: DayCache,
    names: NameCache,
    journal_dir: Option<PathBuf>,
    last_prune: Instant,
}

/// Marks the writer stopped however its thread ends, a panic included.
struct Running(Arc<Shared>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.running.store(false, Ordering::SeqCst);
    }
}

impl Worker {
    pub(crate) fn new(
        connection: Connection,
        zone: Zone,
        config: WriterConfig,
        receiver: Receiver<Command>,
        shared: Arc<Shared>,
    ) -> Worker {
        Worker {
            connection,
            zone,
            config,
            receiver,
            shared,
            day_cache: DayCache::default(),
            names: NameCache::default(),
            journal_dir: None,
            last_prune: Instant::now(),
        }
    }

    pub(crate) fn set_journal_dir(&mut self, dir: Option<PathBuf>) {
        self.journal_dir = dir;
    }

    /// The highest journal number the database holds (0 when none).
    fn committed_mark(&self) -> u64 {
        self.connection
            .query_row(
                "SELECT value FROM settings WHERE key = ?1",
                [journal::COMMITTED_SETTING],
                |row| row.get::<_, String>(0),
            )
            .ok()
            .and_then(|value| value.parse().ok())
            .unwrap_or(0)
    }

    /// Commits what the journal in `dir` holds beyond the database's mark, then deletes the
    /// journal; returns the number the next record gets.
    pub(crate) fn replay(&mut self, dir: &Path) -> Result<u64> {
        let committed = self.committed_mark();
        let journal_error = |error: std::io::Error| {
            StoreError::Journal(format!(
                "the ledger journal {} cannot be read: {error}",
                dir.display()
            ))
        };
        let journal::Replay {
            records,
            highest,
            unreadable,
        } = journal::replayable(dir, committed).map_err(journal_error)?;
        if unreadable > 0 {
            tracing::warn!(
                unreadable,
                "ledger journal lines that were cut short (never answered) are skipped"
            );
        }
        for chunk in records.chunks(REPLAY_BATCH) {
            let mut batch = chunk.to_vec();
            let mut waiters = Waiters::new();
            if !self.commit_with_retries(&mut batch, &mut waiters, COMMIT_ATTEMPTS_AT_SHUTDOWN) {
                return Err(StoreError::LedgerCommit(format!(
                    "the journal's records could not be replayed into the database: {}",
                    self.shared
                        .last_error
                        .lock()
                        .ok()
                        .and_then(|error| error.clone())
                        .unwrap_or_default()
                )));
            }
        }
        if !records.is_empty() {
            self.shared
                .replayed
                .store(records.len() as u64, Ordering::Relaxed);
            tracing::info!(
                records = records.len(),
                "replayed calls from the ledger journal that the database did not hold yet"
            );
        }
        for (_, path) in journal::segments(dir).map_err(journal_error)? {
            std::fs::remove_file(&path).map_err(journal_error)?;
        }
        Ok(highest + 1)
    }

    pub(crate) fn run(mut self) -> WriterStats {
        let _running = Running(Arc::clone(&self.shared));
        let mut batch: Vec<Entry> = Vec::with_capacity(self.config.max_batch);
        let mut waiters = Waiters::new();
        let mut stopping = false;
        // Records arrived in the last window: more are coming, so nap rather than block on the
        // channel. A receiver blocked on the channel must be woken by a futex call from the
        // request that sends next — a syscall and a thread wake-up on that request's path.
        let mut busy = false;
        while !stopping {
            // Wait for the first command of a batch (or retry a batch that failed to commit).
            if batch.is_empty() && waiters.is_empty() && !busy {
                match self.receiver.recv() {
                    Ok(command) => stopping = Self::take(command, &mut batch, &mut waiters),
                    Err(_) => stopping = true,
                }
            }
            // Gather companions by sleeping rather than waiting on the channel: a receiver parked
            // on the channel is woken by every single send, which at a few thousand records a
            // second costs the request threads more than the commits do.
            stopping |= self.gather(&mut batch, &mut waiters);
            if !stopping && waiters.is_empty() && batch.len() < self.config.max_batch {
                self.nap();
                stopping |= self.gather(&mut batch, &mut waiters);
            }
            if stopping {
                self.drain(&mut batch, &mut waiters);
            }
            // An empty window ends the busy spell: the next wait blocks on the channel again.
            busy = !batch.is_empty();
            if busy {
                let _ = self.shared.batch_since_ms.compare_exchange(
                    0,
                    crate::now_ms(),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
            }
            let attempts = if stopping {
                COMMIT_ATTEMPTS_AT_SHUTDOWN
            } else {
                1
            };
            if !self.commit_with_retries(&mut batch, &mut waiters, attempts) {
                if stopping {
                    return WriterStats {
                        lost: batch.len() as u64,
                        ..self.shared.stats()
                    };
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            self.prune_journal();
        }
        self.shared.stats()
    }

    /// Deletes journal segments the database holds entirely, at most once a second.
    fn prune_journal(&mut self) {
        let Some(dir) = &self.journal_dir else { return };
        if self.last_prune.elapsed() < Duration::from_secs(1) {
            return;
        }
        self.last_prune = Instant::now();
        let committed = self.committed_mark();
        if let Err(error) = journal::prune(dir, committed) {
            tracing::warn!("old ledger journal segments could not be deleted: {error}");
        }
    }

    /// Sleeps up to `max_wait` in one go, cut short at once by a flush or shutdown (which unpark
    /// this thread): every wake-up of this thread takes a CPU from the requests for a moment.
    fn nap(&self) {
        let until = Instant::now() + self.config.max_wait;
        loop {
            let now = Instant::now();
            if now >= until || self.shared.urgent.load(Ordering::SeqCst) {
                self.shared.urgent.store(false, Ordering::SeqCst);
                return;
            }
            std::thread::park_timeout(until - now);
        }
    }

    /// Takes what is queued now, up to a full batch, without waiting; true at shutdown.
    fn gather(&self, batch: &mut Vec<Entry>, waiters: &mut Waiters) -> bool {
        while batch.len() < self.config.max_batch {
            match self.receiver.try_recv() {
                Ok(command) => {
                    if Self::take(command, batch, waiters) {
                        return true;
                    }
                }
                Err(TryRecvError::Empty) => return false,
                Err(TryRecvError::Disconnected) => return true,
            }
        }
        false
    }

    /// Takes everything still queued, waiting for producers that are mid-send.
    fn drain(&self, batch: &mut Vec<Entry>, waiters: &mut Waiters) {
        loop {
            match self.receiver.try_recv() {
                Ok(command) => {
                    Self::take(command, batch, waiters);
                }
                Err(TryRecvError::Empty) if self.shared.in_flight.load(Ordering::SeqCst) > 0 => {
                    std::thread::yield_now();
                }
                Err(_) => return,
            }
        }
    }

    /// Adds a command to the batch; returns true for shutdown.
    fn take(command: Command, batch: &mut Vec<Entry>, waiters: &mut Waiters) -> bool {
        match command {
            Command::Record(entry) => batch.push(*entry),
            Command::Flush(reply) => waiters.push(reply),
            Command::Shutdown => return true,
        }
        false
    }

    fn commit_with_retries(
        &mut self,
        batch: &mut Vec<Entry>,
        waiters: &mut Waiters,
        attempts: u32,
    ) -> bool {
        for attempt in 1..=attempts {
            let result = if batch.is_empty() {
                Ok(())
            } else {
                self.commit_isolating(batch)
            };
            match result {
                Ok(()) => {
                    self.shared.batch_since_ms.store(0, Ordering::Relaxed);
                    self.shared.set_error(None);
                    batch.clear();
                    for waiter in waiters.drain(..) {
                        let _ = waiter.send(Ok(()));
                    }
                    return true;
                }
                Err(error) => {
                    self.shared.failed_commits.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        records = batch.len(),
                        "the ledger could not commit (retrying): {error}"
                    );
                    self.shared.set_error(Some(error));
                    if attempt < attempts {
                        std::thread::sleep(Duration::from_millis(50 * u64::from(attempt)));
                    }
                }
            }
        }
        // The records stay in the batch for the next attempt; flush callers hear of the failure.
        let message = self
            .shared
            .last_error
            .lock()
            .ok()
            .and_then(|error| error.clone())
            .unwrap_or_default();
        for waiter in waiters.drain(..) {
            let _ = waiter.send(Err(message.clone()));
        }
        false
    }

    /// Commits the batch; if the database refuses something in it, commits its halves apart
    /// until the refused record is alone, and quarantines that one. Fails only for a passing
    /// reason, leaving in `batch` what is still to commit.
    fn commit_isolating(&mut self, batch: &mut Vec<Entry>) -> std::result::Result<(), String> {
        match self.commit(batch) {
            Ok(()) => {
                self.count(batch.len() as u64);
                Ok(())
            }
            Err(Refusal::Passing(error)) => Err(error),
            Err(Refusal::Bad(reason)) if batch.len() == 1 => {
                let (seq, record) = &batch[0];
                tracing::error!(
                    request_id = record.request_id,
                    "a usage record the database refuses is set aside in ledger_quarantine: {reason}"
                );
                self.quarantine(*seq, record, &reason)
                    .map_err(|error| error.to_string())?;
                self.shared.quarantined.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(Refusal::Bad(_)) => {
                let mut second = batch.split_off(batch.len() / 2);
                let first = self.commit_isolating(batch);
                if let Err(error) = first {
                    batch.append(&mut second);
                    return Err(error);
                }
                batch.clear();
                let rest = self.commit_isolating(&mut second);
                if rest.is_err() {
                    // The first half is in; only the second is left for the retry.
                    *batch = second;
                }
                rest
            }
        }
    }

    fn count(&self, size: u64) {
        if size > 0 {
            self.shared.records.fetch_add(size, Ordering::Relaxed);
            self.shared.batches.fetch_add(1, Ordering::Relaxed);
            self.shared.largest_batch.fetch_max(size, Ordering::Relaxed);
        }
    }

    fn commit(&mut self, batch: &[Entry]) -> std::result::Result<(), Refusal> {
        let highest = batch.iter().map(|(seq, _)| *seq).max().unwrap_or(0);
        let transaction = self
            .connection
            .transaction()
            .map_err(|error| refusal(&error))?;
        // A panic while writing (a record no code path expected) is a refusal like any other.
        let written = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            write_batch(
                &transaction,
                self.zone,
                &mut self.day_cache,
                &mut self.names,
                batch,
            )
        }));
        let result = match written {
            Ok(Ok(())) => (if highest > 0 {
                mark_committed(&transaction, highest)
            } else {
                Ok(())
            })
            .and_then(|()| transaction.commit())
            .map_err(|error| refusal(&error)),
            Ok(Err(error)) => Err(refusal(&error)),
            Err(panic) => Err(Refusal::Bad(format!(
                "writing it panicked: {}",
                panic
                    .downcast_ref::<&str>()
                    .map(ToString::to_string)
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default()
            ))),
        };
        if result.is_err() {
            // Names added by the failed transaction are gone from the database; forget them too.
            self.names.clear();
        }
        result
    }

    fn quarantine(&mut self, seq: u64, record: &UsageRecord, reason: &str) -> rusqlite::Result<()> {
        let transaction = self.connection.transaction()?;
        quarantine(&transaction, record, reason)?;
        if seq > 0 {
            mark_committed(&transaction, seq)?;
        }
        transaction.commit()
    }
}

/// Whether an error is the database's state of the moment or the batch's fault.
fn refusal(error: &rusqlite::Error) -> Refusal {
    let passing = matches!(
        error.sqlite_error_code(),
        Some(
            ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::DiskFull
                | ErrorCode::SystemIoFailure
                | ErrorCode::CannotOpen
                | ErrorCode::OutOfMemory
                | ErrorCode::ReadOnly
        )
    );
    if passing {
        Refusal::Passing(error.to_string())
    } else {
        Refusal::Bad(error.to_string())
    }
}
