//! The stock-out event: the one fact the warehouse tells the rest of the system.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{CorrelationId, FactoryOrderId, NewFactoryOrder, ProductId};

/// Version 1 of the stock-out event, as published to SNS and read from SQS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StockOutEvent {
    /// Always [`StockOutEvent::VERSION`]; readers refuse other versions.
    pub version: u32,
    #[serde(rename = "type")]
    pub kind: String,
    pub event_id: Uuid,
    pub correlation_id: CorrelationId,
    pub product_id: ProductId,
    pub factory_product_id: String,
    pub factory_order_id: FactoryOrderId,
    /// Units ordered from the factory (the product's reorder quantity).
    pub quantity: u32,
    /// Units left on the shelf when the stock-out was recorded.
    pub stock_left: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
}

#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("not a stock-out event: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error("unsupported stock-out event version {0}")]
    Version(u32),
    #[error("unsupported event type {0:?}")]
    Kind(String),
    #[error("event quantity must be positive")]
    Quantity,
}

impl StockOutEvent {
    pub const VERSION: u32 = 1;
    pub const KIND: &'static str = "stock_out";

    pub(crate) fn new(
        order: &NewFactoryOrder,
        stock_left: u32,
        event_id: Uuid,
        occurred_at: OffsetDateTime,
    ) -> Self {
        Self {
            version: Self::VERSION,
            kind: Self::KIND.to_owned(),
            event_id,
            correlation_id: order.correlation_id.clone(),
            product_id: order.product_id.clone(),
            factory_product_id: order.factory_product_id.clone(),
            factory_order_id: order.id,
            quantity: order.quantity,
            stock_left,
            occurred_at: occurred_at.to_offset(time::UtcOffset::UTC),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a stock-out event always serialises")
    }

    /// Parses and checks an event body; anything else is an [`EventError`].
    pub fn from_json(body: &str) -> Result<Self, EventError> {
        let event: Self = serde_json::from_str(body)?;
        if event.version != Self::VERSION {
            return Err(EventError::Version(event.version));
        }
        if event.kind != Self::KIND {
            return Err(EventError::Kind(event.kind));
        }
        if event.quantity == 0 {
            return Err(EventError::Quantity);
        }
        Ok(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> StockOutEvent {
        let order = NewFactoryOrder {
            id: FactoryOrderId::new(),
            product_id: ProductId::parse("glazed").unwrap(),
            factory_product_id: "1".into(),
            quantity: 12,
            correlation_id: CorrelationId::new(),
        };
        order.stock_out_event(0, Uuid::new_v4(), OffsetDateTime::now_utc())
    }

    #[test]
    fn round_trips_through_json() {
        let e = sample();
        assert_eq!(StockOutEvent::from_json(&e.to_json()).unwrap(), e);
        assert!(e.to_json().contains("\"type\":\"stock_out\""));
    }

    #[test]
    fn refuses_other_versions_and_garbage() {
        let mut e = sample();
        e.version = 2;
        assert!(matches!(
            StockOutEvent::from_json(&e.to_json()),
            Err(EventError::Version(2))
        ));
        assert!(StockOutEvent::from_json("{}").is_err());
        assert!(StockOutEvent::from_json("not json").is_err());
        let mut v: serde_json::Value = serde_json::from_str(&sample().to_json()).unwrap();
        v["extra"] = 1.into();
        assert!(StockOutEvent::from_json(&v.to_string()).is_err());
        let mut v: serde_json::Value = serde_json::from_str(&sample().to_json()).unwrap();
        v["quantity"] = 0.into();
        assert!(matches!(
            StockOutEvent::from_json(&v.to_string()),
            Err(EventError::Quantity)
        ));
    }
}
