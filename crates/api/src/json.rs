//! Reading a JSON request body: content type, size, syntax and shape, each with its own
//! error code.

use lambda_http::http::header;
use lambda_http::{Body, Request};
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ErrorCode};

pub(crate) fn read<T: DeserializeOwned>(
    request: &Request,
    max_bytes: usize,
) -> Result<T, ApiError> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if !media_type.eq_ignore_ascii_case("application/json") {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "send the body as JSON with 'Content-Type: application/json'",
        ));
    }
    let bytes: &[u8] = match request.body() {
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => &[],
    };
    if bytes.is_empty() {
        return Err(ApiError::new(
            ErrorCode::EmptyBody,
            "the request needs a JSON body",
        ));
    }
    if bytes.len() > max_bytes {
        return Err(ApiError::new(
            ErrorCode::BodyTooLarge,
            format!(
                "the body is {} bytes; the limit is {max_bytes}",
                bytes.len()
            ),
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => ApiError::new(ErrorCode::InvalidBody, clip(e.to_string())),
            Category::Syntax | Category::Eof | Category::Io => ApiError::new(
                ErrorCode::InvalidJson,
                clip(format!("the body is not valid JSON: {e}")),
            ),
        }
    })
}

/// serde's messages may quote the client's input; keep them short.
fn clip(message: String) -> String {
    const MAX: usize = 200;
    if message.chars().count() <= MAX {
        message
    } else {
        message.chars().take(MAX).chain("…".chars()).collect()
    }
}
