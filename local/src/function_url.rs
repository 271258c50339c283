//! A Lambda function URL with `AWS_IAM` authorization, in front of the local factory simulator:
//! what Lambda answers before a deployed simulator runs, so the local requester must sign as the
//! deployed one does and a stranger's request never reaches simulator code.
//!
//! In order, as Lambda does it:
//! 1. **The signature** (SigV4 for the service `lambda` in the stack's Region), checked by the
//!    local gateway's verifier (`donut_apigw::sigv4::verify`, API Gateway's rules, scoped to
//!    `lambda`): "each HTTP request must be signed using AWS Signature Version 4 (SigV4)"
//!    (<https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html>).
//! 2. **The permission**: a same-account principal needs `lambda:InvokeFunctionUrl` and
//!    `lambda:InvokeFunction` on the function in its identity policy or the function's
//!    resource policy ("Starting in October 2025, new function URLs will require both …",
//!    <https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html>, "Using the AWS_IAM auth
//!    type"): here, the principals of [`FunctionUrlIam::invokers`].
//! 3. **The reserved instances**: a function at its reserved concurrency is throttled (429,
//!    "error code 429", the `Throttles` metric; `TooManyRequestsException`,
//!    <https://repost.aws/knowledge-center/lambda-troubleshoot-throttling>); an instance is held
//!    until the function answers, at most its timeout. And a function URL's request rate: "Your
//!    function's maximum request rate per second (RPS) is equivalent to 10 times the configured
//!    reserved concurrency" (the function URL documentation, as quoted in
//!    pfeilbr/lambda-function-urls-playground); counted here per whole second (how Lambda
//!    counts it: UNCONFIRMED).
//!
//! The answers:
//! - unsigned, or signed by a principal without the permission: `403`,
//!   `x-amzn-ErrorType: AccessDeniedException`, `{"Message":"Forbidden. For troubleshooting
//!   Function URL authorization issues, see: https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html"}`
//!   (quoted from a function URL's answer in awsdocs/aws-lambda-developer-guide issue #494 and
//!   ant-media/Ant-Media-Server issue #7827);
//! - an access key IAM does not know: `403`, "The security token included in the request is
//!   invalid." (a function URL's answer to unknown credentials, jamesmbourne/aws4-axios issue
//!   #1553); the body's shape `{"message": …}` and its `x-amzn-ErrorType` are API Gateway's
//!   (`donut_apigw::sigv4::Refusal`): UNCONFIRMED for function URLs;
//! - a malformed, expired, wrongly scoped or mismatched signature: `403` with the verifier's
//!   message and error type (SigV4's common answers, as API Gateway words them): UNCONFIRMED for
//!   function URLs beyond the status;
//! - throttled: `429`, `x-amzn-ErrorType: TooManyRequestsException`, `{"Message":"Rate
//!   Exceeded."}`: the body UNCONFIRMED.
//!
//! Locally every function signs with LocalStack's key (`test`), which the local gateway also
//! takes for the operator's: that key is the one principal allowed here, so the operators' and
//! the tests' knob changes (`PUT /knobs`) are signed with it too.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use donut_apigw::LOCAL_ACCOUNT_ID;
use donut_apigw::sigv4::{self, Api, LocalIam, Principal, Reason, SignedRequest};
use serde_json::json;
use tokio::sync::Semaphore;

/// The signing name of a function URL.
pub const SERVICE: &str = "lambda";

/// The largest request a synchronous invocation takes (Lambda quotas: "Invocation payload
/// (request and response) 6 MB each for synchronous").
pub const MAX_REQUEST_BYTES: usize = 6 * 1024 * 1024;

/// The local functions' identity: LocalStack's key, which every local function signs with.
pub const LOCAL_FUNCTIONS_ARN: &str =
    "arn:aws:sts::000000000000:assumed-role/local-functions/donut-local";
/// LocalStack's key (`test`/`test`).
pub const LOCAL_KEY: (&str, &str) = ("test", "test");

/// A rate of requests a second: a second starts with the first request after the last one
/// ended, and counts the requests it lets through.
#[derive(Debug)]
pub struct PerSecond {
    limit: u32,
    window: Mutex<Option<(Instant, u32)>>,
}

impl PerSecond {
    pub fn new(limit: u32) -> Self {
        Self {
            limit,
            window: Mutex::new(None),
        }
    }

    /// Counts a request arriving `at`; false once the second's limit is reached.
    pub fn admit(&self, at: Instant) -> bool {
        let mut window = self.window.lock().expect("not poisoned");
        let (started, count) = match *window {
            Some((started, count))
                if at.saturating_duration_since(started) < Duration::from_secs(1) =>
            {
                (started, count)
            }
            _ => (at, 0),
        };
        let admitted = count < self.limit;
        *window = Some((started, count + u32::from(admitted)));
        admitted
    }
}

/// What the function URL's guard let through and refused so far.
#[derive(Debug, Default)]
pub struct Counts {
    pub refused: AtomicU64,
    pub throttled: AtomicU64,
    pub let_through: AtomicU64,
}

/// A function URL's IAM authorization and its function's reserved instances.
#[derive(Clone)]
pub struct FunctionUrlIam {
    /// The Region signatures must be scoped to (service [`SERVICE`]).
    pub region: String,
    /// The function behind the URL (what the permission names).
    pub function_arn: String,
    /// The principals IAM knows (their keys).
    pub principals: LocalIam,
    /// The principals whose policy allows `lambda:InvokeFunctionUrl` and
    /// `lambda:InvokeFunction` on [`Self::function_arn`].
    pub invokers: Vec<String>,
    /// The function's reserved concurrency (`None`: unbounded).
    pub instances: Option<Arc<Semaphore>>,
    /// At most this many requests a second (10 × the reserved concurrency).
    pub per_second: Option<Arc<PerSecond>>,
    /// How long an instance is held at most (the function's timeout).
    pub timeout: Duration,
    pub counts: Arc<Counts>,
}

impl FunctionUrlIam {
    /// The local stack's: LocalStack's key the one principal, allowed to invoke.
    pub fn local(
        region: &str,
        function_arn: &str,
        instances: Option<u32>,
        timeout: Duration,
    ) -> Self {
        let functions = Principal {
            arn: LOCAL_FUNCTIONS_ARN.to_owned(),
            account_id: LOCAL_ACCOUNT_ID.to_owned(),
            user_id: "AROALOCALFUNCTIONS:donut-local".to_owned(),
            keys: Vec::new(),
            // The verifier's own policy step is API Gateway's (`execute-api:Invoke`): let it
            // pass, and check the function URL's permission here ([`Self::invokers`]).
            allow: vec!["*".to_owned()],
        }
        .with_key(LOCAL_KEY.0, LOCAL_KEY.1);
        Self {
            region: region.to_owned(),
            function_arn: function_arn.to_owned(),
            principals: LocalIam::default().with(functions),
            invokers: vec![LOCAL_FUNCTIONS_ARN.to_owned()],
            instances: instances.map(|n| Arc::new(Semaphore::new(n as usize))),
            per_second: instances.map(|n| Arc::new(PerSecond::new(10 * n))),
            timeout,
            counts: Arc::default(),
        }
    }

    /// One more principal IAM knows (a test's), allowed to invoke or not.
    pub fn with(mut self, principal: Principal, may_invoke: bool) -> Self {
        if may_invoke {
            self.invokers.push(principal.arn.clone());
        }
        let mut principal = principal;
        principal.allow = vec!["*".to_owned()];
        self.principals = self.principals.with(principal);
        self
    }

    /// `router` behind this URL.
    pub fn wrap(self, router: axum::Router) -> axum::Router {
        router.layer(axum::middleware::from_fn_with_state(self, guard))
    }

    fn api(&self) -> Api {
        let mut api = Api::new(&self.region, LOCAL_ACCOUNT_ID, "function-url", "$default");
        api.service = SERVICE.to_owned();
        api
    }
}

/// Signs `request` for the local simulator's URL as the local functions do (LocalStack's key,
/// `lambda`, `region`): what the tests and an operator's knob changes send.
pub async fn sign_local(request: &mut reqwest::Request, region: &str) -> Result<(), String> {
    let credentials =
        aws_credential_types::Credentials::new(LOCAL_KEY.0, LOCAL_KEY.1, None, None, "localstack");
    donut_factory::SigV4Signer::new(
        region,
        aws_credential_types::provider::SharedCredentialsProvider::new(credentials),
    )
    .sign(request, SystemTime::now())
    .await
}

/// `{"Message": "Forbidden. …"}`: unsigned, or no permission.
pub const FORBIDDEN_MESSAGE: &str = "Forbidden. For troubleshooting Function URL authorization issues, see: https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html";

fn answer(status: StatusCode, error_type: &'static str, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers.insert("x-amzn-errortype", HeaderValue::from_static(error_type));
    response
}

fn forbidden() -> Response {
    answer(
        StatusCode::FORBIDDEN,
        "AccessDeniedException",
        json!({ "Message": FORBIDDEN_MESSAGE }).to_string(),
    )
}

fn throttled() -> Response {
    answer(
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyRequestsException",
        json!({ "Message": "Rate Exceeded." }).to_string(),
    )
}

async fn guard(State(iam): State<FunctionUrlIam>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_REQUEST_BYTES).await else {
        iam.counts.refused.fetch_add(1, Ordering::Relaxed);
        return answer(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLargeException",
            json!({ "Message": "Request must be smaller than 6291456 bytes for the InvokeFunction operation" })
                .to_string(),
        );
    };
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let signed = SignedRequest {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        raw_query: parts.uri.query().unwrap_or(""),
        headers: &headers,
        body: &bytes,
    };
    let caller = match sigv4::verify(&signed, &iam.api(), &iam.principals, SystemTime::now()) {
        Ok(caller) => caller,
        Err(refusal) => {
            iam.counts.refused.fetch_add(1, Ordering::Relaxed);
            tracing::info!(reason = ?refusal.reason, "the factory simulator's function URL refused a request");
            return match refusal.reason {
                Reason::Unsigned | Reason::NotAuthorized => forbidden(),
                _ => answer(StatusCode::FORBIDDEN, refusal.error_type, refusal.body()),
            };
        }
    };
    if !iam.invokers.contains(&caller.user_arn) {
        iam.counts.refused.fetch_add(1, Ordering::Relaxed);
        tracing::info!(caller = %caller.user_arn, function = %iam.function_arn, "not allowed to invoke the factory simulator's function URL");
        return forbidden();
    }
    if let Some(rate) = &iam.per_second
        && !rate.admit(Instant::now())
    {
        iam.counts.throttled.fetch_add(1, Ordering::Relaxed);
        return throttled();
    }
    let _instance = match &iam.instances {
        Some(instances) => match instances.clone().try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) => {
                iam.counts.throttled.fetch_add(1, Ordering::Relaxed);
                return throttled();
            }
        },
        None => None,
    };
    iam.counts.let_through.fetch_add(1, Ordering::Relaxed);
    let request = Request::from_parts(parts, Body::from(bytes));
    match tokio::time::timeout(iam.timeout, next.run(request)).await {
        Ok(response) => response,
        // The function ran out of time: the URL answers 502 (UNCONFIRMED body).
        Err(_) => answer(
            StatusCode::BAD_GATEWAY,
            "ServiceException",
            json!({ "Message": "Internal Server Error" }).to_string(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use aws_credential_types::Credentials;
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    use aws_sigv4::sign::v4;

    use super::*;

    const REGION: &str = "eu-west-1";

    struct Running {
        base: String,
        calls: Arc<AtomicU64>,
        iam: FunctionUrlIam,
    }

    /// A function behind the URL that counts its calls (and takes `hold` to answer).
    async fn start(iam: FunctionUrlIam, hold: Duration) -> Running {
        let calls = Arc::new(AtomicU64::new(0));
        let counted = calls.clone();
        let router = axum::Router::new().fallback(move || {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(hold).await;
                "ran"
            }
        });
        let app = iam.clone().wrap(router);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Running { base, calls, iam }
    }

    fn iam(instances: Option<u32>) -> FunctionUrlIam {
        let other = Principal::user(LOCAL_ACCOUNT_ID, "someone", "AIDASOMEONE")
            .with_key("AKIDSOMEONE", "s3cret");
        FunctionUrlIam::local(
            REGION,
            "arn:aws:lambda:eu-west-1:000000000000:function:sim",
            instances,
            Duration::from_secs(5),
        )
        .with(other, false)
    }

    /// A POST signed as the SDK signs, for `service` in `region` with `key`.
    fn signed(base: &str, key: (&str, &str), service: &str, region: &str) -> reqwest::Request {
        let mut request = http()
            .post(format!("{base}/api/manufactures"))
            .header("content-type", "application/json")
            .body("{}")
            .build()
            .unwrap();
        let host = request.url().host_str().unwrap().to_owned();
        let host = format!("{host}:{}", request.url().port().unwrap());
        request.headers_mut().insert("host", host.parse().unwrap());
        let headers: Vec<(String, String)> = request
            .headers()
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
            .collect();
        let identity = Credentials::new(key.0, key.1, None, None, "test").into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name(service)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let signable = SignableRequest::new(
            "POST",
            request.url().as_str(),
            headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
            SignableBody::Bytes(b"{}"),
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let (headers, _) = instructions.into_parts();
        for h in headers {
            request.headers_mut().insert(
                reqwest::header::HeaderName::from_bytes(h.name().as_bytes()).unwrap(),
                h.value().parse().unwrap(),
            );
        }
        request
    }

    thread_local! {
        /// One client for a test's calls (building one loads the TLS roots: slow on a busy
        /// machine); each test runs on a thread and a runtime of its own.
        static HTTP: reqwest::Client = reqwest::Client::new();
    }

    fn http() -> reqwest::Client {
        HTTP.with(Clone::clone)
    }

    async fn send(request: reqwest::Request) -> (u16, serde_json::Value, String) {
        let r = http().execute(request).await.unwrap();
        let status = r.status().as_u16();
        let error_type = r
            .headers()
            .get("x-amzn-errortype")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(json!(text)),
            error_type,
        )
    }

    /// Each refusal as the function URL answers it, and none reaches the function.
    #[tokio::test]
    async fn refusals_come_before_the_function() {
        let r = start(iam(None), Duration::ZERO).await;
        let unsigned = http()
            .post(format!("{}/api/manufactures", r.base))
            .body("{}")
            .build()
            .unwrap();
        let (status, body, error_type) = send(unsigned).await;
        assert_eq!(
            (status, error_type.as_str()),
            (403, "AccessDeniedException")
        );
        assert_eq!(body, json!({ "Message": FORBIDDEN_MESSAGE }));

        let (status, body, _) = send(signed(&r.base, ("AKIDUNKNOWN", "x"), SERVICE, REGION)).await;
        assert_eq!(status, 403);
        assert_eq!(
            body["message"],
            "The security token included in the request is invalid."
        );

        let (status, body, _) =
            send(signed(&r.base, (LOCAL_KEY.0, "wrong"), SERVICE, REGION)).await;
        assert_eq!(status, 403);
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .starts_with("The request signature we calculated does not match"),
            "{body}"
        );

        // Signed for API Gateway, or for another Region: the scope is refused.
        for (service, region) in [("execute-api", REGION), (SERVICE, "us-east-1")] {
            let (status, body, _) = send(signed(&r.base, LOCAL_KEY, service, region)).await;
            assert_eq!(status, 403, "{service} {region}: {body}");
        }

        // A principal IAM knows, without the permission.
        let (status, body, _) =
            send(signed(&r.base, ("AKIDSOMEONE", "s3cret"), SERVICE, REGION)).await;
        assert_eq!(
            (status, body),
            (403, json!({ "Message": FORBIDDEN_MESSAGE }))
        );

        assert_eq!(r.calls.load(Ordering::SeqCst), 0, "the function never ran");
        assert_eq!(r.iam.counts.refused.load(Ordering::SeqCst), 6);

        let (status, body, _) = send(signed(&r.base, LOCAL_KEY, SERVICE, REGION)).await;
        assert_eq!((status, body), (200, json!("ran")));
        assert_eq!(r.calls.load(Ordering::SeqCst), 1);
    }

    /// At its reserved concurrency the function is throttled (429); refused requests hold no
    /// instance.
    #[tokio::test]
    async fn reserved_instances_bound_the_signed_calls_only() {
        let r = start(iam(Some(2)), Duration::from_secs(3)).await;
        let unsigned = (0..50).map(|_| {
            let base = r.base.clone();
            async move {
                http()
                    .post(format!("{base}/api/manufactures"))
                    .body("{}")
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        });
        let signed_calls = (0..3).map(|_| send(signed(&r.base, LOCAL_KEY, SERVICE, REGION)));
        let (unsigned, signed) = tokio::join!(
            futures::future::join_all(unsigned),
            futures::future::join_all(signed_calls)
        );
        assert!(unsigned.iter().all(|s| *s == 403));
        let mut statuses: Vec<u16> = signed.iter().map(|(s, _, _)| *s).collect();
        statuses.sort();
        assert_eq!(statuses, [200, 200, 429]);
        assert_eq!(r.calls.load(Ordering::SeqCst), 2);
    }

    /// A second's limit: the first request opens the second, the limit's worth are let
    /// through, the rest refused until the second ends.
    #[test]
    fn a_second_lets_its_limit_through_and_then_starts_anew() {
        let rate = PerSecond::new(10);
        let t0 = Instant::now();
        let admitted = (0..12).filter(|_| rate.admit(t0)).count();
        assert_eq!(admitted, 10);
        assert!(!rate.admit(t0 + Duration::from_millis(999)));
        assert!(rate.admit(t0 + Duration::from_secs(1)));
        let admitted = (0..12)
            .filter(|_| rate.admit(t0 + Duration::from_millis(1500)))
            .count();
        assert_eq!(admitted, 9, "the second opened at 1 s had let one through");
    }

    /// A function URL takes at most 10 × its reserved concurrency requests a second (the
    /// instances left unbounded here, so that only the rate counts): requests one after the
    /// other, the 11th within a second of the first is refused as Lambda throttles.
    #[tokio::test]
    async fn ten_requests_a_second_per_reserved_instance() {
        let mut iam = iam(Some(1));
        iam.instances = None;
        let r = start(iam, Duration::ZERO).await;
        let mut statuses = Vec::new();
        let mut body = String::new();
        while statuses.len() < 100 && !statuses.contains(&429) {
            let (status, answer, _) = send(signed(&r.base, LOCAL_KEY, SERVICE, REGION)).await;
            statuses.push(status);
            body = answer.to_string();
        }
        // A second that ended before the 11th call (a stalled machine) lets more through,
        // never fewer.
        let through = statuses.iter().filter(|s| **s == 200).count();
        assert!(through >= 10, "{statuses:?}");
        assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
        assert!(body.contains("Rate Exceeded."), "{body}");
        assert_eq!(r.calls.load(Ordering::SeqCst), through as u64);
    }
}
