//! Every error answer is an [`ErrorBody`] `{ "error": { "code", "message" } }`; a 409 adds
//! the stock and restock fields of [`OutOfStockBody`].

use lambda_http::http::{StatusCode, header};
use lambda_http::{Body, Response};
use serde::Serialize;
use serde_json::Value;

use crate::contract::{ErrorBody, ErrorDetail, OutOfStockBody, Restock};

/// Every `error.code` the API answers with, and the status that goes with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidProductId,
    InvalidQuantity,
    UnknownProduct,
    OutOfStock,
    UnknownFactoryOrder,
    Unauthorized,
    /// A valid callback that still may not restock (not sent yet, another quantity).
    Forbidden,
    UnsupportedMediaType,
    EmptyBody,
    BodyTooLarge,
    InvalidBody,
    InvalidJson,
    RouteNotFound,
    MethodNotAllowed,
    WarehouseUnavailable,
    InvalidIdempotencyKey,
    /// The key was used for another request (422).
    IdempotencyKeyReused,
    /// A purchase with the key is still in flight (409 + Retry-After).
    IdempotencyKeyInFlight,
    InvalidOrderId,
    UnknownOrder,
    /// The keys that verify callback URLs could not be read (Secrets Manager).
    CallbackKeysUnavailable,
    /// A product with the id exists (an operator's create).
    ProductExists,
    /// A stock adjustment that would leave the shelf below zero or above its limit.
    AdjustmentRefused,
    InvalidFactoryOrderId,
    InvalidQuery,
    Internal,
}

impl ErrorCode {
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidProductId => "invalid_product_id",
            ErrorCode::InvalidQuantity => "invalid_quantity",
            ErrorCode::UnknownProduct => "unknown_product",
            ErrorCode::OutOfStock => "out_of_stock",
            ErrorCode::UnknownFactoryOrder => "unknown_factory_order",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::EmptyBody => "empty_body",
            ErrorCode::BodyTooLarge => "body_too_large",
            ErrorCode::InvalidBody => "invalid_body",
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::RouteNotFound => "route_not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::WarehouseUnavailable => "warehouse_unavailable",
            ErrorCode::InvalidIdempotencyKey => "invalid_idempotency_key",
            ErrorCode::IdempotencyKeyReused => "idempotency_key_reused",
            ErrorCode::IdempotencyKeyInFlight => "idempotency_key_in_flight",
            ErrorCode::InvalidOrderId => "invalid_order_id",
            ErrorCode::UnknownOrder => "unknown_order",
            ErrorCode::CallbackKeysUnavailable => "callback_keys_unavailable",
            ErrorCode::ProductExists => "product_exists",
            ErrorCode::AdjustmentRefused => "adjustment_refused",
            ErrorCode::InvalidFactoryOrderId => "invalid_factory_order_id",
            ErrorCode::InvalidQuery => "invalid_query",
            ErrorCode::Internal => "internal",
        }
    }

    pub const fn status(self) -> StatusCode {
        match self {
            ErrorCode::InvalidProductId
            | ErrorCode::InvalidQuantity
            | ErrorCode::EmptyBody
            | ErrorCode::BodyTooLarge
            | ErrorCode::InvalidBody
            | ErrorCode::InvalidJson
            | ErrorCode::InvalidIdempotencyKey
            | ErrorCode::InvalidOrderId
            | ErrorCode::InvalidFactoryOrderId
            | ErrorCode::InvalidQuery => StatusCode::BAD_REQUEST,
            ErrorCode::ProductExists | ErrorCode::AdjustmentRefused => StatusCode::CONFLICT,
            ErrorCode::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::IdempotencyKeyInFlight => StatusCode::CONFLICT,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::UnknownProduct
            | ErrorCode::UnknownFactoryOrder
            | ErrorCode::UnknownOrder
            | ErrorCode::RouteNotFound => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::OutOfStock => StatusCode::CONFLICT,
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::WarehouseUnavailable | ErrorCode::CallbackKeysUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
    pub status: StatusCode,
    /// The JSON body: an [`ErrorBody`], or a richer one such as [`OutOfStockBody`].
    pub body: Value,
    /// The `Allow` header of a 405.
    pub allow: Option<&'static str>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let body = ErrorBody {
            error: ErrorDetail {
                code: code.as_str().to_owned(),
                message: message.into(),
            },
        };
        Self {
            code,
            status: code.status(),
            body: serde_json::to_value(body).expect("serialisable"),
            allow: None,
        }
    }

    /// The 409 of a refused purchase: the error plus the shelf and its restock.
    pub fn out_of_stock(message: String, available: u32, restock: Option<Restock>) -> Self {
        let body = OutOfStockBody {
            error: ErrorDetail {
                code: ErrorCode::OutOfStock.as_str().to_owned(),
                message,
            },
            available,
            restock,
        };
        Self {
            code: ErrorCode::OutOfStock,
            status: ErrorCode::OutOfStock.status(),
            body: serde_json::to_value(body).expect("serialisable"),
            allow: None,
        }
    }

    pub fn route_not_found() -> Self {
        Self::new(ErrorCode::RouteNotFound, "no such route")
    }

    pub fn method_not_allowed(allow: &'static str) -> Self {
        Self {
            allow: Some(allow),
            ..Self::new(ErrorCode::MethodNotAllowed, format!("allowed: {allow}"))
        }
    }

    pub fn into_response(self) -> Response<Body> {
        let mut response = json_response(self.status, &self.body);
        let headers = response.headers_mut();
        if self.status == StatusCode::SERVICE_UNAVAILABLE
            || self.code == ErrorCode::IdempotencyKeyInFlight
        {
            headers.insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        }
        if let Some(allow) = self.allow {
            headers.insert(header::ALLOW, header::HeaderValue::from_static(allow));
        }
        response
    }
}

impl From<donut_domain::StoreError> for ApiError {
    fn from(e: donut_domain::StoreError) -> Self {
        match e {
            donut_domain::StoreError::Unavailable(detail) => {
                tracing::warn!(%detail, "warehouse unavailable");
                Self::new(
                    ErrorCode::WarehouseUnavailable,
                    "the warehouse cannot be reached right now; try again shortly",
                )
            }
            donut_domain::StoreError::Internal(detail) => {
                tracing::error!(%detail, "warehouse error");
                Self::new(ErrorCode::Internal, "internal error")
            }
        }
    }
}

pub(crate) fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::Text(
            serde_json::to_string(body).expect("contract types serialise"),
        ))
        .expect("status and static headers are valid")
}
