//! The HTTP contract as Rust types: what the handlers send is these types serialised, and
//! the OpenAPI document (`openapi.json`, served at `GET /openapi.json`) is generated from
//! them, so the two cannot drift.

use donut_factory::ManufactureRequest;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

/// `POST /orders`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "product_id": "maple-bar", "quantity": 2 }))]
pub struct OrderRequest {
    /// 1 to 64 characters of `A-Z a-z 0-9 - _`.
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9_-]{1,64}$")]
    pub product_id: String,
    /// 1 to the stage's `maxQuantity` (the served document states the stage's value).
    #[schema(minimum = 1, maximum = 1000)]
    #[serde(deserialize_with = "integral")]
    pub quantity: i64,
}

/// A JSON number with no fractional part, as JSON Schema's `integer` means it: `7` and `7.0`
/// alike; `7.5`, strings and numbers beyond i64 are refused.
fn integral<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    if let Some(i) = n.as_i64() {
        return Ok(i);
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(f as i64),
        _ => Err(serde::de::Error::custom(format!(
            "quantity must be a whole number, got {n}"
        ))),
    }
}

/// [`integral`] for a field of another integer type (`u32`): out of its range is an error.
fn whole<'de, D: serde::Deserializer<'de>, T: TryFrom<i64>>(d: D) -> Result<T, D::Error> {
    let n = integral(d)?;
    T::try_from(n).map_err(|_| serde::de::Error::custom(format!("{n} is out of range")))
}

/// [`whole`] for an optional field (absent or `null`: none).
fn whole_opt<'de, D: serde::Deserializer<'de>, T: TryFrom<i64>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    #[derive(Deserialize)]
    struct Whole(#[serde(deserialize_with = "integral")] i64);
    match Option::<Whole>::deserialize(d)? {
        None => Ok(None),
        Some(Whole(n)) => T::try_from(n)
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("{n} is out of range"))),
    }
}

/// A product id in a path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ProductPath {
    /// Product id: 1 to 64 characters of `A-Z a-z 0-9 - _`.
    #[param(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9_-]{1,64}$")]
    pub id: String,
}

/// The state of a factory order, as far as a buyer needs to know.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RestockStatus {
    Open,
    Requested,
    Fulfilled,
    Cancelled,
}

/// The factory order that refills the product.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Restock {
    #[schema(format = "uuid")]
    pub factory_order_id: String,
    pub status: RestockStatus,
    /// True when this very request opened it.
    pub opened_now: bool,
}

/// 200 to `POST /orders`: sold.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({ "order_id": "0b6c3a4e-6f4e-4b8a-9c8e-2f1d3c4b5a69", "product_id": "maple-bar",
    "quantity": 2, "remaining": 38, "restock": null }))]
pub struct Sold {
    #[schema(format = "uuid")]
    pub order_id: String,
    pub product_id: String,
    pub quantity: u32,
    /// Units left after this sale.
    pub remaining: u32,
    /// Set when stock is at or below the reorder point and a factory order covers it.
    pub restock: Option<Restock>,
}

/// What went wrong, for a program (`code`) and a person (`message`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// e.g. `invalid_quantity`, `unknown_product`, `out_of_stock`, `warehouse_unavailable`.
    pub code: String,
    pub message: String,
}

/// Every 4xx and 5xx answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({ "error": { "code": "invalid_quantity", "message": "quantity must be an integer from 1 to 10" } }))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// 409 to `POST /orders` while a purchase with the same `Idempotency-Key` is in flight
/// (`idempotency_key_in_flight`; retry after `Retry-After`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InFlightBody {
    pub error: ErrorDetail,
}

/// Every 409 to `POST /orders`: not enough stock, or the same key still in flight.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum OrderConflict {
    OutOfStock(OutOfStockBody),
    InFlight(InFlightBody),
}

/// An order in a path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct OrderPath {
    /// The order id `POST /orders` answered.
    #[param(format = "uuid")]
    pub order_id: String,
}

/// 200 to `GET /orders/{order_id}`: an order as it was sold.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OrderView {
    #[schema(format = "uuid")]
    pub order_id: String,
    pub product_id: String,
    pub quantity: u32,
    /// Integer cents, the price when it was sold.
    pub unit_price_cents: i64,
    /// `quantity × unit_price_cents`.
    pub total_cents: i64,
    /// When it was sold (UTC, RFC 3339).
    #[schema(format = "date-time")]
    pub created_at: String,
    /// The `Idempotency-Key` it was bought with: told only to its buyer, on a stage whose
    /// buyers sign in (`buyerAuth`); null otherwise.
    pub idempotency_key: Option<String>,
}

/// 409 to `POST /orders`: not enough stock.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OutOfStockBody {
    pub error: ErrorDetail,
    /// Units on the shelf when the order was refused.
    pub available: u32,
    /// The factory order that will refill the shelf, if one is open.
    pub restock: Option<Restock>,
}

/// A product and its stock.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProductView {
    pub product_id: String,
    pub name: String,
    /// Integer cents.
    pub price_cents: i64,
    pub stock: u32,
    pub reorder_point: u32,
    pub reorder_quantity: u32,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProductList {
    pub products: Vec<ProductView>,
}

/// 200 to the factory's callback.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CallbackAccepted {
    #[schema(format = "uuid")]
    pub factory_order_id: String,
    pub product_id: String,
    /// Always `fulfilled`.
    pub status: RestockStatus,
    /// Units this callback added (0 for a repeated callback).
    pub added: u32,
    /// Stock after the restock; absent for a repeated callback.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stock: Option<u32>,
    pub already_fulfilled: bool,
}

#[utoipa::path(
    post, path = "/orders", tag = "sales",
    summary = "Buy donuts",
    description = "Sells `quantity` units if the shelf has them (atomically); otherwise 409, and a factory order is opened if none is. With an `Idempotency-Key`, a retry of a sale answers what the sale answered (the same order id, `Idempotent-Replayed: true`) and sells nothing; only sales are recorded: a retry of a refused request (409, 404, 400, 503) is processed anew, since a refusal changed nothing and stock may have come back since.",
    request_body(content = OrderRequest, content_type = "application/json"),
    params(
        ("x-correlation-id" = Option<String>, Header, description = "Follow this purchase through the logs (1–128 visible ASCII characters); echoed back"),
        ("Idempotency-Key" = Option<String>, Header, pattern = r#"^([ !#-\[\]-~]{1,255}|"([ !#-\[\]-~]|\\["\\]){1,255}")$"#, description = "One key per logical purchase, the same on every retry: 1–255 printable ASCII characters, bare (no `\"` or `\\`) or as a quoted string; kept for the stage's `idempotencyKeyHours` (24 h)"),
    ),
    responses(
        (status = 200, description = "Sold (or, for a retry under the same key, sold before)", body = Sold),
        (status = 400, description = "Malformed body, bad product id or quantity, body over the size limit, or a malformed Idempotency-Key", body = ErrorBody),
        (status = 401, description = "No token, or one API Gateway's JWT authorizer refuses (a stage with `buyerAuth`)", body = IamRefusal),
        (status = 403, description = "A token that names no buyer (no `sub`)", body = ErrorBody),
        (status = 404, description = "Unknown product", body = ErrorBody),
        (status = 409, description = "Not enough stock; or a purchase with the same Idempotency-Key is still in flight (retry after Retry-After)", body = OrderConflict),
        (status = 422, description = "The Idempotency-Key was used for another request (by this buyer, on a stage whose buyers sign in)", body = ErrorBody),
        (status = 415, description = "Body not sent as application/json", body = ErrorBody),
        (status = 503, description = "The warehouse cannot be reached; retry", body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn post_order() {}

#[utoipa::path(
    get, path = "/products", tag = "sales", summary = "All products and their stock",
    responses(
        (status = 200, description = "Products", body = ProductList),
        (status = 503, description = "The warehouse cannot be reached; retry", body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn list_products() {}

#[utoipa::path(
    get, path = "/orders/{order_id}", tag = "sales", summary = "One order, as it was sold",
    description = "On a stage whose buyers sign in (`buyerAuth`: API Gateway's JWT authorizer, a bearer token in `Authorization`), an order is its buyer's: to anyone else it is unknown (404). Without it, anyone with the order id sees the order, never its key.",
    params(OrderPath),
    responses(
        (status = 200, description = "The order", body = OrderView),
        (status = 400, description = "Not an order id", body = ErrorBody),
        (status = 401, description = "No token, or one API Gateway's JWT authorizer refuses (a stage with `buyerAuth`)", body = IamRefusal),
        (status = 403, description = "A token that names no buyer (no `sub`)", body = ErrorBody),
        (status = 404, description = "Unknown order, or another buyer's", body = ErrorBody),
        (status = 503, description = "The warehouse cannot be reached; retry", body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn get_order() {}

#[utoipa::path(
    get, path = "/products/{id}", tag = "sales", summary = "One product and its stock",
    params(ProductPath),
    responses(
        (status = 200, description = "The product", body = ProductView),
        (status = 400, description = "Not a valid product id", body = ErrorBody),
        (status = 404, description = "Unknown product", body = ErrorBody),
        (status = 503, description = "The warehouse cannot be reached; retry", body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn get_product() {}

#[utoipa::path(
    post, path = "/factory/callback/{factory_order_id}", tag = "factory",
    summary = "The legacy factory's production-done notice",
    description = "The URL is the capability the factory was given with the order: it names the order, the quantity ordered, its expiry and the key that signed it. Adds the quantity we ordered, once, for an order the factory was asked for; repeats answer 200 and change nothing.",
    params(
        ("factory_order_id" = String, Path, description = "The factory order"),
        ("q" = u32, Query, description = "The quantity ordered"),
        ("exp" = u64, Query, description = "Expiry, Unix seconds"),
        ("kid" = String, Query, description = "Id of the key that signed the URL"),
        ("sig" = String, Query, description = "HMAC-SHA256 of the order id, quantity and expiry (lower-case hex)"),
    ),
    request_body(content = ManufactureRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Restocked (or already restocked)", body = CallbackAccepted),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "URL missing its signature, expired, or not valid for this order", body = ErrorBody),
        (status = 403, description = "A valid URL, but the factory was not asked for this order yet, or the quantity differs", body = ErrorBody),
        (status = 404, description = "Unknown factory order", body = ErrorBody),
        (status = 415, description = "Body not sent as application/json", body = ErrorBody),
        (status = 503, description = "The warehouse cannot be reached; retry", body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn factory_callback() {}

// ---- The operators' API (`/admin/…`): IAM-authorized by API Gateway (SigV4). ----

/// A product as operators see it: retired ones too.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct AdminProduct {
    pub product_id: String,
    pub name: String,
    pub price_cents: i64,
    pub stock: u32,
    pub reorder_point: u32,
    pub reorder_quantity: u32,
    /// The product's id in the legacy factory's catalogue.
    pub factory_product_id: String,
    /// A retired product is not listed to buyers and sells nothing (404); its stock is kept.
    pub retired: bool,
}

/// 200 to `GET /admin/products`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AdminProductList {
    pub products: Vec<AdminProduct>,
}

/// `POST /admin/products`: a new product.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "product_id": "french-cruller", "name": "French Cruller", "price_cents": 195,
    "stock": 24, "reorder_point": 4, "reorder_quantity": 24, "factory_product_id": "7" }))]
pub struct NewProductRequest {
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9_-]{1,64}$")]
    pub product_id: String,
    /// 1 to 128 characters, not all spaces, no control characters.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub name: String,
    #[schema(minimum = 0, maximum = 100000000)]
    #[serde(deserialize_with = "integral")]
    pub price_cents: i64,
    #[schema(minimum = 0, maximum = 1000000)]
    #[serde(deserialize_with = "whole")]
    pub stock: u32,
    #[schema(minimum = 0, maximum = 1000000)]
    #[serde(deserialize_with = "whole")]
    pub reorder_point: u32,
    #[schema(minimum = 0, maximum = 1000000)]
    #[serde(deserialize_with = "whole")]
    pub reorder_quantity: u32,
    /// 1 to 64 printable ASCII characters.
    #[schema(min_length = 1, max_length = 64, pattern = "^[!-~]{1,64}$")]
    pub factory_product_id: String,
}

/// `PATCH /admin/products/{id}`: what changes; a field left out stays. Stock changes through
/// `POST /admin/products/{id}/stock`, with a reason.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "price_cents": 210 }))]
pub struct ProductPatch {
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub name: Option<String>,
    #[schema(minimum = 0, maximum = 100000000)]
    #[serde(default, deserialize_with = "whole_opt")]
    pub price_cents: Option<i64>,
    #[schema(minimum = 0, maximum = 1000000)]
    #[serde(default, deserialize_with = "whole_opt")]
    pub reorder_point: Option<u32>,
    #[schema(minimum = 0, maximum = 1000000)]
    #[serde(default, deserialize_with = "whole_opt")]
    pub reorder_quantity: Option<u32>,
    #[schema(min_length = 1, max_length = 64, pattern = "^[!-~]{1,64}$")]
    pub factory_product_id: Option<String>,
    /// `true` retires the product, `false` brings it back.
    pub retired: Option<bool>,
}

/// `POST /admin/products/{id}/stock`: by a delta or to a count, and why.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum StockRequest {
    By(StockDelta),
    To(StockCount),
}

/// Units added (positive) or taken away (negative): a delivery, breakage.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "delta": -3, "reason": "a tray dropped" }))]
pub struct StockDelta {
    #[schema(minimum = -1000000, maximum = 1000000)]
    #[serde(deserialize_with = "integral")]
    pub delta: i64,
    /// 1 to 512 characters, not all spaces, no control characters.
    #[schema(
        min_length = 1,
        max_length = 512,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub reason: String,
}

/// The shelf was counted: it holds `count`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "count": 40, "reason": "counted at closing" }))]
pub struct StockCount {
    #[schema(minimum = 0, maximum = 1000000)]
    #[serde(deserialize_with = "whole")]
    pub count: u32,
    #[schema(
        min_length = 1,
        max_length = 512,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub reason: String,
}

/// The answer to a catalogue or stock change.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CatalogueChange {
    pub product: AdminProduct,
    /// False when the product already was as asked (nothing audited).
    pub changed: bool,
    /// An adjustment that left the shelf at or below its reorder point: the factory order it
    /// opened (`opened_now`) or found open.
    pub restock: Option<Restock>,
}

/// One audited change.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditView {
    pub id: u64,
    /// RFC 3339, UTC.
    pub at: String,
    /// The caller's IAM ARN.
    pub actor: String,
    /// create, update, retire, restore or adjust (the catalogue); re_request or cancel (a
    /// factory order of the product).
    pub action: String,
    pub product_id: String,
    /// The factory order a re_request or cancel acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factory_order_id: Option<String>,
    /// The product (or factory order) before (none for a creation).
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    #[schema(value_type = Object)]
    pub after: serde_json::Value,
    pub reason: Option<String>,
    /// The request's correlation id (the server's).
    pub correlation_id: String,
    /// What the caller sent as `x-correlation-id` (an incident's or a ticket's id), cleaned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// 200 to `GET /admin/audit`, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditList {
    pub entries: Vec<AuditView>,
}

/// `?product_id=&limit=` of `GET /admin/audit`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only this product's changes.
    #[param(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9_-]{1,64}$")]
    pub product_id: Option<String>,
    /// At most this many (1–500; 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// A factory order as operators see it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FactoryOrderView {
    #[schema(format = "uuid")]
    pub factory_order_id: String,
    pub product_id: String,
    pub factory_product_id: String,
    pub quantity: u32,
    /// open, requested, fulfilled or cancelled.
    pub status: String,
    pub factory_request_id: Option<String>,
    pub correlation_id: String,
    pub request_attempts: u32,
    pub chases: u32,
    /// Seconds since it was opened (in the list of unfinished orders).
    pub age_seconds: Option<u64>,
}

/// 200 to `GET /admin/factory-orders`: the unfinished, oldest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FactoryOrderList {
    pub factory_orders: Vec<FactoryOrderView>,
}

/// A factory order id in a path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct FactoryOrderPath {
    #[param(format = "uuid")]
    pub factory_order_id: String,
}

/// What a re-request or a cancel did.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FactoryOrderAction {
    #[schema(format = "uuid")]
    pub factory_order_id: String,
    /// `done` (changed; `was` says from what), `unchanged` (already final: `was` is its state),
    /// `in_flight` (asked for `asked_seconds_ago`: still on its way, nothing done).
    pub outcome: String,
    pub was: Option<String>,
    pub asked_seconds_ago: Option<u64>,
}

#[utoipa::path(get, path = "/admin/products", tag = "operators", summary = "The catalogue, retired products too",
    description = "Operators only (IAM, SigV4).",
    responses((status = 200, description = "Every product", body = AdminProductList),
        (status = 403, description = "Not signed, or not allowed (API Gateway)", body = IamRefusal),
        (status = 503, description = "The warehouse cannot be reached; retry", body = ErrorBody)))]
#[allow(dead_code)]
fn admin_list_products() {}

#[utoipa::path(post, path = "/admin/products", tag = "operators", summary = "Put a new product on the shelf",
    description = "Operators only (IAM, SigV4). Audited with the caller's IAM ARN. With an `Idempotency-Key`, a retry of a change answers what the change answered (`Idempotent-Replayed: true`) and changes nothing; a change that changed nothing or was refused is not recorded. A key is the caller's own: another operator's same key is another change.",
    params(("Idempotency-Key" = Option<String>, Header, pattern = r#"^([ !#-\[\]-~]{1,255}|"([ !#-\[\]-~]|\\["\\]){1,255}")$"#, description = "One key per change, the same on every retry, the caller's own: 1–255 printable ASCII characters, bare or as a quoted string; kept for the stage's `idempotencyKeyHours` (24 h)")),
    request_body(content = NewProductRequest, content_type = "application/json"),
    responses((status = 201, description = "Created", body = CatalogueChange),
        (status = 400, description = "A field out of its range, an unknown field, malformed JSON, a malformed Idempotency-Key", body = ErrorBody),
        (status = 403, description = "Not signed, or not allowed (API Gateway)", body = IamRefusal),
        (status = 409, description = "A product with this id exists; or a change with the same Idempotency-Key is in flight (retry after Retry-After)", body = ErrorBody),
        (status = 422, description = "The Idempotency-Key was used by the caller for another request", body = ErrorBody),
        (status = 415, description = "Body not sent as application/json", body = ErrorBody),
        (status = 503, description = "The warehouse cannot be reached; retry", body = ErrorBody)))]
#[allow(dead_code)]
fn admin_create_product() {}

#[utoipa::path(get, path = "/admin/products/{id}", tag = "operators", summary = "One product, retired or not",
    description = "Operators only (IAM, SigV4).", params(ProductPath),
    responses((status = 200, description = "The product", body = AdminProduct),
        (status = 400, description = "Not a valid product id", body = ErrorBody),
        (status = 403, description = "Not signed, or not allowed (API Gateway)", body = IamRefusal),
        (status = 404, description = "Unknown product", body = ErrorBody),
        (status = 503, description = "The warehouse cannot be reached; retry", body = ErrorBody)))]
#[allow(dead_code)]
fn admin_get_product() {}

#[utoipa::path(patch, path = "/admin/products/{id}", tag = "operators", summary = "Change a product: name, price, reorder settings, retire or bring back",
    description = "Operators only (IAM, SigV4). Audited (`update`, `retire`, `restore`) with the caller's IAM ARN; nothing is audited when nothing changes. With an `Idempotency-Key`, a retry of a change answers what the change answered (`Idempotent-Replayed: true`) and changes nothing; a change that changed nothing or was refused is not recorded. A key is the caller's own: another operator's same key is another change.",
    params(ProductPath, ("Idempotency-Key" = Option<String>, Header, pattern = r#"^([ !#-\[\]-~]{1,255}|"([ !#-\[\]-~]|\\["\\]){1,255}")$"#, description = "One key per change, the same on every retry, the caller's own: 1–255 printable ASCII characters, bare or as a quoted string; kept for the stage's `idempotencyKeyHours` (24 h)")), request_body(content = ProductPatch, content_type = "application/json"),
    responses((status = 200, description = "Changed, or already so", body = CatalogueChange),
        (status = 400, description = "A field out of its range, an unknown field, malformed JSON, a malformed Idempotency-Key", body = ErrorBody),
        (status = 403, description = "Not signed, or not allowed (API Gateway)", body = IamRefusal),
        (status = 404, description = "Unknown product", body = ErrorBody),
        (status = 409, description = "A change with the same Idempotency-Key is in flight (retry after Retry-After)", body = ErrorBody),
        (status = 422, description = "The Idempotency-Key was used by the caller for another request", body = ErrorBody),
        (status = 415, description = "Body not sent as application/json", body = ErrorBody),
        (status = 503, description = "The warehouse cannot be reached; retry", body = ErrorBody)))]
#[allow(dead_code)]
fn admin_patch_product() {}

#[utoipa::path(post, path = "/admin/products/{id}/stock", tag = "operators", summary = "Adjust a shelf's stock, with a reason",
    description = "Operators only (IAM, SigV4). By a `delta` or to a `count`, under the product's row lock (no sale in between). A shelf left at or below its reorder point opens its factory order as a sale does. Audited (`adjust`, with the reason). With an `Idempotency-Key`, a retry of a change answers what the change answered (`Idempotent-Replayed: true`) and changes nothing; a change that changed nothing or was refused is not recorded. A key is the caller's own: another operator's same key is another change.",
    params(ProductPath, ("Idempotency-Key" = Option<String>, Header, pattern = r#"^([ !#-\[\]-~]{1,255}|"([ !#-\[\]-~]|\\["\\]){1,255}")$"#, description = "One key per change, the same on every retry, the caller's own: 1–255 printable ASCII characters, bare or as a quoted string; kept for the stage's `idempotencyKeyHours` (24 h)")), request_body(content = StockRequest, content_type = "application/json"),
    responses((status = 200, description = "Adjusted", body = CatalogueChange),
        (status = 400, description = "Not exactly one of delta and count, no reason, malformed JSON, a malformed Idempotency-Key", body = ErrorBody),
        (status = 403, description = "Not signed, or not allowed (API Gateway)", body = IamRefusal),
        (status = 404, description = "Unknown product", body = ErrorBody),
        (status = 409, description = "The adjustment would leave the shelf below zero or above its limit; or a change with the same Idempotency-Key is in flight (retry after Retry-After)", body = ErrorBody),
        (status = 422, description = "The Idempotency-Key was used by the caller for another request", body = ErrorBody),
        (status = 415, description = "Body not sent as application/json", body = ErrorBody),
        (status = 503, description = "The warehouse cannot be reached; retry", body = ErrorBody)))]
#[allow(dead_code)]
fn admin_adjust_stock() {}

#[utoipa::path(get, path = "/admin/audit", tag = "operators", summary = "The catalogue's audit trail, newest first",
    description = "Operators only (IAM, SigV4).", params(AuditQuery),
    responses((status = 200, description = "Audited changes", body = AuditList),
        (status = 400, description = "A bad product id or limit", body = ErrorBody),
        (status = 403, description = "Not signed, or not allowed (API Gateway)", body = IamRefusal),
        (status = 503, description = "The warehouse cannot be reached; retry", body = ErrorBody)))]
#[allow(dead_code)]
fn admin_audit() {}

#[utoipa::path(get, path = "/admin/factory-orders", tag = "operators", summary = "Unfinished factory orders, oldest first",
    description = "Operators only (IAM, SigV4). At most 500.",
    responses((status = 200, description = "Open and requested orders, with their age", body = FactoryOrderList),
        (status = 403, description = "Not signed, or not allowed (API Gateway)", body = IamRefusal),
        (status = 503, description = "The warehouse cannot be reached; retry", body = ErrorBody)))]
#[allow(dead_code)]
fn admin_factory_orders() {}

#[utoipa::path(get, path = "/admin/factory-orders/{factory_order_id}", tag = "operators", summary = "One factory order",
    description = "Operators only (IAM, SigV4).", params(FactoryOrderPath),
    responses((status = 200, description = "The order", body = FactoryOrderView),
        (status = 400, description = "Not a factory order id", body = ErrorBody),
        (status = 403, description = "Not signed, or not allowed (API Gateway)", body = IamRefusal),
        (status = 404, description = "Unknown factory order", body = ErrorBody),
        (status = 503, description = "The warehouse cannot be reached; retry", body = ErrorBody)))]
#[allow(dead_code)]
fn admin_factory_order() {}

#[utoipa::path(post, path = "/admin/factory-orders/{factory_order_id}/re-request", tag = "operators", summary = "Ask the factory again",
    description = "Operators only (IAM, SigV4). Back to `open`, its stock-out published again; an order asked for within the queue's visibility timeout is left alone (`in_flight`), so a retry changes nothing. Audited (`re_request`).",
    params(FactoryOrderPath),
    responses((status = 200, description = "What was done", body = FactoryOrderAction),
        (status = 400, description = "Not a factory order id", body = ErrorBody),
        (status = 403, description = "Not signed, or not allowed (API Gateway)", body = IamRefusal),
        (status = 404, description = "Unknown factory order", body = ErrorBody),
        (status = 503, description = "The warehouse cannot be reached; retry", body = ErrorBody)))]
#[allow(dead_code)]
fn admin_re_request() {}

#[utoipa::path(post, path = "/admin/factory-orders/{factory_order_id}/cancel", tag = "operators", summary = "Give up on a factory order",
    description = "Operators only (IAM, SigV4). `cancelled`: the product's next stock-out opens a new order; a callback that still comes adds its stock. A retry answers `unchanged`. Audited (`cancel`).",
    params(FactoryOrderPath),
    responses((status = 200, description = "What was done", body = FactoryOrderAction),
        (status = 400, description = "Not a factory order id", body = ErrorBody),
        (status = 403, description = "Not signed, or not allowed (API Gateway)", body = IamRefusal),
        (status = 404, description = "Unknown factory order", body = ErrorBody),
        (status = 503, description = "The warehouse cannot be reached; retry", body = ErrorBody)))]
#[allow(dead_code)]
fn admin_cancel() {}

/// API Gateway's own 403 to an IAM route (no function ran).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct IamRefusal {
    /// `Forbidden`, or why the signature or the caller was refused.
    pub message: String,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Donut-States API", description = "Sales API, the legacy factory's callback, and the operators' API (IAM).", version = "1.0.0"),
    paths(post_order, get_order, list_products, get_product, factory_callback,
        admin_list_products, admin_create_product, admin_get_product, admin_patch_product,
        admin_adjust_stock, admin_audit, admin_factory_orders, admin_factory_order,
        admin_re_request, admin_cancel),
    components(schemas(OrderRequest, Sold, Restock, RestockStatus, ErrorBody, ErrorDetail, OutOfStockBody, InFlightBody, OrderConflict, OrderView, ProductView, ProductList, CallbackAccepted, ManufactureRequest,
        AdminProduct, AdminProductList, NewProductRequest, ProductPatch, StockRequest, StockDelta, StockCount, CatalogueChange, AuditView, AuditList, FactoryOrderView, FactoryOrderList, FactoryOrderAction, IamRefusal)),
    tags((name = "sales", description = "Buying donuts"), (name = "factory", description = "The legacy factory's callback"), (name = "operators", description = "Running the shop: IAM-authorized (SigV4)")),
)]
pub struct ApiDoc;

/// The OpenAPI document for a stage whose largest order is `max_quantity`, pretty-printed.
/// `openapi.json` holds the dev stage's.
pub fn openapi_json(max_quantity: u32) -> String {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the document serialises");
    doc["components"]["schemas"]["OrderRequest"]["properties"]["quantity"]["maximum"] =
        max_quantity.into();
    let mut text = serde_json::to_string_pretty(&doc).expect("the document serialises");
    text.push('\n');
    text
}
