//! The HTTP edge of Donut-States, as `lambda_http` handlers.
//!
//! The same handler values serve API Gateway in AWS (through `lambda_http::run`) and the
//! local gateway (which turns HTTP requests into API Gateway v2 events), so what is tested
//! locally is what runs in Lambda.

pub mod contract;
mod error;
mod json;
mod restock;
mod sales;

pub use error::{ApiError, ErrorCode};
pub use restock::RestockApi;
pub use sales::{AfterStockOut, Limits, SalesApi};

use lambda_http::{Body, Request, Response};

pub use donut_contract::routes::{Function, ROUTES, route_for};

/// Header a client may set to follow its purchase through the system; echoed back.
pub const CORRELATION_HEADER: &str = "x-correlation-id";

/// Anything that answers HTTP requests the way a Lambda behind API Gateway does.
pub trait HttpHandler: Send + Sync + 'static {
    fn handle(&self, request: Request) -> impl std::future::Future<Output = Response<Body>> + Send;
}

/// The path split into its segments (`/products/` = `/products`).
pub(crate) fn segments(request: &Request) -> Vec<&str> {
    // One leading and one trailing slash are dropped; an empty segment inside the path stays
    // (so `/products//` — also what `/products/\` becomes — asks for the product "" and gets
    // a 400, not the list).
    let path = request.uri().path();
    let path = path.strip_prefix('/').unwrap_or(path);
    let path = path.strip_suffix('/').unwrap_or(path);
    if path.is_empty() {
        Vec::new()
    } else {
        path.split('/').collect()
    }
}
