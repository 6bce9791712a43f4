//! Recomputing past costs as a job of the admin API: started by one request, watched by others
//! (progress a week at a time) and cancelled between weeks, as the console's Settings screen does
//! in process. One runs at a time, since two over the same days would only race each other.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::NaiveDate;
use serde::Serialize;
use tollgate_reports::{RecomputeProgress, RecomputeResult, ReportError};

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Running,
    Done,
    Cancelled,
    Failed,
}

/// A job as `GET /admin/v1/recompute/{id}` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct JobView {
    pub id: u64,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub state: JobState,
    pub progress: Option<RecomputeProgress>,
    pub result: Option<RecomputeResult>,
    pub error: Option<String>,
    pub started_by: String,
    pub started_at_ms: i64,
}

#[derive(Debug)]
struct Job {
    view: Mutex<JobView>,
    cancel: AtomicBool,
}

/// The jobs of this process, newest kept: a console that lost its connection finds its job again.
#[derive(Debug, Default)]
pub struct RecomputeJobs {
    jobs: Mutex<BTreeMap<u64, Arc<Job>>>,
}

/// Jobs remembered after they end.
const KEPT: usize = 20;

impl RecomputeJobs {
    /// Registers a job, or says which one is still running.
    pub(crate) fn start(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        started_by: String,
    ) -> Result<u64, Box<JobView>> {
        let mut jobs = self.jobs.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(running) = jobs.values().find(|job| job.state() == JobState::Running) {
            return Err(Box::new(running.snapshot()));
        }
        let id = jobs.keys().next_back().map_or(1, |last| last + 1);
        jobs.insert(
            id,
            Arc::new(Job {
                view: Mutex::new(JobView {
                    id,
                    from,
                    to,
                    state: JobState::Running,
                    progress: None,
                    result: None,
                    error: None,
                    started_by,
                    started_at_ms: tollgate_store::now_ms(),
                }),
                cancel: AtomicBool::new(false),
            }),
        );
        while jobs.len() > KEPT {
            jobs.pop_first();
        }
        Ok(id)
    }

    fn job(&self, id: u64) -> Option<Arc<Job>> {
        self.jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            .cloned()
    }

    pub fn view(&self, id: u64) -> Option<JobView> {
        self.job(id).map(|job| job.snapshot())
    }

    /// Asks a running job to stop after the week it is on.
    pub fn cancel(&self, id: u64) -> Option<JobView> {
        let job = self.job(id)?;
        job.cancel.store(true, Ordering::Relaxed);
        Some(job.snapshot())
    }

    /// Runs job `id` to its end with `step` pricing one week (a store transaction each).
    pub(crate) fn run(
        &self,
        id: u64,
        step: impl FnMut(NaiveDate, NaiveDate) -> Result<tollgate_store::RecomputeSummary, ReportError>,
    ) {
        let Some(job) = self.job(id) else { return };
        let (from, to) = {
            let view = job.view.lock().unwrap_or_else(PoisonError::into_inner);
            (view.from, view.to)
        };
        let outcome = tollgate_reports::recompute_in_steps(
            step,
            from,
            to,
            &mut |progress| {
                job.view
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .progress = Some(progress);
            },
            &job.cancel,
        );
        let mut view = job.view.lock().unwrap_or_else(PoisonError::into_inner);
        match outcome {
            Ok(result) => {
                view.state = if result.cancelled {
                    JobState::Cancelled
                } else {
                    JobState::Done
                };
                view.result = Some(result);
            }
            Err(error) => {
                tracing::warn!(job = id, %error, "recompute failed");
                view.state = JobState::Failed;
                view.error = Some(error.to_string());
            }
        }
    }
}

impl Job {
    fn state(&self) -> JobState {
        self.view
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .state
    }

    fn snapshot(&self) -> JobView {
        self.view
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}
