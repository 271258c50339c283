//! The simulator as a Lambda function: its function URL's requests are the legacy HTTP
//! contract, served by the same router as in-process; its delay queue's messages are the
//! callbacks that are due. One function takes both, told apart by the event's shape (an SQS
//! event has `Records`).

use aws_lambda_events::event::lambda_function_urls::{
    LambdaFunctionUrlRequest, LambdaFunctionUrlResponse,
};
use aws_lambda_events::event::sqs::SqsEvent;
use axum::body::Body;
use base64::Engine as _;
use serde_json::Value;
use tower::ServiceExt as _;

use crate::{Callbacks, Delivery, Knobs, Simulator};

/// The stage's knobs, as the stage config gives them (whole seconds, percentages).
pub fn knobs(settings: &donut_contract::settings::FactorySimulatorKnobs) -> Knobs {
    let rate = |percent: u32| f64::from(percent) / 100.0;
    Knobs {
        delay_ms: u64::from(settings.delay_seconds) * 1000,
        fail_rate: rate(settings.fail_percent),
        fail_first: 0,
        hang_rate: rate(settings.hang_percent),
        duplicate_rate: rate(settings.duplicate_percent),
        drop_rate: rate(settings.drop_percent),
    }
}

/// A deployed simulator: `settings` from its environment, `sqs` for its delay queue.
pub fn simulator(
    settings: &donut_contract::settings::FactorySimulator<String>,
    sqs: aws_sdk_sqs::Client,
) -> anyhow::Result<Simulator> {
    Simulator::new(
        knobs(&settings.knobs),
        None,
        Callbacks::DelayQueue {
            sqs,
            queue_url: settings.delay_queue_url.clone(),
            callback_base: settings.callback_base_url.clone(),
        },
    )
}

/// One invocation: a function URL request (answered) or a batch of due callbacks (made).
pub async fn handle(sim: &Simulator, event: Value) -> anyhow::Result<Value> {
    if event.get("Records").is_some() {
        let batch: SqsEvent = serde_json::from_value(event)?;
        // All at once: a batch takes as long as its slowest callback, well inside the timeout.
        let deliveries = batch.records.into_iter().filter_map(|record| {
            let body = record.body.unwrap_or_default();
            serde_json::from_str::<Delivery>(&body)
                // Nothing else writes to the queue; a message that is not a delivery is dropped.
                .inspect_err(|e| tracing::error!(error = %e, "not a callback delivery; dropped"))
                .ok()
        });
        futures::future::join_all(deliveries.map(|d| sim.deliver(d))).await;
        return Ok(Value::Null);
    }
    let request: LambdaFunctionUrlRequest = serde_json::from_value(event)?;
    let response = sim.router().oneshot(http_request(request)?).await?;
    Ok(serde_json::to_value(url_response(response).await?)?)
}

fn http_request(event: LambdaFunctionUrlRequest) -> anyhow::Result<http::Request<Body>> {
    let method = event
        .request_context
        .http
        .method
        .as_deref()
        .unwrap_or("GET");
    let mut uri = event.raw_path.unwrap_or_else(|| "/".to_owned());
    if let Some(query) = event.raw_query_string.filter(|q| !q.is_empty()) {
        uri = format!("{uri}?{query}");
    }
    let body = match event.body {
        Some(body) if event.is_base64_encoded => {
            base64::engine::general_purpose::STANDARD.decode(body)?
        }
        Some(body) => body.into_bytes(),
        None => Vec::new(),
    };
    let mut request = http::Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::from(body))?;
    *request.headers_mut() = event.headers;
    Ok(request)
}

async fn url_response(response: http::Response<Body>) -> anyhow::Result<LambdaFunctionUrlResponse> {
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await?;
    let mut reply = LambdaFunctionUrlResponse::default();
    reply.status_code = i64::from(parts.status.as_u16());
    reply.headers = parts.headers;
    reply.body = Some(String::from_utf8_lossy(&bytes).into_owned());
    Ok(reply)
}
