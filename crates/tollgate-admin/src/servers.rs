//! The team servers the console manages: their names and addresses in `console.toml`, their
//! admin tokens apart from it — in a file only the user may read (0600) in the data directory,
//! never in `console.toml`, which people copy and share.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{AdminError, ErrorCode};

/// A server as the console remembers it (its token is kept apart).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(deny_unknown_fields)]
pub struct ServerEntry {
    pub name: String,
    /// `https://gateway.example:8787`.
    pub url: String,
    /// A PEM certificate authority to trust for its HTTPS beside the system's (an internal CA).
    #[serde(default)]
    pub ca_cert: Option<String>,
}

const TOKENS_FILE: &str = "server-tokens.toml";

/// The admin tokens of the servers, by server name.
#[derive(Debug)]
pub struct TokenStore {
    path: PathBuf,
}

impl TokenStore {
    pub fn new(data_dir: &Path) -> TokenStore {
        TokenStore {
            path: data_dir.join(TOKENS_FILE),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn storage(&self, error: &dyn std::fmt::Display) -> AdminError {
        AdminError::new(
            ErrorCode::Storage,
            format!("the server tokens in {}: {error}", self.path.display()),
        )
    }

    fn read(&self) -> Result<BTreeMap<String, String>, AdminError> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => toml::from_str(&text).map_err(|error| self.storage(&error)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(error) => Err(self.storage(&error)),
        }
    }

    /// Written beside and renamed over, created readable by the user only.
    fn write(&self, tokens: &BTreeMap<String, String>) -> Result<(), AdminError> {
        let text = toml::to_string(tokens).map_err(|error| self.storage(&error))?;
        let partial = self.path.with_extension("toml.partial");
        let _ = std::fs::remove_file(&partial);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let mut file = options
            .open(&partial)
            .map_err(|error| self.storage(&error))?;
        std::io::Write::write_all(&mut file, text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|error| self.storage(&error))?;
        std::fs::rename(&partial, &self.path).map_err(|error| self.storage(&error))
    }

    pub fn get(&self, name: &str) -> Result<Option<String>, AdminError> {
        Ok(self.read()?.remove(name))
    }

    pub fn set(&self, name: &str, token: &str) -> Result<(), AdminError> {
        let mut tokens = self.read()?;
        tokens.insert(name.to_owned(), token.to_owned());
        self.write(&tokens)
    }

    pub fn remove(&self, name: &str) -> Result<(), AdminError> {
        let mut tokens = self.read()?;
        if tokens.remove(name).is_some() {
            self.write(&tokens)?;
        }
        Ok(())
    }
}

impl ServerEntry {
    /// The workspace for this entry with `token`: the address checked, the CA file read.
    pub fn open(&self, token: &str) -> Result<crate::ServerWorkspace, AdminError> {
        let pem = match self.ca_cert.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(path) => Some(std::fs::read(path).map_err(|error| {
                AdminError::invalid(format!("certificate authority {path}: {error}"))
            })?),
        };
        crate::ServerWorkspace::new(&self.url, token, pem.as_deref())
    }
}

impl crate::Console {
    /// The servers this console manages.
    pub fn servers(&self) -> &[ServerEntry] {
        &self.settings().servers
    }

    /// Opens the saved server `name` with its saved token.
    pub fn server(&self, name: &str) -> Result<crate::ServerWorkspace, AdminError> {
        let entry = self
            .servers()
            .iter()
            .find(|entry| entry.name == name)
            .ok_or_else(|| {
                AdminError::new(
                    ErrorCode::NotFound,
                    format!("no server named '{name}' in this console"),
                )
            })?;
        let token = TokenStore::new(self.data_dir()).get(name)?.ok_or_else(|| {
            AdminError::new(
                ErrorCode::SessionExpired,
                format!("no admin token is saved for server '{name}': enter it again"),
            )
        })?;
        entry.open(&token)
    }

    /// Remembers a server (replacing one of the same name) and its token, once the caller has
    /// seen it answer.
    pub fn save_server(&mut self, entry: ServerEntry, token: &str) -> Result<(), AdminError> {
        crate::config::check_workspace_name(&entry.name)?;
        TokenStore::new(self.data_dir()).set(&entry.name, token.trim())?;
        let mut settings = self.settings().clone();
        settings.servers.retain(|known| known.name != entry.name);
        settings.servers.push(entry);
        self.replace_settings(settings)
    }

    /// Forgets a server and its token (the server itself is untouched).
    pub fn remove_server(&mut self, name: &str) -> Result<(), AdminError> {
        let mut settings = self.settings().clone();
        settings.servers.retain(|known| known.name != name);
        self.replace_settings(settings)?;
        TokenStore::new(self.data_dir()).remove(name)
    }
}
