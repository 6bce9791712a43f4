//! The deployment's daily cost reports in S3 (`PREFIX/succeed/YYYY-MM-DD.csv`, with the day's bad
//! lines in `PREFIX/errors/YYYY-MM-DD.txt`), synced incrementally into the local SQLite cache: a
//! day is fetched again only when its object's `ETag` changed, each day lands in one transaction (so
//! an interrupted sync resumes where it stopped), and fetches run a bounded number at a time.

use std::path::Path;

use futures_util::StreamExt;
use serde::Serialize;
use tollgate_core::report_csv::{date_from_file_name, read_report};
use tollgate_store::{Store, SyncedObject};

use crate::error::{AwsError, AwsErrorKind};
use crate::workspace::Connection;

/// How a sync runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncOptions {
    /// Fetches in flight at once.
    pub parallel: usize,
    /// Keys per listing page (S3's maximum is 1,000).
    pub page_size: i32,
}

impl Default for SyncOptions {
    fn default() -> SyncOptions {
        SyncOptions {
            parallel: 16,
            page_size: 1000,
        }
    }
}

/// A bad line the report had, as the sync found it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BadLine {
    pub key: String,
    pub line: u64,
    pub message: String,
}

/// One of the deployment's own error files (`errors/YYYY-MM-DD.txt`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorFile {
    pub key: String,
    pub day: Option<chrono::NaiveDate>,
    pub lines: u64,
    /// Its first line, as a preview.
    pub first_line: String,
}

/// How far a sync has come, for a progress bar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncProgress {
    /// Changed days stored so far, of `total`.
    pub done: u64,
    pub total: u64,
    /// The object just stored.
    pub key: String,
}

/// Hears each day a sync stores.
pub type ProgressFn = Box<dyn Fn(&SyncProgress) + Send + Sync>;

/// Progress reports and a stop switch for a sync the user may cancel. A cancelled sync keeps
/// every day it finished; the next sync fetches only the rest.
#[derive(Default)]
pub struct SyncControl {
    pub progress: Option<ProgressFn>,
    pub cancel: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl std::fmt::Debug for SyncControl {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("SyncControl")
            .field("progress", &self.progress.is_some())
            .field("cancel", &self.cancel)
            .finish()
    }
}

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    /// Report objects found.
    pub listed: u64,
    /// Fetched and stored because they were new or changed.
    pub fetched: u64,
    pub unchanged: u64,
    /// Report rows stored.
    pub rows: u64,
    pub bad_lines: Vec<BadLine>,
    /// Objects under `succeed/` whose names are not `YYYY-MM-DD.csv`.
    pub skipped: Vec<String>,
    pub error_files: Vec<ErrorFile>,
    /// Stopped by the user before the end.
    pub cancelled: bool,
}

/// A listed object.
#[derive(Debug, Clone)]
struct Listed {
    key: String,
    etag: String,
    last_modified_ms: i64,
}

impl Connection {
    fn bucket(&self) -> Result<&str, AwsError> {
        self.workspace
            .report_bucket
            .as_deref()
            .filter(|bucket| !bucket.is_empty())
            .ok_or_else(|| {
                AwsError::new(
                    AwsErrorKind::Invalid,
                    "this workspace has no report_bucket: add the bucket of the daily cost reports to it",
                )
            })
    }

    /// `s3://bucket/prefix`, the name synced objects are remembered under.
    pub fn report_source(&self) -> Result<String, AwsError> {
        Ok(format!(
            "s3://{}/{}",
            self.bucket()?,
            self.workspace.report_prefix.trim_matches('/')
        ))
    }

    fn report_path(&self, folder: &str) -> String {
        let prefix = self.workspace.report_prefix.trim_matches('/');
        if prefix.is_empty() {
            format!("{folder}/")
        } else {
            format!("{prefix}/{folder}/")
        }
    }

    async fn list(&self, prefix: &str, page_size: i32) -> Result<Vec<Listed>, AwsError> {
        let bucket = self.bucket()?;
        let mut listed = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .s3
                .list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .max_keys(page_size)
                .set_continuation_token(token)
                .send()
                .await
                .map_err(|error| {
                    AwsError::from_sdk(
                        &format!("listing s3://{bucket}/{prefix}"),
                        &error,
                        self.profile(),
                    )
                })?;
            for object in page.contents.unwrap_or_default() {
                let Some(key) = object.key else { continue };
                listed.push(Listed {
                    key,
                    etag: object.e_tag.unwrap_or_default(),
                    last_modified_ms: object
                        .last_modified
                        .and_then(|time| time.to_millis().ok())
                        .unwrap_or(0),
                });
            }
            token = page.next_continuation_token.filter(|next| !next.is_empty());
            if token.is_none() {
                break;
            }
        }
        Ok(listed)
    }

    async fn fetch(&self, key: &str) -> Result<Vec<u8>, AwsError> {
        let bucket = self.bucket()?;
        let doing = format!("fetching s3://{bucket}/{key}");
        let object = self
            .s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|error| AwsError::from_sdk(&doing, &error, self.profile()))?;
        let bytes = object.body.collect().await.map_err(|error| {
            AwsError::new(AwsErrorKind::Unavailable, format!("{doing}: {error}"))
        })?;
        Ok(bytes.into_bytes().to_vec())
    }

    /// Syncs the daily reports into `store`; see the module documentation.
    pub async fn sync_reports(
        &self,
        store: &Store,
        options: SyncOptions,
    ) -> Result<SyncReport, AwsError> {
        self.sync_reports_with(store, options, &SyncControl::default())
            .await
    }

    /// [`Connection::sync_reports`] with progress reports and a stop switch.
    pub async fn sync_reports_with(
        &self,
        store: &Store,
        options: SyncOptions,
        control: &SyncControl,
    ) -> Result<SyncReport, AwsError> {
        use std::sync::atomic::Ordering;
        let source = self.report_source()?;
        let store_error = |error: tollgate_store::StoreError| {
            AwsError::new(
                AwsErrorKind::Unavailable,
                format!("the local cache: {error}"),
            )
        };
        let mut report = SyncReport::default();
        let mut wanted = Vec::new();
        for object in self
            .list(&self.report_path("succeed"), options.page_size)
            .await?
        {
            let name = object.key.rsplit('/').next().unwrap_or_default();
            let Some(day) = date_from_file_name(name).filter(|_| {
                std::path::Path::new(name)
                    .extension()
                    .is_some_and(|extension| extension.eq_ignore_ascii_case("csv"))
            }) else {
                report.skipped.push(object.key);
                continue;
            };
            report.listed += 1;
            let known = store
                .synced_object(&source, &object.key)
                .map_err(store_error)?;
            if known.is_some_and(|known| known.etag == object.etag) {
                report.unchanged += 1;
            } else {
                wanted.push((object, day));
            }
        }
        let wanted_count = wanted.len() as u64;
        let mut fetches =
            futures_util::stream::iter(wanted.into_iter().map(|(object, day)| async move {
                let bytes = self.fetch(&object.key).await;
                (object, day, bytes)
            }))
            .buffer_unordered(options.parallel.max(1));
        let total = wanted_count;
        while let Some((object, day, bytes)) = fetches.next().await {
            if control.cancel.load(Ordering::Relaxed) {
                report.cancelled = true;
                break;
            }
            let bytes = bytes?;
            let read = read_report(bytes.as_slice(), Some(day)).map_err(|error| {
                AwsError::new(
                    AwsErrorKind::Invalid,
                    format!(
                        "s3://{}/{} is not a cost report: {error}",
                        self.bucket().unwrap_or_default(),
                        object.key
                    ),
                )
            })?;
            let synced = SyncedObject {
                source: source.clone(),
                key: object.key.clone(),
                etag: object.etag.clone(),
                last_modified_ms: object.last_modified_ms,
                rows: read.rows.len() as u64,
                bad_rows: read.problems.len() as u64,
            };
            store
                .sync_report_day(&synced, day, &read.rows)
                .map_err(store_error)?;
            report.fetched += 1;
            report.rows += read.rows.len() as u64;
            if let Some(progress) = &control.progress {
                progress(&SyncProgress {
                    done: report.fetched,
                    total,
                    key: object.key.clone(),
                });
            }
            report
                .bad_lines
                .extend(read.problems.into_iter().map(|problem| BadLine {
                    key: object.key.clone(),
                    line: problem.line,
                    message: problem.message,
                }));
        }
        drop(fetches);
        if report.cancelled {
            return Ok(report);
        }
        for object in self
            .list(&self.report_path("errors"), options.page_size)
            .await?
        {
            let text = String::from_utf8_lossy(&self.fetch(&object.key).await?).into_owned();
            let name = object.key.rsplit('/').next().unwrap_or_default();
            report.error_files.push(ErrorFile {
                day: date_from_file_name(&name.replace(".txt", ".csv")),
                lines: text.lines().filter(|line| !line.trim().is_empty()).count() as u64,
                first_line: text
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .chars()
                    .take(200)
                    .collect(),
                key: object.key,
            });
        }
        report
            .bad_lines
            .sort_by(|a, b| a.key.cmp(&b.key).then(a.line.cmp(&b.line)));
        Ok(report)
    }
}

/// Opens (creating when new) the cache database of a workspace.
pub fn open_cache(path: &Path) -> Result<Store, AwsError> {
    Store::open(path).map_err(|error| {
        AwsError::new(
            AwsErrorKind::Unavailable,
            format!(
                "cannot open the workspace cache {}: {error}",
                path.display()
            ),
        )
    })
}
