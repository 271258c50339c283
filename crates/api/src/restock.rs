//! The factory's callback: `POST /factory/callback/{factory_order_id}?token=…`.
//!
//! The token is checked before anything else is read: without it the caller learns nothing
//! and changes nothing. The stock added is the quantity *we* ordered, never a number from
//! the body; a repeated callback answers 200 and changes nothing.

use std::time::Instant;

use donut_domain::ports::RestockOutcome;
use donut_domain::{FactoryOrderId, ProductId, Restocks};
use donut_factory::{CallbackSigner, ManufactureRequest};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use tracing::Instrument;

use crate::contract::{CallbackAccepted, RestockStatus};
use crate::error::json_response;
use crate::{ApiError, ErrorCode, HttpHandler, json, segments};

pub struct RestockApi<W> {
    warehouse: W,
    signer: CallbackSigner,
    max_body_bytes: usize,
}

impl<W: Restocks + 'static> HttpHandler for RestockApi<W> {
    async fn handle(&self, request: Request) -> Response<Body> {
        RestockApi::handle(self, request).await
    }
}

impl<W: Restocks> RestockApi<W> {
    pub fn new(warehouse: W, signer: CallbackSigner, max_body_bytes: usize) -> Self {
        Self {
            warehouse,
            signer,
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
        match (request.method(), segments(request).as_slice()) {
            (&Method::POST, ["factory", "callback", id]) => self.callback(request, id).await,
            (_, ["factory", "callback", _]) => Err(ApiError::method_not_allowed("POST")),
            _ => Err(ApiError::route_not_found()),
        }
    }

    async fn callback(&self, request: &Request, raw_id: &str) -> Result<Response<Body>, ApiError> {
        let query = request.query_string_parameters();
        let token = query.first("token").unwrap_or("");
        if !self.signer.verify(raw_id, token) {
            tracing::warn!("callback refused: bad or missing token");
            donut_metrics::count(donut_metrics::Metric::CallbacksRefused, 1);
            return Err(ApiError::new(
                ErrorCode::Unauthorized,
                "the callback token is missing or not valid for this order",
            ));
        }
        let id = FactoryOrderId::parse(raw_id)
            .map_err(|_| ApiError::new(ErrorCode::UnknownFactoryOrder, "no such factory order"))?;
        let notice: ManufactureRequest = json::read(request, self.max_body_bytes)?;

        match self.warehouse.restock(id).await? {
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
                if notice.order_stock_cnt != added {
                    tracing::warn!(
                        factory_says = notice.order_stock_cnt,
                        ordered = added,
                        "factory reported another quantity; the ordered quantity was added"
                    );
                }
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
            RestockOutcome::UnknownOrder => Err(ApiError::new(
                ErrorCode::UnknownFactoryOrder,
                "no such factory order",
            )),
        }
    }
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
