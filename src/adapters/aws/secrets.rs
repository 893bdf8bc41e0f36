//! The AWS [`SecretStore`]: Secrets Manager. References are secret ARNs.

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use secrecy::{ExposeSecret, SecretString};

use crate::ports::{PortError, SecretStore};

pub struct SecretsManager {
    client: Client,
}

impl SecretsManager {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl SecretStore for SecretsManager {
    async fn create(&self, name: &str, value: &SecretString) -> Result<String, PortError> {
        let out = self
            .client
            .create_secret()
            .name(name)
            .secret_string(value.expose_secret())
            .send()
            .await
            .map_err(|e| PortError::unavailable("secretsmanager", e))?;
        out.arn.ok_or_else(|| {
            PortError::unavailable("secretsmanager", "create_secret returned no ARN")
        })
    }

    async fn get(&self, reference: &str) -> Result<SecretString, PortError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(reference)
            .send()
            .await;
        match out {
            Ok(out) => out
                .secret_string
                .map(SecretString::from)
                .ok_or_else(|| PortError::SecretNotFound(reference.to_string())),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                Err(PortError::SecretNotFound(reference.to_string()))
            }
            Err(err) => Err(PortError::unavailable("secretsmanager", err)),
        }
    }
}
