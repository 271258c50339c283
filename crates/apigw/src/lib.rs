//! API Gateway HTTP API (payload 2.0) framing, for hosting the handlers outside Lambda.
//!
//! [`to_lambda_request`] builds the very JSON event API Gateway sends and parses it with
//! `lambda_http`'s own deserializer, so a handler sees the same `Request` it sees in AWS.
//! [`HttpReply`] is what API Gateway makes of the handler's response. [`sigv4`] is API Gateway's
//! IAM authorization and [`jwt`] its JWT authorizer: a route that requires one is checked before
//! any function runs, and the caller reaches the event ([`to_lambda_request_with`],
//! [`to_lambda_request_authorized`]).

pub mod jwt;
pub mod sigv4;

use base64::Engine;
use lambda_http::{Body, Request, Response};
use serde_json::{Map, Value, json};

/// An HTTP request as a gateway receives it.
#[derive(Debug, Clone)]
pub struct HttpCall<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// Without the leading `?`.
    pub raw_query: &'a str,
    /// Lower-case names; repeated headers already joined with `,` as API Gateway does.
    pub headers: Vec<(String, String)>,
    pub body: &'a [u8],
    pub source_ip: &'a str,
}

/// The account, API id and stage the local gateway's events name (and its IAM authorization
/// checks policies against).
pub const LOCAL_ACCOUNT_ID: &str = "000000000000";
pub const LOCAL_API_ID: &str = "local";
pub const STAGE: &str = "$default";

/// The payload 2.0 event for `call`.
pub fn event_json(call: &HttpCall<'_>) -> Value {
    event_json_with(call, None)
}

/// The payload 2.0 event for `call`, with `requestContext.authorizer.iam` when IAM authorization
/// let `caller` through (none otherwise, as for a route without authorization).
pub fn event_json_with(call: &HttpCall<'_>, caller: Option<&sigv4::Caller>) -> Value {
    event_json_authorized(call, caller.map(Authorized::Iam))
}

/// Who an authorizer let through, as `requestContext.authorizer` says it.
#[derive(Debug, Clone, Copy)]
pub enum Authorized<'a> {
    /// IAM authorization: `requestContext.authorizer.iam`.
    Iam(&'a sigv4::Caller),
    /// A JWT authorizer: `requestContext.authorizer.jwt` (`claims`, `scopes`).
    Jwt(&'a jwt::JwtCaller),
}

/// The payload 2.0 event for `call`, with `requestContext.authorizer` saying who `authorized`
/// is (none for a route without authorization).
pub fn event_json_authorized(call: &HttpCall<'_>, authorized: Option<Authorized<'_>>) -> Value {
    let headers: Map<String, Value> = call
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), Value::String(v.clone())))
        .collect();
    let mut query = Map::new();
    for pair in call.raw_query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (percent_decode(k), percent_decode(v));
        // API Gateway joins repeated parameters with a comma.
        match query.get_mut(&k) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&v);
            }
            _ => {
                query.insert(k, Value::String(v));
            }
        }
    }
    let (body, base64) = match std::str::from_utf8(call.body) {
        _ if call.body.is_empty() => (Value::Null, false),
        Ok(text) => (Value::String(text.to_owned()), false),
        Err(_) => (
            Value::String(base64::engine::general_purpose::STANDARD.encode(call.body)),
            true,
        ),
    };
    // The route API Gateway would match: its key and path parameters (`$default`, none,
    // when no route matches; the gateway answers those itself).
    let route = donut_contract::routes::matching(call.path);
    let route_key = route.as_ref().map_or("$default", |r| r.key);
    let path_parameters: Map<String, Value> = route
        .iter()
        .flat_map(|r| &r.parameters)
        .map(|(name, value)| ((*name).to_owned(), Value::String(value.clone())))
        .collect();
    let now = time::OffsetDateTime::now_utc();
    let user_agent = headers
        .get("user-agent")
        .cloned()
        .unwrap_or(Value::String(String::new()));
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": call.path,
        "rawQueryString": call.raw_query,
        "headers": headers,
        "queryStringParameters": if query.is_empty() { Value::Null } else { Value::Object(query) },
        "pathParameters": if path_parameters.is_empty() { Value::Null } else { Value::Object(path_parameters) },
        "requestContext": {
            "accountId": LOCAL_ACCOUNT_ID,
            "apiId": LOCAL_API_ID,
            "domainName": "127.0.0.1",
            "domainPrefix": "local",
            "http": {
                "method": call.method,
                "path": call.path,
                "protocol": "HTTP/1.1",
                "sourceIp": call.source_ip,
                "userAgent": user_agent,
            },
            "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": route_key,
            "stage": STAGE,
            "time": now.format(&time::format_description::well_known::Rfc2822).unwrap_or_default(),
            "timeEpoch": (now.unix_timestamp_nanos() / 1_000_000) as i64,
        },
        "body": body,
        "isBase64Encoded": base64,
    });
    match authorized {
        Some(Authorized::Iam(caller)) => {
            event["requestContext"]["authorizer"] = json!({ "iam": caller.iam_json() });
        }
        Some(Authorized::Jwt(caller)) => {
            event["requestContext"]["authorizer"] = json!({ "jwt": caller.jwt_json() });
        }
        None => {}
    }
    event
}

/// The `lambda_http::Request` a Lambda behind API Gateway receives for `call`.
pub fn to_lambda_request(call: &HttpCall<'_>) -> Result<Request, String> {
    to_lambda_request_with(call, None)
}

/// The `lambda_http::Request` for `call` on a route IAM authorization let `caller` through.
pub fn to_lambda_request_with(
    call: &HttpCall<'_>,
    caller: Option<&sigv4::Caller>,
) -> Result<Request, String> {
    to_lambda_request_authorized(call, caller.map(Authorized::Iam))
}

/// The `lambda_http::Request` for `call` on a route whose authorizer let `authorized` through.
pub fn to_lambda_request_authorized(
    call: &HttpCall<'_>,
    authorized: Option<Authorized<'_>>,
) -> Result<Request, String> {
    lambda_http::request::from_str(&event_json_authorized(call, authorized).to_string())
        .map_err(|e| e.to_string())
}

/// What API Gateway sends back to the client for a handler's response.
#[derive(Debug, Clone)]
pub struct HttpReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl From<Response<Body>> for HttpReply {
    fn from(response: Response<Body>) -> Self {
        let (parts, body) = response.into_parts();
        let body = match body {
            Body::Text(t) => t.into_bytes(),
            Body::Binary(b) => b,
            _ => Vec::new(),
        };
        let headers = parts
            .headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        Self {
            status: parts.status.as_u16(),
            headers,
            body,
        }
    }
}

impl HttpReply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(
                    std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                    16,
                ) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use lambda_http::RequestExt;

    use super::*;

    #[test]
    fn builds_the_request_lambda_sees() {
        let call = HttpCall {
            method: "POST",
            path: "/factory/callback/abc",
            raw_query: "token=a%2Bb&x=1&x=2",
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: b"{\"a\":1}",
            source_ip: "127.0.0.1",
        };
        let req = to_lambda_request(&call).unwrap();
        assert_eq!(req.method(), "POST");
        assert_eq!(req.uri().path(), "/factory/callback/abc");
        assert_eq!(req.query_string_parameters().first("token"), Some("a+b"));
        assert_eq!(req.headers()["content-type"], "application/json");
        assert!(matches!(req.body(), Body::Text(t) if t == "{\"a\":1}"));
    }

    #[test]
    fn binary_bodies_travel_base64() {
        let call = HttpCall {
            method: "POST",
            path: "/orders",
            raw_query: "",
            headers: vec![],
            body: &[0xff, 0xfe, 0x00],
            source_ip: "127.0.0.1",
        };
        let req = to_lambda_request(&call).unwrap();
        assert!(matches!(req.body(), Body::Binary(b) if b == &[0xff, 0xfe, 0x00]));
    }

    #[test]
    fn the_iam_caller_reaches_the_request_context() {
        use lambda_http::request::RequestContext;

        let call = HttpCall {
            method: "GET",
            path: "/admin/orders",
            raw_query: "",
            headers: vec![],
            body: b"",
            source_ip: "127.0.0.1",
        };
        let caller = sigv4::Caller {
            access_key: "AKIAOPERATOR".into(),
            account_id: "123456789012".into(),
            caller_id: "AIDAOPERATOR".into(),
            user_arn: "arn:aws:iam::123456789012:user/operator".into(),
            user_id: "AIDAOPERATOR".into(),
        };
        let iam = |request: Request| match request.request_context() {
            RequestContext::ApiGatewayV2(context) => context.authorizer.and_then(|a| a.iam),
            _ => panic!("not a payload 2.0 event"),
        };
        let seen = iam(to_lambda_request_with(&call, Some(&caller)).unwrap()).unwrap();
        assert_eq!(seen.user_arn.as_deref(), Some(caller.user_arn.as_str()));
        assert_eq!(seen.access_key.as_deref(), Some("AKIAOPERATOR"));
        assert_eq!(seen.account_id.as_deref(), Some("123456789012"));
        assert_eq!(seen.caller_id.as_deref(), Some("AIDAOPERATOR"));
        assert_eq!(seen.user_id.as_deref(), Some("AIDAOPERATOR"));
        assert_eq!(seen.principal_org_id, None);
        assert_eq!(seen.cognito_identity, None);
        // Other routes: no authorizer at all, as before.
        assert_eq!(event_json(&call)["requestContext"].get("authorizer"), None);
        assert!(iam(to_lambda_request(&call).unwrap()).is_none());
    }

    #[test]
    fn the_jwt_caller_reaches_the_request_context() {
        use std::collections::BTreeMap;

        use lambda_http::request::RequestContext;

        let call = HttpCall {
            method: "GET",
            path: "/orders",
            raw_query: "",
            headers: vec![],
            body: b"",
            source_ip: "127.0.0.1",
        };
        let jwt = |request: Request| match request.request_context() {
            RequestContext::ApiGatewayV2(context) => context.authorizer.and_then(|a| a.jwt),
            _ => panic!("not a payload 2.0 event"),
        };
        let caller = jwt::JwtCaller {
            claims: BTreeMap::from([
                ("sub".to_owned(), "customer-1".to_owned()),
                ("exp".to_owned(), "1714644300".to_owned()),
                ("cognito:groups".to_owned(), "[admin ops]".to_owned()),
            ]),
            scopes: None,
        };
        let seen =
            jwt(to_lambda_request_authorized(&call, Some(Authorized::Jwt(&caller))).unwrap())
                .unwrap();
        assert_eq!(
            seen.claims.get("sub").map(String::as_str),
            Some("customer-1")
        );
        assert_eq!(
            seen.claims.get("exp").map(String::as_str),
            Some("1714644300")
        );
        assert_eq!(seen.claims.len(), 3);
        assert_eq!(seen.scopes, None);
        let event = event_json_authorized(&call, Some(Authorized::Jwt(&caller)));
        assert_eq!(
            event["requestContext"]["authorizer"]["jwt"]["scopes"],
            Value::Null
        );
        assert_eq!(event["requestContext"]["authorizer"].get("iam"), None);
        let scoped = jwt::JwtCaller {
            scopes: Some(vec!["orders:read".to_owned()]),
            ..caller
        };
        let seen =
            jwt(to_lambda_request_authorized(&call, Some(Authorized::Jwt(&scoped))).unwrap())
                .unwrap();
        assert_eq!(seen.scopes, Some(vec!["orders:read".to_owned()]));
    }

    #[test]
    fn percent_decoding_survives_garbage() {
        assert_eq!(percent_decode("a%20b"), "a b");
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("%4"), "%4");
    }
}
