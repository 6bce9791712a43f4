//! The usage ledger writer: a dedicated thread with its own connection that commits records in
//! groups (up to `max_batch` records or `max_wait` after the first), updating the daily rollups in
//! the same transaction. A bounded channel gives producers backpressure instead of unbounded
//! memory; `flush` waits until everything sent before it is durable; shutdown loses nothing.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TryRecvError, TrySendError};
use rusqlite::{Connection, Transaction, params};
use tollgate_core::{Period, RollupTotals, UsageRecord, Zone};

use crate::error::{Result, StoreError};
use crate::names::{NameCache, NameKind, day_number};
use crate::{rollup_codec, schema};

/// Tuning of the group commit.
#[derive(Debug, Clone, Copy)]
pub struct WriterConfig {
    /// Records that may wait in the channel before producers block.
    pub capacity: usize,
    /// Most records in one transaction.
    pub max_batch: usize,
    /// Longest a record waits for companions before its batch commits. Each commit costs ~70 µs
    /// of CPU whatever its size (~3 µs a record on top), so at 1,000 calls a second a 2 ms
    /// window spent ~38 µs of CPU a call and 20 ms ~8 (BENCHMARKS.md).
    pub max_wait: Duration,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            capacity: 65_536,
            max_batch: 8_192,
            max_wait: Duration::from_millis(20),
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
}

enum Command {
    Record(Box<UsageRecord>),
    Flush(Sender<Result<(), String>>),
    Shutdown,
}

#[derive(Debug, Default)]
struct Shared {
    closed: AtomicBool,
    /// A flush or shutdown is waiting: stop gathering and commit.
    urgent: AtomicBool,
    /// The writer thread, unparked from its nap by a flush or shutdown.
    writer: std::sync::OnceLock<std::thread::Thread>,
    /// Producers between their `closed` check and the end of their send.
    in_flight: AtomicU64,
    records: AtomicU64,
    batches: AtomicU64,
    largest_batch: AtomicU64,
    failed_commits: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl Shared {
    /// Asks the writer to commit what it holds now rather than at the end of its nap.
    fn wake_writer(&self) {
        self.urgent.store(true, Ordering::SeqCst);
        if let Some(writer) = self.writer.get() {
            writer.unpark();
        }
    }

    fn stats(&self) -> WriterStats {
        WriterStats {
            records: self.records.load(Ordering::Relaxed),
            batches: self.batches.load(Ordering::Relaxed),
            largest_batch: self.largest_batch.load(Ordering::Relaxed),
            failed_commits: self.failed_commits.load(Ordering::Relaxed),
            lost: 0,
        }
    }
}

/// A cheap, cloneable way for many producers to send usage records to one writer.
#[derive(Debug, Clone)]
pub struct LedgerHandle {
    sender: Sender<Command>,
    shared: Arc<Shared>,
}

impl LedgerHandle {
    /// Queues a record, blocking while the channel is full (backpressure).
    pub fn record(&self, record: UsageRecord) -> Result<()> {
        self.send(Command::Record(Box::new(record)))
    }

    /// Queues a record if there is room now; gives it back when the channel is full.
    pub fn try_record(&self, record: UsageRecord) -> Result<Option<UsageRecord>> {
        let _guard = self.enter()?;
        match self.sender.try_send(Command::Record(Box::new(record))) {
            Ok(()) => Ok(None),
            Err(TrySendError::Full(Command::Record(record))) => Ok(Some(*record)),
            Err(_) => Err(StoreError::WriterStopped(
                "the writer thread has ended".to_owned(),
            )),
        }
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
}

impl LedgerWriter {
    /// Opens its own connection to `path` (which must already be a Tollgate database) and starts.
    pub fn start(path: &Path, zone: Zone, config: WriterConfig) -> Result<LedgerWriter> {
        let (connection, _) = schema::open_checked(path)?;
        // Checkpoint the WAL every 64 MiB rather than every 4 MiB: rollup and index pages change
        // in every batch, and each checkpoint writes them back again.
        connection.pragma_update(None, "wal_autocheckpoint", 16_384)?;
        let (sender, receiver) = crossbeam_channel::bounded(config.capacity.max(1));
        let shared = Arc::new(Shared::default());
        let worker = Worker {
            connection,
            zone,
            config,
            receiver,
            shared: Arc::clone(&shared),
            day_cache: DayCache::default(),
            names: NameCache::default(),
        };
        let thread = std::thread::Builder::new()
            .name("tollgate-ledger".to_owned())
            .spawn(move || worker.run())
            .map_err(|error| {
                StoreError::WriterStopped(format!("cannot start the writer thread: {error}"))
            })?;
        let _ = shared.writer.set(thread.thread().clone());
        Ok(LedgerWriter {
            handle: LedgerHandle { sender, shared },
            thread: Some(thread),
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

    /// Refuses new records, commits everything queued, and stops the thread.
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
        if stats.lost > 0 {
            let reason = self.handle.last_error().unwrap_or_default();
            return Err(StoreError::LedgerCommit(format!(
                "{} records could not be written: {reason}",
                stats.lost
            )));
        }
        Ok(stats)
    }
}

impl Drop for LedgerWriter {
    fn drop(&mut self) {
        if let Err(error) = self.stop() {
            eprintln!("tollgate: ledger writer: {error}");
        }
    }
}

/// Remembers the last local day's bounds so most records skip the time-zone arithmetic.
#[derive(Default)]
struct DayCache {
    start_ms: i64,
    end_ms: i64,
    day: Option<i64>,
}

impl DayCache {
    /// The record's local day as days since 1970-01-01.
    fn day(&mut self, zone: Zone, at_ms: i64) -> i64 {
        match self.day {
            Some(day) if at_ms >= self.start_ms && at_ms < self.end_ms => day,
            _ => {
                let (start, end) = zone.period_bounds_ms(Period::Day, at_ms);
                let day = day_number(zone.local_date(at_ms));
                (self.start_ms, self.end_ms, self.day) = (start, end, Some(day));
                day
            }
        }
    }
}

struct Worker {
    connection: Connection,
    zone: Zone,
    config: WriterConfig,
    receiver: Receiver<Command>,
    shared: Arc<Shared>,
    day_cache: DayCache,
    names: NameCache,
}

const COMMIT_ATTEMPTS_AT_SHUTDOWN: u32 = 5;

impl Worker {
    fn run(mut self) -> WriterStats {
        let mut batch: Vec<UsageRecord> = Vec::with_capacity(self.config.max_batch);
        let mut waiters: Vec<Sender<Result<(), String>>> = Vec::new();
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
            let attempts = if stopping {
                COMMIT_ATTEMPTS_AT_SHUTDOWN
            } else {
                1
            };
            if !self.commit_with_retries(&mut batch, &mut waiters, attempts) {
                if stopping {
                    return WriterStats {
                        lost: batch.len() as u64,
                        ..self.stats()
                    };
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        self.stats()
    }

    /// Sleeps up to `max_wait` in one go, cut short at once by a flush or shutdown (which unpark
    /// this thread): every wake-up of this thread takes a CPU from the requests for a moment.
    fn nap(&self) {
        let until = std::time::Instant::now() + self.config.max_wait;
        loop {
            let now = std::time::Instant::now();
            if now >= until || self.shared.urgent.load(Ordering::SeqCst) {
                self.shared.urgent.store(false, Ordering::SeqCst);
                return;
            }
            std::thread::park_timeout(until - now);
        }
    }

    /// Takes what is queued now, up to a full batch, without waiting; true at shutdown.
    fn gather(
        &self,
        batch: &mut Vec<UsageRecord>,
        waiters: &mut Vec<Sender<Result<(), String>>>,
    ) -> bool {
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
    fn drain(&self, batch: &mut Vec<UsageRecord>, waiters: &mut Vec<Sender<Result<(), String>>>) {
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
    fn take(
        command: Command,
        batch: &mut Vec<UsageRecord>,
        waiters: &mut Vec<Sender<Result<(), String>>>,
    ) -> bool {
        match command {
            Command::Record(record) => batch.push(*record),
            Command::Flush(reply) => waiters.push(reply),
            Command::Shutdown => return true,
        }
        false
    }

    fn commit_with_retries(
        &mut self,
        batch: &mut Vec<UsageRecord>,
        waiters: &mut Vec<Sender<Result<(), String>>>,
        attempts: u32,
    ) -> bool {
        for attempt in 1..=attempts {
            let result = if batch.is_empty() {
                Ok(())
            } else {
                self.commit(batch)
            };
            match result {
                Ok(()) => {
                    let size = batch.len() as u64;
                    if size > 0 {
                        self.shared.records.fetch_add(size, Ordering::Relaxed);
                        self.shared.batches.fetch_add(1, Ordering::Relaxed);
                        self.shared.largest_batch.fetch_max(size, Ordering::Relaxed);
                    }
                    if let Ok(mut last) = self.shared.last_error.lock() {
                        *last = None;
                    }
                    batch.clear();
                    for waiter in waiters.drain(..) {
                        let _ = waiter.send(Ok(()));
                    }
                    return true;
                }
                Err(error) => {
                    self.shared.failed_commits.fetch_add(1, Ordering::Relaxed);
                    if let Ok(mut last) = self.shared.last_error.lock() {
                        *last = Some(error.to_string());
                    }
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

    fn commit(&mut self, batch: &[UsageRecord]) -> rusqlite::Result<()> {
        let transaction = self.connection.transaction()?;
        let result = write_batch(
            &transaction,
            self.zone,
            &mut self.day_cache,
            &mut self.names,
            batch,
        )
        .and_then(|()| transaction.commit());
        if result.is_err() {
            // Names added by the failed transaction are gone from the database; forget them too.
            self.names.clear();
        }
        result
    }

    fn stats(&self) -> WriterStats {
        self.shared.stats()
    }
}

pub(crate) const INSERT_LEDGER_SQL: &str = "INSERT INTO usage_ledger (
    at_ms, day, request_id, team, key, model, provider, region, input_tokens, output_tokens,
    cache_read_tokens, cache_write_tokens, images, image_width, image_height, image_steps, image_quality,
    endpoint_ms, latency_ms, ttft_ms, status, cost_input, cost_output, cost_cache_read, cost_cache_write,
    cost_image, cost_endpoint, priced, price_model, estimated)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20,
            ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30)";

const UPSERT_ROLLUP_SQL: &str = "INSERT INTO daily_rollups (grain, day, team, model, key, origin, totals)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
    ON CONFLICT (grain, day, team, model, key, origin) DO UPDATE SET totals = tollgate_add_totals(totals, excluded.totals)";

/// Rollup rows per key.
pub(crate) const GRAIN_KEY: i64 = 0;
/// Rollup rows per model over all keys, stored with key 0 (no name has id 0).
pub(crate) const GRAIN_MODEL: i64 = 1;

/// Where rollup rows come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    Ledger = 0,
    Import = 1,
}

/// Rollup rows keyed by (day number, team id, model id, key id), in primary-key order so that
/// upserts walk the table's b-tree forwards instead of jumping around it.
pub(crate) type RollupMap = BTreeMap<(i64, i64, i64, i64), RollupTotals>;

/// Which rollup grains an upsert writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Grains {
    /// The per-key rows and the per-model rows summed from them.
    Both,
    KeyOnly,
}

/// Adds `rollups` (per-key sums) to the stored rollup rows of `origin`, and with [`Grains::Both`]
/// their per-model sums too.
pub(crate) fn upsert_rollups(
    transaction: &Transaction<'_>,
    origin: Origin,
    rollups: &RollupMap,
    grains: Grains,
) -> rusqlite::Result<()> {
    let mut upsert = transaction.prepare_cached(UPSERT_ROLLUP_SQL)?;
    let mut per_model: BTreeMap<(i64, i64, i64), RollupTotals> = BTreeMap::new();
    for (&(day, team, model, key), totals) in rollups {
        upsert.execute(params![
            GRAIN_KEY,
            day,
            team,
            model,
            key,
            origin as i64,
            &rollup_codec::encode(totals)[..]
        ])?;
        if grains == Grains::Both {
            per_model.entry((day, team, model)).or_default().add(totals);
        }
    }
    for ((day, team, model), totals) in per_model {
        upsert.execute(params![
            GRAIN_MODEL,
            day,
            team,
            model,
            0,
            origin as i64,
            &rollup_codec::encode(&totals)[..]
        ])?;
    }
    Ok(())
}

fn write_batch(
    transaction: &Transaction<'_>,
    zone: Zone,
    days: &mut DayCache,
    names: &mut NameCache,
    batch: &[UsageRecord],
) -> rusqlite::Result<()> {
    let mut insert = transaction.prepare_cached(INSERT_LEDGER_SQL)?;
    let mut sums = RollupMap::new();
    for record in batch {
        let day = days.day(zone, record.at_ms);
        let team = names.id(transaction, NameKind::Team, &record.team_id)?;
        let key = names.id(transaction, NameKind::Key, &record.key_id)?;
        let model = names.id(transaction, NameKind::Model, &record.model_id)?;
        let price_model = names.id(transaction, NameKind::Model, record.priced_as())?;
        let provider = names.id(transaction, NameKind::Provider, &record.provider)?;
        let region = names.id(transaction, NameKind::Region, &record.region)?;
        let used = &record.used;
        let cost = &record.cost;
        insert.execute(params![
            record.at_ms,
            day,
            record.request_id,
            team,
            key,
            model,
            provider,
            region,
            used.input_tokens as i64,
            used.output_tokens as i64,
            used.cache_read_tokens as i64,
            used.cache_write_tokens as i64,
            used.images,
            used.image_width,
            used.image_height,
            used.image_steps,
            used.image_quality
                .map(tollgate_core::price_book::ImageQuality::as_str),
            used.endpoint_ms as i64,
            record.latency_ms,
            record.time_to_first_token_ms,
            record.status,
            cost.input.0,
            cost.output.0,
            cost.cache_read.0,
            cost.cache_write.0,
            cost.image.0,
            cost.endpoint.0,
            record.priced,
            price_model,
            record.estimated,
        ])?;
        sums.entry((day, team, model, key))
            .or_default()
            .add(&RollupTotals::of(record));
    }
    upsert_rollups(transaction, Origin::Ledger, &sums, Grains::Both)
}
