//! The stack's outputs (`pulumi stack output --json`) that tools read: the provider gives
//! every resource a name with a random suffix, so a deployed stack's resources are found by
//! these outputs, never by their names.

/// The sales API's base URL.
pub const API_URL: &str = "apiUrl";
/// The stock-out topic's ARN.
pub const STOCK_OUT_TOPIC_ARN: &str = "stockOutTopicArn";
/// The factory-orders queue's URL.
pub const FACTORY_ORDERS_QUEUE_URL: &str = "factoryOrdersQueueUrl";
/// Its dead-letter queue's URL.
pub const DEAD_LETTER_QUEUE_URL: &str = "deadLetterQueueUrl";
/// The warehouse's endpoint (`host:port`).
pub const DB_ENDPOINT: &str = "dbEndpoint";
/// The ops topic's ARN (alarms and alerts to the on-call engineer).
pub const OPS_TOPIC_ARN: &str = "opsTopicArn";
/// The DLQ-depth alarm's name (`make smoke` watches it go to ALARM and back).
pub const DLQ_ALARM_NAME: &str = "dlqAlarmName";
/// Where the functions call the legacy factory: the stage's `factoryUrl`, or the simulator's
/// function URL in a stage that deploys it.
pub const FACTORY_URL: &str = "factoryUrl";
/// The CloudWatch dashboard's console URL.
pub const DASHBOARD_URL: &str = "dashboardUrl";
/// Each function's name, by its kind.
pub const FUNCTION_NAMES: &str = "functionNames";
/// Each function's log group, by its kind.
pub const LOG_GROUPS: &str = "logGroups";
/// The managed policy allowing `execute-api:Invoke` on the operators' routes (`/admin/…`)
/// and nothing else: ops attach it to the role they sign `donut-cli` calls with.
pub const OPERATOR_POLICY_ARN: &str = "operatorPolicyArn";
/// How each aliased function's new version goes out, by its kind (`sales-api`, …): a JSON
/// object of `donut_config::release::Release` (its AWS name, the alias, the version the
/// deployment published, the alarms scoped to that version, the stage's canary settings); the
/// rollout tool reads it.
pub const RELEASES: &str = "releases";
