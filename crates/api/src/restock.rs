//! The factory's callback: `POST /factory/callback/{factory_order_id}?q=…&exp=…&kid=…&sig=…`.
//!
//! The URL's signature is checked before anything else is read: without a valid, unexpired URL
//! for this order the caller learns nothing and changes nothing (401). A valid URL still
//! restocks only an order the factory was asked for, with the quantity the URL names, which
//! must be the body's and the order's (403 otherwise, logged). The stock added is the quantity
//! *we* ordered; a repeated callback answers 200 and changes nothing.

use std::time::Instant;

use donut_domain::ports::RestockOutcome;
use donut_domain::usecases;
use donut_domain::{FactoryOrderId, ProductId, Restocks};
use donut_factory::{CallbackKeys, CallbackQuery, ManufactureRequest};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use tracing::Instrument;

use crate::contract::{CallbackAccepted, RestockStatus};
use crate::error::json_response;
use donut_contract::routes::paths::FACTORY_CALLBACK;

use crate::{ApiError, ErrorCode, HttpHandler, json, path_parameter, route_of};

pub struct RestockApi<W> {
    warehouse: W,
    keys: CallbackKeys,
    max_body_bytes: usize,
}

impl<W: Restocks + 'static> HttpHandler for RestockApi<W> {
    async fn handle(&self, request: Request) -> Response<Body> {
        RestockApi::handle(self, request).await
    }
}

impl<W: Restocks> RestockApi<W> {
    pub fn new(warehouse: W, keys: impl Into<CallbackKeys>, max_body_bytes: usize) -> Self {
        Self {
            warehouse,
            keys: keys.into(),
            max_body_bytes,
        }
    }

    pub async fn handle(&self, request: Request) -> Response<Body> {
        // The correlation id is the factory order's; it is known once the order is found.
        let span = tracing::info_span!("warehouse_restock", correlation_id = tracing::field::Empty);
        async {
            let started = Instant::now();
            let response = self
                .route(&request)
                .await
                .unwrap_or_else(ApiError::into_response);
            crate::count_server_error(&response);
            tracing::info!(
                status = response.status().as_u16(),
                latency_us = started.elapsed().as_micros() as u64,
                "callback served"
            );
            response
        }
        .instrument(span)
        .await
    }

    async fn route(&self, request: &Request) -> Result<Response<Body>, ApiError> {
        match (request.method(), route_of(request)) {
            (&Method::POST, Some(FACTORY_CALLBACK)) => {
                self.callback(request, path_parameter(request, FACTORY_CALLBACK))
                    .await
            }
            (_, Some(FACTORY_CALLBACK)) => Err(ApiError::method_not_allowed("POST")),
            _ => Err(ApiError::route_not_found()),
        }
    }

    async fn callback(&self, request: &Request, raw_id: &str) -> Result<Response<Body>, ApiError> {
        let query = request.query_string_parameters();
        let signer = self.keys.signer().await.map_err(|e| {
            tracing::error!(error = %e, "callback keys unavailable");
            ApiError::new(
                ErrorCode::CallbackKeysUnavailable,
                "the callback cannot be checked right now; try again shortly",
            )
        })?;
        let vouched = signer.verify(
            raw_id,
            &CallbackQuery {
                quantity: query.first("q"),
                expires: query.first("exp"),
                key_id: query.first("kid"),
                signature: query.first("sig"),
            },
        );
        let quantity = match vouched {
            Ok(quantity) => quantity,
            Err(refusal) => {
                // Which check failed is for the log: a forger learns nothing from the answer.
                tracing::warn!(reason = %refusal, "callback refused: bad, expired or missing token");
                donut_metrics::count(donut_metrics::Metric::CallbacksRefused, 1);
                return Err(ApiError::new(ErrorCode::Unauthorized, CALLBACK_REFUSED));
            }
        };
        let id = FactoryOrderId::parse(raw_id)
            .map_err(|_| ApiError::new(ErrorCode::UnknownFactoryOrder, "no such factory order"))?;
        let notice: ManufactureRequest = json::read(request, self.max_body_bytes)?;
        if notice.order_stock_cnt != quantity {
            return Err(forbidden(
                id,
                format!(
                    "the callback reports {} units but its URL was issued for {quantity}",
                    notice.order_stock_cnt
                ),
            ));
        }

        match usecases::restock(&self.warehouse, id, quantity).await? {
            RestockOutcome::Restocked {
                product_id,
                added,
                stock,
                correlation_id,
                waited,
            } => {
                tracing::Span::current().record("correlation_id", correlation_id.as_str());
                donut_metrics::count(donut_metrics::Metric::FactoryOrdersFulfilled, 1);
                donut_metrics::millis(donut_metrics::Metric::RestockLatency, waited);
                tracing::info!(%product_id, factory_order_id = %id, added, stock, "restocked");
                Ok(fulfilled(id, &product_id, added, Some(stock)))
            }
            RestockOutcome::AlreadyFulfilled {
                product_id,
                correlation_id,
            } => {
                tracing::Span::current().record("correlation_id", correlation_id.as_str());
                tracing::info!(%product_id, factory_order_id = %id, "duplicate callback ignored");
                Ok(fulfilled(id, &product_id, 0, None))
            }
            RestockOutcome::NotRequested { correlation_id } => {
                tracing::Span::current().record("correlation_id", correlation_id.as_str());
                Err(forbidden(
                    id,
                    "the factory was not asked for this order yet".to_owned(),
                ))
            }
            RestockOutcome::QuantityMismatch {
                ordered,
                correlation_id,
            } => {
                tracing::Span::current().record("correlation_id", correlation_id.as_str());
                Err(forbidden(
                    id,
                    format!("the order is for {ordered} units, the callback for {quantity}"),
                ))
            }
            RestockOutcome::UnknownOrder => Err(ApiError::new(
                ErrorCode::UnknownFactoryOrder,
                "no such factory order",
            )),
        }
    }
}

/// Every 401 to a callback: one text whatever failed (signature, expiry, key id, quantity in
/// the URL), so a forger cannot tell which check stopped it; the reason is logged.
pub const CALLBACK_REFUSED: &str = "the callback token is not valid for this order";

/// A callback with a valid URL that still may not restock: logged, counted, 403.
fn forbidden(id: FactoryOrderId, why: String) -> ApiError {
    tracing::warn!(factory_order_id = %id, reason = %why, "callback refused");
    donut_metrics::count(donut_metrics::Metric::CallbacksRefused, 1);
    ApiError::new(ErrorCode::Forbidden, why)
}

/// The answer to a callback: the order is fulfilled; `stock` is known when this callback
/// did the restock (None: an earlier one did, and this one changed nothing).
fn fulfilled(
    id: FactoryOrderId,
    product_id: &ProductId,
    added: u32,
    stock: Option<u32>,
) -> Response<Body> {
    json_response(
        StatusCode::OK,
        &CallbackAccepted {
            factory_order_id: id.to_string(),
            product_id: product_id.to_string(),
            status: RestockStatus::Fulfilled,
            added,
            stock,
            already_fulfilled: stock.is_none(),
        },
    )
}
