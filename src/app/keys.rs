//! The signing key ring as a warm process sees it: loaded once, reloaded from its secret
//! after a time-to-live, so a rotated key reaches every warm Lambda within minutes without a
//! redeploy.
//!
//! Rotation must not fail a request, so two rules hold:
//! - a reload that fails keeps the ring in hand (logged; retried after the next TTL) — an
//!   unreachable Secrets Manager never turns valid tokens into 401s;
//! - a token whose signature does not verify triggers one early reload (at most one per
//!   [`MIN_FORCED_RELOAD_SECONDS`], so invalid tokens cannot drive calls to the secret
//!   store): another function may already sign with a key this one has not loaded yet.
//!
//! Old keys stay in the ring until the tokens they signed have expired (see the README's
//! rotation procedure), so tokens signed before a rotation keep verifying.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use secrecy::ExposeSecret;

use super::App;
use crate::ports::{PortError, SecretStore};
use crate::token::KeyRing;

/// Early reloads (after a token that did not verify) are at most this frequent.
pub const MIN_FORCED_RELOAD_SECONDS: i64 = 30;

/// The key ring in use, and where and how often to reload it.
pub struct Keys {
    loaded: Mutex<Loaded>,
    source: Option<Source>,
}

struct Loaded {
    ring: Arc<KeyRing>,
    at: DateTime<Utc>,
}

struct Source {
    secret: String,
    ttl: Duration,
}

impl Keys {
    /// A ring that never changes (the local service, tests).
    pub fn fixed(ring: Arc<KeyRing>) -> Self {
        Self {
            loaded: Mutex::new(Loaded {
                ring,
                at: DateTime::<Utc>::MIN_UTC,
            }),
            source: None,
        }
    }

    /// A ring read from `secret` at `loaded_at`, reloaded once it is `ttl` old.
    pub fn reloading(
        ring: Arc<KeyRing>,
        secret: impl Into<String>,
        ttl: Duration,
        loaded_at: DateTime<Utc>,
    ) -> Self {
        Self {
            loaded: Mutex::new(Loaded {
                ring,
                at: loaded_at,
            }),
            source: Some(Source {
                secret: secret.into(),
                ttl,
            }),
        }
    }

    /// The ring in hand, without reloading.
    pub fn current(&self) -> Arc<KeyRing> {
        Arc::clone(&self.lock().ring)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Loaded> {
        self.loaded.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The ring, reloaded first if it is older than `min_age` (a successful or failed attempt
    /// both restart the clock, so a failing secret store is asked once per period).
    async fn refreshed(
        &self,
        secrets: &dyn SecretStore,
        now: DateTime<Utc>,
        min_age: impl Fn(&Source) -> Duration,
    ) -> Arc<KeyRing> {
        let Some(source) = &self.source else {
            return self.current();
        };
        {
            let mut loaded = self.lock();
            if now - loaded.at < min_age(source) {
                return Arc::clone(&loaded.ring);
            }
            // Claimed before the await: concurrent requests keep using the ring in hand
            // instead of each calling the secret store.
            loaded.at = now;
        }
        match load(secrets, &source.secret).await {
            Ok(ring) => {
                let ring = Arc::new(ring);
                let mut loaded = self.lock();
                if loaded.ring.active_kid() != ring.active_kid() {
                    tracing::info!(
                        active_kid = ring.active_kid(),
                        "signing key ring reloaded with a new active key"
                    );
                }
                loaded.ring = Arc::clone(&ring);
                ring
            }
            Err(err) => {
                tracing::warn!(error = %crate::domain::error_chain(&err), "could not reload the signing key ring; keeping the one in hand");
                self.current()
            }
        }
    }
}

/// Reads and parses a key ring secret.
pub async fn load(secrets: &dyn SecretStore, secret: &str) -> Result<KeyRing, PortError> {
    let value = secrets.get(secret).await?;
    KeyRing::from_secret(value.expose_secret()).map_err(|e| PortError::Corrupt {
        what: "signing key secret",
        detail: e.to_string(),
    })
}

impl App {
    /// The key ring to sign and verify with, reloaded if its TTL has passed.
    pub async fn key_ring(&self) -> Arc<KeyRing> {
        self.keys
            .refreshed(self.secrets.as_ref(), self.clock.now(), |s| s.ttl)
            .await
    }

    /// Reloads the ring early (rate-limited) after a token failed to verify with it.
    pub async fn key_ring_after_miss(&self) -> Arc<KeyRing> {
        self.keys
            .refreshed(self.secrets.as_ref(), self.clock.now(), |s| {
                s.ttl.min(Duration::seconds(MIN_FORCED_RELOAD_SECONDS))
            })
            .await
    }
}
