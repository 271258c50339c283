//! The whole system in one process around MariaDB and LocalStack (started by
//! `scripts/services.sh`): each function's settings made from the stage config as the infra
//! program makes them (`donut_config::contracts`), each function built by the builder its
//! Lambda `main` calls (`donut_runtime::apps`). `donut-local up` (`make up`)
//! and the end-to-end tests both start it through [`LocalSystem::start`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region, SharedInterceptor};
use donut_config::settings::{self, Contract, Database};
use donut_config::{Deployment, Function, StageConfig};
use donut_domain::usecases::WatchdogPolicy;
use donut_messaging::sweep::every;
use donut_runtime::{Aws, apps};
use factory_sim::{FactorySim, Knobs};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::aws_calls;
use crate::event_source::EventSource;
use crate::gateway::{self, Gateway, invoker};
use crate::provision::{self, Plan, Resources};

/// Everything that differs between `make up` and a test run.
#[derive(Debug, Clone)]
pub struct SystemOptions {
    /// The stage's settings, from `Pulumi.<stage>.yaml`.
    pub stage: StageConfig,
    /// Prefix of every LocalStack resource name (tests use their own, to run side by side).
    pub prefix: String,
    /// The database server's master login and the warehouse's database
    /// (`mysql://user:pass@host:port/db`): the migrate function's, as RDS's master user is.
    pub database_url: String,
    /// The functions' database user, which the migrate function creates (on AWS
    /// `settings::APP_DB_USER`; tests sharing one server take one each).
    pub app_user: String,
    /// The operators' function's database user (on AWS `settings::OPERATOR_DB_USER`).
    pub operator_user: String,
    pub aws_endpoint: String,
    pub api_addr: SocketAddr,
    /// The factory's lane: an API of its own for the factory's callback, whose address only the
    /// factory is given (its callback URLs); the public API has no callback route.
    pub factory_lane_addr: SocketAddr,
    /// Whether the gateways throttle as the stage's API Gateway stages do, and the factory
    /// simulator takes at most its reserved instances at once as Lambda does (the tests that
    /// measure it; off for `make up`'s load runs above dev's throttle).
    pub throttled: bool,
    pub factory_addr: SocketAddr,
    pub factory_knobs: Knobs,
    pub factory_seed: Option<u64>,
    /// Local runs shorten the queue's visibility timeout (AWS: the stage's value) so that a
    /// failed message comes back in seconds, not minutes.
    pub visibility_timeout_seconds: u32,
    /// Likewise the alarm period (LocalStack evaluates alarms every few seconds).
    pub alarm_period_seconds: u32,
    /// The outbox sweeper's and the watchdog's interval (AWS: a schedule of
    /// `relayScheduleMinutes`).
    pub relay_interval: Duration,
    /// When the factory owes a callback too long (AWS: `factoryDeadlineMinutes`, shorter here).
    pub watchdog: WatchdogPolicy,
    pub seed_products: bool,
}

/// One progress line: a step and the time it took.
pub type Progress<'a> = &'a mut dyn FnMut(&str, Duration);

/// Donut-States running in this process (not a Pulumi stack).
pub struct LocalSystem {
    /// Prefix of the system's LocalStack resource names.
    pub prefix: String,
    pub api_url: String,
    /// The factory's lane (its callback route alone): what callback URLs start with.
    pub factory_lane_url: String,
    pub factory_url: String,
    /// What the simulator's function URL refused and let through.
    pub factory_url_counts: Arc<crate::function_url::Counts>,
    pub resources: Resources,
    pub aws: aws_config::SdkConfig,
    /// The aliased functions' versions and `live` aliases, the Lambda API stand-in serving
    /// them, their canary alarms and the `releases` output (`crate::lambda`).
    pub releases: Arc<crate::lambda::Releases>,
    /// The environment each HTTP function's Lambda would get from the infra program (its
    /// settings contract, its share of the connection budget), pointing at this system: what
    /// runs a function's release binary here as one Lambda instance (`make bench`).
    pub lambda_env: Vec<(Function, Vec<(&'static str, String)>)>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    _factory: FactorySim,
}

/// The AWS SDK configuration for LocalStack: the unmodified SDK, another endpoint.
pub async fn localstack_config(endpoint: &str, region: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(region.to_owned()))
        .credentials_provider(Credentials::new("test", "test", None, None, "localstack"))
        .load()
        .await
}

async fn timed<T>(
    progress: Progress<'_>,
    step: &str,
    f: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    let started = Instant::now();
    let out = f.await.with_context(|| format!("{step} failed"))?;
    progress(step, started.elapsed());
    Ok(out)
}

/// The stack's resources by kind (the name after the prefix, as the infra program names
/// them), for the call recorder.
fn kinds(resources: &Resources) -> Vec<(String, String)> {
    let r = resources;
    [
        (&r.stock_out_topic_arn, "stock-out"),
        (&r.ops_topic_arn, "ops"),
        (&r.queue_url, "factory-orders"),
        (&r.queue_arn, "factory-orders"),
        (&r.dlq_url, "factory-orders-dlq"),
        (&r.dlq_arn, "factory-orders-dlq"),
        (&r.callback_secret_arn, "callback-secret"),
        (&r.db_master_secret_arn, "db-master-login"),
        (&r.app_db_secret_arn, "app-db-login"),
        (&r.operator_db_secret_arn, "operator-db-login"),
    ]
    .into_iter()
    .map(|(arn, kind)| (arn.clone(), kind.to_owned()))
    .collect()
}

/// The AWS configuration `function` makes its clients from (its calls recorded when
/// `DONUT_AWS_CALLS` is set).
fn aws_for(function: Function, aws: &aws_config::SdkConfig, resources: &Resources) -> Aws {
    let aws = Aws::ready(aws.clone());
    if aws_calls::recording() {
        aws.with_interceptor(SharedInterceptor::new(aws_calls::Recorder::new(
            function,
            kinds(resources),
        )))
    } else {
        aws
    }
}

/// `function`'s SQS client (its calls recorded when `DONUT_AWS_CALLS` is set).
fn sqs_for(
    function: Function,
    aws: &aws_config::SdkConfig,
    resources: &Resources,
) -> aws_sdk_sqs::Client {
    let mut config = aws_sdk_sqs::config::Builder::from(aws);
    if aws_calls::recording() {
        config = config.interceptor(aws_calls::Recorder::new(function, kinds(resources)));
    }
    aws_sdk_sqs::Client::from_conf(config.build())
}

/// What the running parts share while the system starts.
struct Parts<'a> {
    options: &'a SystemOptions,
    aws: aws_config::SdkConfig,
    resources: Resources,
    releases: Arc<crate::lambda::Releases>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Parts<'_> {
    /// Resolves once the system is told to stop.
    fn stopped(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.shutdown.subscribe();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    }

    fn stage(&self) -> &StageConfig {
        &self.options.stage
    }

    /// Runs `pass` every relay interval until the system stops.
    fn every<F, Fut>(&mut self, pass: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let stop = self.stopped();
        self.tasks
            .push(tokio::spawn(every(self.options.relay_interval, stop, pass)));
    }

    /// What a deployment provides, for every function's settings (the infra program fills
    /// the same with the engine's outputs).
    fn deployment<'d>(
        &self,
        database: &'d dyn Fn(Function) -> Database<String>,
        callback_base_url: &str,
        factory_url: &str,
    ) -> Deployment<'d, String> {
        Deployment {
            database,
            stock_out_topic_arn: self.resources.stock_out_topic_arn.clone(),
            ops_topic_arn: self.resources.ops_topic_arn.clone(),
            callback_base_url: callback_base_url.to_owned(),
            callback_secret_arn: self.resources.callback_secret_arn.clone(),
            callback_key_version: "local".to_owned(),
            factory_url: factory_url.to_owned(),
        }
    }

    fn aws_for(&self, function: Function) -> Aws {
        aws_for(function, &self.aws, &self.resources)
    }

    /// The outbox sweeper (AWS: the outbox-relay function on its schedule).
    fn sweep_outbox(&mut self, d: &Deployment<'_, String>) -> anyhow::Result<()> {
        let settings = self.stage().outbox_relay(d);
        let relay = Arc::new(apps::outbox_relay(
            &self.aws_for(Function::OutboxRelay),
            &settings,
        )?);
        self.every(move || {
            let relay = relay.clone();
            async move {
                // Logged by the pass; the next tick tries again.
                let _ = relay.run().await;
            }
        });
        Ok(())
    }

    /// The factory watchdog (AWS: the factory-watchdog function on the same schedule), its
    /// deadlines shortened for local runs.
    fn watch_factory_orders(&mut self, d: &Deployment<'_, String>) -> anyhow::Result<()> {
        let settings = self.stage().factory_watchdog(d);
        let mut watchdog =
            apps::factory_watchdog(&self.aws_for(Function::FactoryWatchdog), &settings)?;
        watchdog.policy = self.options.watchdog;
        let watchdog = Arc::new(watchdog);
        self.every(move || {
            let watchdog = watchdog.clone();
            async move {
                // Logged by the pass; the next tick tries again.
                let _ = watchdog.run().await;
            }
        });
        Ok(())
    }

    /// The queue feeding the factory-requester (AWS: its event source mapping).
    fn feed_requester(&mut self, d: &Deployment<'_, String>) -> anyhow::Result<()> {
        let settings = self.stage().factory_requester(d);
        let requester = Arc::new(apps::factory_requester(
            &self.aws_for(Function::FactoryRequester),
            &settings,
        )?);
        let source = EventSource {
            // The event source mapping polls with the requester's role.
            sqs: sqs_for(Function::FactoryRequester, &self.aws, &self.resources),
            queue_url: self.resources.queue_url.clone(),
            queue_arn: self.resources.queue_arn.clone(),
            region: self.stage().region.clone(),
            batch_size: self.stage().queue.batch_size as i32,
            wait_seconds: 1,
        };
        // Through its `live` alias: each batch to the version the alias picks.
        let handler = self.releases.factory_requester(Arc::new(move |event| {
            let requester = requester.clone();
            Box::pin(async move { requester.handle(event).await })
        }));
        let handler = move |event| handler(event);
        let stop = self.stopped();
        self.tasks.push(tokio::spawn(source.run(handler, stop)));
        Ok(())
    }

    /// The API Gateway stand-in in front of sales-api, warehouse-restock and admin-api (its
    /// routes IAM-authorized: SigV4, the local operator's key).
    /// The public API (buyers, operators) and the factory's lane (its callback alone), each
    /// throttled as its API Gateway stage is where the options ask: the public API by the
    /// stage's `apiThrottle*` per route and `adminThrottle*` on the operators' routes, the
    /// lane by `callbackThrottle*`.
    fn serve_api(
        &mut self,
        listener: tokio::net::TcpListener,
        lane: tokio::net::TcpListener,
        d: &Deployment<'_, String>,
    ) -> anyhow::Result<()> {
        let stage = self.stage();
        let sales_aws = self.aws_for(Function::SalesApi);
        let sales_settings = stage.sales_api(d);
        let sales = apps::sales_api(&sales_aws, &sales_settings)?;
        let restock = apps::warehouse_restock(
            &self.aws_for(Function::WarehouseRestock),
            &stage.warehouse_restock(d),
        )?;
        let admin = apps::admin_api(&self.aws_for(Function::AdminApi), &stage.admin_api(d))?;
        let c = &stage.capacity;
        let limit = |rate: u32, burst: u32| gateway::Limit {
            rate: f64::from(rate),
            burst: f64::from(burst),
        };
        let throttled = self.options.throttled;
        let public_throttles = throttled.then(|| {
            let admin = donut_contract::routes::ROUTES
                .iter()
                .filter(|(_, f)| donut_contract::routes::requires_iam(*f))
                .map(|(key, _)| (*key, limit(c.admin_throttle_rate, c.admin_throttle_burst)))
                .collect();
            Arc::new(gateway::Throttles::new(
                limit(c.api_throttle_rate, c.api_throttle_burst),
                admin,
            ))
        });
        let lane_throttles = throttled.then(|| {
            Arc::new(gateway::Throttles::new(
                limit(c.callback_throttle_rate, c.callback_throttle_burst),
                Vec::new(),
            ))
        });
        let public = Gateway {
            // The aliased functions through their `live` alias (`crate::lambda`).
            sales_api: self
                .releases
                .sales_api(sales_aws, sales_settings, invoker(Arc::new(sales))),
            warehouse_restock: self.releases.warehouse_restock(invoker(Arc::new(restock))),
            admin_api: invoker(Arc::new(admin)),
            static_json: Arc::new(vec![(
                "/openapi.json",
                donut_api::contract::openapi_json(stage.max_quantity),
            )]),
            iam: Arc::new(gateway::IamAuthorization::local(&stage.region)),
            // The stage's issuer and audience, the local issuer's keys (its test-only key signs
            // the tokens `donut-cli buyer token` makes): API Gateway's checks, local keys.
            jwt: stage.buyer_auth.as_ref().map(|auth| {
                let audiences: Vec<&str> = auth.audience.iter().map(String::as_str).collect();
                Arc::new(gateway::JwtAuthorization {
                    authorizer: donut_apigw::jwt::local_issuer::authorizer(
                        &auth.issuer,
                        &audiences,
                    ),
                    requires: donut_config::routes::takes_buyer_authorizer,
                })
            }),
            throttles: public_throttles,
            serves: gateway::public_routes,
        };
        let factory_lane = Gateway {
            static_json: Arc::new(Vec::new()),
            throttles: lane_throttles,
            serves: gateway::factory_lane,
            ..public.clone()
        };
        for (name, listener, gw) in [
            ("the API gateway", listener, public),
            ("the factory's lane", lane, factory_lane),
        ] {
            let stop = self.stopped();
            self.tasks.push(tokio::spawn(async move {
                if let Err(e) = gateway::serve(listener, gw, stop).await {
                    tracing::error!(error = %e, "{name} stopped");
                }
            }));
        }
        Ok(())
    }
}

/// The simulator's function URL, where the stage deploys the simulator: IAM-authorized
/// (LocalStack's key, which the local functions sign with, the one principal allowed), and on
/// throttled runs its reserved instances (`StageConfig::simulator_reservation`) for at most its
/// timeout each.
fn simulator_url(options: &SystemOptions) -> Option<crate::function_url::FunctionUrlIam> {
    let stage = &options.stage;
    if !matches!(stage.factory, donut_config::LegacyFactory::Simulator(_)) {
        return None;
    }
    Some(crate::function_url::FunctionUrlIam::local(
        &stage.region,
        &format!(
            "arn:aws:lambda:{}:{}:function:{}-{}",
            stage.region,
            donut_apigw::LOCAL_ACCOUNT_ID,
            options.prefix,
            donut_config::functions::FACTORY_SIMULATOR
        ),
        options
            .throttled
            .then(|| stage.simulator_reservation())
            .flatten(),
        Duration::from_secs(u64::from(donut_config::capacity::SIMULATOR_TIMEOUT_SECONDS)),
    ))
}

/// Where the functions' user may connect from: loopback (on AWS, the VPC's range).
const LOCAL_APP_USER_HOSTS: &str = "127.0.0.0/255.0.0.0";

/// The database as each function reaches it, as on AWS: the endpoint, the login in (LocalStack's)
/// Secrets Manager — the master user's for migrate, the operators' user's for admin-api, the
/// functions' own for every other — and no TLS. A local function serves many requests at once (a Lambda instance one), so its pool is
/// the adapter's default rather than the per-instance share of the connection budget.
fn database_for(
    options: &SystemOptions,
    resources: &Resources,
) -> anyhow::Result<impl Fn(Function) -> Database<String> + use<>> {
    let opts = mysql_async::Opts::from_url(&options.database_url)?;
    let name = opts
        .db_name()
        .context("the database URL names no database")?
        .to_owned();
    let (host, port) = (opts.ip_or_hostname().to_owned(), opts.tcp_port());
    let (master, app, operator) = (
        resources.db_master_secret_arn.clone(),
        resources.app_db_secret_arn.clone(),
        resources.operator_db_secret_arn.clone(),
    );
    let idle_seconds = u64::from(options.stage.capacity.db_idle_seconds);
    Ok(move |function: Function| Database {
        secret_arn: match function {
            Function::Migrate => master.clone(),
            Function::AdminApi => operator.clone(),
            _ => app.clone(),
        },
        host: host.clone(),
        port,
        name: name.clone(),
        tls_ca: None,
        pool_size: LOCAL_POOL_SIZE,
        idle_seconds,
    })
}

/// Connections per local function (the warehouse adapter's default).
const LOCAL_POOL_SIZE: u32 = 16;

/// The migrate function, as `pulumi up` invokes it: the schema, the functions' user (its login
/// made in the app login's secret on the first run), and the seed when asked.
async fn migrate(
    options: &SystemOptions,
    aws: &Aws,
    d: &Deployment<'_, String>,
    resources: &Resources,
) -> anyhow::Result<()> {
    let mut settings = options.stage.migrate(
        d,
        resources.app_db_secret_arn.clone(),
        resources.operator_db_secret_arn.clone(),
        LOCAL_APP_USER_HOSTS,
    );
    settings.app_user = options.app_user.clone();
    settings.operator_user = options.operator_user.clone();
    let migrated = apps::migrate(aws, &settings)?
        .run(options.seed_products)
        .await?;
    tracing::info!(
        applied = ?migrated.applied,
        app_user = %migrated.app_user,
        operator_user = %migrated.operator_user,
        "migrated"
    );
    Ok(())
}

fn provision_plan(options: &SystemOptions) -> Plan {
    let stage = &options.stage;
    Plan {
        prefix: options.prefix.clone(),
        visibility_timeout_seconds: options.visibility_timeout_seconds,
        max_receive_count: stage.queue.max_receive_count,
        dlq_retention_days: stage.queue.dlq_retention_days,
        ops_email: stage.ops_email.clone(),
        dlq_runbook_url: stage.runbook_url(donut_config::aws::DLQ_DEPTH_RUNBOOK),
        dlq_alarm_threshold: stage.dlq_alarm_threshold,
        alarm_period_seconds: options.alarm_period_seconds,
        master_login: master_login(&options.database_url),
    }
}

/// The user and password of a `mysql://` URL.
fn master_login(url: &str) -> (String, String) {
    let opts = mysql_async::Opts::from_url(url).ok();
    let get = |v: Option<&str>| v.unwrap_or_default().to_owned();
    (
        get(opts.as_ref().and_then(|o| o.user())),
        get(opts.as_ref().and_then(|o| o.pass())),
    )
}

impl LocalSystem {
    /// Starts every part in the order a request needs them, one progress line a step.
    pub async fn start(options: SystemOptions, progress: Progress<'_>) -> anyhow::Result<Self> {
        let aws = localstack_config(&options.aws_endpoint, &options.stage.region).await;
        let resources = timed(
            progress,
            "LocalStack: topic, queues, alarm, secrets",
            provision::provision(&aws, &provision_plan(&options)),
        )
        .await?;
        let database = database_for(&options, &resources)?;
        // Where the stage deploys the simulator, behind its function URL's IAM authorization
        // as a deployed one is: the functions that call it sign (their settings say so),
        // anything else is refused before simulator code runs; throttled runs bound it to its
        // reserved instances. Where the stage calls a real factory, the simulator stands in for
        // that one, which takes unsigned calls.
        let url_iam = simulator_url(&options);
        let factory_url_counts = url_iam
            .as_ref()
            .map(|iam| iam.counts.clone())
            .unwrap_or_default();
        let factory = timed(progress, "legacy factory simulator", async {
            FactorySim::start_with(
                options.factory_addr,
                options.factory_knobs.clone(),
                options.factory_seed,
                |router| match url_iam {
                    Some(iam) => iam.wrap(router),
                    None => router,
                },
            )
            .await
        })
        .await?;

        // The gateway's address is the callback base URL, so bind it before wiring.
        let listener = tokio::net::TcpListener::bind(options.api_addr)
            .await
            .with_context(|| {
                format!(
                    "the API port {} is taken: is another `make up` running?",
                    options.api_addr
                )
            })?;
        let api_url = format!("http://{}", listener.local_addr()?);
        let lane = tokio::net::TcpListener::bind(options.factory_lane_addr)
            .await
            .with_context(|| {
                format!(
                    "the factory lane's port {} is taken: is another `make up` running?",
                    options.factory_lane_addr
                )
            })?;
        let factory_lane_url = format!("http://{}", lane.local_addr()?);

        let releases = timed(
            progress,
            "Lambda versions and aliases (the Lambda API stand-in)",
            crate::lambda::Releases::start(
                &aws,
                &options.stage,
                &options.prefix,
                &resources.ops_topic_arn,
                options.alarm_period_seconds,
            ),
        )
        .await?;
        let (shutdown, _) = watch::channel(false);
        let mut parts = Parts {
            options: &options,
            aws,
            resources,
            releases,
            shutdown,
            tasks: Vec::new(),
        };
        // Every function's settings made from the stage config, as the infra program makes
        // them; migrate logs in as the master user, every other function as the user it makes.
        let factory_url = factory.url();
        let deployment = parts.deployment(&database, &factory_lane_url, &factory_url);
        // A Lambda instance serves one event at a time: its pool is its share of the budget.
        let per_instance = |function| Database {
            pool_size: options.stage.db_connections_per_instance(function),
            ..database(function)
        };
        let lambda_env = {
            let d = parts.deployment(&per_instance, &factory_lane_url, &factory_url);
            let plain = |v: String| v;
            vec![
                (
                    Function::SalesApi,
                    settings::SalesApi::to_env(&options.stage.sales_api(&d), &plain),
                ),
                (
                    Function::WarehouseRestock,
                    settings::WarehouseRestock::to_env(
                        &options.stage.warehouse_restock(&d),
                        &plain,
                    ),
                ),
            ]
        };
        timed(
            progress,
            "database: migrate (schema, the functions' user, seed)",
            migrate(
                &options,
                &parts.aws_for(Function::Migrate),
                &deployment,
                &parts.resources,
            ),
        )
        .await?;
        timed(
            progress,
            "outbox relay, watchdog, SQS event source",
            async {
                parts.sweep_outbox(&deployment)?;
                parts.watch_factory_orders(&deployment)?;
                parts.feed_requester(&deployment)
            },
        )
        .await?;
        timed(progress, "API gateway, the factory's lane", async {
            parts.serve_api(listener, lane, &deployment)
        })
        .await?;

        Ok(Self {
            prefix: options.prefix.clone(),
            api_url,
            factory_lane_url,
            factory_url: factory.url(),
            factory_url_counts,
            resources: parts.resources,
            aws: parts.aws,
            releases: parts.releases,
            lambda_env,
            shutdown: parts.shutdown,
            tasks: parts.tasks,
            _factory: factory,
        })
    }

    /// Stops every part and waits for them.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
        self.releases.stop().await;
        // LocalStack evaluates every alarm on one thread, for as long as it runs: a stopped
        // stack's DLQ alarm would only slow down the others' (a next `make up` makes it again).
        let _ = aws_sdk_cloudwatch::Client::new(&self.aws)
            .delete_alarms()
            .alarm_names(&self.resources.dlq_alarm_name)
            .send()
            .await;
    }
}
