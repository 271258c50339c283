//! Every error answer is an [`ErrorBody`] `{ "error": { "code", "message" } }`; a 409 adds
//! the stock and restock fields of [`OutOfStockBody`].

use lambda_http::http::{StatusCode, header};
use lambda_http::{Body, Response};
use serde::Serialize;
use serde_json::Value;

use crate::contract::{ErrorBody, ErrorDetail, OutOfStockBody};

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    /// The JSON body: an [`ErrorBody`], or a richer one such as [`OutOfStockBody`].
    pub body: Value,
    /// The `Allow` header of a 405.
    pub allow: Option<&'static str>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        let body = ErrorBody {
            error: ErrorDetail {
                code: code.to_owned(),
                message: message.into(),
            },
        };
        Self {
            status,
            body: serde_json::to_value(body).expect("serialisable"),
            allow: None,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn out_of_stock(body: OutOfStockBody) -> Self {
        Self {
            status: StatusCode::CONFLICT,
            body: serde_json::to_value(body).expect("serialisable"),
            allow: None,
        }
    }

    pub fn route_not_found() -> Self {
        Self::not_found("route_not_found", "no such route")
    }

    pub fn method_not_allowed(allow: &'static str) -> Self {
        Self {
            allow: Some(allow),
            ..Self::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("allowed: {allow}"),
            )
        }
    }

    /// The `error.code` of the body.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }

    pub fn into_response(self) -> Response<Body> {
        let mut response = json_response(self.status, &self.body);
        let headers = response.headers_mut();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
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
                    StatusCode::SERVICE_UNAVAILABLE,
                    "warehouse_unavailable",
                    "the warehouse cannot be reached right now; try again shortly",
                )
            }
            donut_domain::StoreError::Internal(detail) => {
                tracing::error!(%detail, "warehouse error");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error",
                )
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
