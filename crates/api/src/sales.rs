//! The Sales API: `POST /orders` (with an optional `Idempotency-Key`), `GET /orders/{order_id}`,
//! `GET /products`, `GET /products/{id}`.

use donut_domain::usecases;
use donut_domain::{
    Buyer, ClientReference, CorrelationId, FactoryOrderStatus, IdempotencyKey, InvalidInput,
    OrderId, Product, ProductId, PurchaseOutcome, PurchaseRequest, Quantity, RestockInfo, Sale,
    Shelves,
};
use lambda_http::http::{Method, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};

use crate::contract::{
    OrderRequest, OrderView, ProductList, ProductView, Restock, RestockStatus, Sold,
};
use crate::error::json_response;
use crate::{
    ApiError, CORRELATION_HEADER, ErrorCode, HttpHandler, json, path_parameter, route_of, served,
};
use donut_contract::routes::paths::{ORDER, ORDERS, PRODUCT, PRODUCTS};

/// What a buyer may ask for.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest quantity in one order.
    pub max_quantity: u32,
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
}

/// Generous limits for tests and tools. A deployed function has no default: it takes its
/// stage's `maxQuantity` and `maxBodyBytes` from its settings (donut_contract::settings).
impl Default for Limits {
    fn default() -> Self {
        Self {
            max_quantity: 100,
            max_body_bytes: 16 * 1024,
        }
    }
}

/// What to do right after a purchase opened a factory order: publish its stock-out event (the
/// outbox row `event_id`) at once — best effort; the sweeper catches what this misses.
pub trait AfterStockOut: Send + Sync {
    fn after_stock_out(&self, event_id: uuid::Uuid)
    -> impl std::future::Future<Output = ()> + Send;
}

/// Nothing: leave the outbox to the sweeper.
impl AfterStockOut for () {
    async fn after_stock_out(&self, _: uuid::Uuid) {}
}

pub struct SalesApi<W, N = ()> {
    warehouse: W,
    limits: Limits,
    after_stock_out: N,
}

impl<W: Shelves + 'static, N: AfterStockOut + 'static> HttpHandler for SalesApi<W, N> {
    async fn handle(&self, request: Request) -> Response<Body> {
        SalesApi::handle(self, request).await
    }
}

impl<W: Shelves> SalesApi<W> {
    pub fn new(warehouse: W, limits: Limits) -> Self {
        Self {
            warehouse,
            limits,
            after_stock_out: (),
        }
    }
}

impl<W: Shelves, N: AfterStockOut> SalesApi<W, N> {
    pub fn with_after_stock_out<M: AfterStockOut>(self, after_stock_out: M) -> SalesApi<W, M> {
        SalesApi {
            warehouse: self.warehouse,
            limits: self.limits,
            after_stock_out,
        }
    }

    pub async fn handle(&self, request: Request) -> Response<Body> {
        let correlation_id = CorrelationId::new();
        let span = tracing::info_span!(
            "sales_api",
            correlation_id = %correlation_id,
            client_reference = client_reference(&request).as_ref().map(ClientReference::as_str),
            method = %request.method(),
            path = %request.uri().path(),
        );
        served(span, &correlation_id, self.route(&request, &correlation_id)).await
    }

    async fn route(
        &self,
        request: &Request,
        correlation_id: &CorrelationId,
    ) -> Result<Response<Body>, ApiError> {
        match (request.method(), route_of(request)) {
            (&Method::POST, Some(ORDERS)) => self.purchase(request, correlation_id).await,
            (_, Some(ORDERS)) => Err(ApiError::method_not_allowed("POST")),
            (&Method::GET, Some(ORDER)) => {
                self.order(request, path_parameter(request, ORDER)).await
            }
            (_, Some(ORDER)) => Err(ApiError::method_not_allowed("GET")),
            (&Method::GET, Some(PRODUCTS)) => self.list().await,
            (&Method::GET, Some(PRODUCT)) => self.one(path_parameter(request, PRODUCT)).await,
            (_, Some(PRODUCTS | PRODUCT)) => Err(ApiError::method_not_allowed("GET")),
            _ => Err(ApiError::route_not_found()),
        }
    }

    async fn purchase(
        &self,
        request: &Request,
        correlation_id: &CorrelationId,
    ) -> Result<Response<Body>, ApiError> {
        let idempotency_key = idempotency_key(request)?;
        let buyer = buyer(request)?;
        let body: OrderRequest = json::read(request, self.limits.max_body_bytes)?;
        let purchase = PurchaseRequest {
            product_id: ProductId::parse(&body.product_id)
                .map_err(|e| ApiError::new(ErrorCode::InvalidProductId, e.to_string()))?,
            quantity: Quantity::parse(body.quantity, self.limits.max_quantity)
                .map_err(|e| ApiError::new(ErrorCode::InvalidQuantity, e.to_string()))?,
            correlation_id: correlation_id.clone(),
            idempotency_key,
            buyer,
        };
        let outcome = usecases::purchase(&self.warehouse, &purchase).await?;
        let stock_out = match &outcome {
            PurchaseOutcome::Sold(s) => s.restock.as_ref(),
            PurchaseOutcome::OutOfStock(o) => o.restock.as_ref(),
            // A retry's stock-out was published when its sale opened it.
            PurchaseOutcome::Replayed(_)
            | PurchaseOutcome::UnknownProduct(_)
            | PurchaseOutcome::KeyReused(_)
            | PurchaseOutcome::KeyInFlight(_) => None,
        }
        .and_then(|r| r.stock_out_event);
        if let Some(event_id) = stock_out {
            donut_metrics::count(donut_metrics::Metric::StockOuts, 1);
            self.after_stock_out.after_stock_out(event_id).await;
        }
        match outcome {
            PurchaseOutcome::Sold(sale) => {
                tracing::info!(
                    product_id = %sale.product_id,
                    quantity = sale.quantity.get(),
                    remaining = sale.remaining,
                    order_id = %sale.order_id,
                    "sold"
                );
                donut_metrics::count(
                    donut_metrics::Metric::OrdersSold,
                    u64::from(sale.quantity.get()),
                );
                Ok(json_response(StatusCode::OK, &sold(&sale)))
            }
            PurchaseOutcome::OutOfStock(refused) => {
                tracing::info!(
                    product_id = %refused.product_id,
                    requested = refused.requested.get(),
                    available = refused.available,
                    "out of stock"
                );
                donut_metrics::count(donut_metrics::Metric::OrdersRefused, 1);
                let message = match &refused.restock {
                    Some(_) => format!(
                        "{} left of {}; a factory order is open and stock will be back soon",
                        refused.available, refused.product_id
                    ),
                    None => format!("{} left of {}", refused.available, refused.product_id),
                };
                Err(ApiError::out_of_stock(
                    message,
                    refused.available,
                    refused.restock.as_ref().map(restock_view),
                ))
            }
            PurchaseOutcome::UnknownProduct(id) => Err(unknown_product(&id)),
            PurchaseOutcome::Replayed(sale) => {
                tracing::info!(order_id = %sale.order_id, "idempotent retry: the sale's answer again");
                Ok(replayed(json_response(StatusCode::OK, &sold(&sale))))
            }
            PurchaseOutcome::KeyReused(key) => Err(ApiError::new(
                ErrorCode::IdempotencyKeyReused,
                format!("Idempotency-Key \"{key}\" was used for another request"),
            )),
            PurchaseOutcome::KeyInFlight(key) => Err(ApiError::new(
                ErrorCode::IdempotencyKeyInFlight,
                format!(
                    "a purchase with Idempotency-Key {key:?} is still in flight; retry shortly"
                ),
            )),
        }
    }

    async fn order(&self, request: &Request, raw_id: &str) -> Result<Response<Body>, ApiError> {
        let id = OrderId::parse(raw_id)
            .map_err(|e| ApiError::new(ErrorCode::InvalidOrderId, e.to_string()))?;
        let caller = buyer(request)?;
        let order = usecases::order(&self.warehouse, id, caller.as_ref())
            .await?
            .ok_or_else(|| ApiError::new(ErrorCode::UnknownOrder, format!("no order {id}")))?;
        Ok(json_response(
            StatusCode::OK,
            &OrderView {
                order_id: order.order_id.to_string(),
                product_id: order.product_id.to_string(),
                quantity: order.quantity.get(),
                unit_price_cents: order.unit_price_cents,
                total_cents: order.total_cents(),
                created_at: order
                    .created_at
                    .format(&time::format_description::well_known::Rfc3339)
                    .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?,
                idempotency_key: order
                    .key_for(caller.as_ref())
                    .map(|k| k.as_str().to_owned()),
            },
        ))
    }

    async fn list(&self) -> Result<Response<Body>, ApiError> {
        let products = usecases::products(&self.warehouse).await?;
        let products = products.iter().map(product_view).collect();
        Ok(json_response(StatusCode::OK, &ProductList { products }))
    }

    async fn one(&self, raw_id: &str) -> Result<Response<Body>, ApiError> {
        let id = ProductId::parse(raw_id)
            .map_err(|e| ApiError::new(ErrorCode::InvalidProductId, e.to_string()))?;
        match usecases::product(&self.warehouse, &id).await? {
            Some(p) => Ok(json_response(StatusCode::OK, &product_view(&p))),
            None => Err(unknown_product(&id)),
        }
    }
}

/// The header a buyer sends its key for one logical purchase in.
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";

/// The request's `Idempotency-Key`, if it has one (400 when it is malformed).
pub(crate) fn idempotency_key(request: &Request) -> Result<Option<IdempotencyKey>, ApiError> {
    request
        .headers()
        .get(IDEMPOTENCY_KEY_HEADER)
        .map(|value| {
            value
                .to_str()
                .map_err(|_| InvalidInput::IdempotencyKey {
                    max: IdempotencyKey::MAX_LEN,
                })
                .and_then(IdempotencyKey::parse)
                .map_err(|e| ApiError::new(ErrorCode::InvalidIdempotencyKey, e.to_string()))
        })
        .transpose()
}

/// Marks an answer as a repeat's: the first request's answer, given again.
pub(crate) fn replayed(mut response: Response<Body>) -> Response<Body> {
    response.headers_mut().insert(
        REPLAYED_HEADER,
        lambda_http::http::HeaderValue::from_static("true"),
    );
    response
}

/// Set on a 200 that answers a retry with the answer of the sale its key made.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

fn sold(sale: &Sale) -> Sold {
    Sold {
        order_id: sale.order_id.to_string(),
        product_id: sale.product_id.to_string(),
        quantity: sale.quantity.get(),
        remaining: sale.remaining,
        restock: sale.restock.as_ref().map(restock_view),
    }
}

fn unknown_product(id: &ProductId) -> ApiError {
    ApiError::new(ErrorCode::UnknownProduct, format!("no product {id}"))
}

/// The buyer API Gateway's JWT authorizer let through (the token's `sub`), on a stage whose
/// buyers' routes have one; `None` on a stage without (its buyers are anonymous). A verified
/// token without a usable `sub` names nobody: refused rather than taken as anonymous.
pub(crate) fn buyer(request: &Request) -> Result<Option<Buyer>, ApiError> {
    let Some(RequestContext::ApiGatewayV2(context)) = request.request_context_ref() else {
        return Ok(None);
    };
    let Some(jwt) = context.authorizer.as_ref().and_then(|a| a.jwt.as_ref()) else {
        return Ok(None);
    };
    let sub = jwt
        .claims
        .get("sub")
        .map(String::as_str)
        .unwrap_or_default();
    Buyer::parse(sub).map(Some).map_err(|_| {
        ApiError::new(
            ErrorCode::Forbidden,
            "the token names no buyer: its sub claim must be 1 to 255 printable characters",
        )
    })
}

/// The caller's own correlation id (`x-correlation-id`), cleaned: kept beside ours, never as
/// ours (every correlation id is the server's: it reaches ops' logs and e-mails).
pub(crate) fn client_reference(request: &Request) -> Option<ClientReference> {
    request
        .headers()
        .get(CORRELATION_HEADER)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .and_then(|v| ClientReference::clean(&v))
}

pub(crate) fn restock_view(r: &RestockInfo) -> Restock {
    Restock {
        factory_order_id: r.factory_order_id.to_string(),
        status: match r.status {
            FactoryOrderStatus::Open => RestockStatus::Open,
            FactoryOrderStatus::Requested => RestockStatus::Requested,
            FactoryOrderStatus::Fulfilled => RestockStatus::Fulfilled,
            FactoryOrderStatus::Cancelled => RestockStatus::Cancelled,
        },
        opened_now: r.opened_now,
    }
}

fn product_view(p: &Product) -> ProductView {
    ProductView {
        product_id: p.id.to_string(),
        name: p.name.clone(),
        price_cents: p.price_cents,
        stock: p.stock,
        reorder_point: p.reorder.point,
        reorder_quantity: p.reorder.quantity,
    }
}
