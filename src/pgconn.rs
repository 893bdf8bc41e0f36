//! Connecting to target databases, with TLS (rustls) and libpq's `sslmode` semantics.
//!
//! `tokio-postgres` knows `sslmode=disable|prefer|require` only and rejects `sslrootcert`, so
//! a connection URL is read here first:
//!
//! | sslmode            | TLS                 | certificate check                               |
//! |--------------------|---------------------|-------------------------------------------------|
//! | `disable`          | never               | —                                               |
//! | `prefer` (default) | if the server has it| none, unless `sslrootcert` is given (as libpq)  |
//! | `require`          | always              | none, unless `sslrootcert` is given (as libpq)  |
//! | `verify-ca`        | always              | chain to `sslrootcert` or the public roots       |
//! | `verify-full`      | always              | chain and host name                              |
//!
//! "None" is what libpq does for `require` (encryption without authentication); production
//! connections should say `verify-full`. `sslmode` and `sslrootcert` are read from URLs
//! (`postgresql://…?sslmode=verify-full&sslrootcert=/path/ca.pem`); the key=value form takes
//! what `tokio-postgres` takes.

use std::sync::Arc;

pub mod rds;
mod verify;

use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};
use secrecy::{ExposeSecret, SecretString};
use tokio_postgres::config::SslMode;
use tokio_postgres::{Client, Config};
use tokio_postgres_rustls::MakeRustlsConnect;
use verify::{AcceptAny, ChainOnly};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    Nothing,
    Chain,
    ChainAndHost,
}

/// The certificates a `verify-*` or `sslrootcert` connection trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Roots {
    /// The public web roots and the RDS/Aurora CAs ([`crate::pgconn::rds::CA_BUNDLE`]), so
    /// `verify-full` to RDS works without a certificate file.
    Default,
    /// `sslrootcert`: a PEM file.
    File(String),
    /// PEM text (a connection secret's `ca_pem`).
    Pem(String),
}

/// A parsed connection string: the driver configuration and how to check the server.
#[derive(Clone)]
pub struct ConnectionString {
    pub config: Config,
    pub verify: Verify,
    pub(crate) roots: Roots,
}

/// Why a connection string was refused. Messages never quote the string: it holds a password.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionStringError {
    #[error("not a valid PostgreSQL connection string or URL")]
    Invalid,
    #[error("sslmode must be one of disable, prefer, require, verify-ca, verify-full")]
    SslMode,
    #[error("sslrootcert {0} could not be read as PEM certificates")]
    RootCert(String),
    #[error("sslrootcert {0} is not a regular file of at most 1 MiB")]
    RootCertFile(String),
    #[error("the credentials secret is not a usable RDS secret: {0}")]
    Secret(&'static str),
}

pub(crate) fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl ConnectionString {
    pub fn parse(connection: &str) -> Result<Self, ConnectionStringError> {
        let mut sslmode = None;
        let mut root_cert = None;
        let mut rest = connection.to_string();
        let is_url =
            connection.starts_with("postgres://") || connection.starts_with("postgresql://");
        if let (true, Some((base, query))) = (is_url, connection.split_once('?')) {
            let mut kept = Vec::new();
            for pair in query.split('&').filter(|p| !p.is_empty()) {
                match pair.split_once('=') {
                    Some(("sslmode", v)) => sslmode = Some(percent_decode(v)),
                    Some(("sslrootcert", v)) => root_cert = Some(percent_decode(v)),
                    _ => kept.push(pair),
                }
            }
            rest = if kept.is_empty() {
                base.to_string()
            } else {
                format!("{base}?{}", kept.join("&"))
            };
        }
        let config: Config = rest.parse().map_err(|_| ConnectionStringError::Invalid)?;
        Self::with_ssl(config, sslmode.as_deref(), root_cert.map(Roots::File))
    }

    /// Reads a connection secret's value: the standard RDS secret JSON
    /// ([`crate::pgconn::rds::parse_secret`]) or a connection string.
    pub fn from_secret(value: &str) -> Result<Self, ConnectionStringError> {
        if value.trim_start().starts_with('{') {
            crate::pgconn::rds::parse_secret(value)
        } else {
            Self::parse(value)
        }
    }

    /// Applies libpq's `sslmode` (`None`: the configuration's own) and the timeouts every
    /// connection has. `roots`, when given, are trusted even by `prefer`/`require`, as libpq
    /// does with `sslrootcert`.
    pub(crate) fn with_ssl(
        mut config: Config,
        sslmode: Option<&str>,
        roots: Option<Roots>,
    ) -> Result<Self, ConnectionStringError> {
        let some_roots = if roots.is_some() {
            Verify::Chain
        } else {
            Verify::Nothing
        };
        let (mode, verify) = match sslmode {
            None => match config.get_ssl_mode() {
                SslMode::Disable => (SslMode::Disable, Verify::Nothing),
                mode => (mode, some_roots),
            },
            Some("disable") => (SslMode::Disable, Verify::Nothing),
            Some("prefer") => (SslMode::Prefer, some_roots),
            Some("require") => (SslMode::Require, some_roots),
            Some("verify-ca") => (SslMode::Require, Verify::Chain),
            Some("verify-full") => (SslMode::Require, Verify::ChainAndHost),
            Some(_) => return Err(ConnectionStringError::SslMode),
        };
        config.ssl_mode(mode);
        // A database that stops answering must not hold an executor (and, through its lease
        // heartbeat, a connection lock) for hours: bound the connect, probe idle sockets, and
        // give up on unacknowledged writes. A connection string's own values win.
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_tcp_user_timeout().is_none() {
            config.tcp_user_timeout(TCP_USER_TIMEOUT);
        }
        config
            .keepalives(true)
            .keepalives_idle(KEEPALIVE_IDLE)
            .keepalives_interval(KEEPALIVE_INTERVAL)
            .keepalives_retries(KEEPALIVE_RETRIES);
        Ok(Self {
            config,
            verify,
            roots: roots.unwrap_or(Roots::Default),
        })
    }

    async fn tls(&self) -> Result<MakeRustlsConnect, ConnectionStringError> {
        let root_file = match &self.roots {
            Roots::File(path) => Some(read_root_file(path).await?),
            _ => None,
        };
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|_| ConnectionStringError::Invalid)?;
        let config = match self.verify {
            Verify::Nothing => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
                .with_no_client_auth(),
            Verify::Chain | Verify::ChainAndHost => {
                let mut roots = RootCertStore::empty();
                match &self.roots {
                    Roots::File(path) => {
                        let certs: Vec<CertificateDer<'static>> =
                            CertificateDer::pem_slice_iter(root_file.as_deref().unwrap_or(&[]))
                                .collect::<Result<_, _>>()
                                .map_err(|_| ConnectionStringError::RootCert(path.clone()))?;
                        if roots.add_parsable_certificates(certs).0 == 0 {
                            return Err(ConnectionStringError::RootCert(path.clone()));
                        }
                    }
                    Roots::Pem(pem) => {
                        if roots.add_parsable_certificates(pem_certificates(pem)).0 == 0 {
                            return Err(ConnectionStringError::Secret(
                                "ca_pem holds no PEM certificate",
                            ));
                        }
                    }
                    Roots::Default => {
                        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
                        roots.add_parsable_certificates(pem_certificates(
                            crate::pgconn::rds::CA_BUNDLE,
                        ));
                    }
                }
                let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .map_err(|_| ConnectionStringError::Invalid)?;
                let verifier: Arc<dyn ServerCertVerifier> = if self.verify == Verify::Chain {
                    Arc::new(ChainOnly(webpki))
                } else {
                    webpki
                };
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(verifier)
                    .with_no_client_auth()
            }
        };
        Ok(MakeRustlsConnect::new(config))
    }

    /// Connects; the connection's driver task runs in the background until the client drops.
    pub async fn connect(&self) -> Result<Client, ConnectError> {
        self.connect_holding(&mut None::<()>).await
    }

    /// [`ConnectionString::connect`], moving `hold` (when connected) into the connection's driver
    /// task: it is dropped only when the connection has ended, socket closed — how a
    /// session's permit (`crate::target`) stays taken until the server's slot is free.
    pub async fn connect_holding<T: Send + 'static>(
        &self,
        hold: &mut Option<T>,
    ) -> Result<Client, ConnectError> {
        let tls = self.tls().await?;
        let (client, connection) = self.config.connect(tls).await?;
        let held = hold.take();
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "database connection closed with an error");
            }
            drop(held);
        });
        Ok(client)
    }
}

/// The largest `sslrootcert` file read (a CA bundle is a few hundred KB at most).
pub const MAX_ROOT_CERT_BYTES: u64 = 1 << 20;

/// Reads an `sslrootcert` file without blocking the runtime: on the blocking pool, only a
/// regular file, at most [`MAX_ROOT_CERT_BYTES`] whatever its size claims (`/dev/zero` is
/// endless; a FIFO would block the reader until someone writes to it), opened non-blocking so
/// that a path swapped for a FIFO after the check does not wait for a writer either.
async fn read_root_file(path: &str) -> Result<Vec<u8>, ConnectionStringError> {
    let owned = path.to_string();
    let read = tokio::task::spawn_blocking(move || {
        use std::io::Read;
        use std::os::unix::fs::OpenOptionsExt;
        let regular = |meta: std::fs::Metadata| meta.is_file() && meta.len() <= MAX_ROOT_CERT_BYTES;
        if !std::fs::metadata(&owned).is_ok_and(regular) {
            return Err(ConnectionStringError::RootCertFile(owned));
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&owned)
            .map_err(|_| ConnectionStringError::RootCert(owned.clone()))?;
        if !file.metadata().is_ok_and(regular) {
            return Err(ConnectionStringError::RootCertFile(owned));
        }
        let mut bytes = Vec::new();
        file.take(MAX_ROOT_CERT_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|_| ConnectionStringError::RootCert(owned.clone()))?;
        if bytes.len() as u64 > MAX_ROOT_CERT_BYTES {
            return Err(ConnectionStringError::RootCertFile(owned));
        }
        Ok(bytes)
    });
    read.await
        .unwrap_or_else(|_| Err(ConnectionStringError::RootCert(path.to_string())))
}

/// Timeouts of every connection to a target database (see `ConnectionString::parse`).
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
pub const TCP_USER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
const KEEPALIVE_IDLE: std::time::Duration = std::time::Duration::from_secs(15);
const KEEPALIVE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);
const KEEPALIVE_RETRIES: u32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    ConnectionString(#[from] ConnectionStringError),
    #[error(transparent)]
    Postgres(#[from] tokio_postgres::Error),
}

/// Connects with a connection secret's value (a connection string or the RDS secret JSON),
/// moving `hold` into the connection's driver as [`ConnectionString::connect_holding`] does.
pub async fn connect_with_secret<T: Send + 'static>(
    connection: &SecretString,
    hold: &mut Option<T>,
) -> Result<Client, ConnectError> {
    ConnectionString::from_secret(connection.expose_secret())?
        .connect_holding(hold)
        .await
}

/// The certificates in PEM text; unreadable blocks are skipped.
fn pem_certificates(pem: &str) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .filter_map(Result::ok)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_libpq_ssl_modes_from_urls() {
        let t = ConnectionString::parse("postgresql://u:p@db.example.com:5432/app?sslmode=verify-full&sslrootcert=%2Ftmp%2Fca.pem&application_name=x").unwrap();
        assert_eq!(t.verify, Verify::ChainAndHost);
        assert_eq!(t.config.get_ssl_mode(), SslMode::Require);
        assert_eq!(t.roots, Roots::File("/tmp/ca.pem".into()));
        assert_eq!(t.config.get_application_name(), Some("x"));
        assert_eq!(
            ConnectionString::parse("postgresql://h/db?sslmode=verify-ca")
                .unwrap()
                .verify,
            Verify::Chain
        );
        let require = ConnectionString::parse("postgresql://h/db?sslmode=require").unwrap();
        assert_eq!(
            (require.verify, require.config.get_ssl_mode()),
            (Verify::Nothing, SslMode::Require)
        );
        let with_root =
            ConnectionString::parse("postgresql://h/db?sslmode=require&sslrootcert=/ca.pem")
                .unwrap();
        assert_eq!(with_root.verify, Verify::Chain);
        let default = ConnectionString::parse("postgresql://h/db").unwrap();
        assert_eq!(default.config.get_ssl_mode(), SslMode::Prefer);
        assert_eq!(
            ConnectionString::parse("host=h dbname=d sslmode=disable")
                .unwrap()
                .config
                .get_ssl_mode(),
            SslMode::Disable
        );
    }

    #[test]
    fn refusals_never_quote_the_string() {
        let refused = |s: &str| match ConnectionString::parse(s) {
            Err(err) => err,
            Ok(_) => panic!("accepted"),
        };
        assert!(matches!(
            refused("postgresql://u:hunter2@h/db?sslmode=sometimes"),
            ConnectionStringError::SslMode
        ));
        assert!(!refused("host=h password=hunter2 port=notaport")
            .to_string()
            .contains("hunter2"));
    }

    #[tokio::test]
    async fn a_missing_root_certificate_is_reported() {
        let t = ConnectionString::parse(
            "postgresql://h/db?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
        )
        .unwrap();
        assert!(matches!(
            t.tls().await,
            Err(ConnectionStringError::RootCertFile(_))
        ));
    }

    #[test]
    fn every_connection_has_timeouts_and_keepalives() {
        let t = ConnectionString::parse("postgresql://u@db.example/app").unwrap();
        assert_eq!(t.config.get_connect_timeout(), Some(&CONNECT_TIMEOUT));
        assert_eq!(t.config.get_tcp_user_timeout(), Some(&TCP_USER_TIMEOUT));
        assert!(t.config.get_keepalives());
        assert_eq!(t.config.get_keepalives_idle(), KEEPALIVE_IDLE);
        // The connection string's own values win.
        let own =
            ConnectionString::parse("postgresql://u@db.example/app?connect_timeout=3").unwrap();
        assert_eq!(
            own.config.get_connect_timeout(),
            Some(&std::time::Duration::from_secs(3))
        );
    }
}
