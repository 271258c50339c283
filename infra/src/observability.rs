//! What ops look at: one CloudWatch dashboard (sales, stock-outs, the factory pipeline, the
//! DLQ, the functions, the API) and a saved Logs Insights query that splits each function's
//! durations into cold and warm starts.

use serde_json::{Value, json};

use donut_config::StageConfig;

use crate::Stack;
use crate::api::Api;
use crate::compute::{Compute, FUNCTIONS};
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

/// The dashboard's JSON body, for the API `api_id`.
pub fn dashboard_body(config: &StageConfig, api_id: &str) -> String {
    let ns = config.metrics_namespace();
    let region = config.region.as_str();
    let m = |name: &str, stat: &str| json!([ns, name, { "stat": stat }]);
    let dlq = config.name("factory-orders-dlq");
    let per_function = |metric: &str, stat: &str| -> Vec<Value> {
        FUNCTIONS
            .iter()
            .map(
                |f| json!(["AWS/Lambda", metric, "FunctionName", config.name(f), { "stat": stat }]),
            )
            .collect()
    };
    let widgets = vec![
        widget(
            "Sales: units sold, orders refused",
            vec![m("OrdersSold", "Sum"), m("OrdersRefused", "Sum")],
            0,
            0,
            region,
        ),
        widget(
            "Stock-outs and restocks",
            vec![m("StockOuts", "Sum"), m("FactoryOrdersFulfilled", "Sum")],
            12,
            0,
            region,
        ),
        widget(
            "Factory pipeline",
            vec![
                m("FactoryOrdersRequested", "Sum"),
                m("FactoryCallFailures", "Sum"),
                m("FactoryOrdersOverdue", "Maximum"),
                m("BatchItemFailures", "Sum"),
            ],
            0,
            6,
            region,
        ),
        widget(
            "Factory call, restock and outbox latency (ms)",
            vec![
                m("FactoryCallLatency", "p50"),
                m("FactoryCallLatency", "p99"),
                m("RestockLatency", "p50"),
                m("RestockLatency", "p90"),
                m("OutboxOldestAge", "Maximum"),
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
            ],
            12,
            18,
            region,
        ),
    ];
    json!({ "widgets": widgets }).to_string()
}

/// The dashboard and the saved query; returns the dashboard's console URL.
pub fn declare(stack: &Stack, api: &Api, compute: &Compute) -> Output<String> {
    let ctx = stack.ctx;
    let name = stack.name("operations");
    let config = stack.config.clone();
    let body = api.id.map(move |id| dashboard_body(&config, &id));
    let dashboard = dashboard::create(
        ctx,
        &name,
        dashboard::DashboardArgs::builder()
            .dashboard_name(name.clone())
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
                FUNCTIONS
                    .iter()
                    .map(|f| compute.functions[f].log_group.clone())
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
