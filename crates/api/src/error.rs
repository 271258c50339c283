//! Every error answer is `{ "error": { "code", "message" } }`, plus optional fields.

use lambda_http::http::{StatusCode, header};
use lambda_http::{Body, Response};
use serde_json::{Map, Value, json};

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Fields beside `error` in the body (e.g. `restock` on a 409).
    pub extra: Map<String, Value>,
    /// The `Allow` header of a 405.
    pub allow: Option<&'static str>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            extra: Map::new(),
            allow: None,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.extra.insert(key.to_owned(), value);
        self
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

    pub fn into_response(self) -> Response<Body> {
        let mut body = self.extra;
        body.insert(
            "error".into(),
            json!({ "code": self.code, "message": self.message }),
        );
        let mut response = json_response(self.status, &Value::Object(body));
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

pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::Text(body.to_string()))
        .expect("status and static headers are valid")
}
