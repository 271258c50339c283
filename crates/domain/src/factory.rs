//! Orders to the legacy factory: open → requested → fulfilled.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{CorrelationId, FactoryOrderId, ProductId, StockOutEvent};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FactoryOrderStatus {
    /// Opened by a stock-out; the factory has not acknowledged it yet.
    Open,
    /// The factory accepted it and will call back.
    Requested,
    /// The callback arrived and the stock was added. Final.
    Fulfilled,
    /// Ops gave up on it (`donut-cli orders cancel`): the shelf may open a new order. A
    /// callback that still arrives adds its stock (the donuts are real) and fulfils it.
    Cancelled,
}

impl FactoryOrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Requested => "requested",
            Self::Fulfilled => "fulfilled",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "open" => Some(Self::Open),
            "requested" => Some(Self::Requested),
            "fulfilled" => Some(Self::Fulfilled),
            "cancelled" => Some(Self::Cancelled),
            _ => None,
        }
    }

    /// Whether the factory still has to be asked for this order.
    pub fn needs_request(self) -> bool {
        self == Self::Open
    }

    /// Whether a callback for this order should still add stock. A callback may arrive
    /// before we recorded the factory's acknowledgement, so `Open` qualifies too; so does a
    /// cancelled order whose donuts arrive after all.
    pub fn accepts_restock(self) -> bool {
        self != Self::Fulfilled
    }

    /// Whether the factory may have been asked for the order: it is requested, the factory
    /// accepted it once (`factory_request_id`, kept when ops re-request it), or a consumer
    /// claimed it to call the factory (`request_attempts` counts claims, made before the call,
    /// so a fast factory's callback is not refused). An order still waiting in the queue was
    /// not; a callback for it cannot be the factory's.
    pub fn was_sent(self, request_attempts: u32, factory_request_id: Option<&str>) -> bool {
        self == Self::Requested || request_attempts > 0 || factory_request_id.is_some()
    }

    /// Whether the shelf still waits for this order (it holds the product's one open slot).
    pub fn unfinished(self) -> bool {
        matches!(self, Self::Open | Self::Requested)
    }
}

impl fmt::Display for FactoryOrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A factory order to be written together with the stock-out that caused it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFactoryOrder {
    pub id: FactoryOrderId,
    pub product_id: ProductId,
    pub factory_product_id: String,
    pub quantity: u32,
    pub correlation_id: CorrelationId,
}

impl NewFactoryOrder {
    /// The event that announces this order to the rest of the system.
    pub fn stock_out_event(
        &self,
        stock_left: u32,
        event_id: uuid::Uuid,
        occurred_at: time::OffsetDateTime,
    ) -> StockOutEvent {
        StockOutEvent::new(self, stock_left, event_id, occurred_at)
    }
}

/// A factory order as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FactoryOrder {
    pub id: FactoryOrderId,
    pub product_id: ProductId,
    pub factory_product_id: String,
    pub quantity: u32,
    pub status: FactoryOrderStatus,
    pub factory_request_id: Option<String>,
    pub correlation_id: CorrelationId,
    pub request_attempts: u32,
    /// Times the watchdog published an `open` order's stock-out again.
    pub chases: u32,
}

impl FactoryOrder {
    /// The stock-out event that asks for this order again (a new event id, same factory
    /// order: the requester and the restock stay exactly-once).
    pub fn stock_out_again(&self, event_id: uuid::Uuid, at: time::OffsetDateTime) -> StockOutEvent {
        let order = NewFactoryOrder {
            id: self.id,
            product_id: self.product_id.clone(),
            factory_product_id: self.factory_product_id.clone(),
            quantity: self.quantity,
            correlation_id: self.correlation_id.clone(),
        };
        StockOutEvent::new(&order, 0, event_id, at)
    }
}

/// What we ask the factory to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactoryRequest {
    pub factory_order_id: FactoryOrderId,
    pub factory_product_id: String,
    pub quantity: u32,
    pub stock_left: u32,
    pub correlation_id: CorrelationId,
}

/// The factory's acknowledgement: its own id for our request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactoryReceipt {
    pub factory_request_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lifecycle() {
        use FactoryOrderStatus::*;
        for s in [Open, Requested, Fulfilled] {
            assert_eq!(FactoryOrderStatus::parse(s.as_str()), Some(s));
        }
        assert!(Open.needs_request());
        assert!(!Requested.needs_request());
        assert!(!Fulfilled.needs_request());
        assert!(Open.accepts_restock());
        assert!(Requested.accepts_restock());
        assert!(!Fulfilled.accepts_restock());
        assert_eq!(FactoryOrderStatus::parse("closed"), None);
    }
}
