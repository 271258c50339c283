//! The HTTP edge of Donut-States, as `lambda_http` handlers.
//!
//! The same handler values serve API Gateway in AWS (through `lambda_http::run`) and the
//! local gateway (which turns HTTP requests into API Gateway v2 events), so what is tested
//! locally is what runs in Lambda.

mod admin;
pub mod contract;
mod error;
mod json;
mod restock;
mod sales;

pub use admin::AdminApi;
pub use error::{ApiError, ErrorCode};
pub use restock::{CALLBACK_REFUSED, RestockApi};
pub use sales::{AfterStockOut, Limits, SalesApi};

use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};

pub use donut_contract::routes::{Function, ROUTES, route_for};

/// Header a client may set to follow its purchase through the system; echoed back.
pub const CORRELATION_HEADER: &str = "x-correlation-id";

/// Anything that answers HTTP requests the way a Lambda behind API Gateway does.
pub trait HttpHandler: Send + Sync + 'static {
    fn handle(&self, request: Request) -> impl std::future::Future<Output = Response<Body>> + Send;
}

/// One request answered inside `span`: `answer`'s response (an error as its JSON body), its
/// status and latency logged, the correlation id echoed back.
pub(crate) async fn served(
    span: tracing::Span,
    correlation_id: &donut_domain::CorrelationId,
    answer: impl std::future::Future<Output = Result<Response<Body>, ApiError>>,
) -> Response<Body> {
    use tracing::Instrument;
    async {
        let started = std::time::Instant::now();
        let mut response = answer.await.unwrap_or_else(ApiError::into_response);
        count_server_error(&response);
        tracing::info!(
            status = response.status().as_u16(),
            latency_us = started.elapsed().as_micros() as u64,
            "request served"
        );
        if let Ok(v) = correlation_id.as_str().parse() {
            response.headers_mut().insert(CORRELATION_HEADER, v);
        }
        response
    }
    .instrument(span)
    .await
}

/// One `ServerErrors` for an answer with a 5xx status (what a release's canary alarm watches).
pub(crate) fn count_server_error(response: &Response<Body>) {
    if response.status().is_server_error() {
        donut_metrics::count(donut_metrics::Metric::ServerErrors, 1);
    }
}

/// The route API Gateway matched for `request` — its path pattern, one of
/// `donut_contract::routes::paths` — read from the event's route key; `None` for a route this
/// project does not declare.
pub(crate) fn route_of(request: &Request) -> Option<&'static str> {
    match request.request_context_ref()? {
        RequestContext::ApiGatewayV2(context) => context
            .route_key
            .as_deref()
            .and_then(donut_contract::routes::pattern_of),
        _ => None,
    }
}

/// The value of `pattern`'s path parameter (`{id}` of `/products/{id}`) in `request`, as the
/// event carries it; "" when it carries none.
pub(crate) fn path_parameter<'r>(request: &'r Request, pattern: &str) -> &'r str {
    let name = pattern
        .split('/')
        .find_map(donut_contract::routes::parameter)
        .unwrap_or_default();
    request
        .path_parameters_ref()
        .and_then(|parameters| parameters.first(name))
        .unwrap_or_default()
}
