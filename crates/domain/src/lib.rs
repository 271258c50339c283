//! The donut warehouse's core.
//!
//! Everything here is plain Rust: no AWS, Lambda or SQL types. The edges (MySQL, SNS, SQS,
//! the legacy Factory API, HTTP) implement the small traits in [`ports`] and call the
//! use cases in [`usecases`], the one layer every handler and builder calls.

pub mod catalogue;
pub mod events;
pub mod factory;
pub mod ids;
pub mod ports;
pub mod product;
pub mod purchase;
pub mod usecases;

pub use catalogue::{
    Adjustment, AuditAction, AuditEntry, CatalogueEntry, CatalogueOutcome, NewProduct, Operator,
    ProductChange, StockChange,
};
pub use events::StockOutEvent;
pub use factory::{
    FactoryOrder, FactoryOrderStatus, FactoryReceipt, FactoryRequest, NewFactoryOrder,
};
pub use ids::{
    Buyer, ClientReference, CorrelationId, FactoryOrderId, IdempotencyKey, InvalidInput, OrderId,
    ProductId, Quantity,
};
pub use ports::{
    Alerts, Catalogue, EventPublisher, ExpiredKeys, FactoryApi, FactoryError, FactoryOrderOps,
    FactoryOrders, OpsOutcome, Outbox, OverdueOrders, PublishError, Restocks, Shelves, StoreError,
};
pub use product::{Product, ReorderRule};
pub use purchase::{
    OutOfStock, PurchaseDraft, PurchaseOutcome, PurchaseRequest, RestockInfo, Sale, SoldOrder,
};
