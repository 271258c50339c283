//! The API Gateway stand-in: HTTP in, an API Gateway v2 (payload 2.0) event into the same
//! handler value the Lambda runs, the handler's response back out as HTTP.
//!
//! A route with IAM authorization ([`IamAuthorization`]) is let through only with a SigV4
//! signature of a principal whose policy allows `execute-api:Invoke` on the request, checked as
//! API Gateway checks it (`donut_apigw::sigv4`) before any function runs: refused, the caller
//! gets API Gateway's 403; let through, the function's event carries the caller in
//! `requestContext.authorizer.iam`.
//!
//! On a stage whose buyers sign in (`buyerAuth`), the buyers' order routes take API Gateway's
//! JWT authorizer ([`JwtAuthorization`], `donut_apigw::jwt`): a bearer token of the stage's
//! issuer and audience, signed by a key of the issuer's JWKS, unexpired — refused, the caller
//! gets API Gateway's 401 and no function runs; let through, the event carries the token's
//! claims in `requestContext.authorizer.jwt`. Locally the issuer's keys are the local issuer's
//! (`donut_apigw::jwt::local_issuer`, a test-only key: `donut-cli buyer token` mints with it).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use axum::body::{Body as AxumBody, to_bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use donut_api::{Function, HttpHandler};
use donut_apigw::jwt::{JwtAuthorizer, JwtRefusal};
use donut_apigw::sigv4::{self, Api, LocalIam, Principal, Refusal, SignedRequest};
use donut_apigw::{
    Authorized, HttpCall, HttpReply, LOCAL_ACCOUNT_ID, LOCAL_API_ID, STAGE,
    to_lambda_request_authorized,
};
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
    pub admin_api: Invoke,
    /// Extra documents served as-is (e.g. `/openapi.json`).
    pub static_json: Arc<Vec<(&'static str, String)>>,
    /// The routes with IAM authorization, and who may call them.
    pub iam: Arc<IamAuthorization>,
    /// The buyers' JWT authorizer, on a stage whose buyers sign in.
    pub jwt: Option<Arc<JwtAuthorization>>,
    /// The stage's throttles (none: unthrottled, as the tests that do not measure them run).
    pub throttles: Option<Arc<Throttles>>,
    /// Which functions' routes this API has: the public API all but the factory's callback,
    /// the factory's lane the callback alone ([`public_routes`], [`factory_lane`]).
    pub serves: fn(Function) -> bool,
}

/// The public API's routes: the buyers', the operators'; not the factory's callback, which
/// has an API of its own whose address only the factory is given.
pub fn public_routes(function: Function) -> bool {
    function != Function::WarehouseRestock
}

/// The factory's lane: its callback route alone.
pub fn factory_lane(function: Function) -> bool {
    function == Function::WarehouseRestock
}

/// Every route (one API for all, as in tests of the gateway itself).
pub fn all_routes(_: Function) -> bool {
    true
}

/// A throttle as API Gateway's stage and route settings give it: `rate` requests a second on
/// average, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    pub rate: f64,
    pub burst: f64,
}

/// API Gateway's throttling of an HTTP API stage: a token bucket per route — the stage's
/// default route settings for each route, a route's own settings where it has them — refusing
/// what is over with 429 `{"message":"Too Many Requests"}` before anything else runs
/// (<https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-throttling.html>:
/// "API Gateway throttles requests to your API using the token bucket algorithm… Route-level
/// throttling overrides stage-level throttling").
pub struct Throttles {
    default: Limit,
    routes: Vec<(&'static str, Limit)>,
    buckets: std::sync::Mutex<std::collections::HashMap<&'static str, (f64, std::time::Instant)>>,
}

impl Throttles {
    pub fn new(default: Limit, routes: Vec<(&'static str, Limit)>) -> Self {
        Self {
            default,
            routes,
            buckets: Default::default(),
        }
    }

    /// Takes a token from the route's bucket; false when it is empty.
    pub fn admit(&self, route_key: &'static str) -> bool {
        let limit = self
            .routes
            .iter()
            .find(|(key, _)| *key == route_key)
            .map_or(self.default, |(_, limit)| *limit);
        let now = std::time::Instant::now();
        let mut buckets = self.buckets.lock().expect("throttle buckets");
        let (tokens, at) = buckets.entry(route_key).or_insert((limit.burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * limit.rate).min(limit.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// API Gateway's JWT authorizer on the routes that take it.
pub struct JwtAuthorization {
    pub authorizer: JwtAuthorizer,
    /// Which routes (their keys) take it.
    pub requires: fn(&str) -> bool,
}

/// Whether a route (its key, `ANY /admin/…`) has IAM authorization: the routes of a function
/// `donut_contract::routes::requires_iam` names (the operators').
pub fn requires_iam(route_key: &str) -> bool {
    donut_contract::routes::ROUTES
        .iter()
        .find(|(key, _)| *key == route_key)
        .is_some_and(|(_, function)| donut_contract::routes::requires_iam(*function))
}

/// The local operator's access key: LocalStack's (`test`/`test`, what `donut-cli` signs with
/// against the local stack), so `donut-cli` against `make up` is the operator.
pub const LOCAL_OPERATOR_KEY: (&str, &str) = ("test", "test");
/// The local operator's ARN, as the admin API's handler sees it.
pub const LOCAL_OPERATOR_ARN: &str = "arn:aws:iam::000000000000:user/operator";

/// API Gateway's IAM authorization of the local API.
#[derive(Debug, Clone)]
pub struct IamAuthorization {
    /// What signatures must be scoped to (the stage's Region, `execute-api`) and what a
    /// request's resource ARN names (the local API's account, id and stage, as its events say).
    pub api: Api,
    /// The principals, their keys and policies.
    pub principals: LocalIam,
    /// Which routes have IAM authorization ([`requires_iam`]; tests may pick others).
    pub requires: fn(&str) -> bool,
}

impl IamAuthorization {
    /// The local stack's: the routes [`requires_iam`] names, and one principal, the operator
    /// ([`LOCAL_OPERATOR_KEY`], [`LOCAL_OPERATOR_ARN`]), allowed `execute-api:Invoke` on the
    /// whole local API (only the IAM routes ask; on AWS the operator role's policy names them).
    pub fn local(region: &str) -> Self {
        let api = Api::new(region, LOCAL_ACCOUNT_ID, LOCAL_API_ID, STAGE);
        let operator = Principal::user(LOCAL_ACCOUNT_ID, "operator", "AIDALOCALOPERATOR")
            .with_key(LOCAL_OPERATOR_KEY.0, LOCAL_OPERATOR_KEY.1)
            .allowing(&format!(
                "arn:aws:execute-api:{region}:{LOCAL_ACCOUNT_ID}:{LOCAL_API_ID}/*"
            ));
        Self {
            api,
            principals: LocalIam::default().with(operator),
            requires: requires_iam,
        }
    }

    /// One more principal (a test's: without the operator's policy, say).
    pub fn with(mut self, principal: Principal) -> Self {
        self.principals = self.principals.with(principal);
        self
    }
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
    let Some(route) =
        donut_contract::routes::matching(&path).filter(|route| (gateway.serves)(route.function))
    else {
        // API Gateway's own answer to a path no route of the API matches (no function runs).
        return (
            StatusCode::NOT_FOUND,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            r#"{"message":"Not Found"}"#,
        )
            .into_response();
    };
    let invoke = match route.function {
        Function::SalesApi => gateway.sales_api.clone(),
        Function::WarehouseRestock => gateway.warehouse_restock.clone(),
        Function::AdminApi => gateway.admin_api.clone(),
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
    if let Some(throttles) = &gateway.throttles
        && !throttles.admit(route.key)
    {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            r#"{"message":"Too Many Requests"}"#,
        )
            .into_response();
    }
    // JWT authorization (the buyers' routes, where the stage has it), before any function runs.
    let buyer = match &gateway.jwt {
        Some(jwt) if (jwt.requires)(route.key) => {
            match jwt
                .authorizer
                .authorize_route::<&str>(&call.headers, &[], SystemTime::now())
            {
                Ok(caller) => Some(caller),
                Err(refusal) => {
                    tracing::info!(
                        route = route.key,
                        reason = ?refusal.reason,
                        "the JWT authorizer refused the request"
                    );
                    return unauthorized(&refusal);
                }
            }
        }
        _ => None,
    };
    // IAM authorization, before any function runs.
    let caller = if (gateway.iam.requires)(route.key) {
        let signed = SignedRequest::from(&call);
        match sigv4::verify(
            &signed,
            &gateway.iam.api,
            &gateway.iam.principals,
            SystemTime::now(),
        ) {
            Ok(caller) => Some(caller),
            Err(refusal) => {
                tracing::info!(
                    route = route.key,
                    reason = ?refusal.reason,
                    "IAM authorization refused the request"
                );
                return refused(&refusal);
            }
        }
    } else {
        None
    };
    let authorized = match (&caller, &buyer) {
        (Some(iam), _) => Some(Authorized::Iam(iam)),
        (None, Some(jwt)) => Some(Authorized::Jwt(jwt)),
        (None, None) => None,
    };
    let lambda_request = match to_lambda_request_authorized(&call, authorized) {
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

/// API Gateway's 403: its error type in `x-amzn-ErrorType`, `{"message": …}`.
fn refused(refusal: &Refusal) -> Response {
    (
        StatusCode::FORBIDDEN,
        [
            (axum::http::header::CONTENT_TYPE, "application/json"),
            (
                HeaderName::from_static("x-amzn-errortype"),
                refusal.error_type,
            ),
        ],
        refusal.body(),
    )
        .into_response()
}

/// API Gateway's answer to a token its JWT authorizer refuses (401, or 403 for a missing scope).
fn unauthorized(refusal: &JwtRefusal) -> Response {
    let mut response = Response::new(AxumBody::from(refusal.body()));
    *response.status_mut() =
        StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::UNAUTHORIZED);
    for (name, value) in refusal.headers() {
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use aws_credential_types::Credentials;
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    use aws_sigv4::sign::v4;
    use lambda_http::RequestExt;
    use lambda_http::request::RequestContext;
    use serde_json::{Value, json};

    use super::*;

    const REGION: &str = "eu-west-1";

    /// A function that answers with the caller API Gateway's IAM authorization let through
    /// (`requestContext.authorizer.iam.userArn`, null without one), counting its calls.
    fn stub(calls: Arc<AtomicUsize>) -> Invoke {
        Arc::new(move |request: lambda_http::Request| {
            calls.fetch_add(1, Ordering::SeqCst);
            let arn = match request.request_context() {
                RequestContext::ApiGatewayV2(context) => context
                    .authorizer
                    .and_then(|a| a.iam)
                    .and_then(|iam| iam.user_arn),
                _ => None,
            };
            Box::pin(async move {
                lambda_http::Response::builder()
                    .status(200)
                    .header("content-type", "application/json")
                    .body(lambda_http::Body::Text(
                        json!({ "userArn": arn }).to_string(),
                    ))
                    .expect("a response")
            })
        })
    }

    struct Running {
        base: String,
        calls: Arc<AtomicUsize>,
        _stop: tokio::sync::oneshot::Sender<()>,
    }

    async fn start(iam: IamAuthorization) -> Running {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let calls = Arc::new(AtomicUsize::new(0));
        let gateway = Gateway {
            sales_api: stub(calls.clone()),
            warehouse_restock: stub(calls.clone()),
            admin_api: stub(calls.clone()),
            static_json: Arc::new(Vec::new()),
            iam: Arc::new(iam),
            jwt: None,
            serves: all_routes,
            throttles: None,
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(serve(listener, gateway, async move {
            let _ = stopped.await;
        }));
        Running {
            base,
            calls,
            _stop: stop,
        }
    }

    /// The local stack's IAM authorization, with one product's route as the IAM route (so the
    /// stub's public and IAM routes sit side by side), and a clerk who signs but whose policy
    /// allows only the product list.
    fn iam() -> IamAuthorization {
        IamAuthorization {
            requires: |route| route == "ANY /products/{id}",
            ..IamAuthorization::local(REGION)
        }
        .with(
            Principal::user(LOCAL_ACCOUNT_ID, "clerk", "AIDACLERK")
                .with_key("AKIACLERK", "clerk-secret")
                .allowing("arn:aws:execute-api:*:*:local/*/GET/products"),
        )
    }

    /// `GET url`, signed with `key` (SigV4, `execute-api`, the SDK's signer) when given.
    async fn get(url: &str, key: Option<(&str, &str)>) -> (u16, Option<String>, Value) {
        let http = reqwest::Client::new();
        let mut request = http.get(url).build().unwrap();
        if let Some((id, secret)) = key {
            let u = request.url().clone();
            let host = format!("{}:{}", u.host_str().unwrap(), u.port().unwrap());
            request
                .headers_mut()
                .insert("host", HeaderValue::from_str(&host).unwrap());
            let identity = Credentials::new(id, secret, None, None, "test").into();
            let params = v4::SigningParams::builder()
                .identity(&identity)
                .region(REGION)
                .name(sigv4::SERVICE)
                .time(SystemTime::now())
                .settings(SigningSettings::default())
                .build()
                .unwrap()
                .into();
            let headers: Vec<(String, String)> = request
                .headers()
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
                .collect();
            let signable = SignableRequest::new(
                "GET",
                url,
                headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
                SignableBody::Bytes(&[]),
            )
            .unwrap();
            let (instructions, _) = sign(signable, &params).unwrap().into_parts();
            for (name, value) in instructions.headers() {
                request.headers_mut().insert(
                    HeaderName::from_bytes(name.as_bytes()).unwrap(),
                    HeaderValue::from_str(value).unwrap(),
                );
            }
        }
        let response = http.execute(request).await.unwrap();
        let status = response.status().as_u16();
        let error_type = response
            .headers()
            .get("x-amzn-errortype")
            .map(|v| v.to_str().unwrap().to_owned());
        (status, error_type, response.json().await.unwrap())
    }

    #[tokio::test]
    async fn an_iam_route_runs_only_for_a_caller_whose_policy_allows_it() {
        let gw = start(iam()).await;
        let product = format!("{}/products/glazed", gw.base);

        let (status, error_type, body) = get(&product, None).await;
        assert_eq!(
            (status, error_type.as_deref(), body),
            (
                403,
                Some("ForbiddenException"),
                json!({ "message": "Forbidden" })
            ),
            "unsigned"
        );

        let (status, error_type, body) = get(&product, Some(("test", "not-test"))).await;
        assert_eq!(status, 403, "wrongly signed");
        assert_eq!(error_type.as_deref(), Some("InvalidSignatureException"));
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .starts_with("The request signature we calculated does not match"),
            "{body}"
        );

        let (status, error_type, body) = get(&product, Some(("AKIANOBODY", "x"))).await;
        assert_eq!(
            (status, error_type.as_deref(), body),
            (
                403,
                Some("AccessDeniedException"),
                json!({ "message": "The security token included in the request is invalid." })
            ),
            "unknown key"
        );

        let (status, error_type, body) = get(&product, Some(("AKIACLERK", "clerk-secret"))).await;
        assert_eq!(
            (status, error_type.as_deref(), body),
            (
                403,
                Some("AccessDeniedException"),
                json!({ "message": "User: arn:aws:iam::000000000000:user/clerk is not authorized \
                    to perform: execute-api:Invoke on resource: \
                    arn:aws:execute-api:eu-west-1:000000000000:local/$default/GET/products/glazed \
                    because no identity-based policy allows the execute-api:Invoke action" })
            ),
            "signed, without the policy"
        );
        assert_eq!(gw.calls.load(Ordering::SeqCst), 0, "no function ran");

        let (status, _, body) = get(&product, Some(LOCAL_OPERATOR_KEY)).await;
        assert_eq!(
            (status, body),
            (200, json!({ "userArn": LOCAL_OPERATOR_ARN })),
            "the operator"
        );
        assert_eq!(gw.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn other_routes_are_as_before() {
        let gw = start(iam()).await;
        // Unsigned, or signed by anyone: no authorizer in the event.
        let (status, _, body) = get(&format!("{}/products", gw.base), None).await;
        assert_eq!((status, body), (200, json!({ "userArn": null })));
        let (status, _, body) =
            get(&format!("{}/products", gw.base), Some(("AKIANOBODY", "x"))).await;
        assert_eq!((status, body), (200, json!({ "userArn": null })));
        let (status, _, _) = get(&format!("{}/nowhere", gw.base), None).await;
        assert_eq!(status, 404);
        assert_eq!(gw.calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn the_operator_api_has_iam_authorization() {
        assert!(requires_iam("ANY /admin/products/{id}"));
        assert!(requires_iam("ANY /admin/factory-orders"));
        assert!(!requires_iam("ANY /admin"), "no such route");
        assert!(!requires_iam("ANY /products/{id}"));
        let local = IamAuthorization::local(REGION);
        for (key, _) in donut_contract::routes::ROUTES {
            assert_eq!((local.requires)(key), requires_iam(key), "{key}");
            assert_eq!(requires_iam(key), key.contains(" /admin"), "{key}");
        }
    }
}
