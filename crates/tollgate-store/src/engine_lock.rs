//! One engine per database. A ledger writer owns the database's journal and, in the gateway that
//! starts it, sits beside limits held in that process's memory: a second engine on the same
//! database would replay and append the same journal and enforce rates, quotas and budgets of
//! its own, letting every tenant through twice. So a writer takes an exclusive lock on
//! `<database>.engine.lock` for its life and a second one is refused with a message naming the
//! holder. Readers (the CLI, reports, the console's screens) take no lock and work beside it.
//!
//! The lock is the operating system's (`flock`), so it goes with the process however that ends,
//! kill -9 included; what the file says is only who took it last.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use crate::error::{Result, StoreError};

/// Held while an engine serves the database; dropping it lets another engine start.
#[derive(Debug)]
pub struct EngineLock {
    /// Kept open: closing it would release the lock.
    _file: File,
}

/// `<database>.engine.lock`.
pub fn engine_lock_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".engine.lock");
    PathBuf::from(name)
}

impl EngineLock {
    /// Takes the lock for `database` or says who holds it.
    pub fn acquire(database: &Path) -> Result<EngineLock> {
        let path = engine_lock_path(database);
        let cannot = |error: std::io::Error| StoreError::Open {
            path: path.clone(),
            reason: format!("cannot take the engine lock: {error}"),
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(cannot)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(StoreError::EngineRunning {
                    path: database.to_owned(),
                    holder: if holder.is_empty() {
                        "another Tollgate engine".to_owned()
                    } else {
                        holder.to_owned()
                    },
                });
            }
            Err(TryLockError::Error(error)) => return Err(cannot(error)),
        }
        file.set_len(0).map_err(cannot)?;
        file.seek(SeekFrom::Start(0)).map_err(cannot)?;
        file.write_all(holder_description().as_bytes())
            .map_err(cannot)?;
        Ok(EngineLock { _file: file })
    }
}

/// `tollgate serve (pid 4242, since 2026-12-04 18:50:00 UTC)`: the program and whether it serves,
/// never its other arguments (they may hold secrets).
fn holder_description() -> String {
    let mut args = std::env::args_os();
    let program = args.next().map_or_else(
        || "a Tollgate engine".to_owned(),
        |program| {
            Path::new(&program)
                .file_name()
                .map_or_else(|| program.clone(), ToOwned::to_owned)
                .to_string_lossy()
                .into_owned()
        },
    );
    let serving = args.any(|arg| arg == "serve");
    let since = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S UTC");
    let pid = std::process::id();
    if serving {
        format!("{program} serve (pid {pid}, since {since})")
    } else {
        format!("{program} (pid {pid}, since {since})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_engine_is_refused_naming_the_first_and_starts_once_it_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("tollgate.db");
        let first = EngineLock::acquire(&database).unwrap();
        let error = EngineLock::acquire(&database).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains(&format!("pid {}", std::process::id())),
            "{message}"
        );
        assert_eq!(error.code(), "engine_running");
        drop(first);
        EngineLock::acquire(&database).unwrap();
    }
}
