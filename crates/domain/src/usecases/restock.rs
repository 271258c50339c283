//! The factory's callback: the quantity we ordered added to the shelf, once.

use crate::ports::RestockOutcome;
use crate::{FactoryOrderId, Restocks, StoreError};

/// The restock a factory callback asks for, by the warehouse's rules ([`restock_refusal`]).
pub async fn restock<W: Restocks>(
    warehouse: &W,
    id: FactoryOrderId,
    quantity: u32,
) -> Result<RestockOutcome, StoreError> {
    warehouse.restock(id, quantity).await
}

/// A factory order as its callback finds it (locked, in the restock's transaction).
#[derive(Debug, Clone, Copy)]
pub struct CallbackTarget<'a> {
    pub product_id: &'a crate::ProductId,
    pub correlation_id: &'a crate::CorrelationId,
    pub status: crate::FactoryOrderStatus,
    pub quantity: u32,
    pub request_attempts: u32,
    pub factory_request_id: Option<&'a str>,
}

/// Why the factory's callback for `order`, for `asked` units, adds nothing — or `None`: it
/// restocks the quantity *we ordered*, once. Every warehouse decides by this.
pub fn restock_refusal(order: &CallbackTarget<'_>, asked: u32) -> Option<RestockOutcome> {
    if !order.status.accepts_restock() {
        Some(RestockOutcome::AlreadyFulfilled {
            product_id: order.product_id.clone(),
            correlation_id: order.correlation_id.clone(),
        })
    } else if !order
        .status
        .was_sent(order.request_attempts, order.factory_request_id)
    {
        Some(RestockOutcome::NotRequested {
            correlation_id: order.correlation_id.clone(),
        })
    } else if asked != order.quantity {
        Some(RestockOutcome::QuantityMismatch {
            ordered: order.quantity,
            correlation_id: order.correlation_id.clone(),
        })
    } else {
        None
    }
}
