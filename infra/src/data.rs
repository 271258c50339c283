//! The warehouse: RDS MySQL in the private subnets, encrypted, its master password made by
//! RDS and kept in Secrets Manager; Multi-AZ, deletion protection and backups per stage; its
//! tags copied to its snapshots, minor versions applied in the maintenance window; where the
//! stage asks, Enhanced Monitoring (`dbMonitoringIntervalSeconds`, with a monitoring role) and
//! its logs in CloudWatch Logs (`dbLogExports`).
//! Plus the callback secret, from the stack's encrypted config, the functions' own login, the
//! operators' function's own login, and where the stage asks for one (`dbProxy`) an RDS Proxy
//! in front of the instance.

use pulumi_gestalt_rust::Output;

use crate::Stack;
use crate::iam::{Statement, document, trust, trust_from};
use crate::network::Network;
use donut_infra_aws::iam::{role, role_policy, role_policy_attachment};
use donut_infra_aws::rds::proxy as db_proxy;
use donut_infra_aws::rds::{
    instance, parameter_group, proxy_default_target_group, proxy_target, subnet_group,
};
use donut_infra_aws::secretsmanager::{secret, secret_version};
use donut_infra_aws::types::rds::{
    ParameterGroupParameter, ProxyAuth, ProxyDefaultTargetGroupConnectionPoolConfig,
};

pub const DB_NAME: &str = "donut";
pub const DB_PORT: i32 = 3306;
pub const DB_ENGINE_VERSION: &str = "8.4";
const DB_FAMILY: &str = "mysql8.4";
/// What a query must take to be in the slow query log (`long_query_time`, seconds), where the
/// stage exports it: a purchase is a few milliseconds, and the functions wait 10 s at most.
pub const SLOW_QUERY_SECONDS: &str = "1";
/// The AWS managed policy of Enhanced Monitoring's role: RDS writes the OS metrics to the
/// `RDSOSMetrics` log group with it (AWS Managed Policy reference, AmazonRDSEnhancedMonitoringRole).
pub const ENHANCED_MONITORING_POLICY: &str =
    "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole";

/// The stack's own secrets (the RDS-managed master secret aside: RDS's, and read by migrate
/// alone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secret {
    /// The functions' database login (`app-db-login`).
    AppLogin,
    /// The operators' function's database login (`operator-db-login`).
    OperatorLogin,
    /// The key of the factory's callback tokens (`callback-secret`).
    CallbackKey,
}

impl Secret {
    pub const ALL: [Secret; 3] = [Secret::AppLogin, Secret::OperatorLogin, Secret::CallbackKey];

    /// Its logical name after the stack's prefix.
    pub fn name(self) -> &'static str {
        match self {
            Secret::AppLogin => "app-db-login",
            Secret::OperatorLogin => "operator-db-login",
            Secret::CallbackKey => "callback-secret",
        }
    }
}

pub struct Data {
    /// Where the functions connect: the proxy when the stage has one, else the instance.
    pub serving_address: Output<String>,
    /// The RDS instance identifier (the `DBInstanceIdentifier` of its metrics).
    pub db_identifier: Output<String>,
    pub db_address: Output<String>,
    pub db_endpoint: Output<String>,
    /// The RDS-managed secret holding the master `{"username", "password"}` (migrate only).
    pub db_secret_arn: Output<String>,
    /// The functions' own login (`{"username", "password"}`), written by migrate.
    pub app_db_secret_arn: Output<String>,
    /// The operators' function's own login (its user, its grants), written by migrate.
    pub operator_db_secret_arn: Output<String>,
    pub callback_secret_arn: Output<String>,
    /// The database proxy's role, which reads the logins it connects with, when the stage has
    /// a proxy.
    pub proxy_role_arn: Option<Output<String>>,
    /// Changes with every new callback key value: the functions that hold the key get it in
    /// their environment, so a rotation replaces their running instances.
    pub callback_key_version: Output<String>,
}

pub fn declare(stack: &Stack, network: &Network, callback_secret: Output<String>) -> Data {
    let ctx = stack.ctx;
    let db = &stack.config.database;
    let subnets = subnet_group::create(
        ctx,
        &stack.name("db-subnets"),
        subnet_group::SubnetGroupArgs::builder()
            .tags(stack.tags())
            .subnet_ids(network.private_subnet_ids.clone())
            .build_struct(),
    );
    // A final snapshot name can be used once: this one carries a fingerprint of the VPC the
    // instance lives in, which a destroy + up replaces, so a second destroy does not collide
    // with the first one's snapshot.
    let final_snapshot = db.final_snapshot.then(|| {
        let name = stack.name("db-final");
        network
            .vpc_id
            .map(move |vpc| format!("{name}-{}", crate::out::fnv_hex(vpc.as_bytes())))
    });
    // MySQL 8.4 (8.0 left standard support on 2026-07-31), its settings for Lambda: a frozen
    // instance's connections are closed after minutes, not the default 8 hours.
    let parameters = parameter_group::create(
        ctx,
        &stack.name("db-parameters"),
        parameter_group::ParameterGroupArgs::builder()
            .tags(stack.tags())
            .family(DB_FAMILY)
            .description("donut-states: connection timeouts for Lambda")
            .parameters(
                db_parameters(&stack.config)
                    .into_iter()
                    .map(|(name, value)| {
                        ParameterGroupParameter::builder()
                            .name(name.to_owned())
                            .value(value)
                            .build_struct()
                    })
                    .collect::<Vec<_>>(),
            )
            .build_struct(),
    );
    let monitoring_role =
        (db.monitoring_interval_seconds > 0).then(|| monitoring_role(stack, &network.account_id));
    let log_exports = (!db.log_exports.is_empty()).then(|| db.log_exports.clone());
    let instance = instance::create(
        ctx,
        &stack.name("db"),
        instance::InstanceArgs::builder()
            .tags(stack.tags())
            .engine("mysql")
            .engine_version(DB_ENGINE_VERSION)
            // No paid Extended Support when the version leaves standard support: upgrade instead.
            .engine_lifecycle_support("open-source-rds-extended-support-disabled")
            .parameter_group_name(parameters.name)
            .instance_class(db.instance_class.clone())
            .allocated_storage(db.allocated_storage_gb as i32)
            .storage_type("gp3")
            .storage_encrypted(true)
            .db_name(DB_NAME)
            .port(DB_PORT)
            .username("donut_admin")
            .manage_master_user_password(true)
            .multi_az(db.multi_az)
            // Lifted only to take the stack down (`donut-states:teardown`, crate::TEARDOWN).
            .deletion_protection(db.deletion_protection && !stack.teardown)
            .backup_retention_period(db.backup_retention_days as i32)
            .publicly_accessible(false)
            .db_subnet_group_name(subnets.name.clone())
            .vpc_security_group_ids(network.db_sg_id.map(|id| vec![id]))
            .skip_final_snapshot(!db.final_snapshot)
            .maybe_final_snapshot_identifier(final_snapshot)
            // A protected database changes in its maintenance window, not mid-deploy; one being
            // taken down loses its protection now, so that the destroy that follows may delete it.
            .apply_immediately(!db.deletion_protection || stack.teardown)
            // Backups and the final snapshot carry the stack's tags (cost reports, clean-up).
            .copy_tags_to_snapshot(true)
            // RDS's default, stated so the state shows it: minor versions (security fixes)
            // in the maintenance window.
            .auto_minor_version_upgrade(true)
            .monitoring_interval(db.monitoring_interval_seconds as i32)
            .maybe_monitoring_role_arn(monitoring_role)
            // RDS makes the groups (`/aws/rds/instance/<identifier>/<log>`) itself, with no
            // expiry: docs/deploy.md says how their retention is set.
            .maybe_enabled_cloudwatch_logs_exports(log_exports)
            .build_struct(),
    );
    // The functions' database login: the migrate function makes it (random password) and the
    // user it names, with only the statements the functions run.
    let app_login = secret::create(
        ctx,
        &stack.name(Secret::AppLogin.name()),
        secret::SecretArgs::builder()
            .tags(stack.tags())
            .description("The functions' database login (written by the migrate function)")
            .recovery_window_in_days(stack.config.secret_recovery_days as i32)
            .build_struct(),
    );
    // The operators' function's login, made the same way: a user of its own, with the grants
    // the catalogue's changes need and no more (the local stack names this secret's kind the
    // same, `operator-db-login`).
    let operator_login = secret::create(
        ctx,
        &stack.name(Secret::OperatorLogin.name()),
        secret::SecretArgs::builder()
            .tags(stack.tags())
            .description(
                "The operators' function's database login (written by the migrate function)",
            )
            .recovery_window_in_days(stack.config.secret_recovery_days as i32)
            .build_struct(),
    );
    let callback = secret::create(
        ctx,
        &stack.name(Secret::CallbackKey.name()),
        secret::SecretArgs::builder()
            .tags(stack.tags())
            .description("Key of the factory callback capability tokens")
            .recovery_window_in_days(stack.config.secret_recovery_days as i32)
            .build_struct(),
    );
    let callback_version = secret_version::create(
        ctx,
        &stack.name("callback-secret-value"),
        secret_version::SecretVersionArgs::builder()
            .secret_id(callback.id.clone())
            .secret_string(callback_secret)
            .build_struct(),
    );
    let (serving_address, proxy_role_arn) = match &network.proxy_sg_id {
        Some(proxy_sg) => {
            let (endpoint, role) = proxy(
                stack,
                network,
                proxy_sg,
                &instance.identifier,
                &[app_login.arn.clone(), operator_login.arn.clone()],
            );
            (endpoint, Some(role))
        }
        None => (instance.address.clone(), None),
    };
    Data {
        serving_address,
        // The identifier, not `id`: since the provider's v6 an instance's id is its resource id
        // (`db-…`), which no CloudWatch dimension or proxy target knows.
        db_identifier: instance.identifier,
        db_address: instance.address,
        db_endpoint: instance.endpoint,
        db_secret_arn: instance.master_user_secrets.map(|secrets| {
            secrets
                .first()
                .map(|s| s.secret_arn.clone().unwrap_or_default())
                .unwrap_or_default()
        }),
        callback_secret_arn: callback.arn,
        proxy_role_arn,
        callback_key_version: callback_version.version_id,
        app_db_secret_arn: app_login.arn,
        operator_db_secret_arn: operator_login.arn,
    }
}

impl Data {
    /// A secret's ARN.
    pub fn arn_of(&self, secret: Secret) -> Output<String> {
        match secret {
            Secret::AppLogin => self.app_db_secret_arn.clone(),
            Secret::OperatorLogin => self.operator_db_secret_arn.clone(),
            Secret::CallbackKey => self.callback_secret_arn.clone(),
        }
    }
}

/// The parameter group's settings: connection timeouts for Lambda; plain connections refused
/// where the stage requires TLS; the slow query log where the stage exports it, written to a
/// file (what RDS publishes to CloudWatch Logs: "Publishing MySQL logs to Amazon CloudWatch
/// Logs" asks for `slow_query_log = 1` and `log_output = FILE`).
pub fn db_parameters(config: &donut_config::StageConfig) -> Vec<(&'static str, String)> {
    let db = &config.database;
    let wait_timeout = config.capacity.db_wait_timeout_seconds.to_string();
    let mut parameters = vec![
        ("wait_timeout", wait_timeout.clone()),
        ("interactive_timeout", wait_timeout),
        (
            "require_secure_transport",
            if db.require_tls { "1" } else { "0" }.to_owned(),
        ),
    ];
    if db.log_exports.iter().any(|log| log == "slowquery") {
        parameters.push(("slow_query_log", "1".to_owned()));
        parameters.push(("long_query_time", SLOW_QUERY_SECONDS.to_owned()));
    }
    if !db.log_exports.is_empty() {
        parameters.push(("log_output", "FILE".to_owned()));
    }
    parameters
}

/// Enhanced Monitoring's role: RDS (`monitoring.rds.amazonaws.com`) may assume it for this
/// account's instances of this stack only (the confused-deputy conditions of the RDS user
/// guide's "Setting up and enabling Enhanced Monitoring"), with AWS's managed policy for it.
/// Returns its ARN once the policy is attached.
fn monitoring_role(stack: &Stack, account_id: &Output<String>) -> Output<String> {
    let ctx = stack.ctx;
    let region = stack.config.region.clone();
    let instances = format!("{}-*", stack.name("db"));
    let role = role::create(
        ctx,
        &stack.name("db-monitoring-role"),
        role::RoleArgs::builder()
            .tags(stack.tags())
            .description(format!(
                "Lets RDS Enhanced Monitoring write the OS metrics of the donut-states database ({})",
                stack.config.stage
            ))
            .assume_role_policy(account_id.map(move |account| {
                trust_from(
                    "monitoring.rds.amazonaws.com",
                    &account,
                    &format!("arn:aws:rds:{region}:{account}:db:{instances}"),
                )
            }))
            .build_struct(),
    );
    let attached = role_policy_attachment::create(
        ctx,
        &stack.name("db-monitoring-policy"),
        role_policy_attachment::RolePolicyAttachmentArgs::builder()
            .role(role.id.clone())
            .policy_arn(ENHANCED_MONITORING_POLICY)
            .build_struct(),
    );
    crate::out::after(&role.arn, &attached.id)
}

/// RDS Proxy in front of the instance: it logs in with the logins of the functions that serve
/// through it (the functions' and the operators' function's: a proxy connects a client only as
/// a user one of its secrets names; read through a role of its own), keeps at most
/// `dbProxyMaxConnectionsPercent` % of the database's connections, and speaks TLS only.
/// Returns its endpoint and its role's ARN.
fn proxy(
    stack: &Stack,
    network: &Network,
    proxy_sg: &Output<String>,
    instance_identifier: &Output<String>,
    login_secrets: &[Output<String>],
) -> (Output<String>, Output<String>) {
    let ctx = stack.ctx;
    let role = role::create(
        ctx,
        &stack.name("db-proxy-role"),
        role::RoleArgs::builder()
            .tags(stack.tags())
            .description("Lets the donut-states database proxy read the functions' login")
            .assume_role_policy(trust("rds.amazonaws.com"))
            .build_struct(),
    );
    let allowed = role_policy::create(
        ctx,
        &stack.name("db-proxy-policy"),
        role_policy::RolePolicyArgs::builder()
            .name("read-the-functions-login")
            .role(role.id.clone())
            .policy(document(vec![Statement::new(
                &["secretsmanager:GetSecretValue"],
                login_secrets.to_vec(),
            )]))
            .build_struct(),
    );
    let proxy = db_proxy::create(
        ctx,
        &stack.name("db-proxy"),
        db_proxy::ProxyArgs::builder()
            .tags(stack.tags())
            .engine_family("MYSQL")
            .role_arn(crate::out::after(&role.arn, &allowed.id))
            .vpc_subnet_ids(network.private_subnet_ids.clone())
            .vpc_security_group_ids(proxy_sg.map(|sg| vec![sg]))
            .require_tls(true)
            .auths(crate::out::all(login_secrets.to_vec()).map(|arns| {
                arns.into_iter()
                    .map(|arn| {
                        ProxyAuth::builder()
                            .auth_scheme("SECRETS".to_owned())
                            .iam_auth("DISABLED".to_owned())
                            .secret_arn(arn)
                            .build_struct()
                    })
                    .collect::<Vec<_>>()
            }))
            .build_struct(),
    );
    let group = proxy_default_target_group::create(
        ctx,
        &stack.name("db-proxy-targets"),
        proxy_default_target_group::ProxyDefaultTargetGroupArgs::builder()
            .db_proxy_name(proxy.name.clone())
            .connection_pool_config(
                ProxyDefaultTargetGroupConnectionPoolConfig::builder()
                    .max_connections_percent(
                        stack.config.database.proxy_max_connections_percent as i32,
                    )
                    .build_struct(),
            )
            .build_struct(),
    );
    let target = proxy_target::create(
        ctx,
        &stack.name("db-proxy-target"),
        proxy_target::ProxyTargetArgs::builder()
            .db_proxy_name(proxy.name.clone())
            .target_group_name(group.name.clone())
            .db_instance_identifier(instance_identifier.clone())
            .build_struct(),
    );
    // Usable once the instance is its target.
    (crate::out::after(&proxy.endpoint, &target.id), role.arn)
}
