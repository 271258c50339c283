//! Identifiers and quantities, validated once at the edge so nothing invalid travels inward.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Why a value from the outside world was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidInput {
    #[error("product_id must be 1 to {max} characters of A-Z, a-z, 0-9, '-' or '_'")]
    ProductId { max: usize },
    #[error("quantity must be an integer from 1 to {max}")]
    Quantity { max: u32 },
    #[error("correlation id must be 1 to {max} visible ASCII characters")]
    CorrelationId { max: usize },
    #[error(
        "Idempotency-Key must be 1 to {max} printable ASCII characters, bare or as a quoted string"
    )]
    IdempotencyKey { max: usize },
    #[error("not a valid id: {0}")]
    Id(String),
    /// A field of an operator's request, and what it must be.
    #[error("{field}: {problem}")]
    Field {
        field: &'static str,
        problem: String,
    },
}

impl InvalidInput {
    pub fn new(field: &'static str, problem: impl Into<String>) -> Self {
        InvalidInput::Field {
            field,
            problem: problem.into(),
        }
    }
}

/// A product's id: non-empty, bounded, and made of characters that are safe in URLs and logs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ProductId(String);

impl ProductId {
    pub const MAX_LEN: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let ok = !raw.is_empty()
            && raw.len() <= Self::MAX_LEN
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidInput::ProductId { max: Self::MAX_LEN })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for ProductId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for ProductId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A number of units in one purchase or one factory order: always `1..=max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Quantity(u32);

impl Quantity {
    /// The largest quantity the system accepts anywhere, whatever the configuration says.
    pub const HARD_MAX: u32 = 1_000_000;

    /// Accepts `raw` when it is an integer in `1..=max`.
    pub fn parse(raw: i64, max: u32) -> Result<Self, InvalidInput> {
        let max = max.min(Self::HARD_MAX);
        match u32::try_from(raw) {
            Ok(q) if (1..=max).contains(&q) => Ok(Self(q)),
            _ => Err(InvalidInput::Quantity { max }),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            pub fn new() -> Self {
                Self(Uuid::new_v4())
            }

            pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
                Uuid::try_parse(raw)
                    .map(Self)
                    .map_err(|_| InvalidInput::Id(raw.chars().take(64).collect()))
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }
    };
}

uuid_id!(
    /// One sold purchase.
    OrderId
);
uuid_id!(
    /// One order to the factory; also the idempotency key of its restock.
    FactoryOrderId
);

/// A buyer's `Idempotency-Key` (IETF httpapi draft "The Idempotency-Key HTTP Header Field"):
/// every retry of one logical purchase carries the same key. The header's value is a
/// Structured Field string (`"…"`); a bare token is accepted too, as most clients send one. The
/// key itself: 1 to 255 printable ASCII characters (space to `~`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub const MAX_LEN: usize = 255;

    /// From the header's value.
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let invalid = InvalidInput::IdempotencyKey { max: Self::MAX_LEN };
        let key = match raw.strip_prefix('"') {
            Some(quoted) => {
                let inner = quoted.strip_suffix('"').ok_or(invalid.clone())?;
                // A structured-field string escapes `"` and `\` with `\`.
                let mut out = String::with_capacity(inner.len());
                let mut chars = inner.chars();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => match chars.next() {
                            Some(e @ ('"' | '\\')) => out.push(e),
                            _ => return Err(invalid),
                        },
                        '"' => return Err(invalid),
                        c => out.push(c),
                    }
                }
                out
            }
            // A bare key cannot hold what a quoted one escapes.
            None if raw.contains(['"', '\\']) => return Err(invalid),
            None => raw.to_owned(),
        };
        Self::unquoted(&key)
    }

    /// A key as stored (already unquoted).
    pub fn unquoted(key: &str) -> Result<Self, InvalidInput> {
        let ok = !key.is_empty()
            && key.len() <= Self::MAX_LEN
            && key.bytes().all(|b| (0x20..=0x7e).contains(&b));
        if ok {
            Ok(Self(key.to_owned()))
        } else {
            Err(InvalidInput::IdempotencyKey { max: Self::MAX_LEN })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key as a warehouse stores it: a buyer's key is the buyer's own (the same key from two
    /// buyers is two purchases), so it is kept under a scope made of the buyer —
    /// `<32 hex of SHA-256(buyer)>:<key>`, at most [`Self::MAX_STORED_LEN`] characters; an
    /// anonymous buyer's as it is.
    pub fn stored(&self, buyer: Option<&Buyer>) -> String {
        match buyer {
            Some(buyer) => format!("{}:{}", buyer.scope(), self.0),
            None => self.0.clone(),
        }
    }

    /// The longest stored key: a scope (32 + 1) and the key.
    pub const MAX_STORED_LEN: usize = 33 + Self::MAX_LEN;

    /// The key a buyer sent, from its stored form ([`Self::stored`]).
    pub fn from_stored(stored: &str, buyer: Option<&Buyer>) -> Result<Self, InvalidInput> {
        let key = match buyer {
            Some(buyer) => stored
                .strip_prefix(buyer.scope().as_str())
                .and_then(|rest| rest.strip_prefix(':'))
                .ok_or(InvalidInput::IdempotencyKey { max: Self::MAX_LEN })?,
            None => stored,
        };
        Self::unquoted(key)
    }
}

/// A buyer, as the stage's identity provider names them: the `sub` claim of the token API
/// Gateway's JWT authorizer verified. At most 255 characters, none of them a control character.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Buyer(String);

impl Buyer {
    pub const MAX_LEN: usize = 255;

    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let chars = raw.chars().count();
        if (1..=Self::MAX_LEN).contains(&chars) && !raw.chars().any(char::is_control) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidInput::new(
                "sub",
                format!(
                    "a buyer's id is 1 to {} printable characters",
                    Self::MAX_LEN
                ),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// 32 hex characters of the SHA-256 of the buyer's id: what their keys are stored under.
    fn scope(&self) -> String {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(self.0.as_bytes());
        digest[..16].iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The id that ties every log line and message of one purchase → stock-out → factory →
/// restock chain together.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct CorrelationId(String);

impl CorrelationId {
    pub const MAX_LEN: usize = 128;

    pub fn new() -> Self {
        Self(Uuid::new_v4().hyphenated().to_string())
    }

    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let ok = !raw.is_empty()
            && raw.len() <= Self::MAX_LEN
            && raw.bytes().all(|b| b.is_ascii_graphic());
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidInput::CorrelationId { max: Self::MAX_LEN })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a caller sent as its own correlation id (`x-correlation-id`): never our correlation id
/// (the server makes every one), kept beside it — in the request's log lines, an operator's in
/// the audit — cleaned and capped: letters, digits and `- _ . : / @ #` only (anything else
/// dropped), at most [`ClientReference::MAX_LEN`] characters. What a buyer writes cannot put a
/// quote, a newline or markup into a log or an e-mail.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct ClientReference(String);

impl ClientReference {
    pub const MAX_LEN: usize = 64;

    /// The cleaned reference; `None` when nothing is left.
    pub fn clean(raw: &str) -> Option<Self> {
        let kept: String = raw
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || "-_.:/@#".contains(*c))
            .take(Self::MAX_LEN)
            .collect();
        (!kept.is_empty()).then_some(Self(kept))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Default for CorrelationId {
    fn default() -> Self {
        Self::new()
    }
}

impl<'de> Deserialize<'de> for CorrelationId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for CorrelationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn product_ids_are_bounded_and_plain() {
        assert!(ProductId::parse("glazed-01").is_ok());
        assert!(ProductId::parse("").is_err());
        assert!(ProductId::parse(&"a".repeat(65)).is_err());
        assert!(ProductId::parse("a b").is_err());
        assert!(ProductId::parse("1' OR '1'='1").is_err());
        assert!(ProductId::parse("ｇlazed").is_err());
    }

    #[test]
    fn quantities_are_one_to_max() {
        assert_eq!(Quantity::parse(1, 10).unwrap().get(), 1);
        assert_eq!(Quantity::parse(10, 10).unwrap().get(), 10);
        assert!(Quantity::parse(0, 10).is_err());
        assert!(Quantity::parse(-1, 10).is_err());
        assert!(Quantity::parse(11, 10).is_err());
        assert!(Quantity::parse(i64::MAX, u32::MAX).is_err());
        assert_eq!(
            Quantity::parse(0, 10).unwrap_err().to_string(),
            "quantity must be an integer from 1 to 10"
        );
    }

    #[test]
    fn ids_round_trip() {
        let id = FactoryOrderId::new();
        assert_eq!(FactoryOrderId::parse(&id.to_string()).unwrap(), id);
        assert!(FactoryOrderId::parse("nope").is_err());
    }

    proptest! {
        #[test]
        fn quantity_parse_never_accepts_out_of_range(raw in any::<i64>(), max in 1u32..10_000) {
            match Quantity::parse(raw, max) {
                Ok(q) => prop_assert!(q.get() >= 1 && q.get() <= max && i64::from(q.get()) == raw),
                Err(_) => prop_assert!(raw < 1 || raw > i64::from(max)),
            }
        }

        #[test]
        fn product_id_parse_accepts_exactly_the_safe_alphabet(raw in ".{0,80}") {
            let safe = !raw.is_empty() && raw.len() <= 64
                && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            prop_assert_eq!(ProductId::parse(&raw).is_ok(), safe);
        }
    }
}
