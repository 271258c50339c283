//! `donut-cli smoke` (`make smoke`): a deployed or local stack proves itself through its public
//! API. It buys one product until it is out of stock (each purchase with an `Idempotency-Key`,
//! one retried to see the same order), sees the 409 naming the open factory order, looks an
//! order up, waits for the factory's restock and times it from the stock-out, and checks that
//! nothing sits in the dead-letter queue. Where the stage has the factory simulator (the local
//! stack's, or dev's deployed one), the ops path too: the product given, through the operators'
//! API, a factory id that tells the simulator to refuse its orders for a while
//! (`refuse-until-…`: an operator's act, capped by the simulator), sold out again, so that
//! order's message reaches the DLQ and the DLQ-depth alarm goes to ALARM; its factory id is put
//! back at once, and once the simulator takes orders again the message is replayed and the
//! alarm clears. Each step passes or fails on its own; the report is one screen.
//!
//! The smoke test leaves the shop as it found it: [`put_back`] adds back, through the operators'
//! API (signed; a stock adjustment with its reason, under the smoke's reference), exactly
//! the units its purchases took — not what the factory's restocks added meanwhile, which stay
//! on the shelf as any restock would.

use std::collections::BTreeMap;

use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};

use crate::Queues;

/// Where and what the smoke test buys.
pub struct Target {
    /// The sales API's base URL (the stack output `apiUrl`, or the local stack's).
    pub api_url: String,
    /// The product to sell out; by default the one with the least stock.
    pub product: Option<String>,
    /// The most one purchase may ask for (the stage's `maxQuantity`).
    pub max_quantity: u32,
    /// How long to wait for the restock after the stock-out.
    pub restock_timeout: Duration,
    /// Refuse to sell out a product holding more than this (a real shop's shelf).
    pub max_units: u32,
}

/// The ops path's handles: the DLQ-depth alarm (the factory must be the simulator, which
/// honours the refusal a product's factory id asks for), and the credentials that sign the
/// operators' calls setting that id.
pub struct Ops {
    pub alarm_name: String,
    pub aws: aws_config::SdkConfig,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    /// How long the alarm may take to reach ALARM, and to clear.
    pub timeout: Duration,
}

/// One step's outcome.
#[derive(Debug, Clone)]
pub struct Step {
    pub name: &'static str,
    pub passed: bool,
    pub took: Duration,
    pub detail: String,
}

/// Every step, in order, and what the smoke test sold.
#[derive(Debug, Default)]
pub struct Report {
    pub steps: Vec<Step>,
    /// Units the smoke test's purchases took (answered 200; an idempotent retry takes none),
    /// by product: what [`put_back`] adds back.
    pub sold: BTreeMap<String, u64>,
    /// The smoke test's reference (`smoke-<run>`), sent as `x-correlation-id` with its
    /// purchases (their log lines keep it) and its operators' calls (the audit keeps it).
    pub reference: String,
}

/// The reason the put-back's stock adjustment gives (the audit keeps it).
pub const PUT_BACK_REASON: &str = "smoke test: putting back what it sold";

impl Report {
    pub fn passed(&self) -> bool {
        !self.steps.is_empty() && self.steps.iter().all(|s| s.passed)
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        for s in &self.steps {
            out.push_str(&format!(
                "{} {:<22} {:>8.2} s  {}\n",
                if s.passed { "PASS" } else { "FAIL" },
                s.name,
                s.took.as_secs_f64(),
                s.detail
            ));
        }
        let total: Duration = self.steps.iter().map(|s| s.took).sum();
        out.push_str(&format!(
            "{} in {:.2} s\n",
            if self.passed() {
                "healthy"
            } else {
                "NOT healthy"
            },
            total.as_secs_f64()
        ));
        out
    }

    /// Adds a step: passed with its detail, or failed with the error.
    pub fn record(
        &mut self,
        name: &'static str,
        started: Instant,
        result: anyhow::Result<String>,
    ) -> bool {
        let (passed, detail) = match result {
            Ok(detail) => (true, detail),
            Err(e) => (false, format!("{e:#}")),
        };
        self.steps.push(Step {
            name,
            passed,
            took: started.elapsed(),
            detail,
        });
        passed
    }
}

/// The alarm-metrics step's handles: the stack's alarms and how it names what they watch
/// (see [`crate::alarm_metrics`]).
pub struct AlarmMetrics {
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub stack: crate::alarm_metrics::StackAlarms,
    pub naming: crate::alarm_metrics::Naming,
    /// How long a metric may take to appear (CloudWatch lists a new one within 15 minutes).
    pub grace: Duration,
}

impl AlarmMetrics {
    /// A stage's alarms: named under its prefix; its functions by the stack's `outputs` (none
    /// for the local stack, which runs no Lambda function).
    pub fn of_stage(
        cloudwatch: aws_sdk_cloudwatch::Client,
        stage: &donut_config::StageConfig,
        outputs: Option<&Value>,
        grace: Duration,
    ) -> Self {
        let functions = outputs.map(crate::function_names).unwrap_or_default();
        AlarmMetrics {
            cloudwatch,
            stack: crate::alarm_metrics::StackAlarms {
                prefix: stage.prefix(),
                stage: stage.stage.clone(),
            },
            naming: crate::alarm_metrics::Naming {
                ours: stage.metrics_namespace(),
                functions: functions
                    .into_iter()
                    .map(|(kind, name)| (name, kind))
                    .collect(),
            },
            grace,
        }
    }
}

/// The step `alarm metrics`: every alarm of the stack watches a metric that exists (an alarm on
/// one that never exists shows OK for ever). After [`run`], whose traffic makes the metrics.
pub async fn alarm_metrics(check: &AlarmMetrics, report: &mut Report) -> bool {
    let started = Instant::now();
    let result = crate::alarm_metrics::check(
        &check.cloudwatch,
        &check.stack,
        &check.naming,
        check.grace,
        Duration::from_secs(5),
    )
    .await
    .map_err(anyhow::Error::from)
    .and_then(|(alarms, findings)| {
        crate::alarm_metrics::verdict(&alarms, &findings).map_err(anyhow::Error::msg)
    });
    report.record("alarm metrics", started, result)
}

/// What the selling step learnt, for the steps after it.
struct SoldOut {
    product: String,
    order_id: String,
    factory_order_id: String,
    at: Instant,
}

/// Runs every step it can (a step that needs an earlier one's result is skipped when that one
/// failed); `queues` (the stage's, when reachable) adds the dead-letter check.
pub async fn run(target: &Target, queues: Option<&Queues>, ops: Option<&Ops>) -> Report {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client");
    let api = target.api_url.trim_end_matches('/');
    let run = uuid::Uuid::new_v4().simple().to_string();
    let mut report = Report {
        reference: format!("smoke-{run}"),
        ..Report::default()
    };

    let started = Instant::now();
    let product = pick_product(&http, api, target.product.as_deref(), target.max_units).await;
    let product = match product {
        Ok((id, stock)) => {
            report.record("catalogue", started, Ok(format!("{id}: {stock} in stock")));
            Some((id, stock))
        }
        Err(e) => {
            report.record("catalogue", started, Err(e));
            None
        }
    };

    let mut sold_out = None;
    if let Some((product, stock)) = product {
        let started = Instant::now();
        let mut sold = 0;
        let outcome = sell_out(
            &http,
            api,
            &product,
            stock,
            target.max_quantity,
            Some(&report.reference),
            &mut sold,
        )
        .await;
        *report.sold.entry(product.clone()).or_default() += sold;
        match outcome {
            Ok((detail, s)) => {
                report.record("sell out, 409", started, Ok(detail));
                sold_out = Some(s);
            }
            Err(e) => {
                report.record("sell out, 409", started, Err(e));
            }
        }
    }

    if let Some(s) = &sold_out {
        let started = Instant::now();
        let looked_up = look_up(&http, api, s).await;
        report.record("order lookup", started, looked_up);
        let started = Instant::now();
        let restocked = wait_for_restock(&http, api, s, target.restock_timeout).await;
        report.record("restock", started, restocked);
    }

    if let Some(queues) = queues {
        let started = Instant::now();
        let depth = dead_letters(queues).await;
        let empty = report.record("dead-letter queue", started, depth);
        if let (true, Some(ops), Some(s)) = (empty, ops, &sold_out) {
            let started = Instant::now();
            let mut sold = 0;
            let path = ops_path(&http, api, target, queues, ops, &s.product, &run, &mut sold).await;
            *report.sold.entry(s.product.clone()).or_default() += sold;
            report.record("DLQ → ALARM → OK", started, path);
        }
    }
    report
}

/// The product given a factory id that tells the simulator to refuse its orders until a time
/// — long enough for the order's message to be received `maxReceiveCount` times and
/// dead-lettered (half as long again, and 20 s, to spare) — and sold out again; its factory id
/// is put back at once (the open order keeps the one it was opened with). The alarm goes to
/// ALARM; once the simulator takes orders again (and any message received before then has come
/// round once more), what the DLQ holds is replayed until the alarm clears.
#[allow(clippy::too_many_arguments)]
async fn ops_path(
    http: &reqwest::Client,
    api: &str,
    target: &Target,
    queues: &Queues,
    ops: &Ops,
    product: &str,
    run: &str,
    sold: &mut u64,
) -> anyhow::Result<String> {
    let (visibility, receives) = crate::redrive(queues).await?;
    let refuse_for = visibility * receives * 3 / 2 + Duration::from_secs(20);
    let started = Instant::now();
    let until = std::time::SystemTime::now() + refuse_for;
    let until_unix = until
        .duration_since(std::time::UNIX_EPOCH)
        .context("the clock is before 1970")?
        .as_secs();
    let refusing = factory_sim::refuse_until(until_unix, &run[..8]);
    let client =
        crate::signed::AdminClient::new(&ops.aws, api)?.with_reference(format!("smoke-{run}"));
    let operators = crate::operators::Operators::new(client);
    let factory_id = |id: &str| donut_api::contract::ProductPatch {
        factory_product_id: Some(id.to_owned()),
        ..Default::default()
    };
    let original = operators.product(product).await?.value.factory_product_id;
    operators.update(product, &factory_id(&refusing)).await?;
    let (_, stock) = pick_product(http, api, Some(product), target.max_units).await?;
    let sold_out = sell_out(
        http,
        api,
        product,
        stock,
        target.max_quantity,
        Some(&format!("smoke-{run}")),
        sold,
    )
    .await;
    let restored = operators.update(product, &factory_id(&original)).await;
    sold_out?;
    restored.with_context(|| {
        format!(
            "{product}'s factory id not put back to {original:?} (`donut-cli products set \
             {product} --factory-product-id {original}`)"
        )
    })?;
    let dead = until_true(refuse_for, "the refused order in the DLQ", || async {
        Ok(!crate::list(queues, 10).await?.is_empty())
    })
    .await?;
    let alarmed = until_true(ops.timeout, "the DLQ alarm in ALARM", || async {
        Ok(alarm_state(ops).await? == "ALARM")
    })
    .await?;
    // Past the refusal, a message last received before it may still be dead-lettered on its
    // next receive, one visibility timeout later.
    let settled = refuse_for + visibility + Duration::from_secs(2);
    tokio::time::sleep(settled.saturating_sub(started.elapsed())).await;
    let replay_started = Instant::now();
    let replayed = std::sync::atomic::AtomicUsize::new(0);
    let total = || replayed.load(std::sync::atomic::Ordering::Relaxed);
    until_true(ops.timeout, "the DLQ alarm back to OK", || async {
        let now = crate::replay(queues, 10, false, |_| {}).await?;
        replayed.fetch_add(now, std::sync::atomic::Ordering::Relaxed);
        Ok(total() > 0 && alarm_state(ops).await? == "OK")
    })
    .await?;
    let replayed = total();
    Ok(format!(
        "dead-lettered after {:.1} s, ALARM after {:.1} s; the factory refused until {:.0} s, \
         {replayed} replayed, OK after {:.1} s more",
        dead.as_secs_f64(),
        (dead + alarmed).as_secs_f64(),
        refuse_for.as_secs_f64(),
        replay_started.elapsed().as_secs_f64(),
    ))
}

async fn alarm_state(ops: &Ops) -> anyhow::Result<String> {
    let alarms = ops
        .cloudwatch
        .describe_alarms()
        .alarm_names(&ops.alarm_name)
        .send()
        .await
        .with_context(|| format!("describing alarm {}", ops.alarm_name))?;
    let alarm = alarms
        .metric_alarms()
        .first()
        .with_context(|| format!("no alarm named {}", ops.alarm_name))?;
    Ok(alarm
        .state_value()
        .map(|v| v.as_str().to_owned())
        .unwrap_or_default())
}

/// Polls `check` every half second until it holds; how long that took.
async fn until_true<F, Fut>(timeout: Duration, what: &str, mut check: F) -> anyhow::Result<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    let started = Instant::now();
    loop {
        if check().await? {
            return Ok(started.elapsed());
        }
        anyhow::ensure!(
            started.elapsed() < timeout,
            "{what}: not within {} s (see docs/operate.md#dlq-depth)",
            timeout.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn get_json(http: &reqwest::Client, url: &str) -> anyhow::Result<(u16, Value)> {
    let reply = http
        .get(url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = reply.status().as_u16();
    Ok((
        status,
        reply
            .json()
            .await
            .with_context(|| format!("GET {url}: not JSON"))?,
    ))
}

async fn pick_product(
    http: &reqwest::Client,
    api: &str,
    product: Option<&str>,
    max_units: u32,
) -> anyhow::Result<(String, u64)> {
    let (status, body) = get_json(http, &format!("{api}/products")).await?;
    anyhow::ensure!(status == 200, "GET /products answered {status}: {body}");
    let products = body["products"]
        .as_array()
        .context("GET /products: no product list")?;
    let stock = |p: &Value| p["stock"].as_u64().unwrap_or(0);
    let chosen = match product {
        Some(id) => products
            .iter()
            .find(|p| p["product_id"] == id)
            .with_context(|| format!("no product {id} in the catalogue"))?,
        None => products
            .iter()
            .filter(|p| stock(p) > 0)
            .min_by_key(|p| stock(p))
            .context("every product is out of stock: nothing to sell")?,
    };
    let id = chosen["product_id"]
        .as_str()
        .context("a product without an id")?;
    let units = stock(chosen);
    anyhow::ensure!(
        units <= u64::from(max_units),
        "{id} holds {units} units, more than the {max_units} the smoke test may sell (--max-units)"
    );
    Ok((id.to_owned(), units))
}

async fn buy(
    http: &reqwest::Client,
    api: &str,
    product: &str,
    quantity: u64,
    key: &str,
    correlation_id: Option<&str>,
) -> anyhow::Result<(u16, Option<String>, Value)> {
    let mut request = http.post(format!("{api}/orders"));
    if let Some(id) = correlation_id {
        request = request.header("x-correlation-id", id);
    }
    let reply = request
        .header("idempotency-key", key)
        .json(&json!({"product_id": product, "quantity": quantity}))
        .send()
        .await
        .context("POST /orders")?;
    let status = reply.status().as_u16();
    let replayed = reply
        .headers()
        .get("idempotent-replayed")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    Ok((
        status,
        replayed,
        reply.json().await.context("POST /orders: not JSON")?,
    ))
}

/// Buys `product` empty, `max_quantity` at a time, then once more: the 409 names the factory
/// order the stock-out opened. The first sale is sent twice with its key. Every purchase
/// carries `correlation_id` when given (the factory order they open carries it on). `sold`
/// counts the units sold as they are, whatever happens later.
async fn sell_out(
    http: &reqwest::Client,
    api: &str,
    product: &str,
    stock: u64,
    max_quantity: u32,
    correlation_id: Option<&str>,
    sold: &mut u64,
) -> anyhow::Result<(String, SoldOut)> {
    let run = uuid::Uuid::new_v4().simple().to_string();
    let mut left = stock;
    let mut sales = 0;
    let mut first_order = None;
    // Others may buy too: the loop ends on the 409, bounded by what was on the shelf.
    for n in 0..=stock {
        let key = format!("smoke-{run}-{n}");
        let quantity = left.clamp(1, u64::from(max_quantity.max(1)));
        let (status, _, body) = buy(http, api, product, quantity, &key, correlation_id).await?;
        match status {
            200 => {
                sales += 1;
                *sold += quantity;
                left = body["remaining"]
                    .as_u64()
                    .context("a sale without `remaining`")?;
                if first_order.is_none() {
                    let order = body["order_id"]
                        .as_str()
                        .context("a sale without its order id")?;
                    let (again, replayed, same) =
                        buy(http, api, product, quantity, &key, correlation_id).await?;
                    anyhow::ensure!(
                        again == 200 && replayed.as_deref() == Some("true") && same == body,
                        "the retry of a sale with its Idempotency-Key answered {again} {same}"
                    );
                    first_order = Some(order.to_owned());
                }
            }
            409 if body["error"]["code"] == "out_of_stock" => {
                let at = Instant::now();
                let factory_order_id = body["restock"]["factory_order_id"]
                    .as_str()
                    .with_context(|| format!("the 409 names no open factory order: {body}"))?
                    .to_owned();
                let order_id = first_order.context("out of stock before a single sale")?;
                return Ok((
                    format!(
                        "{sales} sales, then 409 with factory order {factory_order_id} ({})",
                        body["restock"]["status"].as_str().unwrap_or("?")
                    ),
                    SoldOut {
                        product: product.to_owned(),
                        order_id,
                        factory_order_id,
                        at,
                    },
                ));
            }
            other => anyhow::bail!("POST /orders answered {other}: {body}"),
        }
    }
    anyhow::bail!("{sales} sales and no 409: the shelf never ran out")
}

async fn look_up(http: &reqwest::Client, api: &str, s: &SoldOut) -> anyhow::Result<String> {
    let (status, body) = get_json(http, &format!("{api}/orders/{}", s.order_id)).await?;
    anyhow::ensure!(
        status == 200 && body["product_id"] == s.product.as_str(),
        "GET /orders/{} answered {status}: {body}",
        s.order_id
    );
    Ok(format!("{} × {} sold", body["quantity"], s.product))
}

async fn wait_for_restock(
    http: &reqwest::Client,
    api: &str,
    s: &SoldOut,
    timeout: Duration,
) -> anyhow::Result<String> {
    loop {
        let (status, body) = get_json(http, &format!("{api}/products/{}", s.product)).await?;
        let stock = body["stock"].as_u64();
        if status == 200 && stock.is_some_and(|n| n > 0) {
            return Ok(format!(
                "factory order {} restocked {} units, {:.2} s after the stock-out",
                s.factory_order_id,
                stock.unwrap_or(0),
                s.at.elapsed().as_secs_f64()
            ));
        }
        anyhow::ensure!(
            s.at.elapsed() < timeout,
            "no restock {} s after the stock-out (factory order {}): see docs/operate.md#restock-latency",
            timeout.as_secs(),
            s.factory_order_id
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn dead_letters(queues: &Queues) -> anyhow::Result<String> {
    let letters = crate::list(queues, 10).await?;
    anyhow::ensure!(
        letters.is_empty(),
        "{} message(s) in the dead-letter queue: `donut-cli dlq list`, see docs/operate.md#dlq-depth",
        letters.len()
    );
    Ok("empty".to_owned())
}

/// The step `put back`: adds back, through the operators' API at `api_url` (signed with
/// `aws`'s credentials, in its Region), exactly the units the smoke test sold, product by
/// product — a stock adjustment `+N` with [`PUT_BACK_REASON`] under the smoke's reference.
/// The factory's restocks stay on the shelf: they are what a stock-out brings, the smoke only
/// undoes its own purchases (putting the shelf back to a count would also undo a real buyer's
/// purchase made meanwhile). Nothing sold, nothing to do.
pub async fn put_back(aws: &aws_config::SdkConfig, api_url: &str, report: &mut Report) -> bool {
    let started = Instant::now();
    let sold: Vec<(String, u64)> = report
        .sold
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(p, n)| (p.clone(), *n))
        .collect();
    let result = async {
        if sold.is_empty() {
            return Ok("nothing sold: nothing to put back".to_owned());
        }
        let client =
            crate::signed::AdminClient::new(aws, api_url)?.with_reference(report.reference.clone());
        let api = crate::operators::Operators::new(client);
        let mut done = Vec::new();
        for (product, units) in &sold {
            let delta = i64::try_from(*units)?;
            let answer = api
                .adjust(
                    product,
                    &donut_api::contract::StockRequest::By(donut_api::contract::StockDelta {
                        delta,
                        reason: PUT_BACK_REASON.to_owned(),
                    }),
                )
                .await
                .with_context(|| {
                    format!(
                        "{product}: {units} unit(s) sold not put back (`donut-cli stock adjust \
                         {product} --delta {units} --reason \"{PUT_BACK_REASON}\"`)"
                    )
                })?;
            done.push(format!(
                "{product} +{units} (now {})",
                answer.value.product.stock
            ));
        }
        Ok(format!(
            "{}: exactly the units it sold (the factory's restocks stay on the shelf), \
             \"{PUT_BACK_REASON}\", reference {}",
            done.join(", "),
            report.reference
        ))
    }
    .await;
    report.record("put back", started, result)
}
