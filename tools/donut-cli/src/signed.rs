//! Signed calls to the operator API (`/admin/…`, behind API Gateway's IAM authorization): each
//! request is signed with SigV4 for `execute-api` in the API's Region, with the SDK's own signer
//! (`aws-sigv4`, the one the AWS SDK signs its calls with) and the credentials of an
//! [`aws_config::SdkConfig`]: on AWS the operator's own (the SDK's credential chain: profile,
//! SSO, role), against the local stack LocalStack's `test`/`test`, which the local gateway takes
//! for the operator's.
//!
//! API Gateway answers an unsigned, wrongly signed or unauthorized call with a 403 before any
//! function runs (`donut_apigw::sigv4` is how the local gateway answers it); [`AdminClient::send`]
//! returns that response like any other.

use std::time::{Duration, SystemTime};

use anyhow::Context;
use donut_factory::signing::SigV4Signer;

/// The service an API Gateway API is signed for.
pub const SERVICE: &str = "execute-api";

/// The header the API takes a caller's own reference from (kept beside the correlation id the
/// API makes; an operator's in the audit).
pub const CORRELATION_HEADER: &str = "x-correlation-id";

/// A client of the operator API whose every request is signed.
pub struct AdminClient {
    http: reqwest::Client,
    /// The API's base URL, without a trailing slash (`https://{api-id}.execute-api.{region}
    /// .amazonaws.com`, or the local gateway's `http://127.0.0.1:8080`).
    base_url: String,
    /// SigV4 for [`SERVICE`] in the API's Region.
    signer: SigV4Signer,
    /// Sent (and signed) as `x-correlation-id` with every request: the audit records it as
    /// each change's `reference` (an incident's or a ticket's id).
    reference: Option<String>,
}

impl AdminClient {
    /// A client of the API at `base_url`, signing with `config`'s credentials in `config`'s
    /// Region (the API's: `--aws` gives the stack's).
    pub fn new(config: &aws_config::SdkConfig, base_url: &str) -> anyhow::Result<Self> {
        let region = config
            .region()
            .context("no AWS Region to sign the operator API's requests for")?
            .to_string();
        let credentials = config
            .credentials_provider()
            .context("no AWS credentials to sign the operator API's requests with")?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            signer: SigV4Signer::for_service(SERVICE, region, credentials),
            reference: None,
        })
    }

    /// The same client, sending `reference` as `x-correlation-id` with every request (a
    /// whole `catalogue apply`, or a smoke test's put-back, under one reference in the audit).
    pub fn with_reference(mut self, reference: impl Into<String>) -> Self {
        self.reference = Some(reference.into());
        self
    }

    pub fn reference(&self) -> Option<&str> {
        self.reference.as_deref()
    }

    pub fn region(&self) -> &str {
        self.signer.region()
    }

    /// The API's base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `method path_and_query` (`/admin/…?…`), with `body` as JSON and an `Idempotency-Key`
    /// if given, signed and sent.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path_and_query: &str,
        body: Option<&serde_json::Value>,
        idempotency_key: Option<&str>,
    ) -> anyhow::Result<reqwest::Response> {
        let request = self
            .signed_request(method, path_and_query, body, idempotency_key)
            .await?;
        let url = request.url().clone();
        self.http
            .execute(request)
            .await
            .with_context(|| format!("calling {url}"))
    }

    /// The request [`send`](Self::send) sends: built, then signed with the current credentials.
    pub async fn signed_request(
        &self,
        method: reqwest::Method,
        path_and_query: &str,
        body: Option<&serde_json::Value>,
        idempotency_key: Option<&str>,
    ) -> anyhow::Result<reqwest::Request> {
        let url = format!("{}{}", self.base_url, path_and_query);
        let mut builder = self.http.request(method, &url);
        if let Some(reference) = &self.reference {
            builder = builder.header(CORRELATION_HEADER, reference);
        }
        if let Some(key) = idempotency_key {
            builder = builder.header("idempotency-key", key);
        }
        if let Some(body) = body {
            builder = builder.json(body);
        }
        let mut request = builder
            .build()
            .with_context(|| format!("building a request to {url}"))?;
        self.signer
            .sign(&mut request, SystemTime::now())
            .await
            .map_err(anyhow::Error::msg)?;
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use aws_config::SdkConfig;
    use aws_credential_types::Credentials;
    use aws_credential_types::provider::SharedCredentialsProvider;
    use donut_apigw::sigv4::{Api, LocalIam, Principal, Reason, SignedRequest, verify};
    use reqwest::header::HeaderValue;

    use super::*;

    const REGION: &str = "eu-west-1";

    /// The gateway's view of `request`: method, path, query, headers, body.
    fn verify_request(
        request: &reqwest::Request,
        iam: &LocalIam,
        now: SystemTime,
    ) -> Result<donut_apigw::sigv4::Caller, donut_apigw::sigv4::Refusal> {
        let headers: Vec<(String, String)> = request
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap().to_owned()))
            .collect();
        let body = request
            .body()
            .and_then(reqwest::Body::as_bytes)
            .unwrap_or_default();
        let signed = SignedRequest {
            method: request.method().as_str(),
            path: request.url().path(),
            raw_query: request.url().query().unwrap_or(""),
            headers: &headers,
            body,
        };
        verify(
            &signed,
            &Api::new(REGION, "000000000000", "local", "$default"),
            iam,
            now,
        )
    }

    fn iam() -> LocalIam {
        LocalIam::default().with(
            Principal::user("000000000000", "operator", "AIDAOPERATOR")
                .with_key("test", "test")
                .with_session_key("ASIAROLE", "role-secret", "role-token")
                .allowing("arn:aws:execute-api:*:*:local/*/*/admin/*"),
        )
    }

    fn config(credentials: Credentials) -> SdkConfig {
        SdkConfig::builder()
            .region(aws_config::Region::new(REGION))
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build()
    }

    #[tokio::test]
    async fn what_the_client_signs_passes_the_gateways_check() {
        let client = AdminClient::new(
            &config(Credentials::new("test", "test", None, None, "localstack")),
            "http://127.0.0.1:8080/",
        )
        .unwrap();
        let body = serde_json::json!({ "reason": "the factory lost it" });
        let request = client
            .signed_request(
                reqwest::Method::POST,
                "/admin/orders/o-1/cancel?dry_run=true&b=a%20b",
                Some(&body),
                None,
            )
            .await
            .unwrap();
        assert_eq!(request.headers()["host"], "127.0.0.1:8080");
        let caller = verify_request(&request, &iam(), SystemTime::now()).unwrap();
        assert_eq!(caller.user_arn, "arn:aws:iam::000000000000:user/operator");
        assert_eq!(caller.access_key, "test");

        // Tampered on the way: the body, the path, the query; or too late.
        let mut tampered = request.try_clone().unwrap();
        *tampered.body_mut() = Some(r#"{"reason":"x"}"#.into());
        assert_eq!(
            verify_request(&tampered, &iam(), SystemTime::now())
                .unwrap_err()
                .reason,
            Reason::Mismatch
        );
        let mut tampered = request.try_clone().unwrap();
        tampered.url_mut().set_path("/admin/orders/o-2/cancel");
        assert_eq!(
            verify_request(&tampered, &iam(), SystemTime::now())
                .unwrap_err()
                .reason,
            Reason::Mismatch
        );
        let mut tampered = request.try_clone().unwrap();
        tampered.url_mut().set_query(Some("dry_run=false"));
        assert_eq!(
            verify_request(&tampered, &iam(), SystemTime::now())
                .unwrap_err()
                .reason,
            Reason::Mismatch
        );
        assert_eq!(
            verify_request(
                &request,
                &iam(),
                SystemTime::now() + Duration::from_secs(6 * 60)
            )
            .unwrap_err()
            .reason,
            Reason::Expired
        );
    }

    #[tokio::test]
    async fn the_reference_is_sent_and_signed() {
        let client = AdminClient::new(
            &config(Credentials::new("test", "test", None, None, "localstack")),
            "http://127.0.0.1:8080",
        )
        .unwrap()
        .with_reference("incident-42");
        let request = client
            .signed_request(reqwest::Method::GET, "/admin/audit", None, None)
            .await
            .unwrap();
        assert_eq!(request.headers()[CORRELATION_HEADER], "incident-42");
        let authorization = request.headers()["authorization"].to_str().unwrap();
        assert!(
            authorization.contains(CORRELATION_HEADER),
            "{authorization}"
        );
        verify_request(&request, &iam(), SystemTime::now()).unwrap();
        let mut tampered = request.try_clone().unwrap();
        tampered
            .headers_mut()
            .insert(CORRELATION_HEADER, HeaderValue::from_static("someone-else"));
        assert_eq!(
            verify_request(&tampered, &iam(), SystemTime::now())
                .unwrap_err()
                .reason,
            Reason::Mismatch
        );
    }

    #[tokio::test]
    async fn temporary_credentials_carry_their_token() {
        let client = AdminClient::new(
            &config(Credentials::new(
                "ASIAROLE",
                "role-secret",
                Some("role-token".into()),
                Some(SystemTime::now() + Duration::from_secs(3600)),
                "sso",
            )),
            "https://abc123.execute-api.eu-west-1.amazonaws.com",
        )
        .unwrap();
        let request = client
            .signed_request(reqwest::Method::GET, "/admin/orders", None, None)
            .await
            .unwrap();
        assert_eq!(
            request.headers()["host"],
            "abc123.execute-api.eu-west-1.amazonaws.com"
        );
        assert_eq!(request.headers()["x-amz-security-token"], "role-token");
        verify_request(&request, &iam(), SystemTime::now()).unwrap();
    }

    #[tokio::test]
    async fn a_key_iam_does_not_know_is_refused() {
        let client = AdminClient::new(
            &config(Credentials::new("AKIASTRANGER", "x", None, None, "test")),
            "http://127.0.0.1:8080",
        )
        .unwrap();
        let request = client
            .signed_request(reqwest::Method::GET, "/admin/orders", None, None)
            .await
            .unwrap();
        assert_eq!(
            verify_request(&request, &iam(), SystemTime::now())
                .unwrap_err()
                .reason,
            Reason::UnknownKey
        );
    }

    /// `donut-cli` against the local stack: LocalStack's configuration signs as the operator,
    /// the local gateway lets the operator through to the function, with its ARN.
    #[tokio::test]
    async fn against_the_local_gateway_the_cli_is_the_operator() {
        use donut_local::gateway::{Gateway, IamAuthorization, LOCAL_OPERATOR_ARN, serve};
        use lambda_http::RequestExt;
        use lambda_http::request::RequestContext;

        let echo: donut_local::gateway::Invoke =
            std::sync::Arc::new(|request: lambda_http::Request| {
                let arn = match request.request_context() {
                    RequestContext::ApiGatewayV2(c) => {
                        c.authorizer.and_then(|a| a.iam).and_then(|i| i.user_arn)
                    }
                    _ => None,
                };
                Box::pin(async move {
                    lambda_http::Response::new(lambda_http::Body::Text(
                        serde_json::json!({ "userArn": arn }).to_string(),
                    ))
                })
            });
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let gateway = Gateway {
            sales_api: echo.clone(),
            warehouse_restock: echo.clone(),
            admin_api: echo,
            static_json: std::sync::Arc::new(Vec::new()),
            iam: std::sync::Arc::new(IamAuthorization::local(REGION)),
            jwt: None,
            throttles: None,
            serves: donut_local::gateway::all_routes,
        };
        let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(serve(listener, gateway, async move {
            let _ = stopped.await;
        }));

        let local = donut_local::localstack_config("http://127.0.0.1:4566", REGION).await;
        let client = AdminClient::new(&local, &base).unwrap();
        let response = client
            .send(
                reqwest::Method::GET,
                "/admin/products/glazed?x=1",
                None,
                None,
            )
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["userArn"], LOCAL_OPERATOR_ARN);

        let stranger = AdminClient::new(
            &config(Credentials::new("AKIASTRANGER", "x", None, None, "test")),
            &base,
        )
        .unwrap();
        let response = stranger
            .send(reqwest::Method::GET, "/admin/products/glazed", None, None)
            .await
            .unwrap();
        assert_eq!(response.status(), 403);
        assert_eq!(
            response.text().await.unwrap(),
            r#"{"message":"The security token included in the request is invalid."}"#
        );
        let unsigned = reqwest::get(format!("{base}/admin/products/glazed"))
            .await
            .unwrap();
        assert_eq!(unsigned.status(), 403);
        assert_eq!(unsigned.text().await.unwrap(), r#"{"message":"Forbidden"}"#);
    }

    #[test]
    fn no_region_or_no_credentials_is_said() {
        let no_region = SdkConfig::builder()
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "test", "test", None, None, "test",
            )))
            .build();
        let err = AdminClient::new(&no_region, "http://x").err().unwrap();
        assert!(err.to_string().contains("no AWS Region"), "{err}");
        let no_credentials = SdkConfig::builder()
            .region(aws_config::Region::new(REGION))
            .build();
        let err = AdminClient::new(&no_credentials, "http://x").err().unwrap();
        assert!(err.to_string().contains("no AWS credentials"), "{err}");
    }
}
