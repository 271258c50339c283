//! The HTTP routes and the function behind each: the one list the local gateway dispatches
//! by, the infra program deploys, and the OpenAPI document must match.

pub use crate::Function;

/// Which function serves which API Gateway route (the infra program declares these routes and
/// the local gateway dispatches by them, so the routes deployed are the routes served).
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
