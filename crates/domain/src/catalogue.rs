//! The shop as its operators run it: the catalogue (products created, changed, retired and
//! brought back) and the shelves (stock adjusted by a count or a delta, with a reason). Every
//! change names who made it — the caller's IAM identity — and is audited in its own
//! transaction; an adjustment that leaves a shelf low opens its factory order exactly as a
//! sale does ([`plan_restock`]). A write under an `Idempotency-Key` is made once: its key is
//! kept with its answer in the write's own transaction ([`Write::fingerprint`],
//! [`CatalogueOutcome::kept`]), so a retry answers the same and changes nothing.

use serde::{Deserialize, Serialize};

use crate::purchase::{PurchaseDraft, ShelfState};
use crate::{
    CorrelationId, FactoryOrderId, FactoryOrderStatus, IdempotencyKey, InvalidInput,
    NewFactoryOrder, Product, ProductId, ReorderRule, RestockInfo,
};

/// Who changes the shop, and under which request: what the audit records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    /// The caller's IAM ARN (API Gateway's IAM authorization: `requestContext.authorizer.iam`).
    pub arn: String,
    /// The request's correlation id (the server makes every one).
    pub correlation_id: CorrelationId,
    /// What the operator sent as `x-correlation-id` (an incident's, a ticket's id), cleaned:
    /// the audit keeps it beside the correlation id.
    pub reference: Option<crate::ClientReference>,
    /// The request's `Idempotency-Key`. It is this operator's own: the same key from another
    /// operator is another write.
    pub idempotency_key: Option<IdempotencyKey>,
}

/// An operator's write to the catalogue, as its `Idempotency-Key` remembers what was asked.
#[derive(Debug, Clone, Copy)]
pub enum Write<'a> {
    Create(&'a NewProduct),
    Update(&'a ProductId, &'a ProductChange),
    Adjust(&'a ProductId, &'a StockChange),
}

impl Write<'_> {
    /// What was asked, as text: a repeat of the key must ask exactly this (else it is refused
    /// as the key reused for another request).
    pub fn fingerprint(&self) -> String {
        use serde_json::json;
        match self {
            Write::Create(p) => json!([
                "create",
                p.id,
                p.name,
                p.price_cents,
                p.stock,
                p.reorder.point,
                p.reorder.quantity,
                p.factory_product_id
            ]),
            Write::Update(id, c) => json!([
                "update",
                id,
                c.name,
                c.price_cents,
                c.reorder_point,
                c.reorder_qty,
                c.factory_product_id,
                c.retired
            ]),
            Write::Adjust(id, c) => match c.adjustment {
                Adjustment::By(delta) => json!(["adjust", id, "by", delta, c.reason]),
                Adjustment::To(count) => json!(["adjust", id, "to", count, c.reason]),
            },
        }
        .to_string()
    }
}

/// Longest product name.
pub const MAX_NAME_CHARS: usize = 128;
/// Highest price, in cents (a million dollars: a typo, not a donut, beyond that).
pub const MAX_PRICE_CENTS: i64 = 100_000_000;
/// Most units one shelf, one reorder point or one factory order may hold.
pub const MAX_UNITS: u32 = 1_000_000;
/// Longest reason for a stock adjustment.
pub const MAX_REASON_CHARS: usize = 512;

/// A product as the catalogue holds it: what the shop sells, and whether it is retired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogueEntry {
    #[serde(flatten)]
    pub product: Product,
    pub retired: bool,
}

/// A new product: everything the shelf needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProduct {
    pub id: ProductId,
    pub name: String,
    pub price_cents: i64,
    pub stock: u32,
    pub reorder: ReorderRule,
    pub factory_product_id: String,
}

impl NewProduct {
    /// Checks every field against the catalogue's limits.
    pub fn checked(self) -> Result<Self, InvalidInput> {
        name(&self.name)?;
        price(self.price_cents)?;
        units("stock", self.stock)?;
        reorder(self.reorder)?;
        factory_product(&self.factory_product_id)?;
        Ok(self)
    }

    pub fn into_product(self) -> Product {
        Product {
            id: self.id,
            name: self.name,
            price_cents: self.price_cents,
            stock: self.stock,
            reorder: self.reorder,
            factory_product_id: self.factory_product_id,
        }
    }
}

/// What a product's update sets; a field left out stays as it is. Stock is not here: it
/// changes by an adjustment, with a reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductChange {
    pub name: Option<String>,
    pub price_cents: Option<i64>,
    pub reorder_point: Option<u32>,
    pub reorder_qty: Option<u32>,
    pub factory_product_id: Option<String>,
    /// `Some(true)`: retire; `Some(false)`: bring back.
    pub retired: Option<bool>,
}

impl ProductChange {
    pub fn checked(self) -> Result<Self, InvalidInput> {
        if let Some(n) = &self.name {
            name(n)?;
        }
        if let Some(p) = self.price_cents {
            price(p)?;
        }
        if let Some(p) = self.reorder_point {
            units("reorder_point", p)?;
        }
        if let Some(q) = self.reorder_qty {
            units("reorder_qty", q)?;
        }
        if let Some(f) = &self.factory_product_id {
            factory_product(f)?;
        }
        Ok(self)
    }

    /// The entry with this change applied.
    pub fn apply(&self, entry: &CatalogueEntry) -> CatalogueEntry {
        let mut next = entry.clone();
        let p = &mut next.product;
        if let Some(n) = &self.name {
            p.name = n.clone();
        }
        if let Some(c) = self.price_cents {
            p.price_cents = c;
        }
        if let Some(point) = self.reorder_point {
            p.reorder.point = point;
        }
        if let Some(q) = self.reorder_qty {
            p.reorder.quantity = q;
        }
        if let Some(f) = &self.factory_product_id {
            p.factory_product_id = f.clone();
        }
        if let Some(r) = self.retired {
            next.retired = r;
        }
        next
    }
}

/// How a shelf's stock changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adjustment {
    /// Units added (positive) or taken away (negative): a delivery, breakage.
    By(i64),
    /// The shelf counted: it holds this many.
    To(u32),
}

impl Adjustment {
    /// The stock after the adjustment, or why it cannot be made.
    pub fn stock_after(self, stock: u32) -> Result<u32, AdjustmentRefused> {
        let after = match self {
            Adjustment::To(count) => i64::from(count),
            // Bounded by `StockChange::checked`; saturating all the same (never a panic).
            Adjustment::By(delta) => i64::from(stock).saturating_add(delta),
        };
        if after < 0 {
            return Err(AdjustmentRefused::BelowZero { stock, after });
        }
        if after > i64::from(MAX_UNITS) {
            return Err(AdjustmentRefused::AboveMax { after });
        }
        Ok(after as u32)
    }
}

/// An adjustment the shelf cannot take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AdjustmentRefused {
    #[error("the shelf holds {stock}: the adjustment would leave {after}")]
    BelowZero { stock: u32, after: i64 },
    #[error("a shelf holds at most {MAX_UNITS} units: the adjustment would leave {after}")]
    AboveMax { after: i64 },
}

/// A stock adjustment, and why it was made (the audit keeps the reason).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockChange {
    pub adjustment: Adjustment,
    pub reason: String,
}

impl StockChange {
    pub fn checked(self) -> Result<Self, InvalidInput> {
        let chars = self.reason.trim().chars().count();
        if chars == 0 || chars > MAX_REASON_CHARS || self.reason.chars().any(char::is_control) {
            return Err(InvalidInput::new(
                "reason",
                format!(
                    "a stock adjustment needs a reason of 1 to {MAX_REASON_CHARS} printable characters"
                ),
            ));
        }
        match self.adjustment {
            Adjustment::To(count) => units("count", count)?,
            Adjustment::By(delta) if delta.unsigned_abs() > u64::from(MAX_UNITS) => {
                return Err(InvalidInput::new(
                    "delta",
                    format!("at most {MAX_UNITS} units either way"),
                ));
            }
            Adjustment::By(_) => {}
        }
        Ok(self)
    }
}

/// What a catalogue change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogueOutcome {
    /// Changed (the audit has a row): the entry before (none for a new product) and after,
    /// and the factory order an adjustment opened or found open, if it left the shelf low.
    Changed {
        before: Option<CatalogueEntry>,
        after: CatalogueEntry,
        restock: Option<crate::RestockInfo>,
    },
    /// Nothing to change: the entry already is as asked (no audit row).
    Unchanged(CatalogueEntry),
    /// A product with this id exists already (as it is).
    Exists(CatalogueEntry),
    UnknownProduct,
    Refused(AdjustmentRefused),
    /// A repeat of a keyed write that was made: its answer as first given; nothing changed
    /// now (and no stock-out is published again).
    Replayed {
        before: Option<CatalogueEntry>,
        after: CatalogueEntry,
        restock: Option<RestockInfo>,
    },
    /// The key was used by this operator for another request: nothing changed.
    KeyReused(IdempotencyKey),
    /// A write with the key is still in flight: nothing changed, retry shortly.
    KeyInFlight(IdempotencyKey),
}

/// A keyed write's answer as its key keeps it.
#[derive(Serialize, Deserialize)]
struct Kept {
    before: Option<CatalogueEntry>,
    after: CatalogueEntry,
    restock: Option<RestockInfo>,
}

impl CatalogueOutcome {
    /// What a key keeps of this outcome. Only a change is kept: a write that changed nothing
    /// or was refused keeps nothing, so its repeat is decided anew (as a refused purchase's).
    pub fn kept(&self) -> Option<String> {
        match self {
            CatalogueOutcome::Changed {
                before,
                after,
                restock,
            } => serde_json::to_string(&Kept {
                before: before.clone(),
                after: after.clone(),
                restock: restock.clone(),
            })
            .ok(),
            _ => None,
        }
    }

    /// A kept answer, given again.
    pub fn replay(kept: &str) -> Result<Self, serde_json::Error> {
        let Kept {
            before,
            after,
            restock,
        } = serde_json::from_str(kept)?;
        Ok(CatalogueOutcome::Replayed {
            before,
            after,
            restock,
        })
    }
}

/// One row of the catalogue's audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub id: u64,
    /// RFC 3339, UTC.
    pub at: String,
    pub actor: String,
    pub action: AuditAction,
    pub product_id: ProductId,
    /// The factory order a re-request or cancel acted on.
    pub factory_order_id: Option<FactoryOrderId>,
    /// The entry (or factory order) before, as JSON (none for a creation).
    pub before: Option<String>,
    pub after: String,
    pub reason: Option<String>,
    pub correlation_id: String,
    /// The operator's own reference for the request (`x-correlation-id` as sent, cleaned).
    pub reference: Option<String>,
}

/// What an audited change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    Create,
    Update,
    Retire,
    Restore,
    Adjust,
    /// A factory order asked of the factory again.
    ReRequest,
    /// A factory order given up.
    Cancel,
}

impl AuditAction {
    pub const fn as_str(self) -> &'static str {
        match self {
            AuditAction::Create => "create",
            AuditAction::Update => "update",
            AuditAction::Retire => "retire",
            AuditAction::Restore => "restore",
            AuditAction::Adjust => "adjust",
            AuditAction::ReRequest => "re_request",
            AuditAction::Cancel => "cancel",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            AuditAction::Create,
            AuditAction::Update,
            AuditAction::Retire,
            AuditAction::Restore,
            AuditAction::Adjust,
            AuditAction::ReRequest,
            AuditAction::Cancel,
        ]
        .into_iter()
        .find(|a| a.as_str() == raw)
    }

    /// The action an update is audited as: retiring or bringing back says so.
    pub fn of_update(before: &CatalogueEntry, after: &CatalogueEntry) -> Self {
        match (before.retired, after.retired) {
            (false, true) => AuditAction::Retire,
            (true, false) => AuditAction::Restore,
            _ => AuditAction::Update,
        }
    }
}

/// A factory order's state as its audit rows show it (before and after a re-request or a
/// cancel).
pub fn order_state(id: FactoryOrderId, status: FactoryOrderStatus) -> String {
    serde_json::json!({ "factory_order_id": id, "status": status }).to_string()
}

/// Whether an adjustment that left the shelf at `shelf.stock` opens a factory order: exactly
/// the rule of a sale that leaves the shelf low ([`crate::purchase::plan_reorder`]) — at or
/// below the reorder point, no order open, a reorder quantity — with the operator's request
/// as the order's correlation id. A retired product is never reordered.
pub fn plan_restock(
    product_id: &ProductId,
    shelf: &ShelfState,
    retired: bool,
    operator: &Operator,
    draft: &PurchaseDraft,
) -> Option<NewFactoryOrder> {
    if retired
        || !shelf.reorder.needs_reorder(shelf.stock)
        || shelf.open_order.is_some()
        || shelf.reorder.quantity == 0
    {
        return None;
    }
    Some(NewFactoryOrder {
        id: draft.factory_order_id,
        product_id: product_id.clone(),
        factory_product_id: shelf.factory_product_id.clone(),
        quantity: shelf.reorder.quantity,
        correlation_id: operator.correlation_id.clone(),
    })
}

/// An update's effect on `before`: the entry after and how it is audited; `None` when nothing
/// differs (nothing is written, nothing audited).
pub fn plan_update(
    before: &CatalogueEntry,
    change: &ProductChange,
) -> Option<(CatalogueEntry, AuditAction)> {
    let after = change.apply(before);
    (after != *before).then(|| {
        let action = AuditAction::of_update(before, &after);
        (after, action)
    })
}

/// An adjustment's effect on `before`: the entry after (`None` when the stock stays as it is:
/// nothing is written, nothing audited), or why the shelf cannot take it.
pub fn plan_adjustment(
    before: &CatalogueEntry,
    change: &StockChange,
) -> Result<Option<CatalogueEntry>, AdjustmentRefused> {
    let stock = change.adjustment.stock_after(before.product.stock)?;
    if stock == before.product.stock {
        return Ok(None);
    }
    let mut after = before.clone();
    after.product.stock = stock;
    Ok(Some(after))
}

/// The restock an operator is told about after an adjustment, as a buyer after a sale that
/// leaves the shelf low: the factory order it opened, else the one open; none for a shelf above
/// its point or a retired product.
pub fn adjustment_restock(
    after: &CatalogueEntry,
    draft: &PurchaseDraft,
    open_order: Option<(crate::FactoryOrderId, crate::FactoryOrderStatus)>,
    opened: Option<&NewFactoryOrder>,
) -> Option<crate::RestockInfo> {
    let low = after.product.reorder.needs_reorder(after.product.stock) && !after.retired;
    low.then(|| crate::purchase::restock_info(draft, open_order, opened))
        .flatten()
}

fn name(name: &str) -> Result<(), InvalidInput> {
    let chars = name.trim().chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(InvalidInput::new(
            "name",
            format!("a name is 1 to {MAX_NAME_CHARS} printable characters"),
        ));
    }
    Ok(())
}

fn price(cents: i64) -> Result<(), InvalidInput> {
    if !(0..=MAX_PRICE_CENTS).contains(&cents) {
        return Err(InvalidInput::new(
            "price_cents",
            format!("a price is 0 to {MAX_PRICE_CENTS} cents"),
        ));
    }
    Ok(())
}

fn units(field: &'static str, n: u32) -> Result<(), InvalidInput> {
    if n > MAX_UNITS {
        return Err(InvalidInput::new(
            field,
            format!("at most {MAX_UNITS} units"),
        ));
    }
    Ok(())
}

fn reorder(rule: ReorderRule) -> Result<(), InvalidInput> {
    units("reorder_point", rule.point)?;
    units("reorder_qty", rule.quantity)
}

fn factory_product(id: &str) -> Result<(), InvalidInput> {
    if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_graphic()) {
        return Err(InvalidInput::new(
            "factory_product_id",
            "the factory's product id is 1 to 64 printable ASCII characters",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_adjustment_never_leaves_a_shelf_below_zero() {
        assert_eq!(Adjustment::By(-3).stock_after(5), Ok(2));
        assert_eq!(Adjustment::To(9).stock_after(5), Ok(9));
        assert_eq!(
            Adjustment::By(-6).stock_after(5),
            Err(AdjustmentRefused::BelowZero {
                stock: 5,
                after: -1
            })
        );
        assert!(Adjustment::By(i64::from(MAX_UNITS)).stock_after(1).is_err());
        assert!(
            Adjustment::By(i64::MAX).stock_after(1).is_err(),
            "no overflow"
        );
        let huge = StockChange {
            adjustment: Adjustment::By(i64::MIN),
            reason: "typo".into(),
        };
        assert!(huge.checked().is_err());
    }

    #[test]
    fn an_update_that_retires_is_audited_as_one() {
        let entry = CatalogueEntry {
            product: Product {
                id: ProductId::parse("glazed").unwrap(),
                name: "Glazed".into(),
                price_cents: 150,
                stock: 3,
                reorder: ReorderRule {
                    point: 1,
                    quantity: 5,
                },
                factory_product_id: "1".into(),
            },
            retired: false,
        };
        let retire = ProductChange {
            retired: Some(true),
            ..ProductChange::default()
        };
        let after = retire.apply(&entry);
        assert_eq!(AuditAction::of_update(&entry, &after), AuditAction::Retire);
        assert_eq!(AuditAction::of_update(&after, &entry), AuditAction::Restore);
        let price = ProductChange {
            price_cents: Some(175),
            ..ProductChange::default()
        };
        assert_eq!(
            AuditAction::of_update(&entry, &price.apply(&entry)),
            AuditAction::Update
        );
        assert!(
            ProductChange {
                price_cents: Some(-1),
                ..ProductChange::default()
            }
            .checked()
            .is_err()
        );
    }
}
