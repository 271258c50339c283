//! What buyers do: buy, and look at the shelves and their orders.

use crate::StoreError;
use crate::{OrderId, Product, ProductId, PurchaseOutcome, PurchaseRequest, Shelves, SoldOrder};

/// A purchase: sold if (and only if) the shelf has the units, atomically; a sale or refusal
/// that leaves the shelf low opens its factory order, with its stock-out in the outbox
/// ([`crate::purchase::plan_reorder`] decides, in the same transaction). Under an
/// `Idempotency-Key` a repeat answers as the sale did and sells nothing.
pub async fn purchase<W: Shelves>(
    warehouse: &W,
    request: &PurchaseRequest,
) -> Result<PurchaseOutcome, StoreError> {
    warehouse.purchase(request).await
}

/// The products on sale (retired ones are not).
pub async fn products<W: Shelves>(warehouse: &W) -> Result<Vec<Product>, StoreError> {
    warehouse.products().await
}

pub async fn product<W: Shelves>(
    warehouse: &W,
    id: &ProductId,
) -> Result<Option<Product>, StoreError> {
    warehouse.product(id).await
}

/// An order as it was sold, if `caller` may see it ([`SoldOrder::visible_to`]): to anyone
/// else it does not exist.
pub async fn order<W: Shelves>(
    warehouse: &W,
    id: OrderId,
    caller: Option<&crate::Buyer>,
) -> Result<Option<SoldOrder>, StoreError> {
    Ok(warehouse
        .order(id)
        .await?
        .filter(|order| order.visible_to(caller)))
}
