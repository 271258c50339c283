//! What ops look at: one CloudWatch dashboard (sales, stock-outs, the factory pipeline, the
//! DLQ, the functions, the API) and a saved Logs Insights query that splits each function's
//! durations into cold and warm starts.

use donut_metrics::Metric;
use serde_json::{Value, json};

use donut_config::StageConfig;

use crate::Stack;
use crate::api::Api;
use crate::compute::Compute;
use crate::messaging::Messaging;
use crate::network::Network;
use donut_infra_aws::cloudwatch::{dashboard, query_definition};
use pulumi_gestalt_rust::Output;

/// Cold vs warm p50/p90/p99 per function, from the Lambda REPORT lines.
pub const COLD_WARM_QUERY: &str = "filter @type = \"REPORT\"\n\
| fields ispresent(@initDuration) as cold_start\n\
| stats count() as invocations, pct(@duration, 50) as p50_ms, pct(@duration, 90) as p90_ms, \
pct(@duration, 99) as p99_ms by @log, cold_start\n\
| sort @log, cold_start";

fn widget(title: &str, metrics: Vec<Value>, x: u32, y: u32, region: &str) -> Value {
    json!({
        "type": "metric", "x": x, "y": y, "width": 12, "height": 6,
        "properties": { "title": title, "region": region, "view": "timeSeries", "period": 60, "metrics": metrics }
    })
}

/// What the dashboard's widgets name, as deployed.
#[derive(Clone)]
pub struct Watched {
    pub api_id: String,
    pub dlq: String,
    /// The functions' names, in `Function::ALL` order.
    pub functions: Vec<String>,
}

/// The dashboard's JSON body.
pub fn dashboard_body(config: &StageConfig, watched: &Watched) -> String {
    let ns = config.metrics_namespace();
    let region = config.region.as_str();
    let m = |name: &str, stat: &str| json!([ns, name, { "stat": stat }]);
    let dlq = &watched.dlq;
    let api_id = watched.api_id.as_str();
    let per_function = |metric: &str, stat: &str| -> Vec<Value> {
        watched
            .functions
            .iter()
            .map(|f| json!(["AWS/Lambda", metric, "FunctionName", f, { "stat": stat }]))
            .collect()
    };
    let widgets = vec![
        widget(
            "Sales: units sold, orders refused",
            vec![
                m(Metric::OrdersSold.name(), "Sum"),
                m(Metric::OrdersRefused.name(), "Sum"),
            ],
            0,
            0,
            region,
        ),
        widget(
            "Stock-outs and restocks",
            vec![
                m(Metric::StockOuts.name(), "Sum"),
                m(Metric::FactoryOrdersFulfilled.name(), "Sum"),
            ],
            12,
            0,
            region,
        ),
        widget(
            "Factory pipeline",
            vec![
                m(Metric::FactoryOrdersRequested.name(), "Sum"),
                m(Metric::FactoryCallFailures.name(), "Sum"),
                m(Metric::FactoryOrdersOverdue.name(), "Maximum"),
                m(Metric::CallbacksRefused.name(), "Sum"),
                m(Metric::BatchItemFailures.name(), "Sum"),
            ],
            0,
            6,
            region,
        ),
        widget(
            "Factory call, restock, outbox, unfinished-order and expired-key age (ms)",
            vec![
                m(Metric::FactoryCallLatency.name(), "p50"),
                m(Metric::FactoryCallLatency.name(), "p99"),
                m(Metric::RestockLatency.name(), "p50"),
                m(Metric::RestockLatency.name(), "p90"),
                m(Metric::OutboxOldestAge.name(), "Maximum"),
                m(Metric::UnfinishedOrderOldestAge.name(), "Maximum"),
                m(Metric::ExpiredKeyOldestAge.name(), "Maximum"),
            ],
            12,
            6,
            region,
        ),
        widget(
            "Dead-letter queue depth",
            vec![
                json!(["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", dlq, { "stat": "Maximum" }]),
            ],
            0,
            12,
            region,
        ),
        widget(
            "Lambda errors",
            per_function("Errors", "Sum"),
            12,
            12,
            region,
        ),
        widget(
            "Lambda duration p99 (ms)",
            per_function("Duration", "p99"),
            0,
            18,
            region,
        ),
        widget(
            "API latency (ms) and 5xx",
            vec![
                json!(["AWS/ApiGateway", "Latency", "ApiId", api_id, { "stat": "p50" }]),
                json!(["AWS/ApiGateway", "Latency", "ApiId", api_id, { "stat": "p99" }]),
                json!(["AWS/ApiGateway", "5xx", "ApiId", api_id, { "stat": "Sum" }]),
                // The functions' own count of the 5xx they answered (all versions; a release's
                // canary alarms watch it per Function and Version).
                m(Metric::ServerErrors.name(), "Sum"),
            ],
            12,
            18,
            region,
        ),
    ];
    json!({ "widgets": widgets }).to_string()
}

/// The dashboard and the saved query; returns the dashboard's console URL.
pub fn declare(
    stack: &Stack,
    network: &Network,
    messaging: &Messaging,
    api: &Api,
    compute: &Compute,
) -> Output<String> {
    let ctx = stack.ctx;
    let config = stack.config.clone();
    let functions = crate::out::all(compute.functions.values().map(|f| f.name.clone()).collect());
    let body =
        pulumi_gestalt_rust::pulumi_combine!(api.id.clone(), messaging.dlq_name.clone(), functions)
            .map(move |(api_id, dlq, functions)| {
                dashboard_body(
                    &config,
                    &Watched {
                        api_id,
                        dlq,
                        functions,
                    },
                )
            });
    // Dashboards have no generated names: this one carries a suffix of the stack's VPC, so two
    // stacks of one stage in one account get a dashboard each.
    let logical = stack.name("operations");
    let prefix = logical.clone();
    let name = network
        .vpc_id
        .map(move |vpc| format!("{prefix}-{}", &crate::out::fnv_hex(vpc.as_bytes())[..7]));
    let dashboard = dashboard::create(
        ctx,
        &logical,
        dashboard::DashboardArgs::builder()
            .dashboard_name(name)
            .dashboard_body(body)
            .build_struct(),
    );
    query_definition::create(
        ctx,
        &stack.name("cold-vs-warm"),
        query_definition::QueryDefinitionArgs::builder()
            .name(format!(
                "{}/lambda-duration-cold-vs-warm",
                stack.config.prefix()
            ))
            // The groups themselves, so the query is built from (and depends on) them.
            .log_group_names(crate::out::all(
                compute
                    .functions
                    .values()
                    .map(|f| f.log_group.clone())
                    .collect(),
            ))
            .query_string(COLD_WARM_QUERY)
            .build_struct(),
    );
    let region = stack.config.region.clone();
    dashboard.dashboard_name.map(move |name| {
        format!("https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#dashboards:name={name}")
    })
}
