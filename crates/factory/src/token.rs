//! Callback capability tokens, version 2. The callback URL the factory gets with an order is
//!
//! `<api>/factory/callback/<id>?q=<quantity>&exp=<unix seconds>&kid=<key id>&sig=<hex>`
//!
//! where `sig = HMAC-SHA256(key, "donut-callback:v2\n<id>\n<quantity>\n<exp>")`. The URL
//! proves what it claims: which order, how many units we asked for, until when, and which key
//! signed it. Whoever holds it may restock that order, with that quantity, until it expires;
//! nothing else. The key id is the first 8 hex digits of the key's SHA-256, so two keys can be
//! accepted during a rotation (`current` signs, `previous` still verifies) and a URL names the
//! one it needs. Version-1 URLs (the order id alone, no expiry) are no longer accepted.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use donut_domain::FactoryOrderId;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const CONTEXT: &str = "donut-callback:v2";

/// How long a callback URL is good for when no other lifetime is set.
pub const DEFAULT_TTL: Duration = Duration::from_secs(72 * 3600);

/// A key. `Debug` never shows it.
#[derive(Clone)]
pub struct CallbackSecret(Vec<u8>);

#[derive(Debug, thiserror::Error)]
pub enum WeakSecret {
    #[error("the callback secret must be at least {min} bytes")]
    Short { min: usize },
    /// JSON, but not the rotation form: taking it as the key itself would sign with a key
    /// nobody meant (the value is not repeated here: it is a secret).
    #[error(
        "the callback secret looks like JSON but is not {{\"current\": \"…\", \"previous\": \"…\"}} \
         ({problem}); a plain key is not JSON"
    )]
    NotRotation { problem: String },
}

impl CallbackSecret {
    pub const MIN_LEN: usize = 32;

    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, WeakSecret> {
        let bytes = bytes.into();
        if bytes.len() < Self::MIN_LEN {
            return Err(WeakSecret::Short { min: Self::MIN_LEN });
        }
        Ok(Self(bytes))
    }

    /// The key's id: the first 8 hex digits of its SHA-256 (says which key, reveals nothing).
    pub fn id(&self) -> String {
        hex::encode(Sha256::digest(&self.0))[..8].to_owned()
    }
}

impl std::fmt::Debug for CallbackSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CallbackSecret({}, <redacted>)", self.id())
    }
}

/// The callback key as Secrets Manager (or the stack's config) holds it: a plain string is
/// the one key; `{"current": "…", "previous": "…"}` is a rotation in progress. Anything that
/// starts as JSON does (`{`, `[`, `"`) must be that form exactly — no other field, no typo — or
/// it is refused, never taken as a key.
pub fn keys_from_secret_string(raw: &str) -> Result<Vec<CallbackSecret>, WeakSecret> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Rotation {
        current: String,
        #[serde(default)]
        previous: Option<String>,
    }
    if !raw.trim_start().starts_with(['{', '[', '"']) {
        return Ok(vec![CallbackSecret::new(raw.as_bytes().to_vec())?]);
    }
    // serde's messages name a field or a position, never a string's value.
    let not_rotation = |problem: String| WeakSecret::NotRotation { problem };
    let value: serde_json::Value =
        serde_json::from_str(raw).map_err(|e| not_rotation(e.to_string()))?;
    if !value.is_object() {
        return Err(not_rotation("not an object".into()));
    }
    let rotation =
        serde_json::from_value::<Rotation>(value).map_err(|e| not_rotation(e.to_string()))?;
    let mut keys = vec![CallbackSecret::new(rotation.current.into_bytes())?];
    if let Some(previous) = rotation.previous.filter(|p| !p.is_empty()) {
        keys.push(CallbackSecret::new(previous.into_bytes())?);
    }
    Ok(keys)
}

/// The callback URL's query, as it arrived.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallbackQuery<'a> {
    pub quantity: Option<&'a str>,
    pub expires: Option<&'a str>,
    pub key_id: Option<&'a str>,
    pub signature: Option<&'a str>,
}

/// Why a callback's URL is not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the callback URL is missing its q, exp, kid or sig")]
    Missing,
    #[error("the callback URL's q or exp is not a number")]
    Malformed,
    #[error("the callback URL has expired")]
    Expired,
    #[error("the callback URL was signed with a key this stack does not hold")]
    UnknownKey,
    #[error("the callback URL's signature is not valid for this order and quantity")]
    BadSignature,
}

/// Makes and checks callback URLs.
#[derive(Clone, Debug)]
pub struct CallbackSigner {
    /// The first signs; every one verifies.
    keys: Vec<CallbackSecret>,
    /// The public base of the API, e.g. `https://abc.execute-api.eu-west-1.amazonaws.com`.
    base_url: String,
    ttl: Duration,
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

impl CallbackSigner {
    pub fn new(secret: CallbackSecret, base_url: impl Into<String>) -> Self {
        Self::with_keys(vec![secret], base_url)
    }

    /// `keys[0]` signs; all of them verify (a rotation keeps the previous key here).
    pub fn with_keys(keys: Vec<CallbackSecret>, base_url: impl Into<String>) -> Self {
        assert!(!keys.is_empty(), "a signer needs a key");
        Self {
            keys,
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            ttl: DEFAULT_TTL,
        }
    }

    /// How long the URLs it makes are good for.
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    fn signature(key: &CallbackSecret, id: &str, quantity: u32, expires: u64) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&key.0).expect("HMAC takes any key length");
        mac.update(format!("{CONTEXT}\n{id}\n{quantity}\n{expires}").as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// The query of the callback URL for `id` and `quantity`, made at `now` (unix seconds).
    pub fn query_at(&self, id: FactoryOrderId, quantity: u32, now: u64) -> String {
        let key = &self.keys[0];
        let expires = now + self.ttl.as_secs();
        let sig = hex::encode(Self::signature(key, &id.to_string(), quantity, expires));
        format!("q={quantity}&exp={expires}&kid={}&sig={sig}", key.id())
    }

    /// The URL the factory calls when the order is made.
    pub fn callback_url(&self, id: FactoryOrderId, quantity: u32) -> String {
        format!(
            "{}/factory/callback/{id}?{}",
            self.base_url,
            self.query_at(id, quantity, now_unix())
        )
    }

    /// The quantity a callback's URL vouches for, if it is a valid, unexpired URL for
    /// `factory_order_id` (the raw path segment). Constant time in the signature's content.
    pub fn verify(&self, factory_order_id: &str, query: &CallbackQuery) -> Result<u32, Refusal> {
        self.verify_at(factory_order_id, query, now_unix())
    }

    pub fn verify_at(
        &self,
        factory_order_id: &str,
        query: &CallbackQuery,
        now: u64,
    ) -> Result<u32, Refusal> {
        let (Some(quantity), Some(expires), Some(key_id), Some(signature)) =
            (query.quantity, query.expires, query.key_id, query.signature)
        else {
            return Err(Refusal::Missing);
        };
        let canonical = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !canonical(quantity) || !canonical(expires) {
            return Err(Refusal::Malformed);
        }
        let (Ok(quantity), Ok(expires)) = (quantity.parse::<u32>(), expires.parse::<u64>()) else {
            return Err(Refusal::Malformed);
        };
        let key = self
            .keys
            .iter()
            .find(|k| k.id() == key_id)
            .ok_or(Refusal::UnknownKey)?;
        // Only the canonical form (lower-case hex) is the capability.
        let given = (!signature.bytes().any(|b| b.is_ascii_uppercase()))
            .then(|| hex::decode(signature).ok())
            .flatten()
            .ok_or(Refusal::BadSignature)?;
        let expected = Self::signature(key, factory_order_id, quantity, expires);
        if !(given.len() == expected.len() && bool::from(given.as_slice().ct_eq(&expected))) {
            return Err(Refusal::BadSignature);
        }
        if now > expires {
            return Err(Refusal::Expired);
        }
        Ok(quantity)
    }
}

type LoadKeys =
    dyn Fn() -> Pin<Box<dyn Future<Output = Result<CallbackSigner, String>> + Send>> + Send + Sync;

/// A [`CallbackSigner`] whose keys are read on first use (from Secrets Manager on AWS), so a
/// cold start contacts nothing before its first event. A failed read is not kept: the next use
/// reads again.
#[derive(Clone)]
pub struct CallbackKeys {
    signer: Arc<tokio::sync::OnceCell<CallbackSigner>>,
    load: Arc<LoadKeys>,
}

/// The keys could not be read: nothing can be signed or verified until they are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the callback keys could not be read: {0}")]
pub struct KeysUnavailable(pub String);

impl CallbackKeys {
    /// Keys that `load` reads when they are first needed.
    pub fn deferred<F, Fut>(load: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<CallbackSigner, String>> + Send + 'static,
    {
        Self {
            signer: Arc::default(),
            load: Arc::new(move || Box::pin(load())),
        }
    }

    pub async fn signer(&self) -> Result<&CallbackSigner, KeysUnavailable> {
        self.signer
            .get_or_try_init(|| async { (self.load)().await.map_err(KeysUnavailable) })
            .await
    }
}

impl From<CallbackSigner> for CallbackKeys {
    fn from(signer: CallbackSigner) -> Self {
        Self::deferred(move || std::future::ready(Ok(signer.clone())))
    }
}

impl std::fmt::Debug for CallbackKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackKeys")
            .field("read", &self.signer.initialized())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: &str) -> CallbackSecret {
        CallbackSecret::new(c.repeat(32)).unwrap()
    }

    fn signer(c: &str) -> CallbackSigner {
        CallbackSigner::new(key(c), "http://127.0.0.1:8080/")
    }

    /// The query of `url` as the API hands it over.
    fn parts(query: &str) -> Vec<(String, String)> {
        query
            .split('&')
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    fn check(s: &CallbackSigner, id: &str, query: &str, now: u64) -> Result<u32, Refusal> {
        let p = parts(query);
        let get = |k: &str| p.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        s.verify_at(
            id,
            &CallbackQuery {
                quantity: get("q"),
                expires: get("exp"),
                key_id: get("kid"),
                signature: get("sig"),
            },
            now,
        )
    }

    const NOW: u64 = 1_800_000_000;

    #[test]
    fn a_url_proves_its_order_quantity_expiry_and_key() {
        let s = signer("a").with_ttl(Duration::from_secs(3600));
        let id = FactoryOrderId::new();
        let query = s.query_at(id, 12, NOW);
        assert_eq!(check(&s, &id.to_string(), &query, NOW + 10), Ok(12));
        assert_eq!(
            check(&s, &FactoryOrderId::new().to_string(), &query, NOW),
            Err(Refusal::BadSignature),
            "another order"
        );
        assert_eq!(
            check(&s, &id.to_string(), &query.replace("q=12", "q=500"), NOW),
            Err(Refusal::BadSignature),
            "another quantity"
        );
        let later = query.replace(
            &format!("exp={}", NOW + 3600),
            &format!("exp={}", NOW + 99_999),
        );
        assert_eq!(
            check(&s, &id.to_string(), &later, NOW),
            Err(Refusal::BadSignature),
            "a longer life"
        );
        assert_eq!(
            check(&s, &id.to_string(), &query, NOW + 3601),
            Err(Refusal::Expired)
        );
        assert_eq!(
            check(&signer("b"), &id.to_string(), &query, NOW),
            Err(Refusal::UnknownKey)
        );
        assert_eq!(check(&s, &id.to_string(), "", NOW), Err(Refusal::Missing));
        let (head, sig) = query.split_once("sig=").unwrap();
        assert_eq!(
            check(
                &s,
                &id.to_string(),
                &format!("{head}sig={}", sig.to_uppercase()),
                NOW
            ),
            Err(Refusal::BadSignature),
            "only the canonical lower-case form"
        );
    }

    #[test]
    fn a_rotation_accepts_the_previous_key_until_it_is_dropped() {
        let id = FactoryOrderId::new();
        let old = signer("a");
        let issued = old.query_at(id, 5, NOW);
        let rotating = CallbackSigner::with_keys(vec![key("b"), key("a")], "http://x");
        assert_eq!(
            check(&rotating, &id.to_string(), &issued, NOW),
            Ok(5),
            "old URL still good"
        );
        let fresh = rotating.query_at(id, 5, NOW);
        assert!(
            fresh.contains(&format!("kid={}", key("b").id())),
            "new URLs use the new key"
        );
        let rotated = CallbackSigner::with_keys(vec![key("b")], "http://x");
        assert_eq!(check(&rotated, &id.to_string(), &fresh, NOW), Ok(5));
        assert_eq!(
            check(&rotated, &id.to_string(), &issued, NOW),
            Err(Refusal::UnknownKey)
        );
    }

    #[test]
    fn the_secret_string_holds_one_key_or_a_rotation() {
        let one = keys_from_secret_string(&"k".repeat(32)).unwrap();
        assert_eq!(one.len(), 1);
        let two = keys_from_secret_string(&format!(
            r#"{{"current": "{}", "previous": "{}"}}"#,
            "n".repeat(32),
            "o".repeat(32)
        ))
        .unwrap();
        assert_eq!((two.len(), two[0].id()), (2, key("n").id()));
        assert!(keys_from_secret_string("short").is_err());
        // A rotation mistyped is an error, never the key itself.
        let k = "k".repeat(32);
        for mistyped in [
            format!(r#"{{"curent": "{k}"}}"#),
            format!(r#"{{"current": "{k}", "previos": "{k}"}}"#),
            format!(r#"{{"current": "{k}", "previous": "{k}""#),
            format!(r#"  {{ "current": 42, "padding": "{k}" }}"#),
            format!(r#"["{k}"]"#),
            format!(r#""{k}""#),
        ] {
            let refused = keys_from_secret_string(&mistyped).unwrap_err();
            assert!(
                matches!(refused, WeakSecret::NotRotation { .. }),
                "{mistyped}: {refused}"
            );
            assert!(
                !refused.to_string().contains(&k),
                "the value stays out of the error"
            );
        }
    }

    #[test]
    fn callback_urls_carry_the_query() {
        let s = signer("a");
        let id = FactoryOrderId::new();
        let url = s.callback_url(id, 7);
        assert!(
            url.starts_with(&format!(
                "http://127.0.0.1:8080/factory/callback/{id}?q=7&exp="
            )),
            "{url}"
        );
        assert!(
            url.contains(&format!("&kid={}&sig=", key("a").id())),
            "{url}"
        );
    }

    #[test]
    fn short_secrets_are_refused_and_never_printed() {
        assert!(CallbackSecret::new("short").is_err());
        let s = CallbackSecret::new("x".repeat(40)).unwrap();
        assert!(!format!("{s:?}").contains("xxxx"));
    }
}
