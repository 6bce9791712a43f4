//! What every model call goes through, whichever API it came by: authentication, the team binding,
//! the tenant's allow-list, every limit before the model is called, and metering after.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use tollgate_core::price_book::Quantities;
use tollgate_core::{Nanos, UsageRecord};
use tollgate_providers::Usage;

use crate::auth::{Caller, presented_secret};
use crate::error::ApiError;
use crate::limiter::{Admission, Ask, LimitKind, Subject};
use crate::state::{Gateway, RoutedModel};

// Names built once: inserting a `&str` name copies it into a new allocation on every response.
const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");
const X_TOLLGATE_BUDGET: HeaderName = HeaderName::from_static("x-tollgate-budget");

/// A call let through, until it is metered.
#[derive(Debug)]
pub struct Call {
    pub caller: Arc<Caller>,
    pub model: Arc<RoutedModel>,
    pub request_id: String,
    pub started: Instant,
    pub admission: Admission,
    /// The prompt's size estimated at admission (four characters a token), for calls that end
    /// without the upstream's count.
    pub estimated_input_tokens: u64,
    /// How the metered record is kept, until the answer waits for it ([`Call::recorded`]).
    kept: std::sync::Mutex<Option<Kept>>,
}

/// What became of a call's record.
#[derive(Debug)]
enum Kept {
    Durable(tollgate_store::Durable),
    /// The journal refused it: the call must not be answered as if recorded.
    Failed(String),
}

/// Longest an answer waits for its record to reach the disk (journal-fsync).
const RECORD_WAIT: Duration = Duration::from_secs(10);

/// How a call ended, for the ledger.
#[derive(Debug, Clone, Copy, Default)]
pub struct Outcome {
    pub status: u16,
    pub usage: Usage,
    pub time_to_first_token: Option<Duration>,
}

/// Authenticates a request's key, for routes that need no model (model lists).
pub fn authenticate(gateway: &Gateway, headers: &HeaderMap) -> Result<Arc<Caller>, ApiError> {
    let secret = presented_secret(headers)?;
    gateway
        .auth()
        .authenticate(&secret, tollgate_store::now_ms())
}

/// Output tokens a reservation counts on when neither the call nor the model caps them.
pub const DEFAULT_OUTPUT_RESERVATION: u32 = 1024;

/// What a call may use at most, as far as is known before it runs: its reservations (tokens per
/// minute, and the worst-case cost held against hard budgets) are taken from it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Expected {
    /// Estimated from the prompt: four characters a token.
    pub input_tokens: u64,
    /// The call's `max_tokens` (already capped by the model's `max_output_tokens`); absent:
    /// [`DEFAULT_OUTPUT_RESERVATION`].
    pub max_output_tokens: Option<u32>,
    /// What an image call asked for (count, size, steps, quality).
    pub images: Quantities,
}

impl Expected {
    pub fn chat(prompt_chars: usize, max_tokens: Option<u32>) -> Expected {
        Expected {
            input_tokens: (prompt_chars as u64).div_ceil(4),
            max_output_tokens: max_tokens,
            images: Quantities::default(),
        }
    }

    pub fn embedding(input_chars: usize) -> Expected {
        Expected::chat(input_chars, Some(0))
    }

    pub fn images(asked: Quantities) -> Expected {
        Expected {
            input_tokens: 0,
            max_output_tokens: Some(0),
            images: asked,
        }
    }

    fn quantities(&self, model: &RoutedModel) -> Quantities {
        let output = self.max_output_tokens.unwrap_or(DEFAULT_OUTPUT_RESERVATION);
        Quantities {
            input_tokens: self.input_tokens,
            output_tokens: u64::from(output),
            // Endpoint time is priced per second: at worst the call runs until its timeout.
            endpoint_ms: model
                .config
                .timeout_secs
                .unwrap_or(120)
                .saturating_mul(1000),
            ..self.images
        }
    }
}

/// Runs a store read from async code so that the runtime moves its other tasks elsewhere while
/// it waits (a busy database slows only this caller). On a single-threaded runtime (tests) it
/// just runs.
fn off_the_async_workers<T>(read: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(read)
        }
        _ => read(),
    }
}

impl Call {
    /// Everything before the model is called. `team_header` is the reference API's `team_id`,
    /// which must name the key's own tenant.
    pub fn begin(
        gateway: &Gateway,
        headers: &HeaderMap,
        team_header: Option<&str>,
        model_id: &str,
        expected: Expected,
    ) -> Result<Call, ApiError> {
        let caller = authenticate(gateway, headers)?;
        Call::begin_as(gateway, caller, team_header, model_id, expected)
    }

    /// [`Call::begin`] for a caller the route has authenticated already.
    pub fn begin_as(
        gateway: &Gateway,
        caller: Arc<Caller>,
        team_header: Option<&str>,
        model_id: &str,
        expected: Expected,
    ) -> Result<Call, ApiError> {
        gateway.key_used(caller.key.id.as_str(), tollgate_store::now_ms());
        // Refused before the model is called: a call whose record cannot be kept is not made.
        if gateway.inner.ledger.journal_failing(Duration::from_secs(1)) {
            return Err(ApiError::unavailable(
                "the gateway cannot record usage right now (its ledger journal cannot be written); try again shortly",
            ));
        }
        if let Some(team) = team_header
            && team != caller.tenant.team_id.as_str()
        {
            return Err(ApiError::forbidden(format!(
                "Forbidden: team_id '{team}' is not the tenant of this API key"
            )));
        }
        let model = gateway.model(model_id).ok_or_else(|| {
            ApiError::not_found(format!(
                "model '{model_id}' is not available on this gateway"
            ))
        })?;
        if !caller.tenant.allowed_models.permits(model_id) {
            return Err(ApiError::forbidden(format!(
                "Forbidden: model '{model_id}' is not allowed for team '{}'",
                caller.tenant.team_id
            )));
        }
        let scopes = caller.scopes();
        let now = tollgate_store::now_ms();
        let worst_case = expected.quantities(&model);
        let worst_case_cost = || {
            let day = gateway.inner.zone.local_date(now);
            gateway.price(&model, day, &worst_case).0.total()
        };
        let ask = Ask {
            tokens: worst_case.input_tokens + worst_case.output_tokens,
            worst_case_cost: &worst_case_cost,
        };
        let admission = gateway
            .inner
            .limiter
            .admit(&scopes, now, gateway.mono_ns(), &ask, &|subject, period| {
                off_the_async_workers(|| gateway.baseline(subject, period))
            })
            .map_err(|denial| {
                gateway
                    .inner
                    .metrics
                    .rejection(caller.tenant.team_id.as_str(), denial.kind.as_str());
                let message = match denial.kind {
                    LimitKind::Rate | LimitKind::TokensPerMinute => "Too Many Requests",
                    LimitKind::Quota | LimitKind::Budget => "Limit Exceeded",
                };
                let whose = match &denial.subject {
                    Subject::Tenant(team) => format!("team '{team}'"),
                    Subject::Key(key) => format!("key '{key}'"),
                };
                let verdict = match denial.budget_short {
                    None => "is reached".to_owned(),
                    Some(short) => format!(
                        "has ${} left and this call could cost up to ${}; {}",
                        short.left.to_decimal_string(),
                        short.could_cost.to_decimal_string(),
                        match denial.retry_after_secs {
                            None => "that is more than the whole budget: ask for fewer tokens (max_tokens)",
                            Some(1) => "ask for fewer tokens (max_tokens), or retry when calls in flight have finished",
                            Some(_) => "ask for fewer tokens (max_tokens), or wait for the next month",
                        }
                    ),
                };
                let mut error = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    match denial.kind {
                        LimitKind::Rate => "rate_limit_exceeded",
                        LimitKind::TokensPerMinute => "tokens_per_minute_exceeded",
                        LimitKind::Quota => "quota_exceeded",
                        LimitKind::Budget => "budget_exceeded",
                    },
                    format!("{message}: the {} of {whose} {verdict}", denial.detail),
                );
                error.retry_after = denial.retry_after_secs;
                error
            })?;
        if let Some((subject, spent, budget)) = admission.budget_alert.clone() {
            // Once a month per subject: the soft budget is spent, calls go on.
            let gateway = gateway.clone();
            tokio::task::spawn_blocking(move || {
                let target = match &subject {
                    Subject::Tenant(team) => format!("tenant {team}"),
                    Subject::Key(key) => format!("key {key}"),
                };
                let detail = format!("{{\"spent\":\"{spent}\",\"budget\":\"{budget}\"}}");
                if let Err(error) = gateway.with_store(|store| {
                    store.record_event("budget.soft_exceeded", &target, &detail)
                }) {
                    tracing::error!("could not audit a budget alert: {error}");
                }
            });
        }
        Ok(Call {
            request_id: gateway.next_request_id(),
            started: Instant::now(),
            caller,
            model,
            admission,
            estimated_input_tokens: expected.input_tokens,
            kept: std::sync::Mutex::new(None),
        })
    }

    /// Who the call is for, so providers that tag calls (Bedrock) attribute usage on their side.
    pub fn attribution(&self) -> tollgate_providers::Attribution {
        tollgate_providers::Attribution {
            team_id: self.caller.tenant.team_id.to_string(),
            key_id: self.caller.key.id.to_string(),
            cost_center: self.caller.tenant.cost_center.clone(),
        }
    }

    /// Runs a non-streamed call's upstream request and its metering in a task of their own, so
    /// that a client hanging up (which drops the route's future) stops neither: the call is
    /// metered with its true usage as long as the upstream answers within
    /// `drain_after_disconnect_secs` of the client leaving, and recorded as 499 with no tokens
    /// if it does not (its reservations are given back either way). `finish` meters the result.
    pub async fn complete<T, R>(
        self,
        gateway: &Gateway,
        upstream: impl Future<Output = Result<T, tollgate_providers::ProviderError>> + Send + 'static,
        finish: impl FnOnce(&Call, &Gateway, Result<T, tollgate_providers::ProviderError>) -> R
        + Send
        + 'static,
    ) -> Result<(Call, R), ApiError>
    where
        T: Send + 'static,
        R: Send + 'static,
    {
        // Dropped with the route's future: when the client leaves before the answer.
        let (present, gone) = tokio::sync::oneshot::channel::<()>();
        let gateway = gateway.clone();
        // Counted with the streams, so a graceful stop waits for the metering too.
        gateway
            .inner
            .streams_running
            .send_modify(|count| *count += 1);
        let task = tokio::spawn(async move {
            let call = self;
            let mut upstream = std::pin::pin!(upstream);
            let result = tokio::select! {
                biased;
                result = &mut upstream => Some(result),
                _ = gone => {
                    let drain = gateway.config().drain_after_disconnect();
                    tokio::time::timeout(drain, &mut upstream).await.ok()
                }
            };
            let finished = if let Some(result) = result {
                let finished = finish(&call, &gateway, result);
                match call.recorded().await {
                    Ok(()) => Some(Ok(finished)),
                    Err(error) => Some(Err(error)),
                }
            } else {
                // Nobody waits and the upstream kept silent: the attempt stays visible.
                call.meter(
                    &gateway,
                    Outcome {
                        status: 499,
                        ..Outcome::default()
                    },
                    Quantities::default(),
                );
                None
            };
            gateway
                .inner
                .streams_running
                .send_modify(|count| *count -= 1);
            finished.map(|finished| finished.map(|finished| (call, finished)))
        });
        let finished = task.await;
        drop(present);
        match finished {
            Ok(Some(Ok(done))) => Ok(done),
            Ok(Some(Err(error))) => Err(error),
            // Only when the client left, and then nobody reads this.
            Ok(None) => Err(ApiError::unavailable("the client left before the answer")),
            Err(error) => {
                tracing::error!("a call's task failed: {error}");
                Err(ApiError::internal("the call failed inside the gateway"))
            }
        }
    }

    /// A non-streamed chat call through [`Call::complete`], metered with the answer's usage.
    pub async fn chat(
        self,
        gateway: &Gateway,
        request: tollgate_providers::ChatRequest,
    ) -> Result<(Call, tollgate_providers::ChatResponse, Nanos), ApiError> {
        let provider = Arc::clone(&self.model.provider);
        let (call, settled) = self
            .complete(
                gateway,
                async move { provider.chat(request).await },
                |call, gateway, result| call.settle(gateway, result, |answer| answer.usage),
            )
            .await?;
        let (answer, cost) = settled?;
        Ok((call, answer, cost))
    }

    /// An embeddings call through [`Call::complete`], metered with the answer's usage.
    pub async fn embeddings(
        self,
        gateway: &Gateway,
        request: tollgate_providers::EmbeddingRequest,
    ) -> Result<(Call, tollgate_providers::EmbeddingResponse, Nanos), ApiError> {
        let provider = Arc::clone(&self.model.provider);
        let (call, settled) = self
            .complete(
                gateway,
                async move { provider.embeddings(request).await },
                |call, gateway, result| call.settle(gateway, result, |answer| answer.usage),
            )
            .await?;
        let (answer, cost) = settled?;
        Ok((call, answer, cost))
    }

    /// Meters a finished non-streamed call whichever way it ended; returns the answer and its cost.
    pub fn settle<T>(
        &self,
        gateway: &Gateway,
        result: Result<T, tollgate_providers::ProviderError>,
        usage: impl Fn(&T) -> Usage,
    ) -> Result<(T, Nanos), ApiError> {
        match result {
            Ok(answer) => {
                let outcome = Outcome {
                    status: 200,
                    usage: usage(&answer),
                    time_to_first_token: None,
                };
                let cost = self.meter(gateway, outcome, Quantities::default());
                Ok((answer, cost))
            }
            Err(error) => {
                self.meter(
                    gateway,
                    Outcome {
                        status: error.http_status(),
                        ..Outcome::default()
                    },
                    Quantities::default(),
                );
                Err(error.into())
            }
        }
    }

    /// Writes the call to the ledger with its true usage, settles the limits, and returns its cost.
    pub fn meter(&self, gateway: &Gateway, outcome: Outcome, extra: Quantities) -> Nanos {
        let config = &self.model.config;
        let now = tollgate_store::now_ms();
        // Providers bound their counts; this holds for any provider, built in or not.
        let usage = outcome.usage.bounded();
        let used = Quantities {
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
            cache_read_tokens: usage.cache_read_tokens,
            cache_write_tokens: usage.cache_write_tokens,
            endpoint_ms: usage.endpoint_ms,
            ..extra
        };
        let (price, priced) = gateway.price(&self.model, gateway.inner.zone.local_date(now), &used);
        let cost = price.total();
        let record = UsageRecord {
            at_ms: now,
            request_id: self.request_id.clone(),
            team_id: self.caller.tenant.team_id.to_string(),
            key_id: self.caller.key.id.to_string(),
            model_id: config.id.clone(),
            price_model_id: config.price_as().to_owned(),
            provider: config.provider().as_str().to_owned(),
            region: config.region().to_owned(),
            used,
            latency_ms: self.started.elapsed().as_millis().min(u128::from(u32::MAX)) as u32,
            time_to_first_token_ms: outcome
                .time_to_first_token
                .map(|ttft| ttft.as_millis().min(u128::from(u32::MAX)) as u32),
            status: outcome.status,
            cost: price,
            priced,
            estimated: usage.estimated,
        };
        let kept = match gateway.inner.ledger.submit(record) {
            Ok(tollgate_store::Submitted::Kept(durable)) => Some(Kept::Durable(durable)),
            Ok(tollgate_store::Submitted::Full(record)) => {
                // The ledger is backed up: wait for room off the async workers rather than drop it.
                let ledger = gateway.inner.ledger.clone();
                tokio::task::spawn_blocking(move || {
                    if let Err(error) = ledger.record(*record) {
                        tracing::error!("a usage record could not be queued: {error}");
                    }
                });
                None
            }
            Err(error) => {
                tracing::error!(
                    request_id = self.request_id,
                    "a usage record could not be kept: {error}"
                );
                Some(Kept::Failed(error.to_string()))
            }
        };
        *self
            .kept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = kept;
        let scopes = self.caller.scopes();
        let tokens = usage.input_tokens + usage.output_tokens + usage.cache_read_tokens;
        gateway
            .inner
            .limiter
            .settle(&scopes, gateway.mono_ns(), &self.admission, tokens, cost);
        gateway.inner.metrics.usage(
            self.caller.tenant.team_id.as_str(),
            &config.id,
            usage.input_tokens,
            usage.output_tokens,
            cost,
        );
        cost
    }

    /// Waits until the metered record is kept as `ledger_durability` promises; an answer goes out
    /// only then. A record that could not be kept turns the answer into a 503: the call must
    /// not look recorded when a crash could lose it.
    pub async fn recorded(&self) -> Result<(), ApiError> {
        let kept = self
            .kept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let unrecorded = |reason: String| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "ledger_unavailable",
                format!(
                    "the call ran but its usage could not be recorded safely ({reason}); the gateway's operator can see why"
                ),
            )
        };
        match kept {
            None => Ok(()),
            Some(Kept::Failed(reason)) => Err(unrecorded(reason)),
            Some(Kept::Durable(durable)) => {
                match tokio::time::timeout(RECORD_WAIT, durable.wait()).await {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(error)) => {
                        tracing::error!(request_id = self.request_id, "{error}");
                        Err(unrecorded("the ledger journal stopped".to_owned()))
                    }
                    Err(_) => Err(unrecorded(format!(
                        "the journal did not reach the disk within {} s",
                        RECORD_WAIT.as_secs()
                    ))),
                }
            }
        }
    }

    /// Adds `X-RateLimit-*`, the request id, and the soft-budget warning to a response.
    pub fn decorate(&self, headers: &mut HeaderMap) {
        if let Ok(id) = HeaderValue::from_str(&self.request_id) {
            headers.insert(X_REQUEST_ID, id);
        }
        if let Some(rate) = self.admission.rate {
            headers.insert(X_RATELIMIT_LIMIT, HeaderValue::from(rate.limit));
            headers.insert(X_RATELIMIT_REMAINING, HeaderValue::from(rate.remaining));
            headers.insert(X_RATELIMIT_RESET, HeaderValue::from(rate.reset_secs));
        }
        if self.admission.budget_exceeded_soft {
            headers.insert(X_TOLLGATE_BUDGET, HeaderValue::from_static("exceeded"));
        }
    }
}
