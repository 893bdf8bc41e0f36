//! The AWS [`EventPublisher`]: EventBridge `PutEvents` on the stack's bus.

use async_trait::async_trait;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_eventbridge::Client;

use crate::events::{EventPublisher, MigrationEvent, SOURCE};
use crate::ports::PortError;

pub struct EventBridge {
    client: Client,
    bus: String,
}

impl EventBridge {
    /// Publishes to the bus named `bus` (`default` for the account's default bus).
    pub fn new(client: Client, bus: impl Into<String>) -> Self {
        Self {
            client,
            bus: bus.into(),
        }
    }

    /// [`EventBridge::new`] with a client built from `sdk`.
    pub fn from_sdk(sdk: &aws_config::SdkConfig, bus: impl Into<String>) -> Self {
        Self::new(Client::new(sdk), bus)
    }
}

#[async_trait]
impl EventPublisher for EventBridge {
    async fn publish(&self, event: &MigrationEvent) -> Result<(), PortError> {
        let entry = PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(SOURCE)
            .detail_type(event.detail_type())
            .detail(event.detail())
            .build();
        let out = self
            .client
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(|e| PortError::unavailable("eventbridge", e))?;
        // PutEvents answers 200 with per-entry failures.
        if out.failed_entry_count > 0 {
            let code = out
                .entries()
                .iter()
                .find_map(|e| e.error_code())
                .unwrap_or("unknown")
                .to_string();
            return Err(PortError::unavailable(
                "eventbridge",
                format!("the event was not accepted: {code}"),
            ));
        }
        Ok(())
    }
}
