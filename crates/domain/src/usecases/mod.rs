//! The use-case layer: every operation the system performs is one function here, over the
//! small ports of [`crate::ports`]. The HTTP handlers, the queue consumer, the scheduled
//! functions' builders and the local stack call these and nothing below them; the rules
//! themselves live in the domain's types (`purchase`, `catalogue`, `factory`) and are called
//! by every adapter alike.
//!
//! | operation | function | ports |
//! |---|---|---|
//! | buy | [`purchase`] | [`Shelves`](crate::Shelves) |
//! | the shelves, an order | [`products`], [`product`], [`order`] | [`Shelves`](crate::Shelves) |
//! | the factory's callback | [`restock`] (rule: [`restock_refusal`]) | [`Restocks`](crate::Restocks) |
//! | ask the factory | [`request_from_factory`] | [`FactoryOrders`](crate::FactoryOrders), [`FactoryApi`](crate::FactoryApi) |
//! | relay stock-outs | [`relay_once`], [`relay_until_drained`] | [`Outbox`](crate::Outbox), [`EventPublisher`](crate::EventPublisher) |
//! | chase the factory | [`watchdog_sweep`] | [`OverdueOrders`](crate::OverdueOrders), [`FactoryApi`](crate::FactoryApi), [`Alerts`](crate::Alerts) |
//! | sweep buyers' keys | [`sweep_expired_keys`], [`oldest_expired_key`] | [`ExpiredKeys`](crate::ExpiredKeys) |
//! | the catalogue | [`catalogue`], [`catalogue_entry`], [`create_product`], [`update_product`] | [`Catalogue`](crate::Catalogue) |
//! | a shelf's stock | [`adjust_stock`] | [`Catalogue`](crate::Catalogue) |
//! | the audit trail | [`audit_trail`] | [`Catalogue`](crate::Catalogue) |
//! | factory orders (ops) | [`unfinished_factory_orders`], [`factory_order`], [`re_request_order`], [`cancel_order`] | [`Catalogue`](crate::Catalogue), [`FactoryOrders`](crate::FactoryOrders), [`FactoryOrderOps`](crate::FactoryOrderOps) |

mod factory;
mod keys;
mod operators;
mod relay;
mod restock;
mod sales;
mod watchdog;

pub use factory::{RequestError, RequestOutcome, request_from_factory};
pub use keys::{KEY_SWEEP_BATCH, KEY_SWEEP_BATCHES, oldest_expired_key, sweep_expired_keys};
pub use operators::{
    adjust_stock, audit_trail, cancel_order, catalogue, catalogue_entry, create_product,
    factory_order, re_request_order, unfinished_factory_orders, update_product,
};
pub use relay::{BATCH, CORRUPT_ROW_DELAY, publish_retry_delay, relay_once, relay_until_drained};
pub use restock::{CallbackTarget, restock, restock_refusal};
pub use sales::{order, product, products, purchase};
pub use watchdog::{WatchdogPolicy, WatchdogReport, watchdog_sweep};
