//! Every limit, checked before the model is called and exact under concurrency: one lock covers
//! all subjects, and a request takes from its tenant's and its key's limits only if all allow it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tollgate_core::gcra::{Gcra, GcraDecision, GcraState};
use tollgate_core::limits::{Enforcement, RateLimit, RateUnit};
use tollgate_core::{Limits, Nanos, Period, Zone};

/// Whose limits: a tenant's or one key's. Shared text, so each cached caller builds its two
/// subjects once and a call only counts references.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Subject {
    Tenant(Arc<str>),
    Key(Arc<str>),
}

/// What a subject used before this process started counting, read from the store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Baseline {
    pub calls_in_quota_period: u64,
    pub spent_this_month: Nanos,
}

#[derive(Debug, Default, Clone)]
struct SubjectState {
    rate: GcraState,
    tokens: GcraState,
    quota_period: (i64, i64),
    quota_used: u64,
    month: (i64, i64),
    spent: Nanos,
    /// The worst-case cost of this subject's calls in flight, held against a hard budget.
    reserved_cost: Nanos,
    loaded: bool,
    /// The month whose soft budget was already reported.
    alerted_month: i64,
}

impl SubjectState {
    /// Whether the stored use must be read: never read, forgotten, or a period ended.
    fn needs_baseline(&self, limits: &Limits, wall_ms: i64) -> bool {
        let in_month = (self.month.0..self.month.1).contains(&wall_ms);
        let in_quota_period =
            limits.quota.is_none() || (self.quota_period.0..self.quota_period.1).contains(&wall_ms);
        !self.loaded || !in_month || !in_quota_period
    }

    /// Starts counting from the stored use; the rate, tokens and reservations in flight stay.
    fn load(&mut self, zone: Zone, limits: &Limits, wall_ms: i64, base: Baseline) {
        self.quota_used = base.calls_in_quota_period;
        self.spent = base.spent_this_month;
        self.month = zone.period_bounds_ms(Period::Month, wall_ms);
        self.quota_period = limits
            .quota
            .map(|quota| zone.period_bounds_ms(quota.period, wall_ms))
            .unwrap_or_default();
        self.loaded = true;
    }
}

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    Rate,
    Quota,
    TokensPerMinute,
    Budget,
}

impl LimitKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LimitKind::Rate => "rate",
            LimitKind::Quota => "quota",
            LimitKind::TokensPerMinute => "tokens-per-minute",
            LimitKind::Budget => "budget",
        }
    }
}

/// A refusal: which limit, whose, and when trying again may help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub kind: LimitKind,
    pub subject: Subject,
    pub retry_after_secs: Option<u64>,
    pub detail: String,
    /// A hard budget not yet spent that this call's worst case does not fit.
    pub budget_short: Option<BudgetShort>,
}

/// How far a call's worst case overshoots what a hard budget has left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetShort {
    /// The budget less what is spent and what calls in flight hold.
    pub left: Nanos,
    pub could_cost: Nanos,
}

/// What a call asks of the limits: tokens for tokens-per-minute, and its worst-case cost for hard
/// budgets (priced only when one applies).
pub struct Ask<'a> {
    pub tokens: u64,
    pub worst_case_cost: &'a dyn Fn() -> Nanos,
}

/// The rate limit's state for `X-RateLimit-*` headers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateHeaders {
    pub limit: u64,
    pub remaining: u64,
    pub reset_secs: u64,
}

/// A request let through: what it reserved, and what to tell the client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Admission {
    pub reserved_tokens: u64,
    /// Held against hard budgets until the call settles.
    pub reserved_cost: Nanos,
    pub rate: Option<RateHeaders>,
    /// A soft budget is spent: the call goes ahead, the response says so.
    pub budget_exceeded_soft: bool,
    /// The first call over a soft budget this month: (whose, spent, budget), for the audit log.
    pub budget_alert: Option<(Subject, Nanos, Nanos)>,
}

/// One subject and its limits, as a request carries them.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub subject: &'a Subject,
    pub limits: &'a Limits,
}

#[derive(Debug)]
pub struct Limiter {
    zone: Zone,
    states: Mutex<HashMap<Subject, SubjectState>>,
}

fn secs(ns: u64) -> u64 {
    ns.div_ceil(1_000_000_000)
}

fn tokens_limiter(per_minute: u64) -> Gcra {
    Gcra::new(&RateLimit {
        requests: per_minute,
        unit: RateUnit::Minute,
        burst: per_minute,
    })
}

impl Limiter {
    pub fn new(zone: Zone) -> Limiter {
        Limiter {
            zone,
            states: Mutex::new(HashMap::new()),
        }
    }

    /// Checks every limit of every scope and, only if all allow it, takes the request from each:
    /// a rate slot, a quota call, its tokens per minute and, under a hard budget, its worst-case
    /// cost, all in one lock. `baseline` is asked once per subject and calendar period, for the
    /// use recorded before; it reads the store, so it runs with the lock released, and only the
    /// caller whose subject needs it waits for it.
    pub fn admit(
        &self,
        scopes: &[Scope<'_>],
        wall_ms: i64,
        mono_ns: u64,
        ask: &Ask<'_>,
        baseline: &dyn Fn(&Subject, Option<Period>) -> Baseline,
    ) -> Result<Admission, Denial> {
        // A hard budget reserves the call's worst case, priced once and only when one applies.
        let reserved_cost = if scopes.iter().any(|scope| {
            scope
                .limits
                .budget
                .is_some_and(|budget| budget.enforcement == Enforcement::Hard)
        }) {
            (ask.worst_case_cost)().max(Nanos::ZERO)
        } else {
            Nanos::ZERO
        };
        let mut states = self.states_with_baselines(scopes, wall_ms, baseline);
        // First pass on copies: nothing is taken unless everything allows it.
        let mut updated: Vec<(Subject, SubjectState)> = Vec::with_capacity(scopes.len());
        let mut admission = Admission {
            reserved_tokens: ask.tokens,
            reserved_cost,
            ..Admission::default()
        };
        for scope in scopes {
            let limits = scope.limits;
            let mut next = states.get(scope.subject).cloned().unwrap_or_default();
            let deny = |kind: LimitKind, retry_after_secs: Option<u64>, detail: String| Denial {
                kind,
                subject: scope.subject.clone(),
                retry_after_secs,
                detail,
                budget_short: None,
            };
            if let Some(rate) = limits.rate {
                let gcra = Gcra::new(&rate);
                match gcra.check(&mut next.rate, mono_ns, 1) {
                    GcraDecision::Allowed {
                        remaining,
                        reset_after_ns,
                    } => {
                        let headers = RateHeaders {
                            limit: rate.burst,
                            remaining,
                            reset_secs: secs(reset_after_ns),
                        };
                        // Report the tightest of the scopes.
                        if admission
                            .rate
                            .is_none_or(|current| headers.remaining < current.remaining)
                        {
                            admission.rate = Some(headers);
                        }
                    }
                    GcraDecision::Denied { retry_after_ns } => {
                        return Err(deny(
                            LimitKind::Rate,
                            Some(secs(retry_after_ns).max(1)),
                            format!("rate limit {rate}"),
                        ));
                    }
                    GcraDecision::TooLarge => {
                        return Err(deny(LimitKind::Rate, None, format!("rate limit {rate}")));
                    }
                }
            }
            if let Some(quota) = limits.quota {
                if next.quota_used >= quota.requests {
                    let wait_ms = (next.quota_period.1 - wall_ms).max(0) as u64;
                    return Err(deny(
                        LimitKind::Quota,
                        Some(wait_ms.div_ceil(1000).max(1)),
                        format!("quota {quota}"),
                    ));
                }
                next.quota_used += 1;
            }
            if let Some(per_minute) = limits.tokens_per_minute {
                let gcra = tokens_limiter(per_minute);
                match gcra.check(&mut next.tokens, mono_ns, ask.tokens.min(per_minute)) {
                    GcraDecision::Allowed { .. } => {}
                    GcraDecision::Denied { retry_after_ns } => {
                        return Err(deny(
                            LimitKind::TokensPerMinute,
                            Some(secs(retry_after_ns).max(1)),
                            format!("{per_minute} tokens per minute"),
                        ));
                    }
                    GcraDecision::TooLarge => {
                        return Err(deny(
                            LimitKind::TokensPerMinute,
                            None,
                            format!("{per_minute} tokens per minute"),
                        ));
                    }
                }
            }
            if let Some(budget) = limits.budget {
                let detail = format!("monthly budget of {}", budget.monthly.format_usd());
                let month_end_secs = ((next.month.1 - wall_ms).max(0) as u64)
                    .div_ceil(1000)
                    .max(1);
                match budget.enforcement {
                    Enforcement::Hard => {
                        // What is spent plus what calls in flight may still spend.
                        let committed = next.spent + next.reserved_cost;
                        if next.spent >= budget.monthly {
                            return Err(deny(LimitKind::Budget, Some(month_end_secs), detail));
                        }
                        if committed + reserved_cost > budget.monthly {
                            let left = (budget.monthly - committed).max(Nanos::ZERO);
                            // Calls in flight give back what they do not spend; the month's end
                            // helps only if the call fits a whole budget.
                            let retry_after = if next.spent + reserved_cost <= budget.monthly {
                                Some(1)
                            } else if reserved_cost <= budget.monthly {
                                Some(month_end_secs)
                            } else {
                                None
                            };
                            let mut denial = deny(LimitKind::Budget, retry_after, detail);
                            denial.budget_short = Some(BudgetShort {
                                left,
                                could_cost: reserved_cost,
                            });
                            return Err(denial);
                        }
                    }
                    Enforcement::Soft => {
                        if next.spent >= budget.monthly {
                            admission.budget_exceeded_soft = true;
                            if next.alerted_month != next.month.0 {
                                next.alerted_month = next.month.0;
                                admission.budget_alert =
                                    Some((scope.subject.clone(), next.spent, budget.monthly));
                            }
                        }
                    }
                }
            }
            // Every subject holds the reservation, so settling gives it back uniformly even if
            // an admin changes a budget while the call runs.
            next.reserved_cost += reserved_cost;
            updated.push((scope.subject.clone(), next));
        }
        for (subject, state) in updated {
            states.insert(subject, state);
        }
        Ok(admission)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Subject, SubjectState>> {
        self.states
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The lock, with every scope's stored use loaded. The store is read with the lock released
    /// (a busy database must not stall other tenants); if a subject was forgotten meanwhile, it
    /// is read again, and after a few tries under the lock.
    fn states_with_baselines(
        &self,
        scopes: &[Scope<'_>],
        wall_ms: i64,
        baseline: &dyn Fn(&Subject, Option<Period>) -> Baseline,
    ) -> std::sync::MutexGuard<'_, HashMap<Subject, SubjectState>> {
        const TRIES: usize = 3;
        for _ in 0..TRIES {
            let needed: Vec<&Scope<'_>> = {
                let states = self.lock();
                let needed: Vec<&Scope<'_>> = scopes
                    .iter()
                    .filter(|scope| {
                        states
                            .get(scope.subject)
                            .is_none_or(|state| state.needs_baseline(scope.limits, wall_ms))
                    })
                    .collect();
                if needed.is_empty() {
                    return states;
                }
                needed
            };
            let loaded: Vec<Baseline> = needed
                .iter()
                .map(|scope| baseline(scope.subject, scope.limits.quota.map(|quota| quota.period)))
                .collect();
            let mut states = self.lock();
            for (scope, base) in needed.into_iter().zip(loaded) {
                let entry = states.entry(scope.subject.clone()).or_default();
                // Another caller may have loaded it meanwhile and counted since: keep its counts.
                if entry.needs_baseline(scope.limits, wall_ms) {
                    entry.load(self.zone, scope.limits, wall_ms, base);
                }
            }
            if scopes.iter().all(|scope| {
                states
                    .get(scope.subject)
                    .is_some_and(|state| !state.needs_baseline(scope.limits, wall_ms))
            }) {
                return states;
            }
        }
        let mut states = self.lock();
        for scope in scopes {
            let entry = states.entry(scope.subject.clone()).or_default();
            if entry.needs_baseline(scope.limits, wall_ms) {
                let base = baseline(scope.subject, scope.limits.quota.map(|quota| quota.period));
                entry.load(self.zone, scope.limits, wall_ms, base);
            }
        }
        states
    }

    /// Settles a finished call: gives back unused reserved tokens (or takes the excess), releases
    /// its budget reservation and adds its true cost to each subject's month.
    pub fn settle(
        &self,
        scopes: &[Scope<'_>],
        mono_ns: u64,
        admission: &Admission,
        used_tokens: u64,
        cost: Nanos,
    ) {
        let mut states = self.lock();
        for scope in scopes {
            let Some(state) = states.get_mut(scope.subject) else {
                continue;
            };
            if let Some(per_minute) = scope.limits.tokens_per_minute {
                let gcra = tokens_limiter(per_minute);
                let reserved = admission.reserved_tokens.min(per_minute);
                if used_tokens < reserved {
                    gcra.refund(&mut state.tokens, mono_ns, reserved - used_tokens);
                } else if used_tokens > reserved {
                    gcra.force(&mut state.tokens, mono_ns, used_tokens - reserved);
                }
            }
            state.reserved_cost = (state.reserved_cost - admission.reserved_cost).max(Nanos::ZERO);
            state.spent += cost;
        }
    }

    /// Forgets every subject's counts; each reloads from the store at its next request.
    pub fn forget_all(&self) {
        let mut states = self.lock();
        for state in states.values_mut() {
            state.loaded = false;
        }
    }

    /// Forgets what was counted so the next request reloads from the store (after admin changes).
    pub fn forget(&self, subject: &Subject) {
        let mut states = self.lock();
        if let Some(state) = states.get_mut(subject) {
            state.loaded = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_core::Quota;
    use tollgate_core::limits::Budget;

    const SECOND: u64 = 1_000_000_000;
    const NOW_MS: i64 = 1_795_176_000_000;

    fn none(_: &Subject, _: Option<Period>) -> Baseline {
        Baseline::default()
    }

    fn free() -> Nanos {
        Nanos::ZERO
    }

    fn tokens(tokens: u64) -> Ask<'static> {
        Ask {
            tokens,
            worst_case_cost: &free,
        }
    }

    #[test]
    fn all_or_nothing_across_tenant_and_key() {
        let limiter = Limiter::new(Zone::default());
        let tenant = Subject::Tenant("alpha".into());
        let key = Subject::Key("key_a".into());
        let tenant_limits = Limits {
            rate: Some(RateLimit::new("10/s", 3).unwrap()),
            ..Limits::default()
        };
        let key_limits = Limits {
            quota: Some("2/day".parse::<Quota>().unwrap()),
            ..Limits::default()
        };
        let scopes = [
            Scope {
                subject: &tenant,
                limits: &tenant_limits,
            },
            Scope {
                subject: &key,
                limits: &key_limits,
            },
        ];
        assert!(
            limiter
                .admit(&scopes, NOW_MS, SECOND, &tokens(0), &none)
                .is_ok()
        );
        assert!(
            limiter
                .admit(&scopes, NOW_MS, SECOND, &tokens(0), &none)
                .is_ok()
        );
        let denied = limiter
            .admit(&scopes, NOW_MS, SECOND, &tokens(0), &none)
            .unwrap_err();
        assert_eq!(denied.kind, LimitKind::Quota);
        // The refused request took nothing from the tenant's rate: one of three is still free.
        let alone = [Scope {
            subject: &tenant,
            limits: &tenant_limits,
        }];
        assert!(
            limiter
                .admit(&alone, NOW_MS, SECOND, &tokens(0), &none)
                .is_ok()
        );
        assert_eq!(
            limiter
                .admit(&alone, NOW_MS, SECOND, &tokens(0), &none)
                .unwrap_err()
                .kind,
            LimitKind::Rate
        );
    }

    #[test]
    fn quota_starts_from_the_stored_count_and_resets_with_the_period() {
        let limiter = Limiter::new(Zone::default());
        let tenant = Subject::Tenant("alpha".into());
        let limits = Limits {
            quota: Some("5/day".parse::<Quota>().unwrap()),
            ..Limits::default()
        };
        let scopes = [Scope {
            subject: &tenant,
            limits: &limits,
        }];
        let stored = |_: &Subject, _: Option<Period>| Baseline {
            calls_in_quota_period: 4,
            spent_this_month: Nanos::ZERO,
        };
        assert!(
            limiter
                .admit(&scopes, NOW_MS, SECOND, &tokens(0), &stored)
                .is_ok()
        );
        let denied = limiter
            .admit(&scopes, NOW_MS, SECOND, &tokens(0), &stored)
            .unwrap_err();
        assert_eq!(denied.kind, LimitKind::Quota);
        assert_eq!(
            denied.retry_after_secs,
            Some(12 * 3600),
            "until the next local midnight"
        );
        let tomorrow = NOW_MS + 86_400_000;
        assert!(
            limiter
                .admit(&scopes, tomorrow, SECOND, &tokens(0), &none)
                .is_ok()
        );
    }

    #[test]
    fn tokens_are_reserved_then_settled() {
        let limiter = Limiter::new(Zone::default());
        let key = Subject::Key("k".into());
        let limits = Limits {
            tokens_per_minute: Some(1_000),
            ..Limits::default()
        };
        let scopes = [Scope {
            subject: &key,
            limits: &limits,
        }];
        let first = limiter
            .admit(&scopes, NOW_MS, SECOND, &tokens(800), &none)
            .unwrap();
        assert_eq!(
            limiter
                .admit(&scopes, NOW_MS, SECOND, &tokens(800), &none)
                .unwrap_err()
                .kind,
            LimitKind::TokensPerMinute
        );
        limiter.settle(&scopes, SECOND, &first, 100, Nanos::ZERO);
        assert!(
            limiter
                .admit(&scopes, NOW_MS, SECOND, &tokens(800), &none)
                .is_ok(),
            "700 unused tokens came back"
        );
    }

    #[test]
    fn budgets_block_when_hard_and_warn_when_soft() {
        let limiter = Limiter::new(Zone::default());
        let hard = Subject::Tenant("hard".into());
        let soft = Subject::Tenant("soft".into());
        let budget = |enforcement| Limits {
            budget: Some(Budget {
                monthly: Nanos::from_usd(1),
                enforcement,
            }),
            ..Limits::default()
        };
        let (hard_limits, soft_limits) = (budget(Enforcement::Hard), budget(Enforcement::Soft));
        for (subject, limits) in [(&hard, &hard_limits), (&soft, &soft_limits)] {
            let scopes = [Scope { subject, limits }];
            let admitted = limiter
                .admit(&scopes, NOW_MS, SECOND, &tokens(0), &none)
                .unwrap();
            assert!(!admitted.budget_exceeded_soft);
            limiter.settle(&scopes, SECOND, &admitted, 0, Nanos::from_usd(1));
        }
        let denied = limiter
            .admit(
                &[Scope {
                    subject: &hard,
                    limits: &hard_limits,
                }],
                NOW_MS,
                SECOND,
                &tokens(0),
                &none,
            )
            .unwrap_err();
        assert_eq!(denied.kind, LimitKind::Budget);
        let warned = limiter
            .admit(
                &[Scope {
                    subject: &soft,
                    limits: &soft_limits,
                }],
                NOW_MS,
                SECOND,
                &tokens(0),
                &none,
            )
            .unwrap();
        assert!(warned.budget_exceeded_soft);
    }

    #[test]
    fn a_hard_budget_holds_the_worst_case_of_calls_in_flight() {
        let limiter = Limiter::new(Zone::default());
        let team = Subject::Tenant("team".into());
        let limits = Limits {
            budget: Some(Budget {
                monthly: Nanos::from_usd(1),
                enforcement: Enforcement::Hard,
            }),
            ..Limits::default()
        };
        let scopes = [Scope {
            subject: &team,
            limits: &limits,
        }];
        let half = || Nanos(500_000_000);
        let ask = Ask {
            tokens: 0,
            worst_case_cost: &half,
        };
        let first = limiter.admit(&scopes, NOW_MS, SECOND, &ask, &none).unwrap();
        let second = limiter.admit(&scopes, NOW_MS, SECOND, &ask, &none).unwrap();
        assert_eq!(first.reserved_cost, Nanos(500_000_000));
        let third = limiter
            .admit(&scopes, NOW_MS, SECOND, &ask, &none)
            .unwrap_err();
        assert_eq!(third.kind, LimitKind::Budget);
        assert_eq!(
            third.budget_short,
            Some(BudgetShort {
                left: Nanos::ZERO,
                could_cost: Nanos(500_000_000)
            })
        );
        assert_eq!(
            third.retry_after_secs,
            Some(1),
            "calls in flight settle soon"
        );
        // The first call cost a tenth of its worst case: 0.10 spent, 0.50 still held, 0.40 left.
        limiter.settle(&scopes, SECOND, &first, 0, Nanos(100_000_000));
        let fourth = limiter
            .admit(&scopes, NOW_MS, SECOND, &ask, &none)
            .unwrap_err();
        assert_eq!(fourth.budget_short.unwrap().left, Nanos(400_000_000));
        limiter.settle(&scopes, SECOND, &second, 0, Nanos(100_000_000));
        assert!(limiter.admit(&scopes, NOW_MS, SECOND, &ask, &none).is_ok());
        // A call that could cost more than the whole budget never fits: no retry helps.
        let two_dollars = || Nanos::from_usd(2);
        let huge = limiter
            .admit(
                &[Scope {
                    subject: &Subject::Tenant("other".into()),
                    limits: &limits,
                }],
                NOW_MS,
                SECOND,
                &Ask {
                    tokens: 0,
                    worst_case_cost: &two_dollars,
                },
                &none,
            )
            .unwrap_err();
        assert_eq!(huge.kind, LimitKind::Budget);
        assert_eq!(huge.retry_after_secs, None);
    }

    #[test]
    fn the_stored_use_is_read_with_the_lock_released() {
        let limiter = Limiter::new(Zone::default());
        let warm = Subject::Tenant("warm".into());
        let cold = Subject::Tenant("cold".into());
        let limits = Limits::default();
        let scope = |subject| {
            [Scope {
                subject,
                limits: &limits,
            }]
        };
        limiter
            .admit(&scope(&warm), NOW_MS, SECOND, &tokens(0), &none)
            .unwrap();
        let lock_was_free = std::cell::Cell::new(false);
        let reading = |_: &Subject, _: Option<Period>| {
            lock_was_free.set(limiter.states.try_lock().is_ok());
            Baseline::default()
        };
        limiter
            .admit(&scope(&cold), NOW_MS, SECOND, &tokens(0), &reading)
            .unwrap();
        assert!(
            lock_was_free.get(),
            "a cold tenant's store read must not block warm tenants"
        );
    }
}
