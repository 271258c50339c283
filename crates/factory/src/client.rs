//! Our client for the legacy factory: explicit timeouts, every failure typed.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use donut_domain::{FactoryApi, FactoryError, FactoryReceipt, FactoryRequest};

use crate::contract::{
    MANUFACTURES_PATH, MESSAGE_GROUP_ID, ManufactureAccepted, ManufactureRequest,
};
use crate::signing::CallAuth;
use crate::token::CallbackKeys;

#[derive(Debug, Clone)]
pub struct FactoryClientConfig {
    /// e.g. `http://127.0.0.1:8090`
    pub base_url: String,
    pub connect_timeout: Duration,
    /// The whole request, connect included. Keep it well under the consumer Lambda's timeout.
    pub request_timeout: Duration,
}

impl FactoryClientConfig {
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
        }
    }
}

/// The HTTP client is built on the first call, not at start: building it loads the TLS root
/// certificates, which cost a cold Lambda several milliseconds before its first event
/// (measured by `make bench`'s cold-init table) even when no factory call follows.
#[derive(Debug, Clone)]
pub struct FactoryClient {
    http: Arc<OnceLock<Result<reqwest::Client, String>>>,
    url: String,
    connect_timeout: Duration,
    request_timeout: Duration,
    keys: CallbackKeys,
    auth: CallAuth,
}

impl FactoryClient {
    /// A client whose calls are unsigned (the legacy factory's contract).
    pub fn new(config: &FactoryClientConfig, keys: impl Into<CallbackKeys>) -> Self {
        Self {
            http: Arc::new(OnceLock::new()),
            url: format!("{}{MANUFACTURES_PATH}", config.base_url),
            connect_timeout: config.connect_timeout,
            request_timeout: config.request_timeout,
            keys: keys.into(),
            auth: CallAuth::None,
        }
    }

    /// The same client, its calls authenticated as `auth` says (signed for a function URL
    /// with `AWS_IAM`). A call that cannot be signed is not sent ([`FactoryError::NotSent`]).
    pub fn with_auth(mut self, auth: CallAuth) -> Self {
        self.auth = auth;
        self
    }

    fn http(&self) -> Result<&reqwest::Client, FactoryError> {
        self.http
            .get_or_init(|| {
                reqwest::Client::builder()
                    .connect_timeout(self.connect_timeout)
                    .timeout(self.request_timeout)
                    // A redirect would resend the body — the callback URL and its token — to
                    // wherever the factory (or whoever answers for it) points: never follow.
                    // A 3xx is a failed call, retried like any other.
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| FactoryError::Connection(format!("no HTTP client: {e}")))
    }

    /// The legacy payload for one of our requests.
    pub async fn payload(
        &self,
        request: &FactoryRequest,
    ) -> Result<ManufactureRequest, FactoryError> {
        let signer = self
            .keys
            .signer()
            .await
            .map_err(|e| FactoryError::NotSent(e.to_string()))?;
        Ok(ManufactureRequest {
            message_group_id: MESSAGE_GROUP_ID.to_owned(),
            message_attribute_product_id: request.factory_product_id.clone(),
            message_attribute_product_cnt: request.stock_left.to_string(),
            order_stock_cnt: request.quantity,
            callback_url: signer.callback_url(request.factory_order_id, request.quantity),
        })
    }
}

impl FactoryApi for FactoryClient {
    async fn request(&self, request: &FactoryRequest) -> Result<FactoryReceipt, FactoryError> {
        let payload = self.payload(request).await?;
        let http = self.http()?;
        let mut call = http
            .post(&self.url)
            .header("x-correlation-id", request.correlation_id.as_str())
            .json(&payload)
            .build()
            .map_err(|e| FactoryError::NotSent(format!("building the request: {e}")))?;
        if let CallAuth::SigV4(signer) = &self.auth {
            signer
                .sign(&mut call, std::time::SystemTime::now())
                .await
                .map_err(FactoryError::NotSent)?;
        }
        let started = std::time::Instant::now();
        let response = http
            .execute(call)
            .await
            .map_err(|e| self.transport_error(e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(FactoryError::Status(status.as_u16()));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(e))?;
        let accepted: ManufactureAccepted =
            serde_json::from_slice(&body).map_err(|e| FactoryError::BadResponse(e.to_string()))?;
        if accepted.data.id.trim().is_empty() {
            return Err(FactoryError::BadResponse("empty request id".into()));
        }
        donut_metrics::millis(donut_metrics::Metric::FactoryCallLatency, started.elapsed());
        tracing::info!(
            factory_request_id = %accepted.data.id,
            latency_ms = started.elapsed().as_millis() as u64,
            "factory accepted the order"
        );
        Ok(FactoryReceipt {
            factory_request_id: accepted.data.id,
        })
    }
}

impl FactoryClient {
    fn transport_error(&self, e: reqwest::Error) -> FactoryError {
        if e.is_timeout() {
            FactoryError::Timeout(self.request_timeout.as_millis() as u64)
        } else if e.is_connect() {
            FactoryError::Connection(e.to_string())
        } else {
            FactoryError::Connection(format!("{e}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use axum::Json;
    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::routing::post;
    use donut_domain::{CorrelationId, FactoryOrderId};

    use super::*;
    use crate::contract::AcceptedData;
    use crate::token::{CallbackSecret, CallbackSigner};

    /// A factory that answers each call according to `mode`.
    async fn factory(mode: &'static str) -> (String, Arc<AtomicU32>) {
        use axum::response::IntoResponse;
        let calls = Arc::new(AtomicU32::new(0));
        let app = axum::Router::new()
            .route(
                MANUFACTURES_PATH,
                post(
                    move |State(calls): State<Arc<AtomicU32>>,
                          Json(req): Json<ManufactureRequest>| async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        match mode {
                            "ok" => Ok(serde_json::to_string(&ManufactureAccepted {
                                data: AcceptedData {
                                    data: req,
                                    id: "req-1".into(),
                                    reqestor: None,
                                },
                            })
                            .unwrap()),
                            "500" => Err(StatusCode::INTERNAL_SERVER_ERROR.into_response()),
                            // Points the client elsewhere: `redirect:<url>`.
                            m if m.starts_with("redirect:") => Err((
                                StatusCode::PERMANENT_REDIRECT,
                                [(
                                    axum::http::header::LOCATION,
                                    m["redirect:".len()..].to_owned(),
                                )],
                            )
                                .into_response()),
                            "hang" => {
                                tokio::time::sleep(Duration::from_secs(30)).await;
                                Err(StatusCode::OK.into_response())
                            }
                            _ => Ok("{\"nope\": 1}".to_owned()),
                        }
                    },
                ),
            )
            .with_state(calls.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (format!("http://{addr}"), calls)
    }

    fn client(base: &str) -> FactoryClient {
        let mut config = FactoryClientConfig::new(base);
        config.request_timeout = Duration::from_millis(300);
        let signer =
            CallbackSigner::new(CallbackSecret::new("k".repeat(32)).unwrap(), "http://api");
        FactoryClient::new(&config, signer)
    }

    fn request() -> FactoryRequest {
        FactoryRequest {
            factory_order_id: FactoryOrderId::new(),
            factory_product_id: "3".into(),
            quantity: 12,
            stock_left: 0,
            correlation_id: CorrelationId::new(),
        }
    }

    #[tokio::test]
    async fn accepted_orders_return_the_factory_id() {
        let (base, calls) = factory("ok").await;
        let receipt = client(&base).request(&request()).await.unwrap();
        assert_eq!(receipt.factory_request_id, "req-1");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn failures_are_typed() {
        let (base, _) = factory("500").await;
        assert_eq!(
            client(&base).request(&request()).await,
            Err(FactoryError::Status(500))
        );
        let (base, _) = factory("hang").await;
        assert_eq!(
            client(&base).request(&request()).await,
            Err(FactoryError::Timeout(300))
        );
        let (base, _) = factory("garbage").await;
        assert!(matches!(
            client(&base).request(&request()).await,
            Err(FactoryError::BadResponse(_))
        ));
        // Nothing listens on port 1.
        assert!(matches!(
            client("http://127.0.0.1:1").request(&request()).await,
            Err(FactoryError::Connection(_))
        ));
    }

    /// A factory answering 307/308 elsewhere: the client does not follow, so the second host
    /// never sees the body (nor the callback URL and its token).
    #[tokio::test]
    async fn redirects_are_not_followed_and_the_token_stays_home() {
        let (elsewhere, elsewhere_calls) = factory("ok").await;
        let target: &'static str =
            Box::leak(format!("redirect:{elsewhere}{MANUFACTURES_PATH}").into_boxed_str());
        let (base, calls) = factory(target).await;
        assert_eq!(
            client(&base).request(&request()).await,
            Err(FactoryError::Status(308))
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(
            elsewhere_calls.load(Ordering::SeqCst),
            0,
            "the token stayed home"
        );
    }

    #[tokio::test]
    async fn the_payload_is_the_legacy_one_with_a_signed_callback() {
        let c = client("http://f");
        let r = request();
        let p = c.payload(&r).await.unwrap();
        assert_eq!(p.message_group_id, "stock-arrival-group");
        assert_eq!(p.message_attribute_product_id, "3");
        assert_eq!(p.message_attribute_product_cnt, "0");
        assert_eq!(p.order_stock_cnt, 12);
        assert!(p.callback_url.starts_with(&format!(
            "http://api/factory/callback/{}?q=12&exp=",
            r.factory_order_id
        )));
    }

    #[tokio::test]
    async fn keys_that_cannot_be_read_send_nothing_and_are_read_again_next_time() {
        let (base, calls) = factory("ok").await;
        let reads = Arc::new(AtomicU32::new(0));
        let keys = {
            let reads = reads.clone();
            CallbackKeys::deferred(move || {
                let read = reads.fetch_add(1, Ordering::SeqCst);
                async move {
                    match read {
                        0 => Err("Secrets Manager: throttled".to_owned()),
                        _ => Ok(CallbackSigner::new(
                            CallbackSecret::new("k".repeat(32)).unwrap(),
                            "http://api",
                        )),
                    }
                }
            })
        };
        let client = FactoryClient::new(&FactoryClientConfig::new(&base), keys);
        assert_eq!(reads.load(Ordering::SeqCst), 0, "nothing read at start");
        assert!(matches!(
            client.request(&request()).await,
            Err(FactoryError::NotSent(e)) if e.contains("throttled")
        ));
        assert_eq!(
            calls.load(Ordering::SeqCst),
            0,
            "the factory was not called"
        );
        assert!(client.request(&request()).await.is_ok());
        assert!(client.request(&request()).await.is_ok());
        assert_eq!(
            reads.load(Ordering::SeqCst),
            2,
            "read again once, then kept"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
