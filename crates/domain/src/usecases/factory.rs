//! A stock-out event turned into one factory request.

use std::time::Duration;

use crate::{
    FactoryApi, FactoryError, FactoryOrderStatus, FactoryOrders, FactoryReceipt, FactoryRequest,
    StockOutEvent, StoreError,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestOutcome {
    /// The factory took the order; its id is recorded.
    Requested(FactoryReceipt),
    /// A redelivery: the order was requested (or fulfilled) already, the factory was not called.
    AlreadyDone(FactoryOrderStatus),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Factory(#[from] FactoryError),
    #[error("stock-out event names factory order {0}, which the warehouse does not know")]
    UnknownOrder(crate::FactoryOrderId),
    #[error("another consumer is calling the factory for order {0}")]
    Busy(crate::FactoryOrderId),
}

/// Turns one stock-out event into one factory request, once per factory order however often
/// (and however concurrently) the event is delivered. `lease` bounds how long one consumer
/// may hold the order while it calls the factory; keep it above the factory call's timeout.
pub async fn request_from_factory<W: FactoryOrders, F: FactoryApi>(
    warehouse: &W,
    factory: &F,
    event: &StockOutEvent,
    lease: Duration,
) -> Result<RequestOutcome, RequestError> {
    let order = warehouse
        .factory_order(event.factory_order_id)
        .await?
        .ok_or(RequestError::UnknownOrder(event.factory_order_id))?;
    if !order.status.needs_request() {
        return Ok(RequestOutcome::AlreadyDone(order.status));
    }
    if !warehouse.claim_factory_request(order.id, lease).await? {
        // Either it was requested a moment ago, or a concurrent delivery is on it; a retry
        // after the visibility timeout will find it requested.
        return Err(RequestError::Busy(order.id));
    }
    let request = FactoryRequest {
        factory_order_id: order.id,
        factory_product_id: order.factory_product_id,
        quantity: order.quantity,
        stock_left: event.stock_left,
        correlation_id: order.correlation_id,
    };
    let receipt = match factory.request(&request).await {
        Ok(receipt) => receipt,
        Err(e) => {
            warehouse.release_factory_claim(order.id).await?;
            return Err(e.into());
        }
    };
    warehouse.record_factory_request(order.id, &receipt).await?;
    Ok(RequestOutcome::Requested(receipt))
}
