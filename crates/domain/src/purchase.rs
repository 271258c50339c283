//! A buyer's purchase and its possible outcomes.

use crate::{
    CorrelationId, FactoryOrderId, FactoryOrderStatus, IdempotencyKey, NewFactoryOrder, OrderId,
    ProductId, Quantity, ReorderRule,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurchaseRequest {
    pub product_id: ProductId,
    pub quantity: Quantity,
    pub correlation_id: CorrelationId,
    /// The buyer's key for this logical purchase: a retry with it answers what the sale
    /// answered and sells nothing again.
    pub idempotency_key: Option<IdempotencyKey>,
    /// Who buys, where the stage knows its buyers (a JWT authorizer); `None`: anonymous.
    pub buyer: Option<crate::Buyer>,
}

impl PurchaseRequest {
    /// What the request asks for, to tell a retry from another request under the same key.
    pub fn fingerprint(&self) -> String {
        format!("{} {}", self.product_id, self.quantity.get())
    }

    /// The key as the warehouse stores it: the buyer's own ([`IdempotencyKey::stored`]).
    pub fn stored_key(&self) -> Option<String> {
        self.idempotency_key
            .as_ref()
            .map(|key| key.stored(self.buyer.as_ref()))
    }
}

/// Everything a purchase may create, named before the warehouse is asked: the order row's id,
/// and the factory order's and stock-out event's should the purchase reorder. A warehouse that
/// decides in one round trip (a stored procedure) needs them up front; nothing else about the
/// purchase changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurchaseDraft {
    pub order_id: OrderId,
    pub factory_order_id: FactoryOrderId,
    pub event_id: uuid::Uuid,
    /// When the purchase happened (UTC): the stock-out event's `occurred_at`.
    pub at: time::OffsetDateTime,
}

impl PurchaseDraft {
    pub fn new() -> Self {
        Self {
            order_id: OrderId::new(),
            factory_order_id: FactoryOrderId::new(),
            event_id: uuid::Uuid::new_v4(),
            at: time::OffsetDateTime::now_utc(),
        }
    }
}

impl Default for PurchaseDraft {
    fn default() -> Self {
        Self::new()
    }
}

/// The state of the restock that covers a product, as a buyer sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RestockInfo {
    pub factory_order_id: FactoryOrderId,
    pub status: FactoryOrderStatus,
    /// True when this very purchase opened the factory order.
    pub opened_now: bool,
    /// The stock-out event this purchase wrote to the outbox, when it opened the order: what
    /// the publish right after the purchase relays.
    pub stock_out_event: Option<uuid::Uuid>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sale {
    pub order_id: OrderId,
    pub product_id: ProductId,
    pub quantity: Quantity,
    pub remaining: u32,
    pub restock: Option<RestockInfo>,
}

/// An order as it was sold: what `GET /orders/{order_id}` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoldOrder {
    pub order_id: OrderId,
    pub product_id: ProductId,
    pub quantity: Quantity,
    /// Integer cents, the price when it was sold.
    pub unit_price_cents: i64,
    /// When it was sold (UTC).
    pub created_at: time::OffsetDateTime,
    pub idempotency_key: Option<IdempotencyKey>,
    /// Who bought it, where the stage knows its buyers.
    pub buyer: Option<crate::Buyer>,
}

impl SoldOrder {
    /// Whether `caller` may see this order: its buyer only; an anonymous order, anyone (a stage
    /// without buyers' identities), but never a buyer's order anonymously.
    pub fn visible_to(&self, caller: Option<&crate::Buyer>) -> bool {
        self.buyer.as_ref() == caller || self.buyer.is_none()
    }

    /// The key it was bought with, to the one who may be told it: its buyer (none to anyone
    /// else, nor on a stage without buyers' identities: a key there is anybody's).
    pub fn key_for(&self, caller: Option<&crate::Buyer>) -> Option<&IdempotencyKey> {
        match (&self.buyer, caller) {
            (Some(buyer), Some(caller)) if buyer == caller => self.idempotency_key.as_ref(),
            _ => None,
        }
    }

    pub fn total_cents(&self) -> i64 {
        self.unit_price_cents * i64::from(self.quantity.get())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutOfStock {
    pub product_id: ProductId,
    pub requested: Quantity,
    pub available: u32,
    pub restock: Option<RestockInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PurchaseOutcome {
    Sold(Sale),
    OutOfStock(OutOfStock),
    UnknownProduct(ProductId),
    /// A retry of a sale its key already made: the sale as it was answered; nothing sold now.
    Replayed(Sale),
    /// The key made a sale of something else: the request is not a retry of it.
    KeyReused(IdempotencyKey),
    /// A purchase with the key is still in flight: try again shortly.
    KeyInFlight(IdempotencyKey),
}

/// What the warehouse sees of a product inside a purchase's transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShelfState {
    pub stock: u32,
    pub reorder: ReorderRule,
    pub factory_product_id: String,
    pub open_order: Option<(FactoryOrderId, FactoryOrderStatus)>,
}

/// Whether a purchase leaves its shelf low: a refusal always does (the shelf cannot serve the
/// demand); a sale when the stock left is at or below the reorder point. Only a low shelf is
/// decided on ([`plan_reorder`]) and tells the buyer about its restock; a sale that leaves the
/// shelf above its point needs neither.
pub fn leaves_shelf_low(sold: bool, stock_left: u32, rule: ReorderRule) -> bool {
    !sold || rule.needs_reorder(stock_left)
}

/// Decides, inside the purchase's transaction, whether this purchase opens a factory order.
///
/// At most one factory order is open per product: a thousand buyers at an empty shelf make
/// one order, not a thousand.
pub fn plan_reorder(
    request: &PurchaseRequest,
    shelf: &ShelfState,
    sold: bool,
    draft: &PurchaseDraft,
) -> Option<NewFactoryOrder> {
    let low = leaves_shelf_low(sold, shelf.stock, shelf.reorder);
    if !low || shelf.open_order.is_some() || shelf.reorder.quantity == 0 {
        return None;
    }
    Some(NewFactoryOrder {
        id: draft.factory_order_id,
        product_id: request.product_id.clone(),
        factory_product_id: shelf.factory_product_id.clone(),
        quantity: shelf.reorder.quantity,
        correlation_id: request.correlation_id.clone(),
    })
}

/// The restock a buyer is told about after this purchase: the factory order it opened, else
/// the one already open for the product.
pub fn restock_info(
    draft: &PurchaseDraft,
    open_order: Option<(FactoryOrderId, FactoryOrderStatus)>,
    opened: Option<&NewFactoryOrder>,
) -> Option<RestockInfo> {
    match (opened, open_order) {
        (Some(o), _) => Some(RestockInfo {
            factory_order_id: o.id,
            status: FactoryOrderStatus::Open,
            opened_now: true,
            stock_out_event: Some(draft.event_id),
        }),
        (None, Some((id, status))) => Some(RestockInfo {
            factory_order_id: id,
            status,
            opened_now: false,
            stock_out_event: None,
        }),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> PurchaseRequest {
        PurchaseRequest {
            product_id: ProductId::parse("glazed").unwrap(),
            quantity: Quantity::parse(1, 10).unwrap(),
            correlation_id: CorrelationId::new(),
            idempotency_key: None,
            buyer: None,
        }
    }

    fn draft() -> PurchaseDraft {
        PurchaseDraft::new()
    }

    fn shelf(stock: u32, open: bool) -> ShelfState {
        ShelfState {
            stock,
            reorder: ReorderRule {
                point: 2,
                quantity: 24,
            },
            factory_product_id: "7".into(),
            open_order: open.then(|| (FactoryOrderId::new(), FactoryOrderStatus::Requested)),
        }
    }

    #[test]
    fn a_sale_above_the_reorder_point_orders_nothing() {
        assert_eq!(
            plan_reorder(&request(), &shelf(3, false), true, &draft()),
            None
        );
    }

    #[test]
    fn a_sale_reaching_the_reorder_point_orders_the_reorder_quantity() {
        let req = request();
        let draft = draft();
        let order = plan_reorder(&req, &shelf(2, false), true, &draft).unwrap();
        assert_eq!(order.id, draft.factory_order_id);
        assert_eq!(order.quantity, 24);
        assert_eq!(order.factory_product_id, "7");
        assert_eq!(order.correlation_id, req.correlation_id);
    }

    #[test]
    fn a_refused_purchase_orders_even_above_the_point() {
        // 5 left, buyer wanted 6: the shelf cannot serve the demand.
        assert!(plan_reorder(&request(), &shelf(5, false), false, &draft()).is_some());
    }

    #[test]
    fn never_a_second_open_order() {
        assert_eq!(
            plan_reorder(&request(), &shelf(0, true), false, &draft()),
            None
        );
        assert_eq!(
            plan_reorder(&request(), &shelf(1, true), true, &draft()),
            None
        );
    }

    #[test]
    fn restock_info_prefers_the_order_just_opened() {
        let s = shelf(0, false);
        let o = plan_reorder(&request(), &s, false, &draft()).unwrap();
        let d = draft();
        let info = restock_info(&d, s.open_order, Some(&o)).unwrap();
        assert_eq!(info.stock_out_event, Some(d.event_id));
        assert!(info.opened_now);
        assert_eq!(info.factory_order_id, o.id);
        let s = shelf(0, true);
        let info = restock_info(&d, s.open_order, None).unwrap();
        assert_eq!(info.stock_out_event, None);
        assert!(!info.opened_now);
        assert_eq!(info.status, FactoryOrderStatus::Requested);
        assert_eq!(restock_info(&d, shelf(9, false).open_order, None), None);
    }
}
