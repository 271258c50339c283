//! What operators do through their API: the catalogue, the shelves' stock, the audit trail,
//! and the factory orders the system gave up on. Every change names its operator and is
//! audited in its own transaction (the ports' contracts: [`Catalogue`], [`FactoryOrderOps`]).

use std::time::Duration;

use crate::ports::OpsOutcome;
use crate::{
    AuditEntry, Catalogue, CatalogueEntry, CatalogueOutcome, FactoryOrder, FactoryOrderId,
    FactoryOrderOps, FactoryOrders, NewProduct, Operator, ProductChange, ProductId, StockChange,
    StoreError,
};

/// Every product, retired ones too.
pub async fn catalogue<W: Catalogue>(warehouse: &W) -> Result<Vec<CatalogueEntry>, StoreError> {
    warehouse.catalogue().await
}

pub async fn catalogue_entry<W: Catalogue>(
    warehouse: &W,
    id: &ProductId,
) -> Result<Option<CatalogueEntry>, StoreError> {
    warehouse.entry(id).await
}

/// A new product on the shelf (checked by [`NewProduct::checked`]).
pub async fn create_product<W: Catalogue>(
    warehouse: &W,
    operator: &Operator,
    product: &NewProduct,
) -> Result<CatalogueOutcome, StoreError> {
    warehouse.create(operator, product).await
}

/// Name, price, reorder settings, factory id; retire or bring back
/// ([`crate::catalogue::plan_update`] decides what changes and how it is audited).
pub async fn update_product<W: Catalogue>(
    warehouse: &W,
    operator: &Operator,
    id: &ProductId,
    change: &ProductChange,
) -> Result<CatalogueOutcome, StoreError> {
    warehouse.update(operator, id, change).await
}

/// A shelf's stock by a delta or to a count, with a reason; one that leaves the shelf low
/// opens its factory order as a sale does ([`crate::catalogue::plan_adjustment`],
/// [`crate::catalogue::plan_restock`]).
pub async fn adjust_stock<W: Catalogue>(
    warehouse: &W,
    operator: &Operator,
    id: &ProductId,
    change: &StockChange,
) -> Result<CatalogueOutcome, StoreError> {
    warehouse.adjust_stock(operator, id, change).await
}

/// The newest audit rows first (of one product, or all).
pub async fn audit_trail<W: Catalogue>(
    warehouse: &W,
    product: Option<&ProductId>,
    limit: usize,
) -> Result<Vec<AuditEntry>, StoreError> {
    warehouse.audit_trail(product, limit).await
}

/// Factory orders not finished, oldest first, with how long each has waited.
pub async fn unfinished_factory_orders<W: Catalogue>(
    warehouse: &W,
    limit: usize,
) -> Result<Vec<(FactoryOrder, Duration)>, StoreError> {
    warehouse.unfinished_factory_orders(limit).await
}

pub async fn factory_order<W: FactoryOrders>(
    warehouse: &W,
    id: FactoryOrderId,
) -> Result<Option<FactoryOrder>, StoreError> {
    warehouse.factory_order(id).await
}

/// Asks the factory again for an unfinished order: it goes back to `open` and its stock-out
/// is published again (the requester asks with the same factory order id, so the restock
/// stays exactly-once). Repeated within `not_within` it changes nothing: that request is
/// still on its way.
pub async fn re_request_order<W: FactoryOrders + FactoryOrderOps>(
    warehouse: &W,
    operator: &Operator,
    id: FactoryOrderId,
    not_within: Duration,
) -> Result<OpsOutcome, StoreError> {
    let Some(order) = warehouse.factory_order(id).await? else {
        return Ok(OpsOutcome::UnknownOrder);
    };
    if !order.status.unfinished() {
        return Ok(OpsOutcome::Unchanged(order.status));
    }
    let event = order.stock_out_again(uuid::Uuid::new_v4(), time::OffsetDateTime::now_utc());
    warehouse.re_request(operator, id, not_within, &event).await
}

/// Gives an unfinished order up: `cancelled`, the product's one open slot freed, so its next
/// stock-out opens a new order. A finished order is left as it is.
pub async fn cancel_order<W: FactoryOrderOps>(
    warehouse: &W,
    operator: &Operator,
    id: FactoryOrderId,
) -> Result<OpsOutcome, StoreError> {
    warehouse.cancel(operator, id).await
}
