//! Each function's settings (its contract, `donut_contract::settings`) made from the stage
//! config and what a deployment provides. The infra program fills [`Deployment`] with the
//! engine's outputs, the local stack with LocalStack's resources: both make every function's
//! settings here, so the two cannot drift.

use donut_contract::Function;
use donut_contract::settings::{
    self, AdminApi, Base, Callback, Database, Factory, FactoryAuth, FactoryRequester,
    FactoryWatchdog, Migrate, OutboxRelay, SalesApi, WarehouseRestock,
};

use crate::StageConfig;

/// Where a deployment's parts are: what the stage config cannot know. `V` is how a
/// deploy-time value is held (`String` locally, the engine's output in the infra program).
pub struct Deployment<'a, V> {
    /// The database as `function` reaches it: its login and its share of the connections.
    pub database: &'a dyn Fn(Function) -> Database<V>,
    pub stock_out_topic_arn: V,
    pub ops_topic_arn: V,
    /// The public API's URL, which callback URLs start with.
    pub callback_base_url: V,
    pub callback_secret_arn: V,
    pub callback_key_version: V,
    /// The legacy factory: the stage's `factoryUrl`, or the simulator's URL (deployed with the
    /// stack, or the local stack's).
    pub factory_url: V,
}

impl<V: Clone> Deployment<'_, V> {
    fn base(&self, stage: &StageConfig, function: Function) -> Base<V> {
        Base {
            metrics_namespace: stage.metrics_namespace(),
            database: (self.database)(function),
        }
    }

    /// The factory's URL and how a call to it is authenticated: the real legacy factory
    /// knows nothing of AWS signatures; the simulator's function URL takes `AWS_IAM`, so its
    /// callers sign for `lambda` in the stack's Region.
    fn factory(&self, stage: &StageConfig) -> Factory<V> {
        Factory {
            url: self.factory_url.clone(),
            timeout_ms: u64::from(stage.factory_timeout_ms),
            auth: match stage.factory {
                crate::LegacyFactory::At(_) => FactoryAuth::None,
                crate::LegacyFactory::Simulator(_) => FactoryAuth::AwsIam {
                    region: stage.region.clone(),
                },
            },
        }
    }

    fn callback(&self, stage: &StageConfig) -> Callback<V> {
        Callback {
            base_url: self.callback_base_url.clone(),
            secret_arn: self.callback_secret_arn.clone(),
            key_version: self.callback_key_version.clone(),
            token_ttl_seconds: stage.callback_token_ttl().as_secs(),
        }
    }
}

impl StageConfig {
    pub fn sales_api<V: Clone>(&self, d: &Deployment<'_, V>) -> SalesApi<V> {
        SalesApi {
            base: d.base(self, Function::SalesApi),
            max_quantity: self.max_quantity,
            max_body_bytes: self.max_body_bytes,
            stock_out_topic_arn: d.stock_out_topic_arn.clone(),
            idempotency_key_hours: self.idempotency_key_hours,
        }
    }

    pub fn warehouse_restock<V: Clone>(&self, d: &Deployment<'_, V>) -> WarehouseRestock<V> {
        WarehouseRestock {
            base: d.base(self, Function::WarehouseRestock),
            max_body_bytes: self.max_body_bytes,
            callback: d.callback(self),
        }
    }

    pub fn factory_requester<V: Clone>(&self, d: &Deployment<'_, V>) -> FactoryRequester<V> {
        FactoryRequester {
            base: d.base(self, Function::FactoryRequester),
            factory: d.factory(self),
            callback: d.callback(self),
        }
    }

    pub fn outbox_relay<V: Clone>(&self, d: &Deployment<'_, V>) -> OutboxRelay<V> {
        OutboxRelay {
            base: d.base(self, Function::OutboxRelay),
            stock_out_topic_arn: d.stock_out_topic_arn.clone(),
        }
    }

    /// The operators' function; the deployment's `database` gives it its own login.
    pub fn admin_api<V: Clone>(&self, d: &Deployment<'_, V>) -> AdminApi<V> {
        AdminApi {
            base: d.base(self, Function::AdminApi),
            max_body_bytes: self.max_body_bytes,
            stock_out_topic_arn: d.stock_out_topic_arn.clone(),
            re_request_not_within_seconds: u64::from(self.queue.visibility_timeout_seconds),
            idempotency_key_hours: self.idempotency_key_hours,
        }
    }

    pub fn factory_watchdog<V: Clone>(&self, d: &Deployment<'_, V>) -> FactoryWatchdog<V> {
        FactoryWatchdog {
            base: d.base(self, Function::FactoryWatchdog),
            factory: d.factory(self),
            callback: d.callback(self),
            deadline_minutes: u64::from(self.factory_deadline_minutes),
            open_deadline_minutes: self.open_order_deadline_minutes(),
            max_attempts: self.factory_max_attempts,
            ops_topic_arn: d.ops_topic_arn.clone(),
            overdue_runbook_url: self.runbook_url(crate::aws::FACTORY_ORDERS_OVERDUE_RUNBOOK),
        }
    }

    /// `app_db_secret_arn`: the functions' own database login, which `migrate` keeps (its
    /// user [`settings::APP_DB_USER`]); `operator_db_secret_arn`: the operators' function's
    /// ([`settings::OPERATOR_DB_USER`]); `app_user_hosts`: where both may connect from.
    pub fn migrate<V: Clone>(
        &self,
        d: &Deployment<'_, V>,
        app_db_secret_arn: V,
        operator_db_secret_arn: V,
        app_user_hosts: &str,
    ) -> Migrate<V> {
        Migrate {
            base: d.base(self, Function::Migrate),
            app_db_secret_arn,
            app_user: settings::APP_DB_USER.to_owned(),
            operator_db_secret_arn,
            operator_user: settings::OPERATOR_DB_USER.to_owned(),
            app_user_hosts: app_user_hosts.to_owned(),
        }
    }
}
