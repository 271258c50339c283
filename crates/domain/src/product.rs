//! Products on the warehouse shelf and when to ask the factory for more.

use serde::{Deserialize, Serialize};

use crate::ProductId;

/// When to reorder and how much: reorder once stock is at or below `point`, asking for
/// `quantity` units. `quantity` is per product, from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReorderRule {
    pub point: u32,
    pub quantity: u32,
}

impl ReorderRule {
    /// Whether stock left after a purchase (or found when a purchase failed) calls for a
    /// factory order.
    pub fn needs_reorder(&self, stock_left: u32) -> bool {
        stock_left <= self.point
    }
}

/// A product as the warehouse knows it. Prices are integer cents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    pub id: ProductId,
    pub name: String,
    pub price_cents: i64,
    pub stock: u32,
    pub reorder: ReorderRule,
    /// The product's id in the legacy factory's catalogue.
    pub factory_product_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reorders_at_or_below_the_point() {
        let rule = ReorderRule {
            point: 2,
            quantity: 10,
        };
        assert!(rule.needs_reorder(0));
        assert!(rule.needs_reorder(2));
        assert!(!rule.needs_reorder(3));
        let never_early = ReorderRule {
            point: 0,
            quantity: 10,
        };
        assert!(never_early.needs_reorder(0));
        assert!(!never_early.needs_reorder(1));
    }
}
