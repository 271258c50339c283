//! Callback capability tokens: `HMAC-SHA256(secret, "donut-callback:v1:" + factory_order_id)`,
//! hex-encoded, carried in the callback URL's query. Whoever holds the URL may restock that
//! one order, once; nobody can derive another order's URL without the secret.

use donut_domain::FactoryOrderId;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

const CONTEXT: &[u8] = b"donut-callback:v1:";

/// The shared secret. `Debug` never shows it.
#[derive(Clone)]
pub struct CallbackSecret(Vec<u8>);

#[derive(Debug, thiserror::Error)]
#[error("the callback secret must be at least {min} bytes")]
pub struct WeakSecret {
    min: usize,
}

impl CallbackSecret {
    pub const MIN_LEN: usize = 32;

    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, WeakSecret> {
        let bytes = bytes.into();
        if bytes.len() < Self::MIN_LEN {
            return Err(WeakSecret { min: Self::MIN_LEN });
        }
        Ok(Self(bytes))
    }
}

impl std::fmt::Debug for CallbackSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallbackSecret(<redacted>)")
    }
}

/// Makes and checks callback URLs.
#[derive(Clone, Debug)]
pub struct CallbackSigner {
    secret: CallbackSecret,
    /// The public base of the API, e.g. `https://abc.execute-api.eu-west-1.amazonaws.com`.
    base_url: String,
}

impl CallbackSigner {
    pub fn new(secret: CallbackSecret, base_url: impl Into<String>) -> Self {
        Self {
            secret,
            base_url: base_url.into().trim_end_matches('/').to_owned(),
        }
    }

    fn mac(&self, factory_order_id: &str) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.secret.0).expect("HMAC takes any key length");
        mac.update(CONTEXT);
        mac.update(factory_order_id.as_bytes());
        mac
    }

    pub fn token(&self, id: FactoryOrderId) -> String {
        hex::encode(self.mac(&id.to_string()).finalize().into_bytes())
    }

    /// The URL the factory calls when the order is made.
    pub fn callback_url(&self, id: FactoryOrderId) -> String {
        format!(
            "{}/factory/callback/{id}?token={}",
            self.base_url,
            self.token(id)
        )
    }

    /// Whether `token` is the one for `factory_order_id` (the raw path segment, validated or
    /// not). Constant time in the token's content.
    pub fn verify(&self, factory_order_id: &str, token: &str) -> bool {
        // Only the canonical form (lower-case hex) is the capability.
        if token.bytes().any(|b| b.is_ascii_uppercase()) {
            return false;
        }
        let Ok(given) = hex::decode(token) else {
            return false;
        };
        let expected = self.mac(factory_order_id).finalize().into_bytes();
        given.len() == expected.len() && bool::from(given.as_slice().ct_eq(expected.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(secret: &str) -> CallbackSigner {
        CallbackSigner::new(
            CallbackSecret::new(secret.repeat(32)).unwrap(),
            "http://127.0.0.1:8080/",
        )
    }

    #[test]
    fn tokens_verify_only_for_their_order_and_secret() {
        let s = signer("a");
        let id = FactoryOrderId::new();
        let token = s.token(id);
        assert!(s.verify(&id.to_string(), &token));
        assert!(
            !s.verify(&FactoryOrderId::new().to_string(), &token),
            "another order"
        );
        assert!(
            !signer("b").verify(&id.to_string(), &token),
            "another secret"
        );
        assert!(!s.verify(&id.to_string(), ""));
        assert!(!s.verify(&id.to_string(), "zz"));
        assert!(!s.verify(&id.to_string(), &token[..62]));
        assert!(
            !s.verify(&id.to_string(), &token.to_uppercase()),
            "only the canonical lower-case form"
        );
    }

    #[test]
    fn callback_urls_carry_the_token() {
        let s = signer("a");
        let id = FactoryOrderId::new();
        assert_eq!(
            s.callback_url(id),
            format!(
                "http://127.0.0.1:8080/factory/callback/{id}?token={}",
                s.token(id)
            )
        );
    }

    #[test]
    fn short_secrets_are_refused_and_never_printed() {
        assert!(CallbackSecret::new("short").is_err());
        let s = CallbackSecret::new("x".repeat(40)).unwrap();
        assert!(!format!("{s:?}").contains("xxxx"));
    }
}
