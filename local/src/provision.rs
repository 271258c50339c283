//! Creates, on LocalStack, the AWS resources the infra program declares for the messaging
//! and alarm path, from the same stage settings: stock-out topic, factory-orders queue with
//! its redrive policy to the DLQ, the raw-delivery subscription and the queue policy that
//! allows it, the ops topic with its e-mail subscription, the DLQ-depth alarm, and the
//! callback secret. Every call is idempotent, so a second `make up` reuses what exists.

use anyhow::Context;
use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, Statistic};
use aws_sdk_sqs::types::QueueAttributeName;

/// What to create, and how.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Prefix of every name, e.g. `donut-states-dev`.
    pub prefix: String,
    pub visibility_timeout_seconds: u32,
    pub max_receive_count: u32,
    pub dlq_retention_days: u32,
    pub ops_email: String,
    /// The DLQ-depth alarm's runbook address, as the stage's alarms link it.
    pub dlq_runbook_url: String,
    pub dlq_alarm_threshold: u32,
    pub alarm_period_seconds: u32,
    /// The database server's master login (`username`, `password`).
    pub master_login: (String, String),
}

/// What was created.
#[derive(Debug, Clone)]
pub struct Resources {
    pub stock_out_topic_arn: String,
    pub queue_url: String,
    pub queue_arn: String,
    pub dlq_url: String,
    pub dlq_arn: String,
    pub dlq_name: String,
    pub ops_topic_arn: String,
    pub dlq_alarm_name: String,
    pub callback_secret_arn: String,
    /// The master login (`{"username", "password"}`, as RDS keeps it): the migrate function's.
    pub db_master_secret_arn: String,
    /// The functions' login, which the migrate function makes.
    pub app_db_secret_arn: String,
    /// The operators' function's login, which the migrate function makes.
    pub operator_db_secret_arn: String,
}

pub async fn provision(aws: &aws_config::SdkConfig, plan: &Plan) -> anyhow::Result<Resources> {
    let sns = aws_sdk_sns::Client::new(aws);
    let sqs = aws_sdk_sqs::Client::new(aws);
    let name = |what: &str| format!("{}-{what}", plan.prefix);

    let stock_out_topic_arn = sns
        .create_topic()
        .name(name("stock-out"))
        .send()
        .await
        .context("create the stock-out topic")?
        .topic_arn
        .context("topic ARN")?;

    let dlq_name = dlq_name(&plan.prefix);
    let dlq_url = sqs
        .create_queue()
        .queue_name(&dlq_name)
        .attributes(
            QueueAttributeName::MessageRetentionPeriod,
            (plan.dlq_retention_days * 86_400).to_string(),
        )
        .send()
        .await
        .context("create the DLQ")?
        .queue_url
        .context("DLQ URL")?;
    let dlq_arn = queue_arn(&sqs, &dlq_url).await?;

    let queue_name = queue_name(&plan.prefix);
    let queue_url = sqs
        .create_queue()
        .queue_name(&queue_name)
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            plan.visibility_timeout_seconds.to_string(),
        )
        .attributes(
            QueueAttributeName::RedrivePolicy,
            donut_config::aws::redrive_policy(&dlq_arn, plan.max_receive_count),
        )
        .send()
        .await
        .context("create the factory-orders queue")?
        .queue_url
        .context("queue URL")?;
    let queue_arn = queue_arn(&sqs, &queue_url).await?;

    // Only the stock-out topic may send to the queue.
    let policy = donut_config::aws::stock_out_queue_policy(&queue_arn, &stock_out_topic_arn);
    sqs.set_queue_attributes()
        .queue_url(&queue_url)
        .attributes(QueueAttributeName::Policy, policy)
        .send()
        .await
        .context("set the queue policy")?;

    sns.subscribe()
        .topic_arn(&stock_out_topic_arn)
        .protocol("sqs")
        .endpoint(&queue_arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .context("subscribe the queue to the stock-out topic")?;

    let ops_topic_arn = sns
        .create_topic()
        .name(name("ops"))
        .send()
        .await
        .context("create the ops topic")?
        .topic_arn
        .context("ops topic ARN")?;
    sns.subscribe()
        .topic_arn(&ops_topic_arn)
        .protocol("email")
        .endpoint(&plan.ops_email)
        .send()
        .await
        .context("subscribe ops by e-mail")?;

    let dlq_alarm_name = dlq_alarm_name(&plan.prefix);
    aws_sdk_cloudwatch::Client::new(aws)
        .put_metric_alarm()
        .alarm_name(&dlq_alarm_name)
        .alarm_description(donut_config::aws::alarm_description(
            donut_config::aws::DLQ_DEPTH_ALARM,
            &plan.dlq_runbook_url,
        ))
        .namespace("AWS/SQS")
        .metric_name("ApproximateNumberOfMessagesVisible")
        .dimensions(
            Dimension::builder()
                .name("QueueName")
                .value(&dlq_name)
                .build(),
        )
        .statistic(Statistic::Maximum)
        .period(plan.alarm_period_seconds as i32)
        .evaluation_periods(1)
        .threshold(f64::from(plan.dlq_alarm_threshold))
        .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
        .treat_missing_data("notBreaching")
        .alarm_actions(&ops_topic_arn)
        .ok_actions(&ops_topic_arn)
        .send()
        .await
        .context("create the DLQ alarm")?;

    let callback_secret_arn = callback_secret(aws, &name("callback-secret")).await?;
    let (user, password) = &plan.master_login;
    let master = serde_json::json!({ "username": user, "password": password }).to_string();
    let db_master_secret_arn = login_secret(aws, &name("db-master-login"), Some(master)).await?;
    let app_db_secret_arn = login_secret(aws, &name("app-db-login"), None).await?;
    let operator_db_secret_arn = login_secret(aws, &name("operator-db-login"), None).await?;

    Ok(Resources {
        stock_out_topic_arn,
        queue_url,
        queue_arn,
        dlq_url,
        dlq_arn,
        dlq_name,
        ops_topic_arn,
        dlq_alarm_name,
        callback_secret_arn,
        db_master_secret_arn,
        app_db_secret_arn,
        operator_db_secret_arn,
    })
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> anyhow::Result<String> {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .context("read a queue's ARN")?;
    out.attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .context("queue ARN missing")
}

/// The callback key: made once (random, 32 bytes hex) and kept in Secrets Manager.
async fn callback_secret(aws: &aws_config::SdkConfig, name: &str) -> anyhow::Result<String> {
    use rand::RngCore;
    let client = aws_sdk_secretsmanager::Client::new(aws);
    if let Ok(found) = client.describe_secret().secret_id(name).send().await {
        return found.arn.context("secret ARN");
    }
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    client
        .create_secret()
        .name(name)
        .description("Key of the factory callback capability tokens")
        .secret_string(hex::encode(key))
        .send()
        .await
        .context("create the callback secret")?
        .arn
        .context("secret ARN")
}

/// A database login's secret: `value` written when given (the master login, whatever an earlier
/// run stored), none for the functions' login, which the migrate function writes once and keeps.
async fn login_secret(
    aws: &aws_config::SdkConfig,
    name: &str,
    value: Option<String>,
) -> anyhow::Result<String> {
    let client = aws_sdk_secretsmanager::Client::new(aws);
    let arn = match client.describe_secret().secret_id(name).send().await {
        Ok(found) => found.arn.context("secret ARN")?,
        Err(_) => client
            .create_secret()
            .name(name)
            .description("A database login")
            .send()
            .await
            .with_context(|| format!("create the secret {name}"))?
            .arn
            .context("secret ARN")?,
    };
    if let Some(value) = value {
        client
            .put_secret_value()
            .secret_id(&arn)
            .secret_string(value)
            .send()
            .await
            .with_context(|| format!("write the secret {name}"))?;
    }
    Ok(arn)
}

/// The local factory-orders queue's name (the local stack names its resources exactly).
pub fn queue_name(prefix: &str) -> String {
    format!("{prefix}-factory-orders")
}

/// Its dead-letter queue's name.
pub fn dlq_name(prefix: &str) -> String {
    format!("{prefix}-factory-orders-dlq")
}

/// The local DLQ-depth alarm's name (the ops toolbox finds it by this).
pub fn dlq_alarm_name(prefix: &str) -> String {
    format!("{prefix}-dlq-depth")
}

/// One aliased function's canary alarms, scoped to the version being released.
#[derive(Debug, Clone)]
pub struct CanaryAlarms<'a> {
    pub prefix: &'a str,
    pub function: donut_config::Function,
    /// The function's AWS name.
    pub function_name: &'a str,
    pub version: &'a str,
    /// The functions' metric namespace (`DonutStates/<stage>`).
    pub namespace: &'a str,
    pub ops_topic_arn: &'a str,
    pub runbook_url: &'a str,
    pub period_seconds: u32,
}

/// The canary alarms' names of `function` (`<prefix>-<function>-canary-5xx|failures` and
/// `…-canary-errors`, the keys the infra program gives them).
pub fn canary_alarm_names(prefix: &str, function: donut_config::Function) -> Vec<String> {
    let key = function.name();
    vec![
        format!("{prefix}-{key}-canary-{}", canary_metric(function).1),
        format!("{prefix}-{key}-canary-errors"),
    ]
}

/// The function's own metric a canary alarm watches, and the alarm's name for it.
fn canary_metric(function: donut_config::Function) -> (donut_metrics::Metric, &'static str) {
    if function == donut_config::Function::FactoryRequester {
        (donut_metrics::Metric::BatchItemFailures, "failures")
    } else {
        (donut_metrics::Metric::ServerErrors, "5xx")
    }
}

/// Creates (or points at a new version: `PutMetricAlarm` overwrites) the canary alarms the infra
/// program declares for an aliased function (`infra/src/alarms.rs`, `canary_alarms`): its own
/// failures (`ServerErrors`, or `BatchItemFailures` for the queue's consumer) with the
/// dimensions `Function` and `Version`, and Lambda's `Errors` of the version invoked through the
/// alias (`FunctionName`, `Resource` = `<function>:live`, `ExecutedVersion`); each Sum ≥ 1 in
/// one period, no data not breaching, ops notified on ALARM and OK. The period is the local
/// stack's alarm period (AWS: 60 s).
pub async fn canary_alarms(
    aws: &aws_config::SdkConfig,
    c: &CanaryAlarms<'_>,
) -> anyhow::Result<()> {
    let cloudwatch = aws_sdk_cloudwatch::Client::new(aws);
    let dimension = |name: &str, value: &str| Dimension::builder().name(name).value(value).build();
    let names = canary_alarm_names(c.prefix, c.function);
    let (metric, _) = canary_metric(c.function);
    let alias = donut_config::release::ALIAS;
    let key = c.function.name();
    let watched = [
        (
            &names[0],
            c.namespace.to_owned(),
            metric.name(),
            vec![
                dimension("Function", c.function_name),
                dimension("Version", c.version),
            ],
            format!(
                "The version of {key} being released failed ({}): the rollout stops and returns all traffic to the previous version.",
                metric.name()
            ),
        ),
        (
            &names[1],
            "AWS/Lambda".to_owned(),
            "Errors",
            vec![
                dimension("FunctionName", c.function_name),
                dimension("Resource", &format!("{}:{alias}", c.function_name)),
                dimension("ExecutedVersion", c.version),
            ],
            format!(
                "The version of {key} being released failed invocations through its {alias} alias (Lambda errors): the rollout stops and returns all traffic to the previous version."
            ),
        ),
    ];
    for (name, namespace, metric, dimensions, what) in watched {
        cloudwatch
            .put_metric_alarm()
            .alarm_name(name)
            .alarm_description(donut_config::aws::alarm_description(&what, c.runbook_url))
            .namespace(namespace)
            .metric_name(metric)
            .set_dimensions(Some(dimensions))
            .statistic(Statistic::Sum)
            .period(c.period_seconds as i32)
            .evaluation_periods(1)
            .datapoints_to_alarm(1)
            .threshold(1.0)
            .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
            .treat_missing_data("notBreaching")
            .alarm_actions(c.ops_topic_arn)
            .ok_actions(c.ops_topic_arn)
            .send()
            .await
            .with_context(|| format!("create the canary alarm {name}"))?;
    }
    Ok(())
}
