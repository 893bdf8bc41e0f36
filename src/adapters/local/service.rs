//! Assembling the local service: data directory, SQLite store, file secrets, signing keys,
//! in-process queue and its worker.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::mpsc::UnboundedReceiver;

use super::secrets::write_private;
use super::{FileSecrets, LocalQueue, SqliteStore};
use crate::app::{App, Settings};
use crate::domain::RequestId;
use crate::ports::{Clock, PortError};
use crate::token::KeyRing;

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("signing keys in {path}: {detail}")]
    Keys { path: PathBuf, detail: String },
    #[error(transparent)]
    Store(#[from] PortError),
}

/// The local application and what runs it. The queue's receiving end is returned so the
/// caller chooses: a worker task (`autodb serve`) or draining by hand (tests).
pub struct LocalParts {
    pub app: Arc<App>,
    pub store: SqliteStore,
    pub jobs: UnboundedReceiver<RequestId>,
}

/// Opens (creating if needed) the data directory and builds the application on it.
pub fn open(
    data_dir: &Path,
    settings: Settings,
    clock: Arc<dyn Clock>,
) -> Result<LocalParts, LocalError> {
    let dir_err = |source| LocalError::DataDir {
        path: data_dir.to_path_buf(),
        source,
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(data_dir)
        .map_err(dir_err)?;
    let keys = load_or_create_keys(&data_dir.join("signing-keys.json"))?;
    let store = SqliteStore::open(&data_dir.join("autodb.sqlite3"))?;
    let (queue, jobs) = LocalQueue::new();
    let app = App::new(
        Arc::new(store.clone()),
        Arc::new(queue),
        Arc::new(FileSecrets::new(data_dir.join("secrets.json"))),
        Arc::new(keys),
        clock,
        settings,
    );
    Ok(LocalParts {
        app: Arc::new(app),
        store,
        jobs,
    })
}

fn load_or_create_keys(path: &Path) -> Result<KeyRing, LocalError> {
    let keys_err = |detail: String| LocalError::Keys {
        path: path.to_path_buf(),
        detail,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => KeyRing::from_secret(&text).map_err(|e| keys_err(e.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let ring = KeyRing::generate();
            write_private(path, ring.to_secret().as_bytes())
                .map_err(|e| keys_err(e.to_string()))?;
            Ok(ring)
        }
        Err(e) => Err(keys_err(e.to_string())),
    }
}
