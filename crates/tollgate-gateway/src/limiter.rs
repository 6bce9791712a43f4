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

#[derive(Debug, Default)]
struct SubjectState {
    rate: GcraState,
    tokens: GcraState,
    quota_period: (i64, i64),
    quota_used: u64,
    month: (i64, i64),
    spent: Nanos,
    loaded: bool,
    /// The month whose soft budget was already reported.
    alerted_month: i64,
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

    /// Checks every limit of every scope and, only if all allow it, takes the request from each.
    /// `baseline` is asked once per subject and calendar period, for the use recorded before.
    pub fn admit(
        &self,
        scopes: &[Scope<'_>],
        wall_ms: i64,
        mono_ns: u64,
        estimated_tokens: u64,
        baseline: &dyn Fn(&Subject, Option<Period>) -> Baseline,
    ) -> Result<Admission, Denial> {
        let mut states = self
            .states
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // First pass on copies: nothing is taken unless everything allows it.
        let mut updated: Vec<(Subject, SubjectState)> = Vec::with_capacity(scopes.len());
        let mut admission = Admission {
            reserved_tokens: estimated_tokens,
            ..Admission::default()
        };
        for scope in scopes {
            let limits = scope.limits;
            if !states.contains_key(scope.subject) {
                states.insert(scope.subject.clone(), SubjectState::default());
            }
            let Some(entry) = states.get_mut(scope.subject) else {
                continue;
            };
            // Period bounds are recomputed (time-zone arithmetic) only when a period ends.
            let in_month = (entry.month.0..entry.month.1).contains(&wall_ms);
            let in_quota_period = limits.quota.is_none()
                || (entry.quota_period.0..entry.quota_period.1).contains(&wall_ms);
            if !entry.loaded || !in_month || !in_quota_period {
                let base = baseline(scope.subject, limits.quota.map(|quota| quota.period));
                entry.quota_used = base.calls_in_quota_period;
                entry.spent = base.spent_this_month;
                entry.month = self.zone.period_bounds_ms(Period::Month, wall_ms);
                entry.quota_period = limits
                    .quota
                    .map(|quota| self.zone.period_bounds_ms(quota.period, wall_ms))
                    .unwrap_or_default();
                entry.loaded = true;
            }
            let mut next = SubjectState {
                rate: entry.rate,
                tokens: entry.tokens,
                quota_period: entry.quota_period,
                quota_used: entry.quota_used,
                month: entry.month,
                spent: entry.spent,
                loaded: true,
                alerted_month: entry.alerted_month,
            };
            let deny = |kind: LimitKind, retry_after_secs: Option<u64>, detail: String| Denial {
                kind,
                subject: scope.subject.clone(),
                retry_after_secs,
                detail,
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
                match gcra.check(&mut next.tokens, mono_ns, estimated_tokens.min(per_minute)) {
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
            if let Some(budget) = limits.budget
                && next.spent >= budget.monthly
            {
                match budget.enforcement {
                    Enforcement::Hard => {
                        let wait_ms = (next.month.1 - wall_ms).max(0) as u64;
                        return Err(deny(
                            LimitKind::Budget,
                            Some(wait_ms.div_ceil(1000).max(1)),
                            format!("monthly budget of {}", budget.monthly.format_usd()),
                        ));
                    }
                    Enforcement::Soft => {
                        admission.budget_exceeded_soft = true;
                        if next.alerted_month != next.month.0 {
                            next.alerted_month = next.month.0;
                            admission.budget_alert =
                                Some((scope.subject.clone(), next.spent, budget.monthly));
                        }
                    }
                }
            }
            updated.push((scope.subject.clone(), next));
        }
        for (subject, state) in updated {
            states.insert(subject, state);
        }
        Ok(admission)
    }

    /// Settles a finished call: gives back unused reserved tokens (or takes the excess) and adds
    /// its cost to each subject's month.
    pub fn settle(
        &self,
        scopes: &[Scope<'_>],
        mono_ns: u64,
        reserved_tokens: u64,
        used_tokens: u64,
        cost: Nanos,
    ) {
        let mut states = self
            .states
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for scope in scopes {
            let Some(state) = states.get_mut(scope.subject) else {
                continue;
            };
            if let Some(per_minute) = scope.limits.tokens_per_minute {
                let gcra = tokens_limiter(per_minute);
                let reserved = reserved_tokens.min(per_minute);
                if used_tokens < reserved {
                    gcra.refund(&mut state.tokens, mono_ns, reserved - used_tokens);
                } else if used_tokens > reserved {
                    gcra.force(&mut state.tokens, mono_ns, used_tokens - reserved);
                }
            }
            state.spent += cost;
        }
    }

    /// Forgets every subject's counts; each reloads from the store at its next request.
    pub fn forget_all(&self) {
        let mut states = self
            .states
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for state in states.values_mut() {
            state.loaded = false;
        }
    }

    /// Forgets what was counted so the next request reloads from the store (after admin changes).
    pub fn forget(&self, subject: &Subject) {
        let mut states = self
            .states
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
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
        assert!(limiter.admit(&scopes, NOW_MS, SECOND, 0, &none).is_ok());
        assert!(limiter.admit(&scopes, NOW_MS, SECOND, 0, &none).is_ok());
        let denied = limiter
            .admit(&scopes, NOW_MS, SECOND, 0, &none)
            .unwrap_err();
        assert_eq!(denied.kind, LimitKind::Quota);
        // The refused request took nothing from the tenant's rate: one of three is still free.
        let alone = [Scope {
            subject: &tenant,
            limits: &tenant_limits,
        }];
        assert!(limiter.admit(&alone, NOW_MS, SECOND, 0, &none).is_ok());
        assert_eq!(
            limiter
                .admit(&alone, NOW_MS, SECOND, 0, &none)
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
        assert!(limiter.admit(&scopes, NOW_MS, SECOND, 0, &stored).is_ok());
        let denied = limiter
            .admit(&scopes, NOW_MS, SECOND, 0, &stored)
            .unwrap_err();
        assert_eq!(denied.kind, LimitKind::Quota);
        assert_eq!(
            denied.retry_after_secs,
            Some(12 * 3600),
            "until the next local midnight"
        );
        let tomorrow = NOW_MS + 86_400_000;
        assert!(limiter.admit(&scopes, tomorrow, SECOND, 0, &none).is_ok());
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
        let first = limiter.admit(&scopes, NOW_MS, SECOND, 800, &none).unwrap();
        assert_eq!(
            limiter
                .admit(&scopes, NOW_MS, SECOND, 800, &none)
                .unwrap_err()
                .kind,
            LimitKind::TokensPerMinute
        );
        limiter.settle(&scopes, SECOND, first.reserved_tokens, 100, Nanos::ZERO);
        assert!(
            limiter.admit(&scopes, NOW_MS, SECOND, 800, &none).is_ok(),
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
            let admitted = limiter.admit(&scopes, NOW_MS, SECOND, 0, &none).unwrap();
            assert!(!admitted.budget_exceeded_soft);
            limiter.settle(&scopes, SECOND, 0, 0, Nanos::from_usd(1));
        }
        let denied = limiter
            .admit(
                &[Scope {
                    subject: &hard,
                    limits: &hard_limits,
                }],
                NOW_MS,
                SECOND,
                0,
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
                0,
                &none,
            )
            .unwrap();
        assert!(warned.budget_exceeded_soft);
    }
}
