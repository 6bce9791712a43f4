//! The usage ledger writer: a dedicated thread with its own connection that commits records in
//! groups (up to `max_batch` records or `max_wait` after the first), updating the daily rollups in
//! the same transaction. With a journal ([`Durability`]), each record is appended to the journal
//! as it is submitted, so an answered call survives the process being killed while the writer is
//! behind; without one, a bounded channel gives producers backpressure. `flush` waits until
//! everything sent before it is committed; shutdown loses nothing.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Sender, TrySendError};
use tollgate_core::{UsageRecord, Zone};

use crate::engine_lock::EngineLock;
use crate::error::{Result, StoreError};
pub use crate::journal::Durability;
use crate::journal::{self, Journal};
use crate::ledger_worker::Worker;
use crate::schema;

/// Tuning of the group commit.
#[derive(Debug, Clone, Copy)]
pub struct WriterConfig {
    /// Records that may wait in the channel before producers block (without a journal; with
    /// one, the journal holds them and the channel is unbounded).
    pub capacity: usize,
    /// Most records in one transaction.
    pub max_batch: usize,
    /// Longest a record waits for companions before its batch commits. Each commit costs ~70 µs
    /// of CPU whatever its size (~3 µs a record on top), so at 1,000 calls a second a 2 ms
    /// window spent ~38 µs of CPU a call and 20 ms ~8 (BENCHMARKS.md).
    pub max_wait: Duration,
    /// When a submitted record counts as kept [default: queued; the gateway uses the journal].
    pub durability: Durability,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            capacity: 65_536,
            max_batch: 8_192,
            max_wait: Duration::from_millis(20),
            durability: Durability::Queued,
        }
    }
}

/// Counters of a writer's work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    pub records: u64,
    pub batches: u64,
    pub largest_batch: u64,
    pub failed_commits: u64,
    /// Records that could not be committed before shutdown gave up (only after repeated failures).
    pub lost: u64,
    /// Records set aside in `ledger_quarantine` because the database refused them.
    pub quarantined: u64,
    /// Records replayed from the journal at start.
    pub replayed: u64,
}

/// How the writer is doing, for health checks.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct LedgerHealth {
    /// The writer thread runs.
    pub running: bool,
    /// Records submitted and not yet committed.
    pub pending: u64,
    /// Age of the oldest record the writer holds uncommitted, in milliseconds (0: none). Grows
    /// while the database is locked or failing; a healthy writer keeps it near its commit window.
    pub oldest_pending_ms: u64,
    pub last_error: Option<String>,
    /// How long the journal has refused writes, in milliseconds (0: it takes them).
    pub journal_failing_for_ms: u64,
    pub quarantined: u64,
    pub durability: Durability,
}

pub(crate) enum Command {
    /// A record and its journal number (0 when not journaled).
    Record(Box<(u64, UsageRecord)>),
    Flush(Sender<Result<(), String>>),
    Shutdown,
}

#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub(crate) closed: AtomicBool,
    /// A flush or shutdown is waiting: stop gathering and commit.
    pub(crate) urgent: AtomicBool,
    /// The writer thread, unparked from its nap by a flush or shutdown.
    pub(crate) writer: std::sync::OnceLock<std::thread::Thread>,
    /// Producers between their `closed` check and the end of their send.
    pub(crate) in_flight: AtomicU64,
    pub(crate) running: AtomicBool,
    pub(crate) submitted: AtomicU64,
    pub(crate) records: AtomicU64,
    pub(crate) batches: AtomicU64,
    pub(crate) largest_batch: AtomicU64,
    pub(crate) failed_commits: AtomicU64,
    pub(crate) quarantined: AtomicU64,
    pub(crate) replayed: AtomicU64,
    /// When the writer took the oldest record it has not committed (ms since the epoch), 0 when
    /// it holds none.
    pub(crate) batch_since_ms: AtomicI64,
    pub(crate) last_error: Mutex<Option<String>>,
}

impl Shared {
    /// Asks the writer to commit what it holds now rather than at the end of its nap.
    pub(crate) fn wake_writer(&self) {
        self.urgent.store(true, Ordering::SeqCst);
        if let Some(writer) = self.writer.get() {
            writer.unpark();
        }
    }

    pub(crate) fn stats(&self) -> WriterStats {
        WriterStats {
            records: self.records.load(Ordering::Relaxed),
            batches: self.batches.load(Ordering::Relaxed),
            largest_batch: self.largest_batch.load(Ordering::Relaxed),
            failed_commits: self.failed_commits.load(Ordering::Relaxed),
            lost: 0,
            quarantined: self.quarantined.load(Ordering::Relaxed),
            replayed: self.replayed.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn set_error(&self, error: Option<String>) {
        if let Ok(mut last) = self.last_error.lock() {
            *last = error;
        }
    }
}

/// What a caller waits for before it answers: nothing more, or the journal's flush to the disk.
#[derive(Debug)]
pub enum Durable {
    /// Kept as the writer's durability promises already.
    Now,
    /// Kept once the journal is flushed up to `seq`.
    AfterFlush {
        seq: u64,
        flushed: tokio::sync::watch::Receiver<u64>,
    },
}

impl Durable {
    /// Waits until the record is as safe as promised.
    pub async fn wait(self) -> Result<()> {
        match self {
            Durable::Now => Ok(()),
            Durable::AfterFlush { seq, mut flushed } => flushed
                .wait_for(|done| *done >= seq)
                .await
                .map(|_| ())
                .map_err(|_| {
                    StoreError::WriterStopped("the journal closed before flushing".to_owned())
                }),
        }
    }
}

/// What [`LedgerHandle::submit`] did with a record.
#[derive(Debug)]
pub enum Submitted {
    Kept(Durable),
    /// No journal, and the channel is full: the caller may wait with [`LedgerHandle::record`].
    Full(Box<UsageRecord>),
}

/// A cheap, cloneable way for many producers to send usage records to one writer.
#[derive(Debug, Clone)]
pub struct LedgerHandle {
    sender: Sender<Command>,
    shared: Arc<Shared>,
    journal: Option<Arc<Journal>>,
    durability: Durability,
}

impl LedgerHandle {
    /// Queues a record, blocking while the channel is full (backpressure; never with a journal).
    pub fn record(&self, record: UsageRecord) -> Result<()> {
        if self.journal.is_some() {
            return self.submit(record).map(|_| ());
        }
        self.send(Command::Record(Box::new((0, record))))?;
        self.shared.submitted.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Takes a record without blocking: journaled first when there is a journal (an error then
    /// means the journal could not be written; the record still goes to the database), else
    /// queued if there is room.
    pub fn submit(&self, record: UsageRecord) -> Result<Submitted> {
        let _guard = self.enter()?;
        let Some(journal) = &self.journal else {
            return match self.sender.try_send(Command::Record(Box::new((0, record)))) {
                Ok(()) => {
                    self.shared.submitted.fetch_add(1, Ordering::Relaxed);
                    Ok(Submitted::Kept(Durable::Now))
                }
                Err(TrySendError::Full(Command::Record(entry))) => {
                    Ok(Submitted::Full(Box::new(entry.1)))
                }
                Err(_) => Err(StoreError::WriterStopped(
                    "the writer thread has ended".to_owned(),
                )),
            };
        };
        // Queued to the writer in journal order, under the journal's lock: the database's
        // committed mark then covers every number below it.
        let forward = |seq: u64, record: UsageRecord| {
            let _ = self.sender.send(Command::Record(Box::new((seq, record))));
        };
        self.shared.submitted.fetch_add(1, Ordering::Relaxed);
        match journal.append(record, forward) {
            Ok(seq) if self.durability == Durability::JournalFsync => {
                Ok(Submitted::Kept(Durable::AfterFlush {
                    seq,
                    flushed: journal.synced.subscribe(),
                }))
            }
            Ok(_) => Ok(Submitted::Kept(Durable::Now)),
            Err(unwritten) => {
                let (error, record) = *unwritten;
                // Not lost while the process lives: the database may still take it.
                let _ = self.sender.send(Command::Record(Box::new((0, record))));
                Err(StoreError::Journal(format!(
                    "the ledger journal cannot be written: {error}"
                )))
            }
        }
    }

    /// Whether the journal refused its latest write less than `within` ago: callers may refuse
    /// new work rather than do it and be unable to keep its record.
    pub fn journal_failing(&self, within: Duration) -> bool {
        self.journal.as_ref().is_some_and(|journal| {
            let since = journal.failing_since_ms.load(Ordering::Relaxed);
            since != 0 && crate::now_ms() - since < within.as_millis() as i64
        })
    }

    /// Returns once every record queued before this call is committed.
    pub fn flush(&self) -> Result<()> {
        let (reply, wait) = crossbeam_channel::bounded(1);
        self.send(Command::Flush(reply))?;
        self.shared.wake_writer();
        match wait.recv() {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(StoreError::LedgerCommit(error)),
            Err(_) => Err(StoreError::WriterStopped(
                "the writer ended before flushing".to_owned(),
            )),
        }
    }

    /// The last commit error, if the latest attempt failed.
    pub fn last_error(&self) -> Option<String> {
        self.shared
            .last_error
            .lock()
            .ok()
            .and_then(|error| error.clone())
    }

    pub fn stats(&self) -> WriterStats {
        self.shared.stats()
    }

    pub fn health(&self) -> LedgerHealth {
        let now = crate::now_ms();
        let age = |since: i64| {
            if since == 0 {
                0
            } else {
                (now - since).max(1) as u64
            }
        };
        let journal_failing_for_ms = self.journal.as_ref().map_or(0, |journal| {
            age(journal.failing_since_ms.load(Ordering::Relaxed))
        });
        let journal_error = self.journal.as_ref().and_then(|journal| {
            (journal_failing_for_ms > 0)
                .then(|| {
                    journal
                        .last_error
                        .lock()
                        .ok()
                        .and_then(|error| error.clone())
                })
                .flatten()
        });
        let submitted = self.shared.submitted.load(Ordering::Relaxed);
        let done = self.shared.records.load(Ordering::Relaxed)
            + self.shared.quarantined.load(Ordering::Relaxed);
        LedgerHealth {
            running: self.shared.running.load(Ordering::SeqCst),
            pending: submitted.saturating_sub(done),
            oldest_pending_ms: age(self.shared.batch_since_ms.load(Ordering::Relaxed)),
            last_error: self.last_error().or(journal_error),
            journal_failing_for_ms,
            quarantined: self.shared.quarantined.load(Ordering::Relaxed),
            durability: self.durability,
        }
    }

    fn enter(&self) -> Result<InFlight<'_>> {
        self.shared.in_flight.fetch_add(1, Ordering::SeqCst);
        let guard = InFlight(&self.shared);
        if self.shared.closed.load(Ordering::SeqCst) {
            return Err(StoreError::WriterStopped(
                "the ledger is shutting down".to_owned(),
            ));
        }
        Ok(guard)
    }

    fn send(&self, command: Command) -> Result<()> {
        let _guard = self.enter()?;
        self.sender
            .send(command)
            .map_err(|_| StoreError::WriterStopped("the writer thread has ended".to_owned()))
    }
}

struct InFlight<'a>(&'a Shared);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Owns the writer thread. Dropping it without [`LedgerWriter::shutdown`] also drains and joins.
#[derive(Debug)]
pub struct LedgerWriter {
    handle: LedgerHandle,
    thread: Option<JoinHandle<WriterStats>>,
    flusher: Option<JoinHandle<()>>,
    /// One writer per database (see [`EngineLock`]); released once the writer has stopped.
    lock: Option<EngineLock>,
}

impl LedgerWriter {
    /// Opens its own connection to `path` (which must already be a Tollgate database), replays
    /// what the journal holds beyond the database, and starts. Refused with
    /// [`StoreError::EngineRunning`] while another writer serves the database.
    pub fn start(path: &Path, zone: Zone, config: WriterConfig) -> Result<LedgerWriter> {
        let (connection, _) = schema::open_checked(path)?;
        let lock = EngineLock::acquire(path)?;
        // Checkpoint the WAL every 64 MiB rather than every 4 MiB: rollup and index pages change
        // in every batch, and each checkpoint writes them back again.
        connection.pragma_update(None, "wal_autocheckpoint", 16_384)?;
        let journaled = config.durability != Durability::Queued;
        let (sender, receiver) = if journaled {
            crossbeam_channel::unbounded()
        } else {
            crossbeam_channel::bounded(config.capacity.max(1))
        };
        let shared = Arc::new(Shared::default());
        let mut worker = Worker::new(connection, zone, config, receiver, Arc::clone(&shared));
        // Replay with the journal's files still there: a crash mid-replay replays again, and the
        // committed mark keeps anything from counting twice.
        let dir = journal::journal_dir(path);
        let next_seq = worker.replay(&dir)?;
        let journal = if journaled {
            let journal = Journal::open(
                &dir,
                next_seq,
                config.durability == Durability::JournalFsync,
            )
            .map_err(|error| StoreError::Journal(error.to_string()))?;
            Some(Arc::new(journal))
        } else {
            None
        };
        worker.set_journal_dir(journal.as_ref().map(|journal| journal.dir().to_owned()));
        shared.running.store(true, Ordering::SeqCst);
        let thread = std::thread::Builder::new()
            .name("tollgate-ledger".to_owned())
            .spawn(move || worker.run())
            .map_err(|error| {
                StoreError::WriterStopped(format!("cannot start the writer thread: {error}"))
            })?;
        let _ = shared.writer.set(thread.thread().clone());
        let flusher = match &journal {
            Some(journal) if config.durability == Durability::JournalFsync => {
                let journal = Arc::clone(journal);
                Some(
                    std::thread::Builder::new()
                        .name("tollgate-journal".to_owned())
                        .spawn(move || journal.run_flusher())
                        .map_err(|error| {
                            StoreError::WriterStopped(format!(
                                "cannot start the journal thread: {error}"
                            ))
                        })?,
                )
            }
            _ => None,
        };
        Ok(LedgerWriter {
            handle: LedgerHandle {
                sender,
                shared,
                journal,
                durability: config.durability,
            },
            thread: Some(thread),
            flusher,
            lock: Some(lock),
        })
    }

    pub fn handle(&self) -> LedgerHandle {
        self.handle.clone()
    }

    pub fn record(&self, record: UsageRecord) -> Result<()> {
        self.handle.record(record)
    }

    pub fn flush(&self) -> Result<()> {
        self.handle.flush()
    }

    /// Refuses new records, commits everything queued, and stops the threads.
    pub fn shutdown(mut self) -> Result<WriterStats> {
        self.stop()
    }

    fn stop(&mut self) -> Result<WriterStats> {
        let Some(thread) = self.thread.take() else {
            return Ok(self.handle.stats());
        };
        self.handle.shared.closed.store(true, Ordering::SeqCst);
        self.handle.shared.wake_writer();
        // Sent directly: `send` refuses once closed, and this one must get through.
        let _ = self.handle.sender.send(Command::Shutdown);
        let stats = thread
            .join()
            .map_err(|_| StoreError::WriterStopped("the writer thread panicked".to_owned()))?;
        if let Some(journal) = &self.handle.journal {
            journal.close();
        }
        if let Some(flusher) = self.flusher.take() {
            let _ = flusher.join();
        }
        self.lock = None;
        if stats.lost > 0 {
            let reason = self.handle.last_error().unwrap_or_default();
            return Err(StoreError::LedgerCommit(format!(
                "{} records could not be written (the journal keeps them for the next start): {reason}",
                stats.lost
            )));
        }
        Ok(stats)
    }
}

impl Drop for LedgerWriter {
    fn drop(&mut self) {
        if let Err(error) = self.stop() {
            tracing::error!("ledger writer: {error}");
        }
    }
}
