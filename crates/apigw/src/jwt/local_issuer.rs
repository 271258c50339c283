//! A local OpenID issuer for the tests and the local stack: one fixed RSA key pair, committed
//! under `crates/apigw/fixtures/` and **for tests only** (its private half is public, so a token
//! it signs proves nothing anywhere else), its key set, and [`mint`], which signs claims into a
//! token [`super::JwtAuthorizer`] takes.
//!
//! Built only with the crate's `local-issuer` feature (and for its own tests), so nothing that
//! runs in AWS links the signing key.
//!
//! The key was made once with `openssl genrsa -traditional 2048` (PKCS#1 PEM); the key set's `n`
//! and `e` are its modulus and exponent in base64url (RFC 7518 §6.3.1). What an issuer serves for
//! discovery, [`openid_configuration`], follows OpenID Connect Discovery 1.0 §3
//! (<https://openid.net/specs/openid-connect-discovery-1_0.html#ProviderMetadata>).

use base64::Engine;
use jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

use super::{Jwks, JwtAuthorizer, b64url_encode};

/// The key's id, in [`JWKS_JSON`] and in the header of every token [`mint`] signs.
pub const KID: &str = "donut-local-issuer-test-only-1";

/// The private key, PKCS#1 PEM. TEST ONLY: published with the source.
pub const PRIVATE_KEY_PEM: &str = include_str!("../../fixtures/local-issuer.TEST-ONLY.key.pem");

/// The public key set, as the issuer's `jwks_uri` would serve it.
pub const JWKS_JSON: &str = include_str!("../../fixtures/local-issuer.TEST-ONLY.jwks.json");

/// Where [`openid_configuration`] says the key set is, under the issuer.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// The key set ([`JWKS_JSON`]).
pub fn jwks() -> Jwks {
    Jwks::from_json(JWKS_JSON).expect("the committed JWKS parses")
}

/// An authorizer trusting this issuer's key, for `issuer` and `audiences`.
pub fn authorizer(issuer: &str, audiences: &[&str]) -> JwtAuthorizer {
    JwtAuthorizer::new(issuer, audiences, jwks())
}

/// `claims` signed RS256 with the test key: `{"alg":"RS256","typ":"JWT","kid":KID}`. The claims
/// are taken as they are (`iss`, `aud`, `exp`… are the caller's to set).
pub fn mint(claims: &Value) -> String {
    sign(&json!({ "alg": "RS256", "typ": "JWT", "kid": KID }), claims)
}

/// `claims` under `header`, signed with the test key by the header's `alg` (RS256, RS384 or
/// RS512), whatever its `kid` says.
///
/// # Panics
/// On another `alg`: this issuer has only an RSA key.
pub fn sign(header: &Value, claims: &Value) -> String {
    let algorithm = match header["alg"].as_str() {
        Some("RS256") => Algorithm::RS256,
        Some("RS384") => Algorithm::RS384,
        Some("RS512") => Algorithm::RS512,
        other => panic!("the local issuer signs RS256, RS384 or RS512, not {other:?}"),
    };
    let signed = format!(
        "{}.{}",
        b64url_encode(header.to_string().as_bytes()),
        b64url_encode(claims.to_string().as_bytes())
    );
    let key = EncodingKey::from_rsa_der(&private_key_der());
    let signer = (DEFAULT_PROVIDER.signer_factory)(&algorithm, &key)
        .expect("an RSA signer for the test key");
    let signature = signer
        .try_sign(signed.as_bytes())
        .expect("the test key signs");
    format!("{signed}.{}", b64url_encode(&signature))
}

/// The issuer's discovery document (`{issuer}/.well-known/openid-configuration`): its `issuer`
/// and the `jwks_uri` serving [`JWKS_JSON`], plus the members Discovery §3 requires.
pub fn openid_configuration(issuer: &str) -> Value {
    let issuer = issuer.trim_end_matches('/');
    json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}{JWKS_PATH}"),
        "authorization_endpoint": format!("{issuer}/authorize"),
        "response_types_supported": ["code", "token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    })
}

/// [`PRIVATE_KEY_PEM`]'s DER (PKCS#1 `RSAPrivateKey`, what the signer takes).
fn private_key_der() -> Vec<u8> {
    let body: String = PRIVATE_KEY_PEM
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .expect("the committed PEM is base64")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_set_is_the_private_keys() {
        assert!(PRIVATE_KEY_PEM.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
        let (n, e) = (DEFAULT_PROVIDER
            .key_utils
            .rsa_pub_components_from_private_key)(&private_key_der())
        .unwrap();
        assert_eq!(n.len(), 256, "a 2048-bit key");
        let key = jwks().key(KID).cloned().unwrap();
        assert_eq!(key.n, Some(b64url_encode(&n)));
        assert_eq!(key.e, Some(b64url_encode(&e)));
    }

    #[test]
    fn discovery_names_the_key_set() {
        let config = openid_configuration("http://127.0.0.1:9000/issuer/");
        assert_eq!(config["issuer"], "http://127.0.0.1:9000/issuer");
        assert_eq!(
            config["jwks_uri"],
            "http://127.0.0.1:9000/issuer/.well-known/jwks.json"
        );
    }

    #[test]
    #[should_panic(expected = "RS256, RS384 or RS512")]
    fn only_rsa() {
        sign(&json!({ "alg": "HS256" }), &json!({}));
    }
}
