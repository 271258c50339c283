//! API Gateway's JWT authorizer (HTTP APIs, `JWT` routes) as a pure function:
//! [`JwtAuthorizer::authorize`] checks a request's token as API Gateway does before any function
//! runs, against the issuer's keys ([`Jwks`]), and answers either the caller (payload 2.0's
//! `requestContext.authorizer.jwt`, [`JwtCaller`]) or the 401 (403 for a route's scopes) API
//! Gateway would send ([`JwtRefusal`]). `local_issuer` (feature `local-issuer`, and the tests)
//! is an issuer with a fixed, test-only key that mints the tokens it takes.
//!
//! Sources:
//! - The validation, in API Gateway's order: "Control access to HTTP APIs with JWT authorizers"
//!   (<https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-jwt-authorizer.html>):
//!   1. the `identitySource` holds the token, "only the token, or the token prefixed with
//!      `Bearer`";
//!   2. decode the token;
//!   3. "check the token's algorithm and signature by using the public key that is fetched from
//!      the issuer's `jwks_uri`. Currently, only RSA-based algorithms are supported." (the key
//!      cached for two hours: the [`Jwks`] here is what was fetched);
//!   4. the claims: `kid` ("a header claim that matches the key in the `jwks_uri` that signed
//!      the token"), `iss` ("must match the issuer that is configured for the authorizer"),
//!      `aud` or `client_id` ("must match one of the audience entries … API Gateway validates
//!      `client_id` only if `aud` is not present"), `exp` ("must be after the current time in
//!      UTC"), `nbf` and `iat` ("must be before the current time in UTC"), `scope` or `scp` ("the
//!      token must include at least one of the scopes in the route's `authorizationScopes`").
//!
//!   "If any of these steps fail, API Gateway denies the API request"; the claims then reach the
//!   function as `$event.requestContext.authorizer.jwt.claims`.
//! - The identity source: "for JWT, a single entry that specifies where to extract the JSON Web
//!   Token (JWT) from inbound requests … for example `$request.header.Authorization`" (the
//!   Authorizer resource, `identitySource`:
//!   <https://docs.aws.amazon.com/apigatewayv2/latest/api-reference/apis-apiid-authorizers-authorizerid.html#apis-apiid-authorizers-authorizerid-prop-authorizer-identitysource>).
//!   Only header sources are modelled.
//! - Where the keys are: OpenID Connect Discovery 1.0 §4
//!   (<https://openid.net/specs/openid-connect-discovery-1_0.html#ProviderConfig>),
//!   `{issuer}/.well-known/openid-configuration` and its `jwks_uri`
//!   ([`JwtAuthorizer::discovery_url`]); the key set's format, RFC 7517
//!   (<https://datatracker.ietf.org/doc/html/rfc7517>).
//! - The answer: "Troubleshooting issues with HTTP API JWT authorizers"
//!   (<https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-troubleshooting-jwt.html>):
//!   `401 {"message":"Unauthorized"}` with `www-authenticate: Bearer scope="" error="invalid_token"
//!   error_description="the token does not have a valid audience"`. Each [`JwtRefusal`]
//!   constructor says where its wording comes from: only the audience one is AWS's documented
//!   text; "token contains an invalid number of segments" and "signing method ES256 is invalid"
//!   are answers API Gateway was seen to give (both are the Go `jwt` library's own wording, which
//!   the other parse and signature answers here therefore follow); the remaining descriptions are
//!   this module's, in the documented one's style. Status and body never vary but by the
//!   documented 401/403 split, so no client can tell this gateway from API Gateway by them.
//! - What the function sees: every claim as a string (numbers and booleans as their JSON text,
//!   lists Go-style `[a b]`, null claims left out), and `scopes` null unless the route has
//!   authorization scopes, then the token's whole scope list: measured on real HTTP APIs by
//!   floci (`ApiGatewayExecuteController.java`'s `renderClaimValue` and `enforceJwtAuthorizer`,
//!   <https://github.com/floci-io/floci>), matching the events in
//!   <https://github.com/aws/aws-lambda-go/issues/317> (`"scopes": null` from a Cognito token
//!   that has a `scope` claim) and
//!   <https://github.com/DefinitelyTyped/DefinitelyTyped/pull/75458> (`"exp": "1787996002"`).
//!   A route's scope refusal, `403 {"message":"Forbidden"}`, is floci's measurement too.
//!
//! Not modelled: query-string and context identity sources, several identity sources, fetching
//! the discovery document and the keys (the caller hands over the [`Jwks`]), the two-hour key
//! cache, and any clock skew (none is documented: `exp`, `nbf` and `iat` are compared with the
//! current second exactly).

use std::collections::BTreeMap;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

#[cfg(any(test, feature = "local-issuer"))]
pub mod local_issuer;

/// Where an HTTP API's JWT authorizer reads the token unless told otherwise.
pub const DEFAULT_IDENTITY_SOURCE: &str = "$request.header.Authorization";
/// The prefix API Gateway takes off the identity source's value, when there.
pub const BEARER_PREFIX: &str = "Bearer ";
/// The signing algorithms taken ("only RSA-based algorithms are supported"): RSASSA-PKCS1-v1_5.
/// RSASSA-PSS (`PS256`…) is refused, as the Go library's `RS*` method set would.
pub const ALGORITHMS: [&str; 3] = ["RS256", "RS384", "RS512"];
/// The algorithms the Go `jwt` library knows: any other `alg` is "unavailable" to it rather than
/// "invalid" for the authorizer.
const KNOWN_ALGORITHMS: [&str; 14] = [
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256",
    "PS384", "PS512", "EdDSA", "none",
];

/// An issuer's JSON Web Key Set (RFC 7517 §5), what its `jwks_uri` serves:
/// `{"keys":[{"kty":"RSA","kid":…,"n":…,"e":…,"alg":"RS256","use":"sig"}]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

/// One key of a [`Jwks`]. Other members (`x5c`, `x5t`, an EC key's `crv`…) are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// `RSA` for every key the authorizer can use; keys of other types are kept, never used.
    pub kty: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// `sig` (informational: API Gateway is not documented to look at it).
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub key_use: Option<String>,
    /// Informational too: the token's own `alg` decides the check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// The RSA modulus, base64url without padding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// The RSA public exponent, base64url without padding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
}

/// A key set that cannot be used: not the JSON of one, or an RSA key without a readable modulus
/// or exponent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksError(String);

impl fmt::Display for JwksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unusable JWKS: {}", self.0)
    }
}

impl std::error::Error for JwksError {}

impl Jwks {
    /// Parses a key set, refusing one whose RSA keys could not verify anything.
    pub fn from_json(json: &str) -> Result<Self, JwksError> {
        let jwks: Self = serde_json::from_str(json).map_err(|e| JwksError(e.to_string()))?;
        for (i, key) in jwks.keys.iter().enumerate() {
            if key.kty == "RSA" && key.rsa_components().is_none() {
                return Err(JwksError(format!(
                    "key {i} ({}) is RSA without a base64url `n` and `e`",
                    key.kid.as_deref().unwrap_or("no kid")
                )));
            }
        }
        Ok(jwks)
    }

    /// The RSA key a token's `kid` names (the first, should the set name it twice).
    pub fn key(&self, kid: &str) -> Option<&Jwk> {
        self.keys
            .iter()
            .find(|k| k.kty == "RSA" && k.kid.as_deref() == Some(kid))
    }
}

impl Jwk {
    /// The modulus and exponent, decoded.
    fn rsa_components(&self) -> Option<(Vec<u8>, Vec<u8>)> {
        let n = b64url(self.n.as_deref()?).ok()?;
        let e = b64url(self.e.as_deref()?).ok()?;
        (!n.is_empty() && !e.is_empty()).then_some((n, e))
    }
}

/// A JWT authorizer of an HTTP API: its `jwtConfiguration` (issuer, audiences), the keys its
/// issuer's `jwks_uri` serves, and its identity source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtAuthorizer {
    /// Compared with the token's `iss` exactly.
    pub issuer: String,
    /// A token's `aud` (or, without one, `client_id`) must be one of these.
    pub audiences: Vec<String>,
    pub jwks: Jwks,
    /// The header of `$request.header.<name>`, matched in any case.
    pub identity_header: String,
}

impl JwtAuthorizer {
    /// An authorizer reading `$request.header.Authorization`.
    pub fn new(issuer: &str, audiences: &[&str], jwks: Jwks) -> Self {
        Self {
            issuer: issuer.to_owned(),
            audiences: audiences.iter().map(|a| (*a).to_owned()).collect(),
            jwks,
            identity_header: "Authorization".to_owned(),
        }
    }

    /// Reads the token from another identity source, `$request.header.<name>` (query-string
    /// sources, which API Gateway also takes, are not modelled).
    pub fn with_identity_source(mut self, identity_source: &str) -> Result<Self, String> {
        match identity_source.strip_prefix("$request.header.") {
            Some(name) if !name.is_empty() => {
                self.identity_header = name.to_owned();
                Ok(self)
            }
            _ => Err(format!(
                "identity source {identity_source:?}: only `$request.header.<name>` is modelled"
            )),
        }
    }

    /// Where the issuer's OpenID configuration (and in it, `jwks_uri`) is:
    /// `{issuer}/.well-known/openid-configuration`, any trailing `/` of the issuer removed first.
    pub fn discovery_url(&self) -> String {
        format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        )
    }

    /// Checks the request's token for a route without authorization scopes, at `now`.
    pub fn authorize(
        &self,
        headers: &[(String, String)],
        now: SystemTime,
    ) -> Result<JwtCaller, JwtRefusal> {
        self.authorize_route(headers, &[] as &[&str], now)
    }

    /// Checks the request's token for a route whose `authorizationScopes` are `route_scopes`
    /// (none: any valid token), at `now`, in API Gateway's order: the token, its decoding, its
    /// algorithm, its key and signature, then `iss`, `aud`/`client_id`, `exp`, `nbf`, `iat`, and
    /// the route's scopes.
    pub fn authorize_route<S: AsRef<str>>(
        &self,
        headers: &[(String, String)],
        route_scopes: &[S],
        now: SystemTime,
    ) -> Result<JwtCaller, JwtRefusal> {
        let route_scopes: Vec<&str> = route_scopes.iter().map(AsRef::as_ref).collect();
        let scope = route_scopes.join(" ");

        // 1. The identity source.
        let token = headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(&self.identity_header))
            .map(|(_, value)| value.as_str())
            .filter(|value| !value.is_empty());
        let Some(token) = token else {
            return Err(JwtRefusal::missing_token());
        };
        let token = token.strip_prefix(BEARER_PREFIX).unwrap_or(token);

        // 2. Decoding.
        let [header_b64, claims_b64, signature_b64] = token.split('.').collect::<Vec<_>>()[..]
        else {
            return Err(JwtRefusal::malformed(
                &scope,
                "token contains an invalid number of segments".to_owned(),
            ));
        };
        let header = decode_segment(header_b64).map_err(|d| JwtRefusal::malformed(&scope, d))?;
        let claims = decode_segment(claims_b64).map_err(|d| JwtRefusal::malformed(&scope, d))?;

        // 3. The algorithm, the key its `kid` names, the signature.
        let algorithm = match header.get("alg") {
            Some(Value::String(alg)) => match alg.as_str() {
                "RS256" => Algorithm::RS256,
                "RS384" => Algorithm::RS384,
                "RS512" => Algorithm::RS512,
                known if KNOWN_ALGORITHMS.contains(&known) => {
                    return Err(JwtRefusal::unsupported_algorithm(
                        &scope,
                        format!("signing method {known} is invalid"),
                    ));
                }
                _ => {
                    return Err(JwtRefusal::unsupported_algorithm(
                        &scope,
                        "signing method (alg) is unavailable.".to_owned(),
                    ));
                }
            },
            _ => {
                return Err(JwtRefusal::unsupported_algorithm(
                    &scope,
                    "signing method (alg) is unspecified.".to_owned(),
                ));
            }
        };
        let key = match header.get("kid") {
            Some(Value::String(kid)) => self.jwks.key(kid),
            _ => None,
        };
        let Some((n, e)) = key.and_then(Jwk::rsa_components) else {
            return Err(JwtRefusal::unknown_kid(&scope));
        };
        let signed = &token[..header_b64.len() + 1 + claims_b64.len()];
        if !signature_verifies(algorithm, &n, &e, signed.as_bytes(), signature_b64) {
            return Err(JwtRefusal::bad_signature(&scope));
        }

        // 4. The claims.
        if claims.get("iss").and_then(Value::as_str) != Some(self.issuer.as_str()) {
            return Err(JwtRefusal::wrong_issuer(&scope));
        }
        if !self.audience_matches(&claims) {
            return Err(JwtRefusal::wrong_audience(&scope));
        }
        let now = now
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs() as f64);
        match claims.get("exp").and_then(Value::as_f64) {
            Some(exp) if exp > now => {}
            _ => return Err(JwtRefusal::expired(&scope)),
        }
        for name in ["nbf", "iat"] {
            match claims.get(name) {
                None | Some(Value::Null) => {}
                Some(Value::Number(at)) if at.as_f64().is_some_and(|at| at <= now) => {}
                Some(_) => return Err(JwtRefusal::not_yet_valid(&scope)),
            }
        }
        let token_scopes = token_scopes(&claims);
        let scopes = if route_scopes.is_empty() {
            None
        } else {
            let granted = token_scopes.as_deref().unwrap_or_default();
            if !granted.iter().any(|s| route_scopes.contains(&s.as_str())) {
                return Err(JwtRefusal::insufficient_scope(&scope));
            }
            token_scopes
        };
        Ok(JwtCaller {
            claims: claims
                .iter()
                .filter_map(|(name, value)| Some((name.clone(), claim_string(value)?)))
                .collect(),
            scopes,
        })
    }

    /// `aud` when the token has one (a string or a list; one entry must be configured), else
    /// `client_id` (Cognito's access tokens carry no `aud`).
    fn audience_matches(&self, claims: &Map<String, Value>) -> bool {
        let configured = |a: &Value| {
            a.as_str()
                .is_some_and(|a| self.audiences.iter().any(|c| c == a))
        };
        match claims.get("aud") {
            None | Some(Value::Null) => claims.get("client_id").is_some_and(configured),
            Some(Value::Array(auds)) => auds.iter().any(configured),
            Some(aud) => configured(aud),
        }
    }
}

/// Who called, as payload 2.0's `requestContext.authorizer.jwt` says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtCaller {
    /// Every claim of the token (null ones aside), each as the string API Gateway makes of it.
    pub claims: BTreeMap<String, String>,
    /// The token's scopes (`scope`, else `scp`) on a route with authorization scopes; none
    /// otherwise, even when the token has some.
    pub scopes: Option<Vec<String>>,
}

impl JwtCaller {
    /// `requestContext.authorizer.jwt`: `{"claims": {…}, "scopes": […] or null}`.
    pub fn jwt_json(&self) -> Value {
        json!({ "claims": self.claims, "scopes": self.scopes })
    }

    pub fn claim(&self, name: &str) -> Option<&str> {
        self.claims.get(name).map(String::as_str)
    }
}

/// Why a token was refused (for the log: the answer says it only in `www-authenticate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// No identity source value (no header, or an empty one).
    MissingToken,
    /// Not three segments, or a header or claims segment that is not base64url JSON.
    Malformed,
    /// An `alg` other than RS256, RS384 or RS512 (`none` and `HS256` included), or none.
    UnsupportedAlgorithm,
    /// No `kid`, or one the issuer's key set does not have.
    UnknownKid,
    /// The signature is not the key's over the token.
    BadSignature,
    /// `iss` is not the authorizer's issuer.
    WrongIssuer,
    /// Neither `aud` (or, without it, `client_id`) is a configured audience.
    WrongAudience,
    /// No numeric `exp`, or one not after now.
    Expired,
    /// `nbf` or `iat` after now (or not a number).
    NotYetValid,
    /// A valid token with none of the route's authorization scopes.
    InsufficientScope,
}

/// API Gateway's answer to a token it does not let through: the status, `{"message": …}`, and a
/// `www-authenticate` challenge (RFC 6750 §3) whose `error_description` says why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtRefusal {
    pub reason: Reason,
    /// 401, or 403 for [`Reason::InsufficientScope`].
    pub status: u16,
    /// `Unauthorized` or `Forbidden`: the body's `message`.
    pub message: &'static str,
    /// The `www-authenticate` header's value.
    pub www_authenticate: String,
    /// What the challenge's `error_description` says (none for a missing token).
    pub description: Option<String>,
}

impl JwtRefusal {
    pub const UNAUTHORIZED: u16 = 401;
    pub const FORBIDDEN: u16 = 403;

    /// The response body: `{"message":"Unauthorized"}` (or `"Forbidden"`).
    pub fn body(&self) -> String {
        json!({ "message": self.message }).to_string()
    }

    /// The response headers: `content-type` and `www-authenticate`.
    pub fn headers(&self) -> Vec<(String, String)> {
        vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            ("www-authenticate".to_owned(), self.www_authenticate.clone()),
        ]
    }

    /// 401 with `Bearer scope="…" error="invalid_token" error_description="…"`, the documented
    /// form (the route's scopes in `scope`, empty for a route without: RFC 6750 §3's `scope`).
    fn invalid_token(reason: Reason, scope: &str, description: String) -> Self {
        Self {
            reason,
            status: Self::UNAUTHORIZED,
            message: "Unauthorized",
            www_authenticate: format!(
                "Bearer scope=\"{scope}\" error=\"invalid_token\" error_description=\"{description}\""
            ),
            description: Some(description),
        }
    }

    /// No token: 401 `{"message":"Unauthorized"}` and a bare `www-authenticate: Bearer` (RFC 6750
    /// §3.1: no error code for a request without credentials), as API Gateway was seen to answer
    /// a JWT route called without an `Authorization` header.
    fn missing_token() -> Self {
        Self {
            reason: Reason::MissingToken,
            status: Self::UNAUTHORIZED,
            message: "Unauthorized",
            www_authenticate: "Bearer".to_owned(),
            description: None,
        }
    }

    /// "token contains an invalid number of segments": what API Gateway was seen to answer
    /// `Authorization: Bearer not-a-token` with. A segment that is not base64url: Go's "illegal
    /// base64 data at input byte N" (which the Go `jwt` library passes on); one that is not a
    /// JSON object: "token is malformed" (this module's).
    fn malformed(scope: &str, description: String) -> Self {
        Self::invalid_token(Reason::Malformed, scope, description)
    }

    /// "signing method ES256 is invalid": what API Gateway was seen to answer an ES256 token with
    /// (the Go `jwt` library's refusal of an algorithm outside the ones allowed); "signing method
    /// (alg) is unavailable." and "… is unspecified." are that library's for an `alg` it does not
    /// know and for none.
    fn unsupported_algorithm(scope: &str, description: String) -> Self {
        Self::invalid_token(Reason::UnsupportedAlgorithm, scope, description)
    }

    /// This module's wording (AWS's is not published). It never repeats the token's `kid`.
    fn unknown_kid(scope: &str) -> Self {
        Self::invalid_token(
            Reason::UnknownKid,
            scope,
            "no key of the issuer matches the token's kid".to_owned(),
        )
    }

    /// "crypto/rsa: verification error": Go's `rsa.ErrVerification`, which the Go `jwt` library
    /// passes on as its error (not seen from API Gateway; inferred from the library its other
    /// answers come from).
    fn bad_signature(scope: &str) -> Self {
        Self::invalid_token(
            Reason::BadSignature,
            scope,
            "crypto/rsa: verification error".to_owned(),
        )
    }

    /// This module's wording, after the documented audience one.
    fn wrong_issuer(scope: &str) -> Self {
        Self::invalid_token(
            Reason::WrongIssuer,
            scope,
            "the token does not have a valid issuer".to_owned(),
        )
    }

    /// "the token does not have a valid audience": AWS's documented answer (the troubleshooting
    /// page).
    fn wrong_audience(scope: &str) -> Self {
        Self::invalid_token(
            Reason::WrongAudience,
            scope,
            "the token does not have a valid audience".to_owned(),
        )
    }

    /// This module's wording, after the documented audience one.
    fn expired(scope: &str) -> Self {
        Self::invalid_token(Reason::Expired, scope, "the token has expired".to_owned())
    }

    /// This module's wording, after the documented audience one.
    fn not_yet_valid(scope: &str) -> Self {
        Self::invalid_token(
            Reason::NotYetValid,
            scope,
            "the token is not valid yet".to_owned(),
        )
    }

    /// A valid token without any of the route's scopes: 403 `{"message":"Forbidden"}` (floci's
    /// measurement of a Cognito-backed HTTP API), with RFC 6750 §3.1's `insufficient_scope`
    /// challenge naming the route's scopes (the challenge's wording is this module's).
    fn insufficient_scope(scope: &str) -> Self {
        let description = "the token does not have a scope the route requires".to_owned();
        Self {
            reason: Reason::InsufficientScope,
            status: Self::FORBIDDEN,
            message: "Forbidden",
            www_authenticate: format!(
                "Bearer scope=\"{scope}\" error=\"insufficient_scope\" error_description=\"{description}\""
            ),
            description: Some(description),
        }
    }
}

/// base64url, padded or not (the Go library takes both).
fn b64url(segment: &str) -> Result<Vec<u8>, base64::DecodeError> {
    const ENGINE: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    ENGINE.decode(segment)
}

/// A header or claims segment: base64url of a JSON object.
fn decode_segment(segment: &str) -> Result<Map<String, Value>, String> {
    let bytes = b64url(segment).map_err(|e| match e {
        base64::DecodeError::InvalidByte(at, _) | base64::DecodeError::InvalidLastSymbol(at, _) => {
            format!("illegal base64 data at input byte {at}")
        }
        _ => format!("illegal base64 data at input byte {}", segment.len()),
    })?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err("token is malformed".to_owned()),
    }
}

/// Whether `signature_b64` is the RSA key `(n, e)`'s signature of `signed` under `algorithm`.
fn signature_verifies(
    algorithm: Algorithm,
    n: &[u8],
    e: &[u8],
    signed: &[u8],
    signature_b64: &str,
) -> bool {
    let Ok(signature) = b64url(signature_b64) else {
        return false;
    };
    let key = DecodingKey::from_rsa_raw_components(n, e);
    (DEFAULT_PROVIDER.verifier_factory)(&algorithm, &key)
        .is_ok_and(|verifier| verifier.verify(signed, &signature).is_ok())
}

/// The token's scopes: `scope` (OAuth 2.0's space-separated string, or a list), else `scp`.
fn token_scopes(claims: &Map<String, Value>) -> Option<Vec<String>> {
    ["scope", "scp"]
        .iter()
        .find_map(|name| match claims.get(*name)? {
            Value::String(s) => Some(s.split_whitespace().map(str::to_owned).collect()),
            Value::Array(items) => Some(
                items
                    .iter()
                    .filter_map(|i| i.as_str().map(str::to_owned))
                    .collect(),
            ),
            _ => None,
        })
}

/// A claim as the function receives it: a string as it is, a number or boolean as its JSON text,
/// a list Go-style (`[admin ops]`, its strings bare, anything else as JSON), an object as its
/// JSON (not measured: no known issuer sends one), a null not at all.
fn claim_string(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Array(items) => Some(format!(
            "[{}]",
            items
                .iter()
                .map(|item| match item {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(" ")
        )),
        other => Some(other.to_string()),
    }
}

/// base64url without padding, as JWS writes its segments.
#[cfg(any(test, feature = "local-issuer"))]
fn b64url_encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use jsonwebtoken::EncodingKey;

    use super::*;

    const ISSUER: &str = "https://issuer.local/donut";
    const AUDIENCE: &str = "donut-sales";

    fn authorizer() -> JwtAuthorizer {
        local_issuer::authorizer(ISSUER, &[AUDIENCE, "donut-admin"])
    }

    /// 2024-05-02T10:00:00Z.
    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_714_644_000)
    }

    fn at(offset: i64) -> u64 {
        (1_714_644_000 + offset) as u64
    }

    fn claims() -> Value {
        json!({
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "customer-1",
            "exp": at(300),
            "iat": at(-10),
        })
    }

    fn with(mut claims: Value, name: &str, value: Value) -> Value {
        claims[name] = value;
        claims
    }

    fn without(mut claims: Value, name: &str) -> Value {
        claims.as_object_mut().unwrap().remove(name);
        claims
    }

    fn bearer(token: &str) -> Vec<(String, String)> {
        vec![("authorization".into(), format!("Bearer {token}"))]
    }

    fn check(token: &str) -> Result<JwtCaller, JwtRefusal> {
        authorizer().authorize(&bearer(token), now())
    }

    fn refusal(token: &str) -> JwtRefusal {
        check(token).expect_err("refused")
    }

    fn segment(value: &Value) -> String {
        b64url_encode(value.to_string().as_bytes())
    }

    /// A token of `header` and `claims`, signed with an HMAC secret (not the issuer's key).
    fn hmac_token(header: &Value, claims: &Value, secret: &[u8]) -> String {
        let signed = format!("{}.{}", segment(header), segment(claims));
        let key = EncodingKey::from_secret(secret).unwrap();
        let signer = (DEFAULT_PROVIDER.signer_factory)(&Algorithm::HS256, &key).unwrap();
        format!(
            "{signed}.{}",
            b64url_encode(&signer.try_sign(signed.as_bytes()).unwrap())
        )
    }

    /// The documented answer shape, with `description`.
    fn invalid_token(description: &str) -> String {
        format!("Bearer scope=\"\" error=\"invalid_token\" error_description=\"{description}\"")
    }

    #[test]
    fn a_token_the_issuer_minted_is_the_callers() {
        let caller = check(&local_issuer::mint(&claims())).unwrap();
        assert_eq!(
            caller.claims,
            BTreeMap::from([
                ("aud".to_owned(), AUDIENCE.to_owned()),
                ("exp".to_owned(), "1714644300".to_owned()),
                ("iat".to_owned(), "1714643990".to_owned()),
                ("iss".to_owned(), ISSUER.to_owned()),
                ("sub".to_owned(), "customer-1".to_owned()),
            ])
        );
        assert_eq!(caller.claim("sub"), Some("customer-1"));
        // No route scopes: `scopes` is null, even for a token that has some.
        let scoped = local_issuer::mint(&with(claims(), "scope", json!("orders:read")));
        assert_eq!(check(&scoped).unwrap().scopes, None);
        assert_eq!(
            caller.jwt_json(),
            json!({
                "claims": {
                    "aud": AUDIENCE, "exp": "1714644300", "iat": "1714643990", "iss": ISSUER,
                    "sub": "customer-1",
                },
                "scopes": null,
            })
        );
    }

    #[test]
    fn the_token_alone_or_after_bearer_in_any_header_case() {
        let token = local_issuer::mint(&claims());
        for headers in [
            vec![("Authorization".to_owned(), format!("Bearer {token}"))],
            vec![("AUTHORIZATION".to_owned(), token.clone())],
            vec![
                ("x-other".to_owned(), "1".to_owned()),
                ("authorization".to_owned(), token.clone()),
            ],
        ] {
            authorizer().authorize(&headers, now()).unwrap();
        }
        // Only `Bearer ` is taken off: another scheme is part of the token.
        let lower = vec![("authorization".to_owned(), format!("bearer {token}"))];
        let refused = authorizer().authorize(&lower, now()).unwrap_err();
        assert_eq!(refused.reason, Reason::Malformed);
        // Another identity source.
        let custom = authorizer()
            .with_identity_source("$request.header.X-Donut-Token")
            .unwrap();
        let headers = vec![("x-donut-token".to_owned(), token.clone())];
        custom.authorize(&headers, now()).unwrap();
        assert_eq!(
            custom.authorize(&bearer(&token), now()).unwrap_err().reason,
            Reason::MissingToken
        );
        assert!(
            authorizer()
                .with_identity_source("$request.querystring.token")
                .is_err()
        );
    }

    #[test]
    fn no_token() {
        for headers in [
            vec![],
            vec![("authorization".to_owned(), String::new())],
            vec![("x-api-key".to_owned(), "k".to_owned())],
        ] {
            let refused = authorizer().authorize(&headers, now()).unwrap_err();
            assert_eq!(refused.reason, Reason::MissingToken);
            assert_eq!(refused.status, 401);
            assert_eq!(refused.body(), r#"{"message":"Unauthorized"}"#);
            assert_eq!(
                refused.headers(),
                vec![
                    ("content-type".to_owned(), "application/json".to_owned()),
                    ("www-authenticate".to_owned(), "Bearer".to_owned()),
                ]
            );
        }
    }

    #[test]
    fn malformed_tokens() {
        let refused = refusal("not-a-token");
        assert_eq!(refused.reason, Reason::Malformed);
        assert_eq!(
            refused.www_authenticate,
            invalid_token("token contains an invalid number of segments")
        );
        assert_eq!(refusal("a.b.c.d").reason, Reason::Malformed);
        assert_eq!(refusal("").reason, Reason::Malformed); // `Bearer ` and nothing
        let good = local_issuer::mint(&claims());
        let (_, rest) = good.split_once('.').unwrap();
        assert_eq!(
            refusal(&format!("ey!J.{rest}")).description.as_deref(),
            Some("illegal base64 data at input byte 2")
        );
        let not_json = format!("{}.{rest}", b64url_encode(b"{\"alg\":"));
        assert_eq!(
            refusal(&not_json).description.as_deref(),
            Some("token is malformed")
        );
        let not_an_object = format!("{}.{rest}", b64url_encode(b"[]"));
        assert_eq!(refusal(&not_an_object).reason, Reason::Malformed);
    }

    #[test]
    fn a_padded_signature_is_taken() {
        // The Go library pads what it decodes; the signed text is the segments as sent.
        let token = local_issuer::mint(&claims());
        let padding = "=".repeat((4 - token.rsplit('.').next().unwrap().len() % 4) % 4);
        assert!(
            !padding.is_empty(),
            "a 256-byte signature is padded in base64"
        );
        check(&format!("{token}{padding}")).unwrap();
    }

    #[test]
    fn an_expired_token() {
        let refused = refusal(&local_issuer::mint(&with(claims(), "exp", json!(at(-1)))));
        assert_eq!(refused.reason, Reason::Expired);
        assert_eq!(refused.status, 401);
        assert_eq!(refused.body(), r#"{"message":"Unauthorized"}"#);
        assert_eq!(
            refused.www_authenticate,
            invalid_token("the token has expired")
        );
        // `exp` must be after now: expiring this very second is expired.
        assert_eq!(
            refusal(&local_issuer::mint(&with(claims(), "exp", json!(at(0))))).reason,
            Reason::Expired
        );
        check(&local_issuer::mint(&with(claims(), "exp", json!(at(1))))).unwrap();
        // No `exp`, or not a number.
        assert_eq!(
            refusal(&local_issuer::mint(&without(claims(), "exp"))).reason,
            Reason::Expired
        );
        assert_eq!(
            refusal(&local_issuer::mint(&with(
                claims(),
                "exp",
                json!("9999999999")
            )))
            .reason,
            Reason::Expired
        );
    }

    #[test]
    fn a_token_not_valid_yet() {
        let refused = refusal(&local_issuer::mint(&with(claims(), "nbf", json!(at(60)))));
        assert_eq!(refused.reason, Reason::NotYetValid);
        assert_eq!(
            refused.www_authenticate,
            invalid_token("the token is not valid yet")
        );
        assert_eq!(
            refusal(&local_issuer::mint(&with(claims(), "iat", json!(at(1))))).reason,
            Reason::NotYetValid
        );
        assert_eq!(
            refusal(&local_issuer::mint(&with(claims(), "nbf", json!("0")))).reason,
            Reason::NotYetValid
        );
        // This very second, or no `nbf`/`iat` at all, is valid.
        check(&local_issuer::mint(&with(
            with(claims(), "nbf", json!(at(0))),
            "iat",
            json!(at(0)),
        )))
        .unwrap();
        check(&local_issuer::mint(&without(claims(), "iat"))).unwrap();
    }

    #[test]
    fn another_audience() {
        let refused = refusal(&local_issuer::mint(&with(claims(), "aud", json!("other"))));
        assert_eq!(refused.reason, Reason::WrongAudience);
        // The documented answer, word for word.
        assert_eq!(
            refused.www_authenticate,
            r#"Bearer scope="" error="invalid_token" error_description="the token does not have a valid audience""#
        );
        assert_eq!(refused.body(), r#"{"message":"Unauthorized"}"#);
        // A list: one configured entry is enough.
        check(&local_issuer::mint(&with(
            claims(),
            "aud",
            json!(["other", "donut-admin"]),
        )))
        .unwrap();
        assert_eq!(
            refusal(&local_issuer::mint(&with(
                claims(),
                "aud",
                json!(["a", "b"])
            )))
            .reason,
            Reason::WrongAudience
        );
        // Neither `aud` nor `client_id`.
        assert_eq!(
            refusal(&local_issuer::mint(&without(claims(), "aud"))).reason,
            Reason::WrongAudience
        );
    }

    #[test]
    fn client_id_stands_in_for_a_missing_aud() {
        // A Cognito access token: `client_id`, no `aud`.
        let access = with(without(claims(), "aud"), "client_id", json!(AUDIENCE));
        let caller = check(&local_issuer::mint(&access)).unwrap();
        assert_eq!(caller.claim("client_id"), Some(AUDIENCE));
        assert_eq!(caller.claim("aud"), None);
        let other = with(without(claims(), "aud"), "client_id", json!("other"));
        assert_eq!(
            refusal(&local_issuer::mint(&other)).reason,
            Reason::WrongAudience
        );
        // With both, `aud` is the one evaluated.
        let both = with(
            with(claims(), "aud", json!("other")),
            "client_id",
            json!(AUDIENCE),
        );
        assert_eq!(
            refusal(&local_issuer::mint(&both)).reason,
            Reason::WrongAudience
        );
    }

    #[test]
    fn another_issuer() {
        for iss in [
            json!("https://issuer.local/other"),
            json!(format!("{ISSUER}/")),
            json!(null),
        ] {
            let refused = refusal(&local_issuer::mint(&with(claims(), "iss", iss)));
            assert_eq!(refused.reason, Reason::WrongIssuer);
            assert_eq!(
                refused.www_authenticate,
                invalid_token("the token does not have a valid issuer")
            );
        }
    }

    #[test]
    fn a_bad_signature() {
        let token = local_issuer::mint(&claims());
        let (signed, signature) = token.rsplit_once('.').unwrap();
        let (header, _) = signed.split_once('.').unwrap();
        // Claims changed after signing (a longer life, another subject).
        let forged = format!(
            "{header}.{}.{signature}",
            segment(&with(claims(), "exp", json!(at(86_400))))
        );
        let refused = refusal(&forged);
        assert_eq!(refused.reason, Reason::BadSignature);
        assert_eq!(
            refused.www_authenticate,
            invalid_token("crypto/rsa: verification error")
        );
        // Another token's signature, none at all, one that is not base64url.
        let other = local_issuer::mint(&with(claims(), "sub", json!("customer-2")));
        let other_signature = other.rsplit_once('.').unwrap().1;
        for signature in [other_signature, "", "!!"] {
            assert_eq!(
                refusal(&format!("{signed}.{signature}")).reason,
                Reason::BadSignature
            );
        }
        // RS256's signature presented as RS512's.
        let relabelled = local_issuer::sign(
            &json!({"alg": "RS256", "kid": local_issuer::KID}),
            &claims(),
        );
        let rs512 = segment(&json!({"alg": "RS512", "kid": local_issuer::KID}));
        let (_, rest) = relabelled.split_once('.').unwrap();
        assert_eq!(
            refusal(&format!("{rs512}.{rest}")).reason,
            Reason::BadSignature
        );
    }

    #[test]
    fn an_unknown_kid() {
        for header in [
            json!({"alg": "RS256", "kid": "rotated-away"}),
            json!({"alg": "RS256"}),
            json!({"alg": "RS256", "kid": 1}),
        ] {
            let refused = refusal(&local_issuer::sign(&header, &claims()));
            assert_eq!(refused.reason, Reason::UnknownKid);
            assert_eq!(refused.status, 401);
            assert_eq!(
                refused.www_authenticate,
                invalid_token("no key of the issuer matches the token's kid")
            );
        }
    }

    #[test]
    fn only_rsa_algorithms() {
        // `alg: none`, unsigned.
        let none = format!(
            "{}.{}.",
            segment(&json!({"alg": "none", "kid": local_issuer::KID})),
            segment(&claims())
        );
        let refused = refusal(&none);
        assert_eq!(refused.reason, Reason::UnsupportedAlgorithm);
        assert_eq!(
            refused.www_authenticate,
            invalid_token("signing method none is invalid")
        );
        // HS256 keyed with the issuer's public modulus (the key-confusion forgery).
        let modulus = local_issuer::jwks().keys[0].n.clone().unwrap();
        let hs256 = hmac_token(
            &json!({"alg": "HS256", "kid": local_issuer::KID}),
            &claims(),
            modulus.as_bytes(),
        );
        assert_eq!(
            refusal(&hs256).description.as_deref(),
            Some("signing method HS256 is invalid")
        );
        for (alg, description) in [
            (json!("ES256"), "signing method ES256 is invalid"),
            (json!("PS256"), "signing method PS256 is invalid"),
            (json!("RS1"), "signing method (alg) is unavailable."),
            (json!(null), "signing method (alg) is unspecified."),
        ] {
            let token = format!(
                "{}.{}.c2ln",
                segment(&json!({"alg": alg, "kid": local_issuer::KID})),
                segment(&claims())
            );
            let refused = refusal(&token);
            assert_eq!(refused.reason, Reason::UnsupportedAlgorithm, "{alg}");
            assert_eq!(refused.description.as_deref(), Some(description));
        }
        // RS384 and RS512 are RSA too.
        for alg in ["RS384", "RS512"] {
            check(&local_issuer::sign(
                &json!({"alg": alg, "kid": local_issuer::KID}),
                &claims(),
            ))
            .unwrap();
        }
    }

    #[test]
    fn route_scopes() {
        let route = ["orders:read", "orders:write"];
        let token = local_issuer::mint(&with(claims(), "scope", json!("openid orders:read")));
        let caller = authorizer()
            .authorize_route(&bearer(&token), &route, now())
            .unwrap();
        // The token's whole list, not only the route's.
        assert_eq!(
            caller.scopes,
            Some(vec!["openid".to_owned(), "orders:read".to_owned()])
        );
        assert_eq!(
            caller.jwt_json()["scopes"],
            json!(["openid", "orders:read"])
        );
        // `scp`, as a list.
        let scp = local_issuer::mint(&with(claims(), "scp", json!(["orders:write"])));
        authorizer()
            .authorize_route(&bearer(&scp), &route, now())
            .unwrap();
        // None of the route's scopes, or no scope claim: 403 Forbidden.
        for token in [
            local_issuer::mint(&with(claims(), "scope", json!("openid profile"))),
            local_issuer::mint(&claims()),
        ] {
            let refused = authorizer()
                .authorize_route(&bearer(&token), &route, now())
                .unwrap_err();
            assert_eq!(refused.reason, Reason::InsufficientScope);
            assert_eq!(refused.status, 403);
            assert_eq!(refused.body(), r#"{"message":"Forbidden"}"#);
            assert_eq!(
                refused.www_authenticate,
                "Bearer scope=\"orders:read orders:write\" error=\"insufficient_scope\" \
                 error_description=\"the token does not have a scope the route requires\""
            );
        }
        // A token refused before its scopes is still a 401, naming the route's scopes.
        let expired = local_issuer::mint(&with(
            with(claims(), "scope", json!("orders:read")),
            "exp",
            json!(at(-1)),
        ));
        let refused = authorizer()
            .authorize_route(&bearer(&expired), &route, now())
            .unwrap_err();
        assert_eq!((refused.reason, refused.status), (Reason::Expired, 401));
        assert!(
            refused
                .www_authenticate
                .starts_with("Bearer scope=\"orders:read orders:write\" error=\"invalid_token\"")
        );
    }

    #[test]
    fn claims_reach_the_function_as_strings() {
        let token = local_issuer::mint(&json!({
            "iss": ISSUER,
            "aud": [AUDIENCE],
            "exp": at(300),
            "cognito:groups": ["admin", "ops"],
            "email_verified": true,
            "ratio": 0.5,
            "nested": {"a": 1},
            "mixed": ["a", 1],
            "gone": null,
        }));
        let caller = check(&token).unwrap();
        assert_eq!(caller.claim("aud"), Some("[donut-sales]"));
        assert_eq!(caller.claim("cognito:groups"), Some("[admin ops]"));
        assert_eq!(caller.claim("email_verified"), Some("true"));
        assert_eq!(caller.claim("ratio"), Some("0.5"));
        assert_eq!(caller.claim("nested"), Some(r#"{"a":1}"#));
        assert_eq!(caller.claim("mixed"), Some("[a 1]"));
        assert_eq!(caller.claim("gone"), None);
    }

    #[test]
    fn the_key_set() {
        let jwks = Jwks::from_json(local_issuer::JWKS_JSON).unwrap();
        assert_eq!(jwks, local_issuer::jwks());
        let key = jwks.key(local_issuer::KID).unwrap();
        assert_eq!(
            (key.kty.as_str(), key.alg.as_deref(), key.key_use.as_deref()),
            ("RSA", Some("RS256"), Some("sig"))
        );
        assert_eq!(key.e.as_deref(), Some("AQAB"));
        // Other key types are kept and never chosen; unknown members are ignored.
        let mixed = Jwks::from_json(
            r#"{"keys":[{"kty":"EC","kid":"k","crv":"P-256","x":"AA","y":"AA"},
                        {"kty":"RSA","kid":"k","n":"AQAB","e":"AQAB","x5t":"t"}]}"#,
        )
        .unwrap();
        assert_eq!(mixed.keys.len(), 2);
        assert_eq!(mixed.key("k").unwrap().kty, "RSA");
        assert!(mixed.key("other").is_none());
        // An RSA key that could verify nothing.
        assert!(Jwks::from_json(r#"{"keys":[{"kty":"RSA","kid":"k","e":"AQAB"}]}"#).is_err());
        assert!(Jwks::from_json(r#"{"keys":[{"kty":"RSA","n":"!","e":"AQAB"}]}"#).is_err());
        assert!(Jwks::from_json("{}").is_err());
        // A key set without the token's key (rotated away): its kid is unknown.
        let rotated = JwtAuthorizer::new(ISSUER, &[AUDIENCE], Jwks::default());
        let refused = rotated
            .authorize(&bearer(&local_issuer::mint(&claims())), now())
            .unwrap_err();
        assert_eq!(refused.reason, Reason::UnknownKid);
    }

    #[test]
    fn where_the_keys_are() {
        assert_eq!(
            authorizer().discovery_url(),
            "https://issuer.local/donut/.well-known/openid-configuration"
        );
        let slash = JwtAuthorizer::new("https://issuer.local/", &[], Jwks::default());
        assert_eq!(
            slash.discovery_url(),
            "https://issuer.local/.well-known/openid-configuration"
        );
    }
}
