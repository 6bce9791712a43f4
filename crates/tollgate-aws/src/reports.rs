//! The deployment's daily cost reports in S3 (`PREFIX/succeed/YYYY-MM-DD.csv`, UTC days, with the
//! day's bad lines in `PREFIX/errors/YYYY-MM-DD.txt`; deployments from before 2024-09-11 wrote
//! `PREFIX/YYYY-MM-DD.csv` without an `api_key` column), synced incrementally into the local SQLite
//! cache: a day is fetched again only when its object's `ETag` changed, each day lands in one
//! transaction (so an interrupted sync resumes where it stopped), and fetches run a bounded number
//! at a time. Rows are attributed to tenants by API key (see [`crate::attribution`]) before they
//! are stored; the callers' `team_id` text is kept as their label.

use std::path::Path;

use futures_util::StreamExt;
use serde::Serialize;
use tollgate_core::report_csv::{ReportRow, date_from_file_name, read_report};
use tollgate_store::{Store, SyncedObject};

use crate::attribution::KeyDirectory;
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
    /// Legacy root reports (`YYYY-MM-DD.csv`, no `api_key` column) among `listed`.
    pub legacy: u64,
    /// Legacy root reports not read because `succeed/` has the same day.
    pub superseded: Vec<String>,
    /// Rows whose key value matched no API key (stored as `unknown key …`).
    pub unknown_key_rows: u64,
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
    fn bucket(&self) -> Result<String, AwsError> {
        self.workspace.report_bucket().ok_or_else(|| {
            AwsError::new(
                AwsErrorKind::Invalid,
                "this workspace has no report_bucket: set stack_prefix (the bucket is PREFIX-bucket-cost-tracking-bedrock) or report_bucket",
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

    /// `PREFIX/folder/`, or `PREFIX/` for the empty folder ("" when there is no prefix).
    fn report_path(&self, folder: &str) -> String {
        let mut path = String::new();
        for part in [self.workspace.report_prefix.trim_matches('/'), folder] {
            if !part.is_empty() {
                path.push_str(part);
                path.push('/');
            }
        }
        path
    }

    async fn list(&self, prefix: &str, page_size: i32) -> Result<Vec<Listed>, AwsError> {
        let bucket = self.bucket()?;
        let bucket = bucket.as_str();
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
        let bucket = bucket.as_str();
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
        let directory = self.key_directory().await?;
        self.sync_reports_attributed(store, options, control, &directory)
            .await
    }

    /// [`Connection::sync_reports_with`] with a key directory the caller already read.
    pub async fn sync_reports_attributed(
        &self,
        store: &Store,
        options: SyncOptions,
        control: &SyncControl,
        directory: &KeyDirectory,
    ) -> Result<SyncReport, AwsError> {
        use std::sync::atomic::Ordering;
        let source = self.report_source()?;
        let bucket = self.bucket()?;
        let store_error = |error: tollgate_store::StoreError| {
            AwsError::new(
                AwsErrorKind::Unavailable,
                format!("the local cache: {error}"),
            )
        };
        // Caches written before rows were attributed by key id hold other rows (and key values
        // as names): fetch everything once more, then drop the names nothing uses.
        let upgrading = store
            .setting(ATTRIBUTION_SETTING)
            .map_err(store_error)?
            .as_deref()
            != Some(ATTRIBUTION_VERSION);
        if upgrading {
            store.forget_synced(&source).map_err(store_error)?;
            store
                .put_setting(ATTRIBUTION_SETTING, ATTRIBUTION_VERSION)
                .map_err(store_error)?;
            store
                .put_setting(PRUNE_SETTING, "pending")
                .map_err(store_error)?;
        }
        let mut report = SyncReport::default();
        let mut wanted = Vec::new();
        let mut days_in_succeed = std::collections::HashSet::new();
        let mut listed_days = Vec::new();
        for object in self
            .list(&self.report_path("succeed"), options.page_size)
            .await?
        {
            let name = object.key.rsplit('/').next().unwrap_or_default();
            match report_day(name) {
                Some(day) => {
                    days_in_succeed.insert(day);
                    listed_days.push((object, day, false));
                }
                None => report.skipped.push(object.key),
            }
        }
        // Legacy reports: `YYYY-MM-DD.csv` right under the prefix.
        let root = self.report_path("");
        for object in self.list(&root, options.page_size).await? {
            let name = object.key.get(root.len()..).unwrap_or_default();
            if name.contains('/') {
                continue;
            }
            let Some(day) = report_day(name) else {
                continue;
            };
            if days_in_succeed.contains(&day) {
                report.superseded.push(object.key);
            } else {
                listed_days.push((object, day, true));
            }
        }
        for (object, day, legacy) in listed_days {
            report.listed += 1;
            report.legacy += u64::from(legacy);
            let known = store
                .synced_object(&source, &object.key)
                .map_err(store_error)?;
            if known.is_some_and(|known| known.etag == object.etag) {
                report.unchanged += 1;
            } else {
                wanted.push((object, day));
            }
        }
        let total = wanted.len() as u64;
        let mut fetches =
            futures_util::stream::iter(wanted.into_iter().map(|(object, day)| async move {
                let bytes = self.fetch(&object.key).await;
                (object, day, bytes)
            }))
            .buffer_unordered(options.parallel.max(1));
        while let Some((object, day, bytes)) = fetches.next().await {
            if control.cancel.load(Ordering::Relaxed) {
                report.cancelled = true;
                break;
            }
            let bytes = bytes?;
            let read = read_report(bytes.as_slice(), Some(day)).map_err(|error| {
                AwsError::new(
                    AwsErrorKind::Invalid,
                    format!("s3://{bucket}/{} is not a cost report: {error}", object.key),
                )
            })?;
            let (rows, labels, unknown) = attribute_rows(read.rows, directory);
            report.unknown_key_rows += unknown;
            let synced = SyncedObject {
                source: source.clone(),
                key: object.key.clone(),
                etag: object.etag.clone(),
                last_modified_ms: object.last_modified_ms,
                rows: rows.len() as u64,
                bad_rows: read.problems.len() as u64,
            };
            store
                .sync_labeled_day(&synced, day, &rows, &labels)
                .map_err(store_error)?;
            report.fetched += 1;
            report.rows += rows.len() as u64;
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
        if store
            .setting(PRUNE_SETTING)
            .map_err(store_error)?
            .as_deref()
            == Some("pending")
        {
            store.prune_unused_key_names().map_err(store_error)?;
            store
                .put_setting(PRUNE_SETTING, "done")
                .map_err(store_error)?;
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
                first_line: error_preview(&text),
                key: object.key,
            });
        }
        report
            .bad_lines
            .sort_by(|a, b| a.key.cmp(&b.key).then(a.line.cmp(&b.line)));
        Ok(report)
    }
}

/// The cache setting that says how its AWS rows are attributed.
const ATTRIBUTION_SETTING: &str = "aws.attribution";
const ATTRIBUTION_VERSION: &str = "key-id";
/// Set while the key names of an upgraded cache still need pruning (after its first full sync).
const PRUNE_SETTING: &str = "aws.prune-key-names";

/// The day of a report named `YYYY-MM-DD.csv`.
fn report_day(name: &str) -> Option<chrono::NaiveDate> {
    date_from_file_name(name).filter(|_| {
        Path::new(name)
            .extension()
            .is_some_and(|extension| extension.eq_ignore_ascii_case("csv"))
    })
}

/// Rows attributed by key (tenant and key id instead of the caller's `team_id` and key value),
/// their labels (the `team_id` text), and how many carried a value no key has.
fn attribute_rows(
    rows: Vec<ReportRow>,
    directory: &KeyDirectory,
) -> (Vec<ReportRow>, Vec<String>, u64) {
    let mut unknown = 0;
    let mut labels = Vec::with_capacity(rows.len());
    let rows = rows
        .into_iter()
        .map(|row| {
            let attributed = directory.attribute(&row.api_key);
            unknown += u64::from(attributed.key.starts_with("unknown key "));
            labels.push(row.team_id.trim().to_owned());
            ReportRow {
                team_id: attributed.tenant,
                api_key: attributed.key,
                cost_center: attributed.cost_center,
                ..row
            }
        })
        .collect();
    (rows, labels, unknown)
}

/// A line of a deployment's error file that says what went wrong: its files hold, per failed row,
/// `Row:`, the row as pandas prints it (the caller's key value among it) and a stack trace whose
/// last line is the error. The row is never shown.
fn error_preview(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .find(|line| {
            !line.contains("api_key")
                && (line.starts_with("Exception")
                    || line.contains("Error:")
                    || line.starts_with("Unknown model"))
        })
        .unwrap_or("(see the file in S3)")
        .chars()
        .take(200)
        .collect()
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
