//! The operators' API (`/admin/…`) as `donut-cli` speaks it: every call signed
//! ([`AdminClient`]), each answer read into the contract's own types (`donut_api::contract`),
//! and one function per command that prints what an operator needs to read
//! (`products`, `stock adjust`, `audit`, `orders`). A refusal — the API's `{"error": {code,
//! message}}`, or API Gateway's 403 before any function ran — is an [`ApiRefusal`] error: the
//! binary prints its message and exits non-zero.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::Context;
use donut_api::contract::{
    AdminProduct, AdminProductList, AuditList, AuditView, CatalogueChange, FactoryOrderAction,
    FactoryOrderList, FactoryOrderView, NewProductRequest, ProductPatch, StockRequest,
};
use donut_contract::routes::paths;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::signed::AdminClient;

/// What the API (or API Gateway in front of it) refused, and why, in its own words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRefusal {
    pub status: u16,
    /// The API's `error.code` (none for API Gateway's own 403s).
    pub code: Option<String>,
    pub message: String,
}

impl std::fmt::Display for ApiRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.code {
            Some(code) => write!(f, "refused ({} {code}): {}", self.status, self.message)?,
            None => write!(f, "refused ({}): {}", self.status, self.message)?,
        }
        if self.status == 403 && self.code.is_none() {
            // API Gateway's IAM authorization said no before any function ran.
            write!(
                f,
                " (API Gateway's IAM authorization: the request must be signed with credentials \
                 allowed execute-api:Invoke on the /admin routes)"
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiRefusal {}

/// An answer: the body as the API sent it (`--json` prints it) and read into its type.
#[derive(Debug)]
pub struct Answer<T> {
    pub value: T,
    pub raw: Value,
}

/// The operators' API, signed.
pub struct Operators {
    client: AdminClient,
}

/// How many times [`Operators::call`] asks before it gives up.
const CALL_ATTEMPTS: u64 = 3;

/// An answer that says the request may be sent again: the gateway or the warehouse did not
/// finish it (429, 502, 503, 504), or a change with its key is still in flight (409 with
/// `Retry-After`; an adjustment the shelf refuses is a 409 without it).
fn worth_asking_again(reply: &reqwest::Response) -> bool {
    let status = reply.status().as_u16();
    matches!(status, 429 | 502 | 503 | 504)
        || (status == 409 && reply.headers().contains_key(reqwest::header::RETRY_AFTER))
}

/// `pattern` (a route of `donut_contract::routes::paths`) with its one `{…}` parameter
/// replaced by `value`.
fn path(pattern: &str, value: &str) -> String {
    let start = pattern.find('{').expect("a route with a parameter");
    let end = pattern[start..].find('}').expect("a closed parameter") + start;
    format!("{}{value}{}", &pattern[..start], &pattern[end + 1..])
}

/// A product id as a path may carry it (the API's own rule: 1–64 of `A-Z a-z 0-9 - _`).
pub fn product_id(raw: &str) -> anyhow::Result<&str> {
    donut_domain::ProductId::parse(raw).map_err(|e| anyhow::anyhow!("product id {raw:?}: {e}"))?;
    Ok(raw)
}

fn factory_order_id(raw: &str) -> anyhow::Result<&str> {
    donut_domain::FactoryOrderId::parse(raw)
        .map_err(|e| anyhow::anyhow!("factory order id {raw:?}: {e}"))?;
    Ok(raw)
}

impl Operators {
    pub fn new(client: AdminClient) -> Self {
        Self { client }
    }

    pub fn client(&self) -> &AdminClient {
        &self.client
    }

    /// `method path` with `body`: the answer's JSON, or the refusal. A change is sent under an
    /// `Idempotency-Key` of its own, so an answer that did not come (the connection dropped,
    /// the gateway timed out, the warehouse was busy) is asked again safely, with the same
    /// key: the change is made once, and the retry gets its answer.
    pub async fn call(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let what = format!("{method} {path_and_query}");
        let key = (method != Method::GET).then(|| uuid::Uuid::new_v4().to_string());
        let mut attempt = 1;
        let reply = loop {
            let sent = self
                .client
                .send(method.clone(), path_and_query, body, key.as_deref())
                .await;
            let again = match &sent {
                Err(_) => true,
                Ok(reply) => worth_asking_again(reply),
            };
            if !again || attempt == CALL_ATTEMPTS {
                break sent?;
            }
            eprintln!("{what}: no answer (attempt {attempt}); asking again with the same key");
            tokio::time::sleep(Duration::from_secs(attempt)).await;
            attempt += 1;
        };
        let status = reply.status().as_u16();
        let text = reply
            .text()
            .await
            .with_context(|| format!("{what}: reading the answer"))?;
        let json: Option<Value> = serde_json::from_str(&text).ok();
        if (200..300).contains(&status) {
            return json.with_context(|| format!("{what} answered {status}, not JSON: {text}"));
        }
        let refusal = match &json {
            Some(body) if body["error"]["message"].is_string() => ApiRefusal {
                status,
                code: body["error"]["code"].as_str().map(str::to_owned),
                message: body["error"]["message"].as_str().unwrap_or("").to_owned(),
            },
            Some(body) if body["message"].is_string() => ApiRefusal {
                status,
                code: None,
                message: body["message"].as_str().unwrap_or("").to_owned(),
            },
            _ => ApiRefusal {
                status,
                code: None,
                message: if text.trim().is_empty() {
                    format!("{what}: no body")
                } else {
                    text.chars().take(300).collect()
                },
            },
        };
        Err(anyhow::Error::new(refusal))
    }

    async fn typed<T: DeserializeOwned>(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Answer<T>> {
        let raw = self.call(method.clone(), path_and_query, body).await?;
        let value = serde_json::from_value(raw.clone()).with_context(|| {
            format!("{method} {path_and_query}: an answer this donut-cli cannot read: {raw}")
        })?;
        Ok(Answer { value, raw })
    }

    /// Every product, retired ones too.
    pub async fn products(&self) -> anyhow::Result<Answer<AdminProductList>> {
        self.typed(Method::GET, paths::ADMIN_PRODUCTS, None).await
    }

    pub async fn product(&self, id: &str) -> anyhow::Result<Answer<AdminProduct>> {
        let p = path(paths::ADMIN_PRODUCT, product_id(id)?);
        self.typed(Method::GET, &p, None).await
    }

    pub async fn create(
        &self,
        product: &NewProductRequest,
    ) -> anyhow::Result<Answer<CatalogueChange>> {
        product_id(&product.product_id)?;
        let body = serde_json::to_value(product)?;
        self.typed(Method::POST, paths::ADMIN_PRODUCTS, Some(&body))
            .await
    }

    pub async fn update(
        &self,
        id: &str,
        patch: &ProductPatch,
    ) -> anyhow::Result<Answer<CatalogueChange>> {
        let p = path(paths::ADMIN_PRODUCT, product_id(id)?);
        // Only the fields set: `null` would be read as "leave it" too, but the body says less.
        let body = Value::Object(
            serde_json::to_value(patch)?
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        );
        self.typed(Method::PATCH, &p, Some(&body)).await
    }

    pub async fn adjust(
        &self,
        id: &str,
        request: &StockRequest,
    ) -> anyhow::Result<Answer<CatalogueChange>> {
        let p = path(paths::ADMIN_STOCK, product_id(id)?);
        let body = serde_json::to_value(request)?;
        self.typed(Method::POST, &p, Some(&body)).await
    }

    /// The audit trail, newest first: one product's, or everyone's.
    pub async fn audit(
        &self,
        product: Option<&str>,
        limit: Option<u32>,
    ) -> anyhow::Result<Answer<AuditList>> {
        let mut query = Vec::new();
        if let Some(id) = product {
            query.push(format!("product_id={}", product_id(id)?));
        }
        if let Some(n) = limit {
            query.push(format!("limit={n}"));
        }
        let p = if query.is_empty() {
            paths::ADMIN_AUDIT.to_owned()
        } else {
            format!("{}?{}", paths::ADMIN_AUDIT, query.join("&"))
        };
        self.typed(Method::GET, &p, None).await
    }

    /// The factory orders neither fulfilled nor cancelled, oldest first.
    pub async fn factory_orders(&self) -> anyhow::Result<Answer<FactoryOrderList>> {
        self.typed(Method::GET, paths::ADMIN_FACTORY_ORDERS, None)
            .await
    }

    pub async fn factory_order(&self, id: &str) -> anyhow::Result<Answer<FactoryOrderView>> {
        let p = path(paths::ADMIN_FACTORY_ORDER, factory_order_id(id)?);
        self.typed(Method::GET, &p, None).await
    }

    pub async fn re_request(&self, id: &str) -> anyhow::Result<Answer<FactoryOrderAction>> {
        let p = path(paths::ADMIN_RE_REQUEST, factory_order_id(id)?);
        self.typed(Method::POST, &p, None).await
    }

    pub async fn cancel(&self, id: &str) -> anyhow::Result<Answer<FactoryOrderAction>> {
        let p = path(paths::ADMIN_CANCEL, factory_order_id(id)?);
        self.typed(Method::POST, &p, None).await
    }
}

// ---- What the commands print. ----

/// The raw body, for `--json`.
pub fn json(raw: &Value) -> String {
    let mut out = serde_json::to_string_pretty(raw).unwrap_or_else(|_| raw.to_string());
    out.push('\n');
    out
}

/// `products list`: one line a product, retired ones marked.
pub fn render_products(products: &[AdminProduct]) -> String {
    let mut out = format!(
        "{:<24} {:<24} {:>11} {:>7} {:>13} {:>13} {:>8}\n",
        "product", "name", "price_cents", "stock", "reorder_point", "reorder_qty", "factory"
    );
    for p in products {
        let line = format!(
            "{:<24} {:<24} {:>11} {:>7} {:>13} {:>13} {:>8}  {}",
            p.product_id,
            p.name,
            p.price_cents,
            p.stock,
            p.reorder_point,
            p.reorder_quantity,
            p.factory_product_id,
            if p.retired { "retired" } else { "" }
        );
        let _ = writeln!(out, "{}", line.trim_end());
    }
    let retired = products.iter().filter(|p| p.retired).count();
    let _ = writeln!(
        out,
        "{} product(s), {retired} retired (not listed to buyers, not sold)",
        products.len()
    );
    out
}

/// One product, on one line.
pub fn describe(p: &AdminProduct) -> String {
    format!(
        "{} \"{}\": {} cents, {} in stock, reorder point {}, reorder quantity {}, factory \
         product {}{}",
        p.product_id,
        p.name,
        p.price_cents,
        p.stock,
        p.reorder_point,
        p.reorder_quantity,
        p.factory_product_id,
        if p.retired { ", RETIRED" } else { "" }
    )
}

/// `products show`.
pub fn render_product(p: &AdminProduct) -> String {
    format!(
        "product            {}\nname               {}\nprice_cents        {}\nstock              {}\n\
         reorder_point      {}\nreorder_quantity   {}\nfactory_product_id {}\nretired            {}\n",
        p.product_id,
        p.name,
        p.price_cents,
        p.stock,
        p.reorder_point,
        p.reorder_quantity,
        p.factory_product_id,
        p.retired
    )
}

/// What a change did: `done` is what the command set out to do ("created", "retired", …).
pub fn render_change(done: &str, change: &CatalogueChange) -> String {
    let mut out = if change.changed {
        format!("{done}: {}\n", describe(&change.product))
    } else {
        format!(
            "already so, nothing changed (nothing audited): {}\n",
            describe(&change.product)
        )
    };
    if let Some(r) = &change.restock {
        let status = serde_json::to_value(r.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "at or below its reorder point: factory order {} ({status}{})",
            r.factory_order_id,
            if r.opened_now {
                ", opened by this change"
            } else {
                ", already open"
            }
        );
    }
    out
}

/// An audited product as `field → value`, nested objects by dotted names (`reorder.point`).
fn flattened(value: &Value) -> std::collections::BTreeMap<String, Value> {
    fn walk(prefix: &str, value: &Value, out: &mut std::collections::BTreeMap<String, Value>) {
        match value.as_object() {
            Some(fields) => {
                for (k, v) in fields {
                    let name = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&name, v, out);
                }
            }
            None => {
                out.insert(prefix.to_owned(), value.clone());
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    walk("", value, &mut out);
    out
}

/// What an audit entry changed: the fields that differ between `before` and `after`, or
/// every field of a creation.
fn differences(before: Option<&Value>, after: &Value) -> String {
    let after = flattened(after);
    match before.map(flattened) {
        Some(before) => after
            .iter()
            .filter(|(k, v)| before.get(*k) != Some(*v))
            .map(|(k, v)| {
                let was = before.get(k).map(Value::to_string).unwrap_or("-".into());
                format!("{k} {was} → {v}")
            })
            .collect::<Vec<_>>()
            .join(", "),
        None => after
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "id" | "product_id" | "retired"))
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// `audit`: one line an entry, newest first.
pub fn render_audit(entries: &[AuditView]) -> String {
    let mut out = String::new();
    for e in entries {
        let _ = writeln!(
            out,
            "{} {:<7} {:<24} {}{}",
            e.at,
            e.action,
            e.product_id,
            differences(e.before.as_ref(), &e.after),
            e.reason
                .as_deref()
                .map(|r| format!(" — \"{r}\""))
                .unwrap_or_default()
        );
        let _ = writeln!(
            out,
            "    by {} (correlation id {}{})",
            e.actor,
            e.correlation_id,
            e.reference
                .as_deref()
                .map(|r| format!(", reference {r}"))
                .unwrap_or_default()
        );
    }
    let _ = writeln!(out, "{} change(s)", entries.len());
    out
}

/// `orders list`.
pub fn render_factory_orders(orders: &[FactoryOrderView]) -> String {
    let mut out = format!(
        "{:<36} {:<24} {:>5} {:<9} {:>8} {:>8} {:>6}\n",
        "factory order", "product", "qty", "status", "age", "requests", "chases"
    );
    for o in orders {
        let _ = writeln!(
            out,
            "{:<36} {:<24} {:>5} {:<9} {:>8} {:>8} {:>6}",
            o.factory_order_id,
            o.product_id,
            o.quantity,
            o.status,
            o.age_seconds.map(|s| format!("{s}s")).unwrap_or_default(),
            o.request_attempts,
            o.chases
        );
    }
    let _ = writeln!(
        out,
        "{} unfinished factory order(s) (open or requested)",
        orders.len()
    );
    out
}

/// `orders show`.
pub fn render_factory_order(o: &FactoryOrderView) -> String {
    format!(
        "factory order {}: {} × {} (factory product {}), {}; factory request {}, {} request(s), \
         {} chase(s); correlation id {}\n",
        o.factory_order_id,
        o.quantity,
        o.product_id,
        o.factory_product_id,
        o.status,
        o.factory_request_id.as_deref().unwrap_or("(none)"),
        o.request_attempts,
        o.chases,
        o.correlation_id
    )
}

/// `orders re-request` and `orders cancel`: `done` says what "done" meant.
pub fn render_action(a: &FactoryOrderAction, done: &str) -> String {
    let id = &a.factory_order_id;
    let was = a.was.as_deref().unwrap_or("?");
    match a.outcome.as_str() {
        "done" => format!("factory order {id} (was {was}) {done}\n"),
        "unchanged" => format!("factory order {id} is {was}: nothing to do\n"),
        "in_flight" => format!(
            "factory order {id} was asked for {} s ago and is still on its way: nothing done\n",
            a.asked_seconds_ago.unwrap_or(0)
        ),
        other => format!("factory order {id}: {other}\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_the_contracts_routes_with_their_parameter() {
        assert_eq!(
            path(paths::ADMIN_STOCK, "maple-bar"),
            "/admin/products/maple-bar/stock"
        );
        assert_eq!(
            path(paths::ADMIN_CANCEL, "0b6c3a4e-6f4e-4b8a-9c8e-2f1d3c4b5a69"),
            "/admin/factory-orders/0b6c3a4e-6f4e-4b8a-9c8e-2f1d3c4b5a69/cancel"
        );
        assert!(product_id("maple-bar").is_ok());
        assert!(product_id("../orders").is_err());
        assert!(factory_order_id("not-a-uuid").is_err());
    }

    #[test]
    fn a_refusal_reads_as_the_api_said_it() {
        let api = ApiRefusal {
            status: 409,
            code: Some("adjustment_refused".into()),
            message: "the shelf holds 2: the adjustment would leave -1".into(),
        };
        assert_eq!(
            api.to_string(),
            "refused (409 adjustment_refused): the shelf holds 2: the adjustment would leave -1"
        );
        let gateway = ApiRefusal {
            status: 403,
            code: None,
            message: "The security token included in the request is invalid.".into(),
        };
        assert!(
            gateway
                .to_string()
                .starts_with("refused (403): The security token included in the request is invalid. (API Gateway's IAM"),
            "{gateway}"
        );
    }

    #[test]
    fn an_audit_line_names_what_changed() {
        let entry = AuditView {
            id: 7,
            at: "2025-01-01T00:00:00Z".into(),
            actor: "arn:aws:iam::000000000000:user/operator".into(),
            action: "adjust".into(),
            product_id: "maple-bar".into(),
            factory_order_id: None,
            before: Some(serde_json::json!({"stock": 6, "name": "Maple Bar"})),
            after: serde_json::json!({"stock": 2, "name": "Maple Bar"}),
            reason: Some("a tray dropped".into()),
            correlation_id: "c-1".into(),
            reference: Some("INC-7".into()),
        };
        let text = render_audit(&[entry]);
        assert!(
            text.starts_with(
                "2025-01-01T00:00:00Z adjust  maple-bar                stock 6 → 2 — \"a tray dropped\"\n"
            ),
            "{text}"
        );
        assert!(text.contains(
            "by arn:aws:iam::000000000000:user/operator (correlation id c-1, reference INC-7)"
        ));
        assert_eq!(
            differences(
                Some(&serde_json::json!({"reorder": {"point": 2, "quantity": 12}})),
                &serde_json::json!({"reorder": {"point": 4, "quantity": 12}})
            ),
            "reorder.point 2 → 4"
        );
        assert_eq!(
            differences(
                None,
                &serde_json::json!({"id": "x", "name": "X", "reorder": {"point": 1}, "retired": false})
            ),
            "name \"X\", reorder.point 1"
        );
    }
}
