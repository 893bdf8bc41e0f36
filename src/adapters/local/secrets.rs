//! Local secrets: a JSON file in the data directory, readable by its owner only (0600).

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;

use crate::ports::{PortError, SecretStore};

pub struct FileSecrets {
    path: PathBuf,
    lock: Mutex<()>,
}

fn io(err: std::io::Error) -> PortError {
    PortError::unavailable("local secrets", err)
}

/// Writes `contents` to `path` with mode 0600, through a temporary file so a crash never
/// leaves a half-written secret.
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(contents)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

impl FileSecrets {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            lock: Mutex::new(()),
        }
    }

    fn read(&self) -> Result<BTreeMap<String, String>, PortError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| PortError::Corrupt {
                what: "secrets file",
                detail: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(io(e)),
        }
    }
}

#[async_trait]
impl SecretStore for FileSecrets {
    async fn create(&self, name: &str, value: &SecretString) -> Result<String, PortError> {
        let _guard = self.lock.lock().await;
        let mut all = self.read()?;
        all.insert(name.to_string(), value.expose_secret().to_string());
        let bytes = serde_json::to_vec_pretty(&all).map_err(|e| PortError::Corrupt {
            what: "secrets file",
            detail: e.to_string(),
        })?;
        write_private(&self.path, &bytes).map_err(io)?;
        Ok(format!("local:{name}"))
    }

    async fn get(&self, reference: &str) -> Result<SecretString, PortError> {
        let _guard = self.lock.lock().await;
        let name = reference.strip_prefix("local:").unwrap_or(reference);
        self.read()?
            .remove(name)
            .map(SecretString::from)
            .ok_or_else(|| PortError::SecretNotFound(reference.to_string()))
    }
}
