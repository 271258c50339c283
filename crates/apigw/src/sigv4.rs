//! API Gateway's IAM authorization (`AWS_IAM` routes) as a pure function: [`verify`] checks a
//! request's Signature Version 4 as API Gateway does before any function runs, against a tiny
//! local IAM ([`LocalIam`]: principals, their access keys, and the `execute-api:Invoke`
//! resources their policy allows), and answers either the caller (payload 2.0's
//! `requestContext.authorizer.iam`, [`Caller`]) or the 403 API Gateway would send ([`Refusal`]).
//!
//! Sources:
//! - IAM authorization for HTTP API routes ("clients must use SigV4 … API Gateway invokes your
//!   API route only if the client has execute-api permission for the route"):
//!   <https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-access-control-iam.html>
//! - The signature: the canonical request, the string to sign, the signing key
//!   (<https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html>). What a
//!   client's signer does in detail is the SDK's: `aws-sigv4` (the path normalized and its
//!   already-encoded form encoded once more, `%` → `%25`: "each path segment must be URI-encoded
//!   twice, except for Amazon S3"; the query decoded, re-encoded and sorted), which is what
//!   `donut-cli` signs with and what the tests sign with.
//! - The resource an `execute-api:Invoke` policy names,
//!   `arn:aws:execute-api:region:account-id:api-id/stage/METHOD_HTTP_VERB/Resource-path`:
//!   <https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-control-access-using-iam-policies-to-invoke-api.html>
//!   and <https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-iam-policy-examples-for-api-execution.html>
//!   (`*` and `?` globs, IAM's wildcard rules).
//! - The refusals, each a 403 with `{"message": …}` and an `x-amzn-ErrorType` header: the table of
//!   <https://repost.aws/knowledge-center/api-gateway-troubleshoot-403-forbidden> (unknown key,
//!   policy refusal, expired signature, signature mismatch) and
//!   <https://repost.aws/knowledge-center/api-gateway-iam-sigv4-mismatch> (the policy refusal's
//!   current wording, "… because no identity-based policy allows the execute-api:Invoke
//!   action."). Each [`Refusal`] constructor names its own source.
//! - The five-minute window: API Gateway's own answers quote it ("Signature expired:
//!   20170212T175938Z is now earlier than 20170215T145534Z (20170215T150034Z - 5 min.)",
//!   <https://github.com/aws-amplify/aws-sdk-android/issues/253>), not the 15 minutes other
//!   services allow.
//! - `requestContext.authorizer.iam`'s fields: `aws_lambda_events`'
//!   `ApiGatewayRequestAuthorizerIamDescription` and its fixture
//!   `example-apigw-v2-request-iam.json` (accessKey, accountId, callerId, cognitoIdentity,
//!   principalOrgId, userArn, userId).
//!
//! Not modelled: presigned URLs (the signature in the query string; such a request is
//! answered as unsigned), the `Date` header instead of `X-Amz-Date`, SigV4a, explicit `Deny`
//! statements and resource policies (HTTP APIs have none).

use std::time::SystemTime;

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;
use time::macros::format_description;

/// The service a request for an API Gateway API is signed for.
pub const SERVICE: &str = "execute-api";
/// The only SigV4 algorithm API Gateway's IAM authorization takes (SigV4a aside).
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// How far `X-Amz-Date` may be from API Gateway's clock, either way.
pub const MAX_SKEW_SECONDS: i64 = 5 * 60;
/// The action an identity policy must allow on the request's resource.
pub const INVOKE: &str = "execute-api:Invoke";

/// The API being called: what a signature's scope must name, and what the resource ARN of a
/// request is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Api {
    pub region: String,
    /// [`SERVICE`].
    pub service: String,
    /// The account the API belongs to.
    pub account_id: String,
    pub api_id: String,
    /// `$default` for an HTTP API's default stage.
    pub stage: String,
}

impl Api {
    pub fn new(region: &str, account_id: &str, api_id: &str, stage: &str) -> Self {
        Self {
            region: region.to_owned(),
            service: SERVICE.to_owned(),
            account_id: account_id.to_owned(),
            api_id: api_id.to_owned(),
            stage: stage.to_owned(),
        }
    }

    /// The resource `execute-api:Invoke` is checked on for a request:
    /// `arn:aws:execute-api:region:account-id:api-id/stage/METHOD/path-without-leading-slash`.
    pub fn resource_arn(&self, method: &str, path: &str) -> String {
        format!(
            "arn:aws:execute-api:{}:{}:{}/{}/{}/{}",
            self.region,
            self.account_id,
            self.api_id,
            self.stage,
            method,
            path.strip_prefix('/').unwrap_or(path)
        )
    }
}

/// A request as the gateway has it.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    pub method: &'a str,
    /// As sent (still percent-encoded).
    pub path: &'a str,
    /// Without the leading `?`, as sent.
    pub raw_query: &'a str,
    /// Names in any case; a header sent several times either joined with `,` or listed again.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

impl<'a> SignedRequest<'a> {
    /// Every value of header `name`, joined with `,` (as SigV4 canonicalizes repeated headers).
    fn header(&self, name: &str) -> Option<String> {
        let values: Vec<&str> = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect();
        (!values.is_empty()).then(|| values.join(","))
    }
}

impl<'a> From<&'a crate::HttpCall<'a>> for SignedRequest<'a> {
    fn from(call: &'a crate::HttpCall<'a>) -> Self {
        Self {
            method: call.method,
            path: call.path,
            raw_query: call.raw_query,
            headers: &call.headers,
            body: call.body,
        }
    }
}

/// One access key of a principal.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessKey {
    pub id: String,
    pub secret: String,
    /// Temporary credentials (STS) carry a session token; every request made with them must
    /// present it (`x-amz-security-token`).
    pub session_token: Option<String>,
}

impl std::fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKey")
            .field("id", &self.id)
            .field("secret", &"…")
            .field("session_token", &self.session_token.as_ref().map(|_| "…"))
            .finish()
    }
}

/// An IAM user or role session, its keys, and the resources its identity policy allows
/// `execute-api:Invoke` on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// `arn:aws:iam::123456789012:user/alice`, `arn:aws:sts::123456789012:assumed-role/Ops/alice`.
    pub arn: String,
    pub account_id: String,
    /// The unique id (`AIDA…` for a user, `AROA…:session` for a role session): the event's
    /// `userId` and `callerId`.
    pub user_id: String,
    pub keys: Vec<AccessKey>,
    /// Resource ARNs, with IAM's `*` and `?` wildcards, that `execute-api:Invoke` is allowed on.
    pub allow: Vec<String>,
}

impl Principal {
    /// The IAM user `name` of `account_id`, with no key and no permission yet.
    pub fn user(account_id: &str, name: &str, user_id: &str) -> Self {
        Self {
            arn: format!("arn:aws:iam::{account_id}:user/{name}"),
            account_id: account_id.to_owned(),
            user_id: user_id.to_owned(),
            keys: Vec::new(),
            allow: Vec::new(),
        }
    }

    /// A long-term access key.
    pub fn with_key(mut self, id: &str, secret: &str) -> Self {
        self.keys.push(AccessKey {
            id: id.to_owned(),
            secret: secret.to_owned(),
            session_token: None,
        });
        self
    }

    /// Temporary credentials (an access key, its secret and its session token).
    pub fn with_session_key(mut self, id: &str, secret: &str, token: &str) -> Self {
        self.keys.push(AccessKey {
            id: id.to_owned(),
            secret: secret.to_owned(),
            session_token: Some(token.to_owned()),
        });
        self
    }

    /// Allows `execute-api:Invoke` on `resource` (an ARN, wildcards allowed).
    pub fn allowing(mut self, resource: &str) -> Self {
        self.allow.push(resource.to_owned());
        self
    }

    /// Whether the identity policy allows `execute-api:Invoke` on `resource_arn`.
    pub fn allows(&self, resource_arn: &str) -> bool {
        self.allow.iter().any(|p| glob_matches(p, resource_arn))
    }
}

/// The principals API Gateway's IAM knows of.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalIam {
    pub principals: Vec<Principal>,
}

impl LocalIam {
    pub fn new(principals: Vec<Principal>) -> Self {
        Self { principals }
    }

    pub fn with(mut self, principal: Principal) -> Self {
        self.principals.push(principal);
        self
    }

    /// The key `access_key_id` and its principal.
    pub fn key(&self, access_key_id: &str) -> Option<(&Principal, &AccessKey)> {
        self.principals.iter().find_map(|p| {
            p.keys
                .iter()
                .find(|k| k.id == access_key_id)
                .map(|k| (p, k))
        })
    }
}

/// Who called, as payload 2.0's `requestContext.authorizer.iam` says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub access_key: String,
    pub account_id: String,
    pub caller_id: String,
    pub user_arn: String,
    pub user_id: String,
}

impl Caller {
    /// `requestContext.authorizer.iam` (no Cognito identity, no organization).
    pub fn iam_json(&self) -> Value {
        json!({
            "accessKey": self.access_key,
            "accountId": self.account_id,
            "callerId": self.caller_id,
            "cognitoIdentity": null,
            "principalOrgId": null,
            "userArn": self.user_arn,
            "userId": self.user_id,
        })
    }
}

/// Why a request was refused (the message says it the way API Gateway does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// No `Authorization` header.
    Unsigned,
    /// An `Authorization` header that is not a whole SigV4 one, or no `X-Amz-Date`.
    Incomplete,
    /// Signed for another Region or service, or a scope date that is not the request's.
    Scope,
    /// `X-Amz-Date` more than five minutes away from now.
    Expired,
    /// An access key (or session token) IAM does not know.
    UnknownKey,
    /// The signature is not the one the key makes for this request.
    Mismatch,
    /// Signed, but the principal's policy does not allow `execute-api:Invoke` here.
    NotAuthorized,
}

/// API Gateway's answer to a request it does not let through: 403, `x-amzn-ErrorType`, and
/// `{"message": …}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: Reason,
    /// The `x-amzn-ErrorType` header.
    pub error_type: &'static str,
    pub message: String,
}

impl Refusal {
    pub const STATUS: u16 = 403;

    /// The response body, `{"message":"…"}`.
    pub fn body(&self) -> String {
        json!({ "message": self.message }).to_string()
    }

    /// An unsigned request to an IAM route of an HTTP API: `{"message":"Forbidden"}`. (A REST
    /// API answers "Missing Authentication Token" instead, per the 403 table of
    /// <https://repost.aws/knowledge-center/api-gateway-troubleshoot-403-forbidden>; HTTP APIs
    /// answer with their generic 403 body.)
    fn unsigned() -> Self {
        Self {
            reason: Reason::Unsigned,
            error_type: "ForbiddenException",
            message: "Forbidden".to_owned(),
        }
    }

    fn incomplete(message: String) -> Self {
        Self {
            reason: Reason::Incomplete,
            error_type: "IncompleteSignatureException",
            message,
        }
    }

    fn scope(message: String) -> Self {
        Self {
            reason: Reason::Scope,
            error_type: "InvalidSignatureException",
            message,
        }
    }

    /// "Authentication token expired | InvalidSignatureException | Signature expired" (403 table).
    fn expired(message: String) -> Self {
        Self {
            reason: Reason::Expired,
            error_type: "InvalidSignatureException",
            message,
        }
    }

    /// "Access denied | AccessDeniedException | The security token included in the request is
    /// invalid." (403 table: "IAM keys that aren't valid").
    fn unknown_key() -> Self {
        Self {
            reason: Reason::UnknownKey,
            error_type: "AccessDeniedException",
            message: "The security token included in the request is invalid.".to_owned(),
        }
    }

    /// "The request signature we calculated does not match the signature you provided. Check
    /// your AWS Secret Access Key and signing method." (the 403 table; the sigv4-mismatch
    /// article), followed, as API Gateway does, by the canonical request and string to sign it
    /// computed.
    fn mismatch(canonical_request: &str, string_to_sign: &str) -> Self {
        Self {
            reason: Reason::Mismatch,
            error_type: "InvalidSignatureException",
            message: format!(
                "The request signature we calculated does not match the signature you provided. \
                 Check your AWS Secret Access Key and signing method. Consult the service \
                 documentation for details.\n\nThe Canonical String for this request should have \
                 been\n'{canonical_request}'\n\nThe String-to-Sign should have been\n'{string_to_sign}'\n"
            ),
        }
    }

    /// "User: arn:aws:iam::xxxxxxxxxxxx:user/username is not authorized to perform:
    /// execute-api:Invoke on resource: arn:aws:execute-api:<region>:xxxxxxxxxxxx:<api-id>/stage/method/path
    /// because no identity-based policy allows the execute-api:Invoke action." (sigv4-mismatch
    /// article; AccessDeniedException in the 403 table.)
    fn not_authorized(user_arn: &str, resource: &str) -> Self {
        Self {
            reason: Reason::NotAuthorized,
            error_type: "AccessDeniedException",
            message: format!(
                "User: {user_arn} is not authorized to perform: {INVOKE} on resource: {resource} \
                 because no identity-based policy allows the {INVOKE} action"
            ),
        }
    }
}

/// Checks `request` as API Gateway checks a request to a route with IAM authorization of `api`,
/// at `now`: the signature (SigV4, header form), then the caller's permission to
/// `execute-api:Invoke` the request's resource.
pub fn verify(
    request: &SignedRequest<'_>,
    api: &Api,
    iam: &LocalIam,
    now: SystemTime,
) -> Result<Caller, Refusal> {
    let Some(authorization) = request.header("authorization") else {
        return Err(Refusal::unsigned());
    };
    let amz_date = request.header("x-amz-date");
    let auth = parse_authorization(&authorization, amz_date.is_some())?;
    let amz_date = amz_date.unwrap_or_default();

    // The scope: `key/date/region/service/aws4_request`.
    let scope: Vec<&str> = auth.credential.split('/').collect();
    let [key_id, scope_date, region, service, terminator] = scope[..] else {
        return Err(Refusal::incomplete(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. \
             keyid/date/region/service/term, got '{}'",
            auth.credential
        )));
    };
    let mut wrong_scope = String::new();
    if region != api.region {
        wrong_scope.push_str(&format!(
            "Credential should be scoped to a valid region, not '{region}'. "
        ));
    }
    if service != api.service {
        wrong_scope.push_str(&format!(
            "Credential should be scoped to correct service: '{}'. ",
            api.service
        ));
    }
    if terminator != "aws4_request" {
        wrong_scope.push_str(&format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not \
             '{terminator}'. "
        ));
    }
    if !wrong_scope.is_empty() {
        return Err(Refusal::scope(wrong_scope));
    }
    let signed_headers: Vec<String> = auth
        .signed_headers
        .split(';')
        .map(str::to_ascii_lowercase)
        .collect();
    if !signed_headers.iter().any(|h| h == "host") {
        return Err(Refusal::incomplete(
            "'Host' must be a 'SignedHeader' in the AWS Authorization.".to_owned(),
        ));
    }

    // The date, and the five minutes either way.
    let Ok(signed_at) = time::PrimitiveDateTime::parse(&amz_date, BASIC_ISO8601)
        .map(time::PrimitiveDateTime::assume_utc)
    else {
        return Err(Refusal::incomplete(format!(
            "Date must be in ISO-8601 'basic format'. Got '{amz_date}'. See \
             http://en.wikipedia.org/wiki/ISO_8601"
        )));
    };
    if !amz_date.starts_with(scope_date) || scope_date.len() != 8 {
        return Err(Refusal::scope(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date \
             from HTTP: '{scope_date}' != '{}', from '{amz_date}'.",
            amz_date.get(..8).unwrap_or(&amz_date)
        )));
    }
    let now = OffsetDateTime::from(now)
        .replace_nanosecond(0)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let skew = time::Duration::seconds(MAX_SKEW_SECONDS);
    if signed_at < now - skew {
        return Err(Refusal::expired(format!(
            "Signature expired: {amz_date} is now earlier than {} ({} - 5 min.)",
            basic(now - skew),
            basic(now)
        )));
    }
    if signed_at > now + skew {
        return Err(Refusal::expired(format!(
            "Signature not yet current: {amz_date} is still later than {} ({} + 5 min.)",
            basic(now + skew),
            basic(now)
        )));
    }

    // The key, and the session token temporary credentials must carry.
    let Some((principal, key)) = iam.key(key_id) else {
        return Err(Refusal::unknown_key());
    };
    let presented = request.header("x-amz-security-token");
    let token_ok = match (&key.session_token, &presented) {
        (None, None) => true,
        (Some(expected), Some(presented)) => {
            bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
        }
        _ => false,
    };
    if !token_ok {
        return Err(Refusal::unknown_key());
    }

    // The signature.
    let canonical = canonical_request(request, &signed_headers);
    let credential_scope = format!("{scope_date}/{region}/{service}/{terminator}");
    let string_to_sign = format!(
        "{ALGORITHM}\n{amz_date}\n{credential_scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let signing_key = [scope_date, region, service, terminator]
        .iter()
        .fold(format!("AWS4{}", key.secret).into_bytes(), |k, part| {
            hmac(&k, part.as_bytes())
        });
    let expected = hex::encode(hmac(&signing_key, string_to_sign.as_bytes()));
    if !bool::from(expected.as_bytes().ct_eq(auth.signature.as_bytes())) {
        return Err(Refusal::mismatch(&canonical, &string_to_sign));
    }

    // The identity policy.
    let resource = api.resource_arn(request.method, request.path);
    if !principal.allows(&resource) {
        return Err(Refusal::not_authorized(&principal.arn, &resource));
    }
    Ok(Caller {
        access_key: key.id.clone(),
        account_id: principal.account_id.clone(),
        caller_id: principal.user_id.clone(),
        user_arn: principal.arn.clone(),
        user_id: principal.user_id.clone(),
    })
}

/// `20150830T123600Z`.
const BASIC_ISO8601: &[time::format_description::FormatItem<'static>] =
    format_description!("[year][month][day]T[hour][minute][second]Z");

fn basic(t: OffsetDateTime) -> String {
    t.format(BASIC_ISO8601).unwrap_or_default()
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// The three parameters of `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…,
/// Signature=…`.
struct Authorization {
    credential: String,
    signed_headers: String,
    signature: String,
}

/// The header's parameters, or API Gateway's answer to a header that is not a whole SigV4 one
/// (the well-known answer to `Authorization: Bearer …` on an IAM route: "Authorization header
/// requires 'Credential' parameter. … Authorization=Bearer …").
fn parse_authorization(header: &str, has_date: bool) -> Result<Authorization, Refusal> {
    let params = header
        .strip_prefix(ALGORITHM)
        .filter(|rest| rest.starts_with(' '))
        .unwrap_or(header);
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for pair in params.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((name, value)) = pair.split_once('=') else {
            // API Gateway hides the header's value in this one.
            use base64::Engine;
            let digest =
                base64::engine::general_purpose::STANDARD.encode(Sha256::digest(header.as_bytes()));
            return Err(Refusal::incomplete(format!(
                "Invalid key=value pair (missing equal-sign) in Authorization header (hashed \
                 with SHA-256 and encoded with Base64): '{digest}'."
            )));
        };
        let value = Some(value.trim().to_owned());
        match name.trim() {
            "Credential" => credential = value,
            "SignedHeaders" => signed_headers = value,
            "Signature" => signature = value,
            _ => {}
        }
    }
    let mut missing = String::new();
    for (name, value) in [
        ("Credential", &credential),
        ("Signature", &signature),
        ("SignedHeaders", &signed_headers),
    ] {
        if value.is_none() {
            missing.push_str(&format!(
                "Authorization header requires '{name}' parameter. "
            ));
        }
    }
    if !has_date {
        missing.push_str(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' \
             header. ",
        );
    }
    match (credential, signed_headers, signature) {
        (Some(credential), Some(signed_headers), Some(signature)) if missing.is_empty() => {
            Ok(Authorization {
                credential,
                signed_headers,
                signature,
            })
        }
        _ => Err(Refusal::incomplete(format!(
            "{missing}Authorization={header}"
        ))),
    }
}

/// The canonical request of SigV4 for `request`, signing `signed_headers` (lower-case, in the
/// client's order) and the body's SHA-256. The payload hash is always the body's own: a signed
/// `x-amz-content-sha256` header is one more signed header (so a value that is not the body's
/// hash, `UNSIGNED-PAYLOAD` included, cannot match).
pub fn canonical_request(request: &SignedRequest<'_>, signed_headers: &[String]) -> String {
    let mut out = String::new();
    out.push_str(request.method);
    out.push('\n');
    out.push_str(&canonical_uri(request.path));
    out.push('\n');
    out.push_str(&canonical_query(request.raw_query));
    out.push('\n');
    for name in signed_headers {
        out.push_str(name);
        out.push(':');
        out.push_str(&canonical_header_value(
            &request.header(name).unwrap_or_default(),
        ));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&signed_headers.join(";"));
    out.push('\n');
    out.push_str(&hex::encode(Sha256::digest(request.body)));
    out
}

/// The path as sent, dot segments and empty segments removed (RFC 3986 5.2.4, as the SDK's
/// signer normalizes it), then URI-encoded once more (`%` → `%25`).
fn canonical_uri(path: &str) -> String {
    let path = if path.is_empty() { "/" } else { path };
    let normalized = if path.contains('.') || path.contains("//") || !path.starts_with('/') {
        let mut segments: Vec<&str> = Vec::new();
        for segment in path.split('/') {
            match segment {
                "" | "." => {}
                ".." => {
                    segments.pop();
                }
                s => segments.push(s),
            }
        }
        let mut out = format!("/{}", segments.join("/"));
        let ends_with_slash = ["/", "/.", "/..", "/./", "/../"]
            .iter()
            .any(|s| path.ends_with(s));
        if ends_with_slash && !out.ends_with('/') {
            out.push('/');
        }
        out
    } else {
        path.to_owned()
    };
    uri_encode(&normalized, true)
}

/// Each `name=value` decoded (`+` is a space) and encoded again, sorted by name, then value.
fn canonical_query(raw_query: &str) -> String {
    let mut pairs: Vec<(String, String)> = raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (
                uri_encode(&crate::percent_decode(k), false),
                uri_encode(&crate::percent_decode(v), false),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Leading and trailing spaces trimmed, inner runs of spaces made one.
fn canonical_header_value(value: &str) -> String {
    value
        .trim_matches(' ')
        .split(' ')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// SigV4's URI encoding: every byte but `A-Z a-z 0-9 - _ . ~` (and `/` in a path) as `%XX`.
fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// IAM's wildcards in a resource: `*` any run of characters (none included), `?` any one.
pub fn glob_matches(pattern: &str, value: &str) -> bool {
    let (p, v): (Vec<char>, Vec<char>) = (pattern.chars().collect(), value.chars().collect());
    let (mut pi, mut vi) = (0, 0);
    // The last `*` seen and where in `value` it is tried to end.
    let mut star: Option<(usize, usize)> = None;
    while vi < v.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == v[vi]) {
            pi += 1;
            vi += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, vi));
            pi += 1;
        } else if let Some((sp, sv)) = star {
            pi = sp + 1;
            vi = sv + 1;
            star = Some((sp, sv + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use aws_credential_types::Credentials;
    use aws_sigv4::http_request::{
        PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings, sign,
    };
    use aws_sigv4::sign::v4;

    use super::*;

    const REGION: &str = "eu-west-1";
    const ACCOUNT: &str = "123456789012";
    const HOST: &str = "a1b2c3.execute-api.eu-west-1.amazonaws.com";
    const OPERATOR: (&str, &str) = ("AKIAOPERATOR", "operator/secret+key");
    const CLERK: (&str, &str) = ("AKIACLERK", "clerk-secret");
    const SESSION: (&str, &str, &str) = ("ASIASESSION", "session-secret", "the-session-token");

    fn api() -> Api {
        Api::new(REGION, ACCOUNT, "a1b2c3", "$default")
    }

    fn iam() -> LocalIam {
        LocalIam::default()
            .with(
                Principal::user(ACCOUNT, "operator", "AIDAOPERATOR")
                    .with_key(OPERATOR.0, OPERATOR.1)
                    .allowing("arn:aws:execute-api:eu-west-1:123456789012:a1b2c3/*/*/admin/*"),
            )
            .with(
                // Signs fine, may call /products only.
                Principal::user(ACCOUNT, "clerk", "AIDACLERK")
                    .with_key(CLERK.0, CLERK.1)
                    .allowing("arn:aws:execute-api:*:*:a1b2c3/*/GET/products"),
            )
            .with(
                Principal {
                    arn: "arn:aws:sts::123456789012:assumed-role/Ops/alice".into(),
                    account_id: ACCOUNT.into(),
                    user_id: "AROAOPS:alice".into(),
                    keys: Vec::new(),
                    allow: vec!["arn:aws:execute-api:*:*:a1b2c3/*".into()],
                }
                .with_session_key(SESSION.0, SESSION.1, SESSION.2),
            )
    }

    /// 2024-05-02T10:00:00Z.
    fn t0() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_714_644_000)
    }

    /// A request as it reaches the gateway.
    #[derive(Debug, Clone)]
    struct Req {
        method: String,
        path: String,
        query: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    }

    impl Req {
        fn new(method: &str, path_and_query: &str, body: &[u8]) -> Self {
            let (path, query) = path_and_query
                .split_once('?')
                .unwrap_or((path_and_query, ""));
            Self {
                method: method.into(),
                path: path.into(),
                query: query.into(),
                headers: vec![("host".into(), HOST.into())],
                body: body.to_vec(),
            }
        }

        fn header(mut self, name: &str, value: &str) -> Self {
            self.headers.push((name.into(), value.into()));
            self
        }

        /// Signed by the SDK's signer, the way `donut-cli` signs.
        fn signed(self, key: (&str, &str, Option<&str>), region: &str, service: &str) -> Self {
            self.signed_with(key, region, service, t0(), SigningSettings::default())
        }

        fn signed_with(
            self,
            key: (&str, &str, Option<&str>),
            region: &str,
            service: &str,
            at: SystemTime,
            settings: SigningSettings,
        ) -> Self {
            self.signed_as(key, region, service, at, settings, false)
        }

        fn signed_as(
            mut self,
            key: (&str, &str, Option<&str>),
            region: &str,
            service: &str,
            at: SystemTime,
            settings: SigningSettings,
            unsigned_payload: bool,
        ) -> Self {
            let identity =
                Credentials::new(key.0, key.1, key.2.map(str::to_owned), None, "test").into();
            let params = v4::SigningParams::builder()
                .identity(&identity)
                .region(region)
                .name(service)
                .time(at)
                .settings(settings)
                .build()
                .unwrap()
                .into();
            let uri = if self.query.is_empty() {
                format!("https://{HOST}{}", self.path)
            } else {
                format!("https://{HOST}{}?{}", self.path, self.query)
            };
            let signable = SignableRequest::new(
                &self.method,
                &uri,
                self.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                if unsigned_payload {
                    SignableBody::UnsignedPayload
                } else {
                    SignableBody::Bytes(&self.body)
                },
            )
            .unwrap();
            let (instructions, _) = sign(signable, &params).unwrap().into_parts();
            for (name, value) in instructions.headers() {
                self.headers.push((name.to_owned(), value.to_owned()));
            }
            self
        }

        fn without(mut self, name: &str) -> Self {
            self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
            self
        }

        fn replacing(self, name: &str, value: &str) -> Self {
            self.without(name).header(name, value)
        }

        fn verify_at(&self, now: SystemTime) -> Result<Caller, Refusal> {
            let request = SignedRequest {
                method: &self.method,
                path: &self.path,
                raw_query: &self.query,
                headers: &self.headers,
                body: &self.body,
            };
            verify(&request, &api(), &iam(), now)
        }

        fn verify(&self) -> Result<Caller, Refusal> {
            self.verify_at(t0() + Duration::from_secs(2))
        }
    }

    fn operator() -> (&'static str, &'static str, Option<&'static str>) {
        (OPERATOR.0, OPERATOR.1, None)
    }

    fn reason(result: Result<Caller, Refusal>) -> Reason {
        result.expect_err("refused").reason
    }

    #[test]
    fn a_request_the_sdk_signs_is_the_callers() {
        let caller = Req::new("GET", "/admin/orders/o-1?state=stalled&limit=10", b"")
            .signed(operator(), REGION, SERVICE)
            .verify()
            .unwrap();
        assert_eq!(
            caller,
            Caller {
                access_key: OPERATOR.0.into(),
                account_id: ACCOUNT.into(),
                caller_id: "AIDAOPERATOR".into(),
                user_arn: "arn:aws:iam::123456789012:user/operator".into(),
                user_id: "AIDAOPERATOR".into(),
            }
        );
    }

    #[test]
    fn bodies_queries_and_paths_are_canonicalized_as_the_sdk_does() {
        let body = br#"{"note":"re-request, the factory lost it"}"#;
        Req::new("POST", "/admin/orders/o-1/re-request", body)
            .header("content-type", "application/json")
            .signed(operator(), REGION, SERVICE)
            .verify()
            .unwrap();
        // Unsorted, repeated, encoded, `+` for a space, a name with no value.
        Req::new(
            "GET",
            "/admin/search?z=1&a=b%2Fc&a=a&q=two+words&flag&e=%E2%82%AC~",
            b"",
        )
        .signed(operator(), REGION, SERVICE)
        .verify()
        .unwrap();
        // An encoded path segment (the SDK encodes the sent path once more), a dot segment.
        Req::new("GET", "/admin/orders/a%20b%3Ac/./x", b"")
            .signed(operator(), REGION, SERVICE)
            .verify()
            .unwrap();
        // Spaces in a header value, a repeated header.
        Req::new("GET", "/admin/orders", b"")
            .header("x-note", "  two   spaces ")
            .header("x-list", "a")
            .header("x-list", "b")
            .signed(operator(), REGION, SERVICE)
            .verify()
            .unwrap();
    }

    #[test]
    fn x_amz_content_sha256_signed_or_absent() {
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        let signed = Req::new("PUT", "/admin/limits", b"{\"max\":3}").signed_with(
            operator(),
            REGION,
            SERVICE,
            t0(),
            settings,
        );
        assert!(
            signed
                .headers
                .iter()
                .any(|(n, _)| n == "x-amz-content-sha256")
        );
        signed.verify().unwrap();
        let mut tampered = signed.clone();
        tampered.body = b"{\"max\":300}".to_vec();
        assert_eq!(reason(tampered.verify()), Reason::Mismatch);
        // `UNSIGNED-PAYLOAD` (S3's) does not stand for the body here.
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        let unsigned = Req::new("PUT", "/admin/limits", b"{\"max\":3}").signed_as(
            operator(),
            REGION,
            SERVICE,
            t0(),
            settings,
            true,
        );
        assert!(
            unsigned
                .headers
                .contains(&("x-amz-content-sha256".into(), "UNSIGNED-PAYLOAD".into()))
        );
        assert_eq!(reason(unsigned.verify()), Reason::Mismatch);
        // Present but unsigned, whatever its value: not part of the signature.
        Req::new("PUT", "/admin/limits", b"{\"max\":3}")
            .signed(operator(), REGION, SERVICE)
            .header("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
            .verify()
            .unwrap();
    }

    #[test]
    fn session_credentials_must_present_their_token() {
        let key = (SESSION.0, SESSION.1, Some(SESSION.2));
        let signed = Req::new("GET", "/admin/orders", b"").signed(key, REGION, SERVICE);
        let caller = signed.verify().unwrap();
        assert_eq!(
            caller.user_arn,
            "arn:aws:sts::123456789012:assumed-role/Ops/alice"
        );
        assert_eq!(caller.caller_id, "AROAOPS:alice");
        assert_eq!(
            signed.clone().without("x-amz-security-token").verify(),
            Err(Refusal::unknown_key())
        );
        assert_eq!(
            reason(signed.replacing("x-amz-security-token", "forged").verify()),
            Reason::UnknownKey
        );
        // A long-term key with a token it does not have.
        let stray = Req::new("GET", "/admin/orders", b"").signed(
            (OPERATOR.0, OPERATOR.1, Some("stray")),
            REGION,
            SERVICE,
        );
        assert_eq!(reason(stray.verify()), Reason::UnknownKey);
    }

    #[test]
    fn any_tampering_is_a_mismatch() {
        let signed = Req::new("POST", "/admin/orders/o-1/cancel?why=lost", b"{\"a\":1}")
            .header("content-type", "application/json")
            .signed(operator(), REGION, SERVICE);
        signed.verify().unwrap();
        let tampered: Vec<(&str, Req)> = vec![
            (
                "method",
                Req {
                    method: "PUT".into(),
                    ..signed.clone()
                },
            ),
            (
                "path",
                Req {
                    path: "/admin/orders/o-2/cancel".into(),
                    ..signed.clone()
                },
            ),
            (
                "query value",
                Req {
                    query: "why=found".into(),
                    ..signed.clone()
                },
            ),
            (
                "query added",
                Req {
                    query: "why=lost&all=1".into(),
                    ..signed.clone()
                },
            ),
            (
                "body",
                Req {
                    body: b"{\"a\":2}".to_vec(),
                    ..signed.clone()
                },
            ),
            (
                "signed header",
                signed.clone().replacing("content-type", "text/plain"),
            ),
            (
                "host",
                signed.clone().replacing("host", "elsewhere.example"),
            ),
            (
                "date (within the window)",
                signed.clone().replacing("x-amz-date", "20240502T100001Z"),
            ),
        ];
        for (what, request) in tampered {
            let refusal = request.verify().expect_err(what);
            assert_eq!(refusal.reason, Reason::Mismatch, "{what}");
            assert_eq!(refusal.error_type, "InvalidSignatureException");
            assert!(
                refusal.message.starts_with(
                    "The request signature we calculated does not match the signature you \
                     provided. Check your AWS Secret Access Key and signing method."
                ),
                "{what}: {}",
                refusal.message
            );
        }
        // The wrong secret for a known key.
        let forged = Req::new("GET", "/admin/orders", b"").signed(
            (OPERATOR.0, "not-the-secret", None),
            REGION,
            SERVICE,
        );
        assert_eq!(reason(forged.verify()), Reason::Mismatch);
        // The mismatch shows the canonical request API Gateway computed.
        let refusal = Req {
            path: "/admin/x".into(),
            ..signed
        }
        .verify()
        .unwrap_err();
        assert!(
            refusal
                .message
                .contains("'POST\n/admin/x\nwhy=lost\ncontent-type:application/json\nhost:")
        );
    }

    #[test]
    fn five_minutes_either_way() {
        let signed = Req::new("GET", "/admin/orders", b"").signed(operator(), REGION, SERVICE);
        signed.verify_at(t0() + Duration::from_secs(300)).unwrap();
        signed.verify_at(t0() - Duration::from_secs(300)).unwrap();
        let late = signed
            .verify_at(t0() + Duration::from_secs(301))
            .unwrap_err();
        assert_eq!(late.reason, Reason::Expired);
        assert_eq!(late.error_type, "InvalidSignatureException");
        assert_eq!(
            late.message,
            "Signature expired: 20240502T100000Z is now earlier than 20240502T100001Z \
             (20240502T100501Z - 5 min.)"
        );
        let early = signed
            .verify_at(t0() - Duration::from_secs(360))
            .unwrap_err();
        assert_eq!(
            early.message,
            "Signature not yet current: 20240502T100000Z is still later than \
             20240502T095900Z (20240502T095400Z + 5 min.)"
        );
    }

    #[test]
    fn signed_for_another_region_or_service() {
        let refusal = Req::new("GET", "/admin/orders", b"")
            .signed(operator(), "us-east-1", SERVICE)
            .verify()
            .unwrap_err();
        assert_eq!(refusal.reason, Reason::Scope);
        assert_eq!(
            refusal.message,
            "Credential should be scoped to a valid region, not 'us-east-1'. "
        );
        let refusal = Req::new("GET", "/admin/orders", b"")
            .signed(operator(), "us-east-1", "lambda")
            .verify()
            .unwrap_err();
        assert_eq!(
            refusal.message,
            "Credential should be scoped to a valid region, not 'us-east-1'. Credential should \
             be scoped to correct service: 'execute-api'. "
        );
    }

    #[test]
    fn unsigned_and_half_signed() {
        let unsigned = Req::new("GET", "/admin/orders", b"").verify().unwrap_err();
        assert_eq!(unsigned.reason, Reason::Unsigned);
        assert_eq!(unsigned.body(), r#"{"message":"Forbidden"}"#);
        let bearer = Req::new("GET", "/admin/orders", b"")
            .header("authorization", "Bearer a.b=")
            .verify()
            .unwrap_err();
        assert_eq!(bearer.error_type, "IncompleteSignatureException");
        assert_eq!(
            bearer.message,
            "Authorization header requires 'Credential' parameter. Authorization header \
             requires 'Signature' parameter. Authorization header requires 'SignedHeaders' \
             parameter. Authorization header requires existence of either a 'X-Amz-Date' or a \
             'Date' header. Authorization=Bearer a.b="
        );
        let no_equals = Req::new("GET", "/admin/orders", b"")
            .header("authorization", "Bearer token")
            .verify()
            .unwrap_err();
        assert!(
            no_equals
                .message
                .starts_with("Invalid key=value pair (missing equal-sign)")
        );
        let no_date = Req::new("GET", "/admin/orders", b"")
            .signed(operator(), REGION, SERVICE)
            .without("x-amz-date")
            .verify()
            .unwrap_err();
        assert_eq!(no_date.reason, Reason::Incomplete);
        assert!(no_date.message.starts_with(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
        ));
    }

    #[test]
    fn unknown_keys_and_policy_refusals() {
        let unknown = Req::new("GET", "/admin/orders", b"")
            .signed(("AKIANOBODY", "x", None), REGION, SERVICE)
            .verify()
            .unwrap_err();
        assert_eq!(unknown.error_type, "AccessDeniedException");
        assert_eq!(
            unknown.body(),
            r#"{"message":"The security token included in the request is invalid."}"#
        );
        let clerk = (CLERK.0, CLERK.1, None);
        Req::new("GET", "/products", b"")
            .signed(clerk, REGION, SERVICE)
            .verify()
            .unwrap();
        let refusal = Req::new("POST", "/admin/orders/o-1/cancel", b"")
            .signed(clerk, REGION, SERVICE)
            .verify()
            .unwrap_err();
        assert_eq!(refusal.reason, Reason::NotAuthorized);
        assert_eq!(refusal.error_type, "AccessDeniedException");
        assert_eq!(
            refusal.message,
            "User: arn:aws:iam::123456789012:user/clerk is not authorized to perform: \
             execute-api:Invoke on resource: \
             arn:aws:execute-api:eu-west-1:123456789012:a1b2c3/$default/POST/admin/orders/o-1/cancel \
             because no identity-based policy allows the execute-api:Invoke action"
        );
    }

    #[test]
    fn iam_wildcards() {
        let arn = "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3/$default/GET/admin/orders/o-1";
        assert!(glob_matches(arn, arn));
        assert!(glob_matches("arn:aws:execute-api:*:*:a1b2c3/*", arn));
        assert!(glob_matches(
            "arn:aws:execute-api:*:*:a1b2c3/*/*/admin/*",
            arn
        ));
        assert!(glob_matches(
            "arn:aws:execute-api:*:*:a1b2c3/*/GET/admin/orders/o-?",
            arn
        ));
        assert!(glob_matches("*", ""));
        assert!(!glob_matches(
            "arn:aws:execute-api:*:*:a1b2c3/*/POST/*",
            arn
        ));
        assert!(!glob_matches(
            "arn:aws:execute-api:*:*:a1b2c3/*/*/admin",
            arn
        ));
        assert!(!glob_matches(
            "arn:aws:execute-api:*:*:a1b2c3/*/GET/admin/orders/o-??",
            arn
        ));
        assert!(glob_matches("a*b*c", "axxbyybzc"));
        assert!(!glob_matches("a*b*c", "axxbyybz"));
    }

    #[test]
    fn the_resource_is_the_request_not_the_route() {
        assert_eq!(
            api().resource_arn("GET", "/admin/orders/o-1"),
            "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3/$default/GET/admin/orders/o-1"
        );
    }
}
