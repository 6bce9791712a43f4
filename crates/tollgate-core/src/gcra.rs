//! The Generic Cell Rate Algorithm as a pure state machine: `burst` requests at once, then exactly
//! one more per emission interval. Time is scaled by the request count so that intervals such as
//! 1 s / 3 stay whole numbers: there is no rounding, hence no drift however long it runs.
//!
//! ```
//! use tollgate_core::gcra::{Gcra, GcraDecision, GcraState};
//! use tollgate_core::RateLimit;
//!
//! let limiter = Gcra::new(&RateLimit::new("10/s", 2).unwrap());
//! let mut state = GcraState::default();
//! let now = 5_000_000_000; // any monotonic nanosecond clock
//! assert!(limiter.check(&mut state, now, 1).is_allowed());
//! assert!(limiter.check(&mut state, now, 1).is_allowed());
//! // The burst is spent: the next request may come one tenth of a second later.
//! assert_eq!(limiter.check(&mut state, now, 1), GcraDecision::Denied { retry_after_ns: 100_000_000 });
//! ```

use serde::{Deserialize, Serialize};

use crate::limits::RateLimit;

/// The whole state of one limiter: the theoretical arrival time, in scaled nanoseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcraState {
    tat: u128,
}

/// The outcome of one check, with what the `X-RateLimit-*` and `Retry-After` headers need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GcraDecision {
    Allowed {
        /// Requests that could still be made right now.
        remaining: u64,
        /// Nanoseconds until the full burst is available again.
        reset_after_ns: u64,
    },
    Denied {
        /// Nanoseconds until this request would be allowed.
        retry_after_ns: u64,
    },
    /// The request costs more than the whole burst; waiting never helps.
    TooLarge,
}

impl GcraDecision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, GcraDecision::Allowed { .. })
    }
}

/// A limiter's fixed parameters, derived from a [`RateLimit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gcra {
    /// Requests per `period_ns`; also the time scale factor.
    count: u128,
    /// The emission interval in scaled time (equal to the period in real nanoseconds).
    interval: u128,
    burst: u128,
}

impl Gcra {
    pub fn new(limit: &RateLimit) -> Gcra {
        Gcra {
            count: u128::from(limit.requests.max(1)),
            interval: u128::from(limit.unit.nanos()),
            burst: u128::from(limit.burst.max(1)),
        }
    }

    pub fn burst(&self) -> u64 {
        self.burst as u64
    }

    /// Checks `cost` requests arriving at `now_ns` (any monotonic nanosecond clock), and takes them
    /// from `state` only when allowed.
    pub fn check(&self, state: &mut GcraState, now_ns: u64, cost: u64) -> GcraDecision {
        let cost = u128::from(cost);
        if cost > self.burst {
            return GcraDecision::TooLarge;
        }
        let now = u128::from(now_ns) * self.count;
        let tolerance = self.burst * self.interval;
        let tat = state.tat.max(now);
        let new_tat = tat + cost * self.interval;
        let backlog = new_tat - now;
        if backlog > tolerance {
            let wait = (backlog - tolerance).div_ceil(self.count);
            return GcraDecision::Denied {
                retry_after_ns: saturate(wait),
            };
        }
        state.tat = new_tat;
        GcraDecision::Allowed {
            remaining: saturate((tolerance - backlog) / self.interval),
            reset_after_ns: saturate(backlog.div_ceil(self.count)),
        }
    }
}

impl Gcra {
    /// Gives back `cost` that was taken but not used (a token reservation larger than the use).
    pub fn refund(&self, state: &mut GcraState, now_ns: u64, cost: u64) {
        let now = u128::from(now_ns) * self.count;
        state.tat = state
            .tat
            .saturating_sub(u128::from(cost) * self.interval)
            .max(now);
    }

    /// Takes `cost` unconditionally (use that exceeded its reservation has already happened).
    pub fn force(&self, state: &mut GcraState, now_ns: u64, cost: u64) {
        let now = u128::from(now_ns) * self.count;
        state.tat = state.tat.max(now) + u128::from(cost) * self.interval;
    }
}

fn saturate(value: u128) -> u64 {
    u64::try_from(value).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000_000;

    fn limiter(rate: &str, burst: u64) -> Gcra {
        Gcra::new(&RateLimit::new(rate, burst).unwrap())
    }

    #[test]
    fn burst_then_steady_rate() {
        let gcra = limiter("10/s", 5);
        let mut state = GcraState::default();
        let start = 1_000 * SECOND;
        for expected_remaining in (0..5).rev() {
            match gcra.check(&mut state, start, 1) {
                GcraDecision::Allowed { remaining, .. } => {
                    assert_eq!(remaining, expected_remaining);
                }
                other => panic!("expected allowed, got {other:?}"),
            }
        }
        assert_eq!(
            gcra.check(&mut state, start, 1),
            GcraDecision::Denied {
                retry_after_ns: SECOND / 10
            }
        );
        // One emission interval later exactly one more fits.
        assert!(gcra.check(&mut state, start + SECOND / 10, 1).is_allowed());
        assert!(!gcra.check(&mut state, start + SECOND / 10, 1).is_allowed());
        // One nanosecond short of the next slot is still too early.
        assert_eq!(
            gcra.check(&mut state, start + 2 * SECOND / 10 - 1, 1),
            GcraDecision::Denied { retry_after_ns: 1 }
        );
    }

    #[test]
    fn no_drift_with_intervals_that_do_not_divide() {
        // 3 per second: an interval of 333,333,333.3 ns. Polling every millisecond for an hour must
        // admit exactly burst + 3 x 3600 requests.
        let gcra = limiter("3/s", 2);
        let mut state = GcraState::default();
        let mut allowed = 0u64;
        let start = 5 * SECOND;
        let mut now = start;
        while now <= start + 3_600 * SECOND {
            if gcra.check(&mut state, now, 1).is_allowed() {
                allowed += 1;
            }
            now += 1_000_000;
        }
        assert_eq!(allowed, 2 + 3 * 3_600);
    }

    #[test]
    fn costs_and_oversized_requests() {
        let gcra = limiter("100/min", 10);
        let mut state = GcraState::default();
        assert!(gcra.check(&mut state, SECOND, 7).is_allowed());
        assert_eq!(gcra.check(&mut state, SECOND, 11), GcraDecision::TooLarge);
        // 3 left; asking 4 waits one interval (0.6 s).
        assert_eq!(
            gcra.check(&mut state, SECOND, 4),
            GcraDecision::Denied {
                retry_after_ns: 600_000_000
            }
        );
        match gcra.check(&mut state, SECOND, 3) {
            GcraDecision::Allowed {
                remaining,
                reset_after_ns,
            } => {
                assert_eq!(remaining, 0);
                assert_eq!(reset_after_ns, 6 * SECOND);
            }
            other => panic!("expected allowed, got {other:?}"),
        }
    }

    #[test]
    fn refunds_and_forced_takes_settle_reservations() {
        let tokens = limiter("600/min", 600);
        let mut state = GcraState::default();
        assert!(tokens.check(&mut state, SECOND, 500).is_allowed());
        assert!(!tokens.check(&mut state, SECOND, 200).is_allowed());
        // Only 120 of the 500 reserved were used.
        tokens.refund(&mut state, SECOND, 380);
        assert!(tokens.check(&mut state, SECOND, 480).is_allowed());
        assert!(!tokens.check(&mut state, SECOND, 1).is_allowed());
        // A call that used more than reserved still counts in full.
        let mut fresh = GcraState::default();
        tokens.force(&mut fresh, SECOND, 700);
        assert_eq!(
            tokens.check(&mut fresh, SECOND, 1),
            GcraDecision::Denied {
                retry_after_ns: 101 * SECOND / 10
            }
        );
    }

    #[test]
    fn idle_time_refills_only_to_the_burst() {
        let gcra = limiter("1/s", 3);
        let mut state = GcraState::default();
        for _ in 0..3 {
            assert!(gcra.check(&mut state, 10 * SECOND, 1).is_allowed());
        }
        // A long idle gap does not bank more than the burst.
        let later = 1_000 * SECOND;
        let admitted = (0..10)
            .filter(|_| gcra.check(&mut state, later, 1).is_allowed())
            .count();
        assert_eq!(admitted, 3);
    }
}
