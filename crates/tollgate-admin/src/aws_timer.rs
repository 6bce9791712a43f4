//! The timer that keeps an AWS workspace's promises between syncs: a rotated key is disabled when
//! its grace ends (not only at the next sync), and a budget block is lifted when the period starts
//! over. `tollgate serve` and the console run one per workspace.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;

use crate::aws::AwsConsole;
use crate::aws_budgets::BudgetChanges;
use crate::error::AdminError;

/// The longest the timer sleeps: a key rotated elsewhere (by the CLI, another console) is seen
/// within this, and a new period's unblock waits at most this long.
pub const LONGEST_SLEEP: Duration = Duration::from_mins(5);
/// The shortest, so that a clock a little behind AWS's does not spin the loop.
const SHORTEST_SLEEP: Duration = Duration::from_secs(1);

/// What one pass of the timer did, and when it wants to run again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimerPass {
    pub disabled_keys: Vec<String>,
    pub budgets: BudgetChanges,
    /// When the next rotated key's grace ends, if one is pending (ms since the epoch).
    pub next_due_ms: Option<i64>,
}

impl TimerPass {
    /// How long to sleep after this pass, at `now_ms`.
    pub fn sleep(&self, now_ms: i64) -> Duration {
        let until_due = self.next_due_ms.map_or(LONGEST_SLEEP, |due| {
            Duration::from_millis(u64::try_from(due.saturating_sub(now_ms)).unwrap_or(0))
        });
        until_due.clamp(SHORTEST_SLEEP, LONGEST_SLEEP)
    }
}

impl AwsConsole {
    /// Disables the rotated keys whose grace has ended and applies the budgets to the cache as it
    /// is (no sync).
    pub async fn enforce_on_time(&self, now_ms: i64) -> Result<TimerPass, AdminError> {
        let expired = self.connection.disable_all_expired_keys(now_ms).await?;
        for key in &expired.disabled {
            self.cache.record_event(
                "aws.key.rotation-ended",
                key,
                "the rotated key's grace ended: disabled",
            )?;
        }
        Ok(TimerPass {
            disabled_keys: expired.disabled,
            budgets: self.enforce_budgets(now_ms).await?,
            next_due_ms: expired.next_due_ms,
        })
    }
}

/// Runs the timer of one workspace until the task is aborted. Failures (no credentials, AWS
/// unreachable) are logged and retried after [`LONGEST_SLEEP`]; the first is a warning, the
/// repeats are quieter.
pub fn spawn_timer(aws: Arc<Mutex<AwsConsole>>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut failing = false;
        loop {
            let now_ms = chrono::Utc::now().timestamp_millis();
            // The cache is a SQLite connection, which may move between threads but not be
            // shared: its futures are not `Send`, so each pass runs on a blocking thread.
            let runtime = tokio::runtime::Handle::current();
            let workspace = Arc::clone(&aws);
            let pass = tokio::task::spawn_blocking(move || {
                runtime.block_on(async move {
                    let aws = workspace.lock().await;
                    aws.enforce_on_time(now_ms)
                        .await
                        .map_err(|error| (aws.name.clone(), error))
                })
            })
            .await;
            let Ok(pass) = pass else {
                tracing::error!("the key rotation and budget timer's pass panicked");
                tokio::time::sleep(LONGEST_SLEEP).await;
                continue;
            };
            let sleep = match pass {
                Ok(pass) => {
                    failing = false;
                    if !pass.disabled_keys.is_empty() {
                        tracing::info!(keys = ?pass.disabled_keys, "rotated keys disabled, their grace over");
                    }
                    pass.sleep(now_ms)
                }
                Err((name, error)) => {
                    if failing {
                        tracing::debug!("workspace {name}: key rotation and budget timer: {error}");
                    } else {
                        tracing::warn!(
                            "workspace {name}: key rotation and budget timer: {error} (retrying every {} min)",
                            LONGEST_SLEEP.as_secs() / 60
                        );
                    }
                    failing = true;
                    LONGEST_SLEEP
                }
            };
            tokio::time::sleep(sleep).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timer_wakes_when_the_next_grace_ends_within_bounds() {
        let pass = |due: Option<i64>| TimerPass {
            next_due_ms: due,
            ..TimerPass::default()
        };
        assert_eq!(pass(None).sleep(0), LONGEST_SLEEP);
        assert_eq!(pass(Some(30_000)).sleep(0), Duration::from_secs(30));
        assert_eq!(
            pass(Some(-5)).sleep(0),
            SHORTEST_SLEEP,
            "overdue: soon, not at once"
        );
        assert_eq!(pass(Some(3_600_000)).sleep(0), LONGEST_SLEEP);
    }
}
