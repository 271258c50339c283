//! The API Gateway stand-in: HTTP in, an API Gateway v2 (payload 2.0) event into the same
//! handler value the Lambda runs, the handler's response back out as HTTP.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::{Body as AxumBody, to_bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use donut_api::{Function, HttpHandler, route_for};
use donut_apigw::{HttpCall, HttpReply, to_lambda_request};
use futures::future::BoxFuture;

/// API Gateway's payload limit.
const MAX_PAYLOAD: usize = 10 * 1024 * 1024;

/// One function, as the gateway calls it.
pub type Invoke = Arc<
    dyn Fn(lambda_http::Request) -> BoxFuture<'static, lambda_http::Response<lambda_http::Body>>
        + Send
        + Sync,
>;

/// A handler behind a function name, callable without knowing its type.
pub fn invoker<H: HttpHandler>(handler: Arc<H>) -> Invoke {
    Arc::new(move |request| {
        let handler = handler.clone();
        Box::pin(async move { handler.handle(request).await })
    })
}

#[derive(Clone)]
pub struct Gateway {
    pub sales_api: Invoke,
    pub warehouse_restock: Invoke,
    /// Extra documents served as-is (e.g. `/openapi.json`).
    pub static_json: Arc<Vec<(&'static str, String)>>,
}

pub async fn serve(
    listener: tokio::net::TcpListener,
    gateway: Gateway,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = axum::Router::new().fallback(dispatch).with_state(gateway);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

async fn dispatch(
    State(gateway): State<Gateway>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    if parts.method == axum::http::Method::GET
        && let Some((_, doc)) = gateway.static_json.iter().find(|(p, _)| *p == path)
    {
        return (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            doc.clone(),
        )
            .into_response();
    }
    let invoke = match route_for(&path) {
        Some(Function::SalesApi) => gateway.sales_api.clone(),
        Some(Function::WarehouseRestock) => gateway.warehouse_restock.clone(),
        // No route leads to the others (they are fed by the queue and the schedule).
        _ => return json_error(StatusCode::NOT_FOUND, "route_not_found", "no such route"),
    };
    let Ok(body) = to_bytes(body, MAX_PAYLOAD).await else {
        return json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "API Gateway accepts at most 10 MB",
        );
    };
    let mut headers: Vec<(String, String)> = Vec::new();
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match headers.iter_mut().find(|(n, _)| n == name.as_str()) {
            Some((_, existing)) => {
                existing.push(',');
                existing.push_str(&value);
            }
            None => headers.push((name.as_str().to_owned(), value)),
        }
    }
    let source_ip = peer.ip().to_string();
    let call = HttpCall {
        method: parts.method.as_str(),
        path: &path,
        raw_query: parts.uri.query().unwrap_or(""),
        headers,
        body: &body,
        source_ip: &source_ip,
    };
    let lambda_request = match to_lambda_request(&call) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "could not frame the request as an API Gateway event");
            return json_error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "the request could not be framed",
            );
        }
    };
    let reply = HttpReply::from(invoke(lambda_request).await);
    let mut response = Response::new(AxumBody::from(reply.body));
    *response.status_mut() = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::BAD_GATEWAY);
    for (name, value) in reply.headers {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            response.headers_mut().append(n, v);
        }
    }
    response
}

fn json_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "error": { "code": code, "message": message } }).to_string();
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}
