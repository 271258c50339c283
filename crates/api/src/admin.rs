//! The operators' API (`/admin/…`): the catalogue, stock adjustments, the audit trail and
//! factory orders. API Gateway's IAM authorization has verified the caller before this runs
//! (SigV4: unsigned or unauthorised calls get 403 there); the caller's IAM ARN, from the
//! event's `requestContext.authorizer.iam`, is who the audit names.

use std::time::Duration;

use donut_domain::ports::OpsOutcome;
use donut_domain::usecases;
use donut_domain::{
    Adjustment, AuditEntry, Catalogue, CatalogueEntry, CatalogueOutcome, FactoryOrder,
    FactoryOrderId, FactoryOrderOps, FactoryOrders, NewProduct, Operator, ProductChange, ProductId,
    ReorderRule, StockChange,
};
use lambda_http::http::{Method, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};

use crate::contract::{
    AdminProduct, AdminProductList, AuditList, AuditView, CatalogueChange, FactoryOrderAction,
    FactoryOrderList, FactoryOrderView, NewProductRequest, ProductPatch, StockRequest,
};
use crate::error::json_response;
use crate::sales::{AfterStockOut, client_reference, idempotency_key, replayed, restock_view};
use crate::{ApiError, ErrorCode, HttpHandler, json, path_parameter, route_of, served};
use donut_contract::routes::paths::{
    ADMIN_AUDIT, ADMIN_CANCEL, ADMIN_FACTORY_ORDER, ADMIN_FACTORY_ORDERS, ADMIN_PRODUCT,
    ADMIN_PRODUCTS, ADMIN_RE_REQUEST, ADMIN_STOCK,
};

/// Most rows one list answers.
const MAX_LIST: usize = 500;
/// The audit trail's page when none is asked for.
const AUDIT_PAGE: usize = 100;

pub struct AdminApi<W, N = ()> {
    warehouse: W,
    max_body_bytes: usize,
    /// A factory order asked for less than this long ago is not re-requested.
    re_request_not_within: Duration,
    after_stock_out: N,
}

impl<W, N> HttpHandler for AdminApi<W, N>
where
    W: Catalogue + FactoryOrders + FactoryOrderOps + 'static,
    N: AfterStockOut + 'static,
{
    async fn handle(&self, request: Request) -> Response<Body> {
        AdminApi::handle(self, request).await
    }
}

impl<W> AdminApi<W> {
    pub fn new(warehouse: W, max_body_bytes: usize, re_request_not_within: Duration) -> Self {
        Self {
            warehouse,
            max_body_bytes,
            re_request_not_within,
            after_stock_out: (),
        }
    }
}

impl<W, N> AdminApi<W, N>
where
    W: Catalogue + FactoryOrders + FactoryOrderOps,
    N: AfterStockOut,
{
    /// Publishes the stock-out of an order an adjustment opened at once (a re-request's is
    /// published by the relay's next sweep).
    pub fn with_after_stock_out<M: AfterStockOut>(self, after_stock_out: M) -> AdminApi<W, M> {
        AdminApi {
            warehouse: self.warehouse,
            max_body_bytes: self.max_body_bytes,
            re_request_not_within: self.re_request_not_within,
            after_stock_out,
        }
    }

    pub async fn handle(&self, request: Request) -> Response<Body> {
        let correlation_id = donut_domain::CorrelationId::new();
        let caller = caller_arn(&request);
        let span = tracing::info_span!(
            "admin_api",
            correlation_id = %correlation_id,
            client_reference = client_reference(&request).as_ref().map(|r| r.as_str()),
            caller = caller.as_deref().unwrap_or("-"),
            method = %request.method(),
            path = %request.uri().path(),
        );
        served(
            span,
            &correlation_id,
            self.route(&request, caller, &correlation_id),
        )
        .await
    }

    async fn route(
        &self,
        request: &Request,
        caller: Option<String>,
        correlation_id: &donut_domain::CorrelationId,
    ) -> Result<Response<Body>, ApiError> {
        // API Gateway lets no unsigned call through; an event without a caller did not come
        // through it (or its route lost its authorization): refuse rather than audit "nobody".
        let arn = caller.ok_or_else(|| {
            ApiError::new(
                ErrorCode::Forbidden,
                "operators' routes need API Gateway's IAM authorization: no caller in the request",
            )
        })?;
        let operator = &Operator {
            arn,
            correlation_id: correlation_id.clone(),
            reference: client_reference(request),
            idempotency_key: idempotency_key(request)?,
        };
        let route = route_of(request);
        let method = request.method();
        match (method, route) {
            (&Method::GET, Some(ADMIN_PRODUCTS)) => self.list().await,
            (&Method::POST, Some(ADMIN_PRODUCTS)) => self.create(request, operator).await,
            (_, Some(ADMIN_PRODUCTS)) => Err(ApiError::method_not_allowed("GET, POST")),
            (&Method::GET, Some(ADMIN_PRODUCT)) => {
                self.one(product_id(request, ADMIN_PRODUCT)?).await
            }
            (&Method::PATCH, Some(ADMIN_PRODUCT)) => {
                let id = product_id(request, ADMIN_PRODUCT)?;
                self.update(request, operator, &id).await
            }
            (_, Some(ADMIN_PRODUCT)) => Err(ApiError::method_not_allowed("GET, PATCH")),
            (&Method::POST, Some(ADMIN_STOCK)) => {
                let id = product_id(request, ADMIN_STOCK)?;
                self.adjust(request, operator, &id).await
            }
            (_, Some(ADMIN_STOCK)) => Err(ApiError::method_not_allowed("POST")),
            (&Method::GET, Some(ADMIN_AUDIT)) => self.audit(request).await,
            (_, Some(ADMIN_AUDIT)) => Err(ApiError::method_not_allowed("GET")),
            (&Method::GET, Some(ADMIN_FACTORY_ORDERS)) => self.factory_orders().await,
            (_, Some(ADMIN_FACTORY_ORDERS)) => Err(ApiError::method_not_allowed("GET")),
            (&Method::GET, Some(ADMIN_FACTORY_ORDER)) => {
                let id = factory_order_id(request, ADMIN_FACTORY_ORDER)?;
                self.factory_order(id).await
            }
            (_, Some(ADMIN_FACTORY_ORDER)) => Err(ApiError::method_not_allowed("GET")),
            (&Method::POST, Some(ADMIN_RE_REQUEST)) => {
                let id = factory_order_id(request, ADMIN_RE_REQUEST)?;
                self.re_request(operator, id).await
            }
            (&Method::POST, Some(ADMIN_CANCEL)) => {
                let id = factory_order_id(request, ADMIN_CANCEL)?;
                self.cancel(operator, id).await
            }
            (_, Some(ADMIN_RE_REQUEST | ADMIN_CANCEL)) => Err(ApiError::method_not_allowed("POST")),
            _ => Err(ApiError::route_not_found()),
        }
    }

    async fn list(&self) -> Result<Response<Body>, ApiError> {
        let products = usecases::catalogue(&self.warehouse)
            .await?
            .iter()
            .map(view)
            .collect();
        Ok(json_response(
            StatusCode::OK,
            &AdminProductList { products },
        ))
    }

    async fn one(&self, id: ProductId) -> Result<Response<Body>, ApiError> {
        match usecases::catalogue_entry(&self.warehouse, &id).await? {
            Some(entry) => Ok(json_response(StatusCode::OK, &view(&entry))),
            None => Err(unknown_product(&id)),
        }
    }

    async fn create(
        &self,
        request: &Request,
        operator: &Operator,
    ) -> Result<Response<Body>, ApiError> {
        let body: NewProductRequest = json::read(request, self.max_body_bytes)?;
        let product = NewProduct {
            id: ProductId::parse(&body.product_id)
                .map_err(|e| ApiError::new(ErrorCode::InvalidProductId, e.to_string()))?,
            name: body.name,
            price_cents: body.price_cents,
            stock: body.stock,
            reorder: ReorderRule {
                point: body.reorder_point,
                quantity: body.reorder_quantity,
            },
            factory_product_id: body.factory_product_id,
        }
        .checked()
        .map_err(invalid)?;
        match usecases::create_product(&self.warehouse, operator, &product).await? {
            CatalogueOutcome::Exists(existing) => Err(ApiError::new(
                ErrorCode::ProductExists,
                format!(
                    "a product {} exists (PATCH /admin/products/{} changes it)",
                    existing.product.id, existing.product.id
                ),
            )),
            outcome => {
                tracing::info!(product_id = %product.id, "product created");
                self.answer(StatusCode::CREATED, outcome, &product.id).await
            }
        }
    }

    async fn update(
        &self,
        request: &Request,
        operator: &Operator,
        id: &ProductId,
    ) -> Result<Response<Body>, ApiError> {
        let body: ProductPatch = json::read(request, self.max_body_bytes)?;
        let change = ProductChange {
            name: body.name,
            price_cents: body.price_cents,
            reorder_point: body.reorder_point,
            reorder_qty: body.reorder_quantity,
            factory_product_id: body.factory_product_id,
            retired: body.retired,
        }
        .checked()
        .map_err(invalid)?;
        let outcome = usecases::update_product(&self.warehouse, operator, id, &change).await?;
        self.answer(StatusCode::OK, outcome, id).await
    }

    async fn adjust(
        &self,
        request: &Request,
        operator: &Operator,
        id: &ProductId,
    ) -> Result<Response<Body>, ApiError> {
        let body: StockRequest = json::read(request, self.max_body_bytes).map_err(|e| {
            // An untagged body's serde error says only that no form matched: say which exist.
            if e.code == ErrorCode::InvalidBody {
                ApiError::new(
                    ErrorCode::InvalidBody,
                    "give {\"delta\": N, \"reason\": …} (units added or taken) or \
                     {\"count\": N, \"reason\": …} (the shelf counted), nothing else",
                )
            } else {
                e
            }
        })?;
        let (adjustment, reason) = match body {
            StockRequest::By(b) => (Adjustment::By(b.delta), b.reason),
            StockRequest::To(t) => (Adjustment::To(t.count), t.reason),
        };
        let change = StockChange { adjustment, reason }
            .checked()
            .map_err(invalid)?;
        let outcome = usecases::adjust_stock(&self.warehouse, operator, id, &change).await?;
        self.answer(StatusCode::OK, outcome, id).await
    }

    /// The answer to a change; a stock-out it caused is published at once.
    async fn answer(
        &self,
        status: StatusCode,
        outcome: CatalogueOutcome,
        id: &ProductId,
    ) -> Result<Response<Body>, ApiError> {
        let (entry, changed, restock, repeat) = match outcome {
            CatalogueOutcome::Changed { after, restock, .. } => (after, true, restock, false),
            // The first request's answer again: its stock-out was published when it was made.
            CatalogueOutcome::Replayed { after, restock, .. } => (after, true, restock, true),
            CatalogueOutcome::Unchanged(entry) | CatalogueOutcome::Exists(entry) => {
                (entry, false, None, false)
            }
            CatalogueOutcome::UnknownProduct => return Err(unknown_product(id)),
            CatalogueOutcome::Refused(refused) => {
                return Err(ApiError::new(
                    ErrorCode::AdjustmentRefused,
                    refused.to_string(),
                ));
            }
            CatalogueOutcome::KeyReused(key) => {
                return Err(ApiError::new(
                    ErrorCode::IdempotencyKeyReused,
                    format!("Idempotency-Key \"{key}\" was used by you for another request"),
                ));
            }
            CatalogueOutcome::KeyInFlight(key) => {
                return Err(ApiError::new(
                    ErrorCode::IdempotencyKeyInFlight,
                    format!(
                        "a change with Idempotency-Key {key:?} is still in flight; retry shortly"
                    ),
                ));
            }
        };
        if !repeat && let Some(event_id) = restock.as_ref().and_then(|r| r.stock_out_event) {
            donut_metrics::count(donut_metrics::Metric::StockOuts, 1);
            self.after_stock_out.after_stock_out(event_id).await;
        }
        let status = if changed { status } else { StatusCode::OK };
        let response = json_response(
            status,
            &CatalogueChange {
                product: view(&entry),
                changed,
                restock: restock.as_ref().map(restock_view),
            },
        );
        Ok(if repeat { replayed(response) } else { response })
    }

    async fn audit(&self, request: &Request) -> Result<Response<Body>, ApiError> {
        let query = request.query_string_parameters_ref();
        let product = query
            .and_then(|q| q.first("product_id"))
            .map(|raw| {
                ProductId::parse(raw)
                    .map_err(|e| ApiError::new(ErrorCode::InvalidProductId, e.to_string()))
            })
            .transpose()?;
        let limit = match query.and_then(|q| q.first("limit")) {
            None => AUDIT_PAGE,
            Some(raw) => raw
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_LIST).contains(n))
                .ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::InvalidQuery,
                        format!("limit is a whole number from 1 to {MAX_LIST}"),
                    )
                })?,
        };
        let entries = usecases::audit_trail(&self.warehouse, product.as_ref(), limit)
            .await?
            .into_iter()
            .map(audit_view)
            .collect();
        Ok(json_response(StatusCode::OK, &AuditList { entries }))
    }

    async fn factory_orders(&self) -> Result<Response<Body>, ApiError> {
        let factory_orders = usecases::unfinished_factory_orders(&self.warehouse, MAX_LIST)
            .await?
            .into_iter()
            .map(|(order, age)| order_view(&order, Some(age)))
            .collect();
        Ok(json_response(
            StatusCode::OK,
            &FactoryOrderList { factory_orders },
        ))
    }

    async fn factory_order(&self, id: FactoryOrderId) -> Result<Response<Body>, ApiError> {
        match usecases::factory_order(&self.warehouse, id).await? {
            Some(order) => Ok(json_response(StatusCode::OK, &order_view(&order, None))),
            None => Err(unknown_factory_order(id)),
        }
    }

    async fn re_request(
        &self,
        operator: &Operator,
        id: FactoryOrderId,
    ) -> Result<Response<Body>, ApiError> {
        let outcome =
            usecases::re_request_order(&self.warehouse, operator, id, self.re_request_not_within)
                .await?;
        tracing::info!(factory_order_id = %id, operator = %operator.arn, ?outcome, "re-request");
        self.ops_answer(id, outcome)
    }

    async fn cancel(
        &self,
        operator: &Operator,
        id: FactoryOrderId,
    ) -> Result<Response<Body>, ApiError> {
        let outcome = usecases::cancel_order(&self.warehouse, operator, id).await?;
        tracing::info!(factory_order_id = %id, operator = %operator.arn, ?outcome, "cancel");
        self.ops_answer(id, outcome)
    }

    fn ops_answer(
        &self,
        id: FactoryOrderId,
        outcome: OpsOutcome,
    ) -> Result<Response<Body>, ApiError> {
        let (outcome, was, asked) = match outcome {
            OpsOutcome::Done { was } => ("done", Some(was.as_str().to_owned()), None),
            OpsOutcome::Unchanged(status) => ("unchanged", Some(status.as_str().to_owned()), None),
            OpsOutcome::InFlight(since) => ("in_flight", None, Some(since.as_secs())),
            OpsOutcome::UnknownOrder => return Err(unknown_factory_order(id)),
        };
        Ok(json_response(
            StatusCode::OK,
            &FactoryOrderAction {
                factory_order_id: id.to_string(),
                outcome: outcome.to_owned(),
                was,
                asked_seconds_ago: asked,
            },
        ))
    }
}

/// The caller API Gateway's IAM authorization verified: its IAM ARN.
fn caller_arn(request: &Request) -> Option<String> {
    match request.request_context_ref()? {
        RequestContext::ApiGatewayV2(context) => context
            .authorizer
            .as_ref()?
            .iam
            .as_ref()?
            .user_arn
            .clone()
            .filter(|arn| !arn.is_empty()),
        _ => None,
    }
}

fn product_id(request: &Request, pattern: &str) -> Result<ProductId, ApiError> {
    ProductId::parse(path_parameter(request, pattern))
        .map_err(|e| ApiError::new(ErrorCode::InvalidProductId, e.to_string()))
}

fn factory_order_id(request: &Request, pattern: &str) -> Result<FactoryOrderId, ApiError> {
    FactoryOrderId::parse(path_parameter(request, pattern))
        .map_err(|e| ApiError::new(ErrorCode::InvalidFactoryOrderId, e.to_string()))
}

fn invalid(e: donut_domain::InvalidInput) -> ApiError {
    ApiError::new(ErrorCode::InvalidBody, e.to_string())
}

fn unknown_product(id: &ProductId) -> ApiError {
    ApiError::new(ErrorCode::UnknownProduct, format!("no product {id}"))
}

fn unknown_factory_order(id: FactoryOrderId) -> ApiError {
    ApiError::new(
        ErrorCode::UnknownFactoryOrder,
        format!("no factory order {id}"),
    )
}

fn view(entry: &CatalogueEntry) -> AdminProduct {
    let p = &entry.product;
    AdminProduct {
        product_id: p.id.to_string(),
        name: p.name.clone(),
        price_cents: p.price_cents,
        stock: p.stock,
        reorder_point: p.reorder.point,
        reorder_quantity: p.reorder.quantity,
        factory_product_id: p.factory_product_id.clone(),
        retired: entry.retired,
    }
}

fn audit_view(a: AuditEntry) -> AuditView {
    let parse = |s: &str| serde_json::from_str(s).unwrap_or(serde_json::Value::Null);
    AuditView {
        id: a.id,
        at: a.at,
        actor: a.actor,
        action: a.action.as_str().to_owned(),
        product_id: a.product_id.to_string(),
        factory_order_id: a.factory_order_id.map(|id| id.to_string()),
        before: a.before.as_deref().map(parse),
        after: parse(&a.after),
        reason: a.reason,
        correlation_id: a.correlation_id,
        reference: a.reference,
    }
}

fn order_view(o: &FactoryOrder, age: Option<Duration>) -> FactoryOrderView {
    FactoryOrderView {
        factory_order_id: o.id.to_string(),
        product_id: o.product_id.to_string(),
        factory_product_id: o.factory_product_id.clone(),
        quantity: o.quantity,
        status: o.status.as_str().to_owned(),
        factory_request_id: o.factory_request_id.clone(),
        correlation_id: o.correlation_id.to_string(),
        request_attempts: o.request_attempts,
        chases: o.chases,
        age_seconds: age.map(|a| a.as_secs()),
    }
}
