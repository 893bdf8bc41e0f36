//! Signing-key rotation on the AWS backend (moto): a warm application reloads the key ring
//! from Secrets Manager after its TTL (the clock is injected), keeps verifying tokens signed
//! with the previous key, and signs new ones with the new key.

use std::sync::Arc;

use autodb::app::execute::{execute, ExecuteCommand};
use autodb::app::{analyze::analyze, App, AppError};
use autodb::domain::Sql;
use autodb::ports::{Clock, ManualClock};
use autodb::token::{verify_signature, KeyRing, TokenError};
use base64::Engine;
use chrono::{Duration, TimeZone, Utc};

use crate::helpers::{aws_app, aws_sdk, operator, register_database, settings};

struct Rotating {
    app: App,
    clock: Arc<ManualClock>,
    secrets: aws_sdk_secretsmanager::Client,
    secret: String,
    connection: String,
}

async fn spawn() -> Rotating {
    let sdk = aws_sdk().await;
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap(),
    ));
    let (app, resources) = aws_app(&sdk, clock.clone()).await;
    let connection = register_database(&app).await;
    Rotating {
        app,
        clock,
        secrets: aws_sdk_secretsmanager::Client::new(&sdk),
        secret: resources.signing_key_secret.expect("a key ring"),
        connection,
    }
}

impl Rotating {
    /// Adds `kid` to the stored ring and makes it the active key (the README's procedure,
    /// in one step).
    /// The key ring as stored in Secrets Manager.
    async fn stored_ring(&self) -> String {
        self.secrets
            .get_secret_value()
            .secret_id(&self.secret)
            .send()
            .await
            .expect("read ring")
            .secret_string
            .expect("ring")
    }

    async fn rotate_to(&self, kid: &str) {
        let mut ring: serde_json::Value = serde_json::from_str(&self.stored_ring().await).unwrap();
        ring["keys"][kid] = base64::engine::general_purpose::STANDARD
            .encode(rand::random::<[u8; 32]>())
            .into();
        ring["active_kid"] = kid.into();
        self.secrets
            .put_secret_value()
            .secret_id(&self.secret)
            .secret_string(ring.to_string())
            .send()
            .await
            .expect("rotate");
    }

    async fn approve(&self, sql: &Sql) -> String {
        analyze(
            &self.app,
            &operator(),
            &self.connection,
            sql.clone(),
            &Default::default(),
        )
        .await
        .expect("analyze")
        .approval_token
        .expect("no sandbox configured: a token")
    }

    async fn kid_of(&self, token: &str) -> String {
        verify_signature(&*self.app.key_ring().await, token)
            .expect("verifies")
            .kid
    }

    async fn execute(&self, token: &str, sql: &Sql) -> Result<(), AppError> {
        execute(
            &self.app,
            &operator(),
            ExecuteCommand {
                approval_token: token.into(),
                sql: sql.clone(),
                connection_id: self.connection.clone(),
            },
        )
        .await
        .map(|_| ())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_is_picked_up_after_the_ttl_and_old_tokens_keep_verifying() {
    let r = spawn().await;
    let sql = Sql::parse("CREATE TABLE rotated (id int);".into()).unwrap();
    let old = r.approve(&sql).await;
    assert_eq!(r.kid_of(&old).await, "k1");

    r.rotate_to("k2").await;
    // Within the TTL the warm application still signs with the ring it holds.
    r.clock.advance(Duration::seconds(60));
    assert_eq!(r.kid_of(&r.approve(&sql).await).await, "k1");

    // After it, the ring is read again: new tokens carry the new kid...
    r.clock
        .advance(Duration::seconds(settings().key_reload_seconds));
    let new = r.approve(&sql).await;
    assert_eq!(r.kid_of(&new).await, "k2");
    assert_eq!(r.app.keys.current().active_kid(), "k2");
    // ...and a token signed with the previous key still verifies and executes.
    r.execute(&old, &sql).await.expect("old-kid token accepted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_signed_with_a_key_not_yet_loaded_reloads_the_ring_early() {
    let r = spawn().await;
    let sql = Sql::parse("CREATE TABLE early (id int);".into()).unwrap();
    r.rotate_to("k3").await;
    // Another function (reloaded already) signs with k3.
    let stored = r.stored_ring().await;
    let elsewhere = App::new(
        Arc::clone(&r.app.store),
        Arc::clone(&r.app.queue),
        Arc::clone(&r.app.secrets),
        Arc::new(KeyRing::from_secret(&stored).unwrap()),
        r.clock.clone() as Arc<dyn Clock>,
        settings(),
    );
    let token = analyze(
        &elsewhere,
        &operator(),
        &r.connection,
        sql.clone(),
        &Default::default(),
    )
    .await
    .expect("analyze elsewhere")
    .approval_token
    .expect("no sandbox configured: a token");
    assert_eq!(r.app.keys.current().active_kid(), "k1");

    // Right after a load, an unknown key is not worth a call to Secrets Manager...
    assert!(matches!(
        r.execute(&token, &sql).await,
        Err(AppError::Token(TokenError::Invalid))
    ));
    // ...but shortly after, well within the TTL, it triggers one reload and is accepted.
    r.clock.advance(Duration::seconds(
        autodb::app::keys::MIN_FORCED_RELOAD_SECONDS,
    ));
    r.execute(&token, &sql)
        .await
        .expect("accepted after reload");
    assert_eq!(r.app.keys.current().active_kid(), "k3");
}
