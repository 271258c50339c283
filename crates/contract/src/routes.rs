//! The HTTP routes and the function behind each: the one list the local gateway dispatches
//! by, the infra program deploys, and the OpenAPI document must match.

pub use crate::Function;

/// Declares each route's path once: `paths::NAME` for the handlers, and [`ROUTES`] (its route
/// key and function) for the infra program and the local gateway.
macro_rules! routes {
    ($($(#[$doc:meta])* $name:ident = $path:literal => $function:ident,)*) => {
        /// Each route's path pattern, as its route key names it.
        pub mod paths {
            $($(#[$doc])* pub const $name: &str = $path;)*
        }

        /// Which function serves which API Gateway route (the infra program declares these
        /// routes and the local gateway dispatches by them, so the routes deployed are the
        /// routes served). `ANY`: the handler answers 405 for methods it does not serve.
        pub const ROUTES: &[(&str, Function)] = &[$((concat!("ANY ", $path), Function::$function),)*];
    };
}

routes! {
    /// `POST`: a purchase.
    ORDERS = "/orders" => SalesApi,
    /// `GET`: one order.
    ORDER = "/orders/{order_id}" => SalesApi,
    /// `GET`: every product's stock.
    PRODUCTS = "/products" => SalesApi,
    /// `GET`: one product's stock.
    PRODUCT = "/products/{id}" => SalesApi,
    /// `POST`: the factory's signed callback.
    FACTORY_CALLBACK = "/factory/callback/{factory_order_id}" => WarehouseRestock,
    /// Operators (IAM): `GET` the whole catalogue, retired products too; `POST` a new product.
    ADMIN_PRODUCTS = "/admin/products" => AdminApi,
    /// Operators (IAM): `GET` one product; `PATCH` its name, price, reorder settings, retired.
    ADMIN_PRODUCT = "/admin/products/{id}" => AdminApi,
    /// Operators (IAM): `POST` a stock adjustment (by a delta or to a count, with a reason).
    ADMIN_STOCK = "/admin/products/{id}/stock" => AdminApi,
    /// Operators (IAM): `GET` the catalogue's audit trail, newest first.
    ADMIN_AUDIT = "/admin/audit" => AdminApi,
    /// Operators (IAM): `GET` the unfinished factory orders, oldest first.
    ADMIN_FACTORY_ORDERS = "/admin/factory-orders" => AdminApi,
    /// Operators (IAM): `GET` one factory order.
    ADMIN_FACTORY_ORDER = "/admin/factory-orders/{factory_order_id}" => AdminApi,
    /// Operators (IAM): `POST` ask the factory again for the order.
    ADMIN_RE_REQUEST = "/admin/factory-orders/{factory_order_id}/re-request" => AdminApi,
    /// Operators (IAM): `POST` give up on the order (the product's slot is freed).
    ADMIN_CANCEL = "/admin/factory-orders/{factory_order_id}/cancel" => AdminApi,
}

/// Whether a route is for operators only: API Gateway's IAM authorization (SigV4) refuses
/// an unsigned or unauthorised call with 403 before any function runs. Every route of the
/// operators' function is; no other is.
pub fn requires_iam(function: Function) -> bool {
    function == Function::AdminApi
}

/// Whether a route is a buyer's own — a purchase (`POST /orders`) and reading one's order
/// (`GET /orders/{order_id}`): the routes that take API Gateway's JWT authorization where the
/// stage configures a buyer authorizer (`donut-states:buyerAuth`), so that only a holder of the
/// issuer's token for one of its audiences gets through (401 otherwise, before any function
/// runs). The catalogue (`/products…`) stays public, the factory's callback carries its own
/// capability, the operators' routes take IAM ([`requires_iam`]). By route key, as API Gateway
/// and [`ROUTES`] name routes (`ANY /orders`; a method other than `ANY` names the same path);
/// the infra program and the local gateway both ask this.
pub fn takes_buyer_authorizer(route_key: &str) -> bool {
    matches!(pattern_of(route_key), Some(paths::ORDERS | paths::ORDER))
}

/// A request's path matched to a route, as API Gateway matches route keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    /// The route key, `ANY /products/{id}`.
    pub key: &'static str,
    /// Its path pattern, one of [`paths`].
    pub pattern: &'static str,
    pub function: Function,
    /// Each `{name}` of the pattern and the path's segment there, as it came.
    pub parameters: Vec<(&'static str, String)>,
}

/// The name of a path pattern's segment when it is a parameter (`{id}` → `id`).
pub fn parameter(part: &str) -> Option<&str> {
    part.strip_prefix('{').and_then(|p| p.strip_suffix('}'))
}

/// The route `path` matches. One leading and one trailing slash are dropped; an empty
/// segment inside the path stays (`/products//` asks for the product "").
pub fn matching(path: &str) -> Option<Matched> {
    let path = path.strip_prefix('/').unwrap_or(path);
    let path = path.strip_suffix('/').unwrap_or(path);
    let segments: Vec<&str> = if path.is_empty() {
        Vec::new()
    } else {
        path.split('/').collect()
    };
    ROUTES.iter().find_map(|(key, function)| {
        let pattern = key.split_once(' ').map_or(*key, |(_, p)| p);
        let parts: Vec<&'static str> = pattern.split('/').filter(|s| !s.is_empty()).collect();
        if parts.len() != segments.len() {
            return None;
        }
        let mut parameters = Vec::new();
        for (part, segment) in parts.iter().zip(&segments) {
            match parameter(part) {
                Some(name) => parameters.push((name, (*segment).to_owned())),
                None if part == segment => {}
                None => return None,
            }
        }
        Some(Matched {
            key,
            pattern,
            function: *function,
            parameters,
        })
    })
}

/// The function whose route matches `path`.
pub fn route_for(path: &str) -> Option<Function> {
    matching(path).map(|m| m.function)
}

/// The path pattern of a route key (`ANY /products/{id}` → `/products/{id}`), if it is one
/// of [`ROUTES`].
pub fn pattern_of(route_key: &str) -> Option<&'static str> {
    let pattern = route_key.split_once(' ').map_or(route_key, |(_, p)| p);
    ROUTES
        .iter()
        .map(|(key, _)| key.split_once(' ').map_or(*key, |(_, p)| p))
        .find(|p| *p == pattern)
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
        let m = matching("/factory/callback/abc").unwrap();
        assert_eq!(m.key, "ANY /factory/callback/{factory_order_id}");
        assert_eq!(m.pattern, paths::FACTORY_CALLBACK);
        assert_eq!(m.parameters, vec![("factory_order_id", "abc".to_owned())]);
        assert_eq!(
            matching("/products//").unwrap().parameters,
            vec![("id", String::new())],
            "an empty product id is the product's route (400), not the list"
        );
        assert_eq!(pattern_of("GET /products/{id}"), Some(paths::PRODUCT));
        assert_eq!(pattern_of("$default"), None);
    }

    #[test]
    fn only_the_buyers_order_routes_take_the_buyer_authorizer() {
        let taking: Vec<&str> = ROUTES
            .iter()
            .map(|(key, _)| *key)
            .filter(|key| takes_buyer_authorizer(key))
            .collect();
        assert_eq!(taking, ["ANY /orders", "ANY /orders/{order_id}"]);
        assert!(
            ROUTES
                .iter()
                .filter(|(key, _)| takes_buyer_authorizer(key))
                .all(|(_, function)| *function == Function::SalesApi && !requires_iam(*function))
        );
        assert!(takes_buyer_authorizer("POST /orders"));
        assert!(!takes_buyer_authorizer("ANY /products"));
        assert!(!takes_buyer_authorizer("ANY /orders/{order_id}/items"));
    }
}
