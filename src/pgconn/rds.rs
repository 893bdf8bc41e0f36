//! Databases as AWS runs them: the RDS/Aurora certificate authorities, and the standard RDS
//! secret JSON accepted as a connection's credentials.
//!
//! The CA bundle (`certs/rds-ca-bundle.pem`, see `certs/PROVENANCE.md`) is compiled in and
//! trusted beside the public web roots, so `sslmode=verify-full` to an RDS or Aurora endpoint
//! works without a certificate file on the Lambda's disk.
//!
//! The secret Secrets Manager keeps for an RDS instance (rotation templates, a
//! `SecretTargetAttachment`) is `{"username", "password", "host", "port", "dbname",
//! "engine", …}`. A connection registered with such a secret's ARN connects with it as it is.
//! Two optional fields are autodb's own: `sslmode` (default `verify-full`: a secret made for
//! RDS names an RDS endpoint, whose certificate the bundle verifies) and `ca_pem` (PEM text
//! trusted instead of the default roots, for a server with its own CA).

use serde::Deserialize;
use serde_json::Value;
use tokio_postgres::Config;

use super::{ConnectionString, ConnectionStringError, Roots};

/// The Amazon RDS CA certificates (all regions, 2019 and 2024 generations, and the Amazon
/// roots RDS Proxy presents).
pub const CA_BUNDLE: &str = include_str!("../../certs/rds-ca-bundle.pem");

/// The engines whose secrets name a PostgreSQL server.
const ENGINES: [&str; 3] = ["postgres", "postgresql", "aurora-postgresql"];

#[derive(Deserialize)]
struct RdsSecret {
    username: Option<String>,
    password: Option<String>,
    host: Option<String>,
    port: Option<Value>,
    dbname: Option<String>,
    engine: Option<String>,
    sslmode: Option<String>,
    ca_pem: Option<String>,
}

/// Reads the RDS secret JSON. Errors name the field at fault, never a value.
pub fn parse_secret(json: &str) -> Result<ConnectionString, ConnectionStringError> {
    let secret: RdsSecret = serde_json::from_str(json)
        .map_err(|_| ConnectionStringError::Secret("not a JSON object"))?;
    if let Some(engine) = &secret.engine {
        if !ENGINES.contains(&engine.as_str()) {
            return Err(ConnectionStringError::Secret("engine is not PostgreSQL"));
        }
    }
    let host = secret
        .host
        .filter(|h| !h.is_empty())
        .ok_or(ConnectionStringError::Secret("host is missing"))?;
    let username = secret
        .username
        .filter(|u| !u.is_empty())
        .ok_or(ConnectionStringError::Secret("username is missing"))?;
    let port = match secret.port {
        None => 5432,
        Some(Value::Number(n)) => n.as_u64().and_then(|p| u16::try_from(p).ok()).unwrap_or(0),
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        Some(_) => 0,
    };
    if port == 0 {
        return Err(ConnectionStringError::Secret("port is not a port number"));
    }
    let mut config = Config::new();
    config
        .host(&host)
        .port(port)
        .user(&username)
        .dbname(secret.dbname.as_deref().unwrap_or("postgres"))
        .application_name("autodb");
    if let Some(password) = &secret.password {
        config.password(password);
    }
    ConnectionString::with_ssl(
        config,
        Some(secret.sslmode.as_deref().unwrap_or("verify-full")),
        secret.ca_pem.map(Roots::Pem),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pgconn::Verify;
    use tokio_postgres::config::{Host, SslMode};

    fn refused(json: &str) -> String {
        match parse_secret(json) {
            Err(err) => err.to_string(),
            Ok(_) => panic!("accepted {json}"),
        }
    }

    #[test]
    fn the_standard_rds_secret_is_accepted_as_is() {
        let t = parse_secret(
            r#"{"username":"app","password":"pw","engine":"postgres","host":"db.abc.eu-west-1.rds.amazonaws.com","port":5433,"dbname":"orders","dbInstanceIdentifier":"db"}"#,
        )
        .unwrap();
        assert_eq!(t.config.get_user(), Some("app"));
        assert_eq!(t.config.get_password(), Some(&b"pw"[..]));
        assert_eq!(
            t.config.get_hosts(),
            [Host::Tcp("db.abc.eu-west-1.rds.amazonaws.com".into())]
        );
        assert_eq!(t.config.get_ports(), [5433]);
        assert_eq!(t.config.get_dbname(), Some("orders"));
        assert_eq!(t.verify, Verify::ChainAndHost, "verify-full by default");
        assert_eq!(t.config.get_ssl_mode(), SslMode::Require);
        assert_eq!(t.roots, Roots::Default);
        assert!(t.config.get_connect_timeout().is_some());
    }

    #[test]
    fn string_ports_default_database_and_own_ssl_settings() {
        let t = parse_secret(
            r#"{"username":"u","password":"p","host":"h","port":"6543","engine":"aurora-postgresql","sslmode":"require","ca_pem":"PEM"}"#,
        )
        .unwrap();
        assert_eq!(t.config.get_ports(), [6543]);
        assert_eq!(t.config.get_dbname(), Some("postgres"));
        assert_eq!(t.verify, Verify::Chain, "a given CA is checked, as libpq");
        assert_eq!(t.roots, Roots::Pem("PEM".into()));
    }

    #[test]
    fn unusable_secrets_name_the_field_and_never_a_value() {
        assert!(refused(r#"{"username":"u","password":"hunter2"}"#).contains("host"));
        assert!(refused(r#"{"password":"hunter2","host":"h"}"#).contains("username"));
        assert!(refused(r#"{"username":"u","host":"h","port":"x"}"#).contains("port"));
        assert!(refused(r#"{"username":"u","host":"h","port":70000}"#).contains("port"));
        assert!(refused(r#"{"username":"u","host":"h","engine":"mysql"}"#).contains("engine"));
        assert!(refused(r#"{"username":"u","host":"h","sslmode":"maybe"}"#).contains("sslmode"));
        let bad_json = refused(r#"{"username":"u","password":"hunter2""#);
        assert!(!bad_json.contains("hunter2"), "{bad_json}");
    }

    #[test]
    fn the_bundle_holds_the_rds_authorities() {
        let certs = CA_BUNDLE.matches("-----BEGIN CERTIFICATE-----").count();
        assert!(certs > 100, "{certs} certificates");
        let mut store = rustls::RootCertStore::empty();
        let (added, _) = store.add_parsable_certificates(
            rustls::pki_types::pem::PemObject::pem_slice_iter(CA_BUNDLE.as_bytes())
                .collect::<Result<Vec<rustls::pki_types::CertificateDer<'static>>, _>>()
                .unwrap(),
        );
        assert_eq!(added, certs);
    }
}
