//! The HTTP edge of Donut-States, as `lambda_http` handlers.
//!
//! The same handler values serve API Gateway in AWS (through `lambda_http::run`) and the
//! local gateway (which turns HTTP requests into API Gateway v2 events), so what is tested
//! locally is what runs in Lambda.

pub mod apigw;
pub mod contract;
mod error;
mod json;
mod restock;
mod sales;

pub use error::ApiError;
pub use restock::RestockApi;
pub use sales::{AfterStockOut, Limits, SalesApi};

use lambda_http::{Body, Request, Response};

/// Which function serves which API Gateway route. The infra program declares these routes
/// and the local gateway dispatches by them, so the routes deployed are the routes served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    SalesApi,
    WarehouseRestock,
}

/// API Gateway route keys (`ANY`: the handler answers 405 for methods it does not serve).
pub const ROUTES: &[(&str, Function)] = &[
    ("ANY /orders", Function::SalesApi),
    ("ANY /products", Function::SalesApi),
    ("ANY /products/{id}", Function::SalesApi),
    (
        "ANY /factory/callback/{factory_order_id}",
        Function::WarehouseRestock,
    ),
];

/// The function whose route matches `path`, as API Gateway matches route keys.
pub fn route_for(path: &str) -> Option<Function> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    ROUTES.iter().find_map(|(key, function)| {
        let pattern = key.split_once(' ').map_or(*key, |(_, p)| p);
        let parts: Vec<&str> = pattern.split('/').filter(|s| !s.is_empty()).collect();
        let matches = parts.len() == segments.len()
            && parts
                .iter()
                .zip(&segments)
                .all(|(p, s)| p.starts_with('{') || p == s);
        matches.then_some(*function)
    })
}

/// Header a client may set to follow its purchase through the system; echoed back.
pub const CORRELATION_HEADER: &str = "x-correlation-id";

/// Anything that answers HTTP requests the way a Lambda behind API Gateway does.
pub trait HttpHandler: Send + Sync + 'static {
    fn handle(&self, request: Request) -> impl std::future::Future<Output = Response<Body>> + Send;
}

/// The path split into its segments, without empty ones (`/products/` = `/products`).
pub(crate) fn segments(request: &Request) -> Vec<&str> {
    request
        .uri()
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_like_api_gateway() {
        assert_eq!(route_for("/orders"), Some(Function::SalesApi));
        assert_eq!(route_for("/products/"), Some(Function::SalesApi));
        assert_eq!(route_for("/products/glazed"), Some(Function::SalesApi));
        assert_eq!(
            route_for("/factory/callback/abc"),
            Some(Function::WarehouseRestock)
        );
        assert_eq!(route_for("/factory/callback"), None);
        assert_eq!(route_for("/products/a/b"), None);
        assert_eq!(route_for("/"), None);
    }
}
