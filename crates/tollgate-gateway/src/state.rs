//! The gateway's shared state: the store, the key index, limits, the ledger writer, the models.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use tollgate_core::{PriceBook, Zone};
use tollgate_providers::Provider;
use tollgate_store::{LedgerHandle, LedgerWriter, Store, StoreError, WriterConfig};

use crate::auth::AuthIndex;
use crate::config::{ModelConfig, ModelKind, ServerConfig};
use crate::limiter::{Baseline, Limiter, Subject};
use crate::metrics::Metrics;
use crate::polls::LongPolls;

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("model '{model}': {reason}")]
    Model { model: String, reason: String },
    #[error("cannot listen on {address}: {reason}")]
    Listen { address: String, reason: String },
    #[error("while stopping: {0}")]
    Shutdown(String),
    #[error("{0}")]
    Config(String),
}

/// A model clients may call, with its backend.
#[derive(Debug)]
pub struct RoutedModel {
    pub config: ModelConfig,
    pub provider: Arc<dyn Provider>,
    /// The price in force for the day last priced, so calls skip the lookup.
    price: Mutex<Option<CachedPrice>>,
}

#[derive(Debug, Clone)]
struct CachedPrice {
    day: chrono::NaiveDate,
    book_version: u64,
    price: Option<tollgate_core::price_book::ModelPrice>,
}

/// Everything requests share. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Gateway {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub store: Mutex<Store>,
    pub auth: RwLock<Arc<AuthIndex>>,
    pub limiter: Limiter,
    pub ledger: LedgerHandle,
    pub writer: Mutex<Option<LedgerWriter>>,
    pub models: HashMap<String, Arc<RoutedModel>>,
    pub model_order: Vec<String>,
    pub book: RwLock<Arc<PriceBook>>,
    pub zone: Zone,
    pub metrics: Metrics,
    pub polls: LongPolls,
    pub config: ServerConfig,
    pub admin_token: Option<String>,
    /// Guards `/metrics` and `/healthz`'s details when set.
    pub ops_token: Option<String>,
    pub clock: Instant,
    pub book_version: AtomicU64,
    /// The newest audit line seen, to notice changes made by others.
    pub seen_audit: std::sync::atomic::AtomicI64,
    /// Key id -> last use (ms), written to the store every few seconds rather than per request.
    pub key_last_used: Mutex<HashMap<String, i64>>,
    pub request_counter: AtomicU64,
    pub request_prefix: String,
    /// Streamed calls still reading their model (their client may have left): shutdown waits for
    /// them, within its grace, so each is metered with its true usage.
    pub streams_running: tokio::sync::watch::Sender<usize>,
    /// Client connections open, across every serving thread, against `[server] max_connections`.
    pub connections_open: std::sync::atomic::AtomicUsize,
    /// Set when the gateway serves HTTPS (`[server] tls_cert` and `tls_key`).
    pub tls: Option<crate::tls::Tls>,
    /// Recomputing past costs, started through the admin API.
    pub recompute_jobs: crate::recompute_jobs::RecomputeJobs,
}

/// The first line of an admin token file.
fn admin_token_from(path: &Path) -> Result<String, StartError> {
    let text = std::fs::read_to_string(path).map_err(|error| {
        StartError::Config(format!("admin_token_file {}: {error}", path.display()))
    })?;
    let token = text.lines().next().unwrap_or_default().trim().to_owned();
    if token.is_empty() {
        return Err(StartError::Config(format!(
            "admin_token_file {} is empty",
            path.display()
        )));
    }
    Ok(token)
}

impl Gateway {
    /// Whether the admin API is on: an admin token is configured, or one made with `tollgate
    /// admin-token create` can be used.
    pub fn admin_api_on(&self) -> bool {
        let now = tollgate_store::now_ms();
        self.inner.admin_token.is_some()
            || self
                .with_store(Store::admin_tokens)
                .is_ok_and(|tokens| tokens.iter().any(|token| token.is_usable_at(now)))
    }

    /// Opens the database, loads keys and prices, starts the ledger writer and the model clients.
    pub fn start(
        database: &Path,
        config: ServerConfig,
        models: &[ModelConfig],
    ) -> Result<Gateway, StartError> {
        Gateway::start_with_aws(database, config, models, None)
    }

    /// [`Gateway::start`], with AWS models using the given SDK configuration (credentials, retry
    /// policy) instead of loading the credential chain each: what an embedding application that
    /// already holds an AWS session (the console's AWS workspace) uses.
    pub fn start_with_aws(
        database: &Path,
        config: ServerConfig,
        models: &[ModelConfig],
        aws: Option<&aws_config::SdkConfig>,
    ) -> Result<Gateway, StartError> {
        let mut store = Store::open(database)?;
        store.set_actor("gateway");
        let zone = store.zone();
        let writer = store.ledger_writer(WriterConfig {
            max_wait: config.ledger_commit_window(),
            durability: config.ledger_durability.unwrap_or_default(),
            ..WriterConfig::default()
        })?;
        let mut routed = HashMap::new();
        let mut order = Vec::new();
        for model in models {
            if model.id.trim().is_empty() {
                return Err(StartError::Model {
                    model: model.id.clone(),
                    reason: "the id is empty".to_owned(),
                });
            }
            if routed.contains_key(&model.id) {
                return Err(StartError::Model {
                    model: model.id.clone(),
                    reason: "configured twice".to_owned(),
                });
            }
            let provider = crate::backends::provider_for(model, aws)?;
            routed.insert(
                model.id.clone(),
                Arc::new(RoutedModel {
                    config: model.clone(),
                    provider,
                    price: Mutex::new(None),
                }),
            );
            order.push(model.id.clone());
        }
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => Some(crate::tls::Tls::load(cert, key)?),
            (None, None) => None,
            _ => {
                return Err(StartError::Config(
                    "[server] tls_cert and tls_key go together: set both to serve HTTPS, or neither"
                        .to_owned(),
                ));
            }
        };
        let auth = AuthIndex::load(&store)?;
        let book = store.price_book()?;
        let mut prefix_bytes = [0u8; 4];
        let _ = getrandom::fill(&mut prefix_bytes);
        let admin_token = match config.admin_token.clone() {
            Some(token) => Some(token),
            None => match config
                .admin_token_file
                .clone()
                .or_else(|| std::env::var_os("TOLLGATE_ADMIN_TOKEN_FILE").map(Into::into))
            {
                Some(path) => Some(admin_token_from(&path)?),
                None => std::env::var("TOLLGATE_ADMIN_TOKEN").ok(),
            },
        }
        .filter(|token| !token.trim().is_empty());
        Ok(Gateway {
            inner: Arc::new(Inner {
                ledger: writer.handle(),
                writer: Mutex::new(Some(writer)),
                store: Mutex::new(store),
                auth: RwLock::new(Arc::new(auth)),
                limiter: Limiter::new(zone),
                models: routed,
                model_order: order,
                book: RwLock::new(Arc::new(book)),
                zone,
                metrics: Metrics::default(),
                polls: LongPolls::new(
                    config.long_poll_ttl(),
                    config.long_poll_capacity(),
                    config.long_poll_per_key(),
                ),
                admin_token,
                ops_token: config
                    .ops_token
                    .clone()
                    .or_else(|| std::env::var("TOLLGATE_OPS_TOKEN").ok())
                    .filter(|token| !token.trim().is_empty()),
                config,
                clock: Instant::now(),
                book_version: AtomicU64::new(0),
                seen_audit: std::sync::atomic::AtomicI64::new(0),
                key_last_used: Mutex::new(HashMap::new()),
                request_counter: AtomicU64::new(0),
                request_prefix: format!("{:08x}", u32::from_be_bytes(prefix_bytes)),
                streams_running: tokio::sync::watch::Sender::new(0),
                connections_open: std::sync::atomic::AtomicUsize::new(0),
                tls,
                recompute_jobs: crate::recompute_jobs::RecomputeJobs::default(),
            }),
        })
    }

    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    /// Whether connections are served over TLS.
    pub fn serves_https(&self) -> bool {
        self.inner.tls.is_some()
    }

    /// Reads the TLS certificate and key again (what SIGHUP does); the one in use stays when
    /// they cannot be read, and the reason is returned. Without TLS, nothing to do.
    pub fn reload_tls(&self) -> Result<(), String> {
        match &self.inner.tls {
            Some(tls) => tls.reload(),
            None => Ok(()),
        }
    }

    /// A unique request id: a per-process random prefix and a counter.
    pub fn next_request_id(&self) -> String {
        let number = self.inner.request_counter.fetch_add(1, Ordering::Relaxed);
        request_id(&self.inner.request_prefix, number)
    }

    /// Nanoseconds on the monotonic clock, for the limiters.
    pub fn mono_ns(&self) -> u64 {
        self.inner.clock.elapsed().as_nanos() as u64
    }

    pub fn auth(&self) -> Arc<AuthIndex> {
        Arc::clone(
            &self
                .inner
                .auth
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    pub fn book(&self) -> Arc<PriceBook> {
        Arc::clone(
            &self
                .inner
                .book
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    pub fn model(&self, id: &str) -> Option<Arc<RoutedModel>> {
        self.inner.models.get(id).cloned()
    }

    /// Models in configuration order.
    pub fn models(&self) -> impl Iterator<Item = &Arc<RoutedModel>> {
        self.inner
            .model_order
            .iter()
            .filter_map(|id| self.inner.models.get(id))
    }

    pub fn models_of_kind(&self, kind: ModelKind) -> impl Iterator<Item = &Arc<RoutedModel>> {
        self.models().filter(move |model| model.config.kind == kind)
    }

    /// [`Gateway::with_store`] with the audit log naming `actor` for what `work` changes.
    pub fn with_store_as<T>(&self, actor: &str, work: impl FnOnce(&Store) -> T) -> T {
        let mut store = self
            .inner
            .store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        store.set_actor(actor);
        let result = work(&store);
        store.set_actor("gateway");
        result
    }

    /// Runs `work` with the store (admin operations and baselines; never on the request hot path).
    pub fn with_store<T>(&self, work: impl FnOnce(&Store) -> T) -> T {
        let store = self
            .inner
            .store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        work(&store)
    }

    /// Rebuilds the key index and forgets counted limits, after tenants or keys changed.
    pub fn reload_auth(&self) -> Result<(), StoreError> {
        let index = self.with_store(AuthIndex::load)?;
        *self
            .inner
            .auth
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(index);
        Ok(())
    }

    pub fn reload_prices(&self) -> Result<(), StoreError> {
        let book = self.with_store(Store::price_book)?;
        *self
            .inner
            .book
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(book);
        self.inner.book_version.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    /// The cost of `used` on `model` on local `day`, and whether a price was found.
    pub fn price(
        &self,
        model: &RoutedModel,
        day: chrono::NaiveDate,
        used: &tollgate_core::price_book::Quantities,
    ) -> (tollgate_core::Cost, bool) {
        let version = self.inner.book_version.load(Ordering::SeqCst);
        let mut cache = model
            .price
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let fresh = cache
            .as_ref()
            .is_some_and(|cached| cached.day == day && cached.book_version == version);
        if !fresh {
            let price = self
                .book()
                .quote(model.config.price_as(), model.config.region(), day)
                .map(|quote| quote.entry.price);
            *cache = Some(CachedPrice {
                day,
                book_version: version,
                price,
            });
        }
        match cache.as_ref().and_then(|cached| cached.price.as_ref()) {
            Some(price) => (tollgate_core::price_book::cost_of(price, used), true),
            None => (tollgate_core::Cost::default(), false),
        }
    }

    /// What a subject used before: calls in its quota period and spend this month, from the rollups.
    pub fn baseline(
        &self,
        subject: &Subject,
        quota_period: Option<tollgate_core::Period>,
    ) -> Baseline {
        let now = tollgate_store::now_ms();
        self.with_store(|store| {
            let (team, key) = match subject {
                Subject::Tenant(team) => (Some(team.to_string()), None),
                Subject::Key(key) => (None, Some(key.to_string())),
            };
            let totals_in = |period: tollgate_core::Period| {
                let date = self.inner.zone.local_date(now);
                let mut query = tollgate_store::UsageQuery::new(
                    period.start_date(date),
                    period.end_date(date) - chrono::Days::new(1),
                    Vec::new(),
                );
                query.team_id.clone_from(&team);
                query.key_id.clone_from(&key);
                store
                    .usage(&query)
                    .ok()
                    .and_then(|rows| rows.into_iter().next())
                    .map(|row| row.totals)
                    .unwrap_or_default()
            };
            Baseline {
                calls_in_quota_period: quota_period
                    .map_or(0, |period| totals_in(period).invocations),
                spent_this_month: totals_in(tollgate_core::Period::Month).total_cost(),
            }
        })
    }

    /// Reloads keys, tenants and prices when the audit log shows changes made by anyone else (the
    /// CLI on the same database, say); every admin change writes an audit line.
    pub fn reload_if_changed(&self) -> Result<bool, StoreError> {
        let latest = self.with_store(Store::audit_head)?;
        let seen = self.inner.seen_audit.swap(latest, Ordering::SeqCst);
        if seen == latest {
            return Ok(false);
        }
        self.reload_auth()?;
        self.reload_prices()?;
        self.inner.limiter.forget_all();
        Ok(true)
    }

    /// Notes that a key was just used.
    pub(crate) fn key_used(&self, key_id: &str, at_ms: i64) {
        let mut used = self
            .inner
            .key_last_used
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match used.get_mut(key_id) {
            Some(last) => *last = (*last).max(at_ms),
            None => {
                used.insert(key_id.to_owned(), at_ms);
            }
        }
    }

    /// Writes the keys' last-use times noted since the previous call to the store.
    pub fn flush_key_usage(&self) -> Result<(), StoreError> {
        let used = std::mem::take(
            &mut *self
                .inner
                .key_last_used
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        self.with_store(|store| {
            for (key_id, at_ms) in used {
                if let Ok(id) = tollgate_core::KeyId::new(&key_id) {
                    store.touch_key(&id, at_ms)?;
                }
            }
            Ok(())
        })
    }

    /// Waits until every usage record queued so far is committed.
    pub fn flush_ledger(&self) -> Result<(), StoreError> {
        self.inner.ledger.flush()
    }

    /// Stops the ledger writer after committing everything queued.
    pub fn shutdown_ledger(&self) -> Result<tollgate_store::WriterStats, StoreError> {
        let writer = self
            .inner
            .writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        match writer {
            Some(writer) => writer.shutdown(),
            None => Ok(self.inner.ledger.stats()),
        }
    }
}

/// `prefix-0000000042`: the counter in at least ten digits. Written by hand: `format!` with
/// padding runs the whole formatting machinery on every call.
fn request_id(prefix: &str, number: u64) -> String {
    let mut digits = [b'0'; 20];
    let (mut rest, mut start) = (number, digits.len());
    while rest > 0 {
        start -= 1;
        digits[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    let counter = &digits[start.min(digits.len() - 10)..];
    let mut id = String::with_capacity(prefix.len() + 1 + counter.len());
    id.push_str(prefix);
    id.push('-');
    id.extend(counter.iter().map(|digit| char::from(*digit)));
    id
}

#[cfg(test)]
mod request_id_tests {
    #[test]
    fn request_ids_pad_the_counter_to_ten_digits_and_keep_longer_ones_whole() {
        for number in [0, 7, 42, 9_999_999_999, 10_000_000_000, u64::MAX] {
            assert_eq!(
                super::request_id("0a1b2c3d", number),
                format!("0a1b2c3d-{number:010}")
            );
        }
    }
}
