//! The HTTP API: API Gateway (HTTP API, payload 2.0) with the routes of `donut_config::routes::ROUTES`
//! — the list the local gateway dispatches by, so what is deployed is what is tested — each
//! integrated with its function, plus access logs. The operators' routes (`/admin/…`,
//! `routes::requires_iam`) take API Gateway's IAM authorization and a throttle of their own;
//! the managed policy ops attach to their role allows `execute-api:Invoke` on them and on
//! nothing else. Where the stage configures one (`buyerAuth`), a JWT authorizer guards the
//! buyers' order routes (`routes::takes_buyer_authorizer`).

use std::collections::HashMap;

use pulumi_gestalt_rust::Output;
use serde_json::json;

use crate::Stack;
use crate::compute::Compute;
use crate::iam::{Statement, document};
use donut_config::routes::{requires_iam, takes_buyer_authorizer};
use donut_config::{BuyerAuth, Function};
use donut_infra_aws::apigatewayv2::{api, authorizer, integration, route, stage};
use donut_infra_aws::cloudwatch::log_group;
use donut_infra_aws::iam::policy;
use donut_infra_aws::lambda::permission;
use donut_infra_aws::types::apigatewayv2::{
    AuthorizerJwtConfiguration, StageAccessLogSettings, StageDefaultRouteSettings,
    StageRouteSetting,
};

/// Where a buyer's token is: the `Authorization` header, the token alone or after `Bearer `
/// (API Gateway's JWT authorizers take either).
pub const BUYER_TOKEN_SOURCE: &str = "$request.header.Authorization";

/// The API before its routes: what the functions need to know of it (its URL).
pub struct HttpApi {
    pub id: Output<String>,
    /// `https://{id}.execute-api.{region}.amazonaws.com` (the `$default` stage has no path).
    pub endpoint: Output<String>,
    pub execution_arn: Output<String>,
    access_logs_arn: Output<String>,
}

/// The API with its routes and stage.
pub struct Api {
    pub id: Output<String>,
    pub endpoint: Output<String>,
    /// The stage's name (`$default`), once the stage exists: what the API's metrics name.
    pub stage: Output<String>,
    /// The managed policy allowing `execute-api:Invoke` on the operators' routes only.
    pub operator_policy_arn: Output<String>,
}

/// API Gateway's authorization of a route: IAM (SigV4, the caller's policy must allow
/// `execute-api:Invoke` on it) for the operators' function; a JWT for the buyers' order routes
/// where the stage has a buyer authorizer (`buyer_authorizer`); none for the others (the
/// catalogue is public; the factory's callback carries its own capability token).
pub fn authorization_type(
    route_key: &str,
    function: Function,
    buyer_authorizer: bool,
) -> &'static str {
    if requires_iam(function) {
        "AWS_IAM"
    } else if buyer_authorizer && takes_buyer_authorizer(route_key) {
        "JWT"
    } else {
        "NONE"
    }
}

/// The buyers' JWT authorizer of the API (`buyerAuth`): the token in the `Authorization`
/// header, issued by the stage's issuer for one of its audiences. Returns its id.
fn declare_buyer_authorizer(
    stack: &Stack,
    api_id: &Output<String>,
    auth: &BuyerAuth,
) -> Output<String> {
    authorizer::create(
        stack.ctx,
        &stack.name("buyer-authorizer"),
        authorizer::AuthorizerArgs::builder()
            .api_id(api_id.clone())
            .authorizer_type("JWT")
            .identity_sources(vec![BUYER_TOKEN_SOURCE.to_owned()])
            .jwt_configuration(
                AuthorizerJwtConfiguration::builder()
                    .issuer(auth.issuer.clone())
                    .audiences(auth.audience.clone())
                    .build_struct(),
            )
            .build_struct(),
    )
    .id
}

/// The requests a route key serves, as an `execute-api:Invoke` resource names them after
/// `<execution ARN>/<stage>/<method>/`: `ANY` any method, a `{parameter}` any segment
/// (`ANY /admin/products/{id}` → `*/admin/products/*`).
pub fn invoke_resource(route_key: &str) -> String {
    let (method, path) = route_key.split_once(' ').unwrap_or(("ANY", route_key));
    let method = if method == "ANY" { "*" } else { method };
    let path: Vec<&str> = path
        .trim_start_matches('/')
        .split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                "*"
            } else {
                segment
            }
        })
        .collect();
    format!("{method}/{}", path.join("/"))
}

/// Which API a function's routes are on: the factory's callback has an API of its own, the
/// factory's lane, whose address only the factory is given (in each order's callback URL); the
/// public API has every other route and no callback route, so strangers flooding what they
/// know meet API Gateway's 404 and take nothing from the lane's throttle.
pub fn on_factory_lane(function: Function) -> bool {
    function == Function::WarehouseRestock
}

/// The public API (buyers, operators).
pub fn declare_api(stack: &Stack) -> HttpApi {
    declare_http_api(
        stack,
        "http-api",
        "api-access-logs",
        "Donut-States: the Sales API and the operators' API",
    )
}

/// The factory's lane: the factory's callback alone, throttled by `callbackThrottle*`.
pub fn declare_factory_lane(stack: &Stack) -> HttpApi {
    declare_http_api(
        stack,
        "factory-lane",
        "factory-lane-access-logs",
        "Donut-States: the legacy factory's callback (its address is the factory's alone)",
    )
}

fn declare_http_api(stack: &Stack, name: &str, logs: &str, description: &str) -> HttpApi {
    let ctx = stack.ctx;
    let created = api::create(
        ctx,
        &stack.name(name),
        api::ApiArgs::builder()
            .tags(stack.tags())
            .protocol_type("HTTP")
            .description(description)
            .build_struct(),
    );
    // The record of who called what (source IP, route, status): kept as long as the stage
    // keeps such records (`accessLogRetentionDays`), not as long as the functions' logs.
    let logs = log_group::create(
        ctx,
        &stack.name(logs),
        log_group::LogGroupArgs::builder()
            .tags(stack.tags())
            .retention_in_days(stack.config.access_log_retention_days as i32)
            .build_struct(),
    );
    HttpApi {
        id: created.id,
        endpoint: created.api_endpoint,
        execution_arn: created.execution_arn,
        access_logs_arn: logs.arn,
    }
}

/// Integrations, routes and invoke permissions, once the functions exist and migrated; then
/// each API's stage, whose per-route throttling names the routes (API Gateway refuses
/// settings for a route that does not exist yet). The factory's callback goes on the lane,
/// everything else on the public API ([`on_factory_lane`]).
pub fn declare_routes(stack: &Stack, api: HttpApi, lane: HttpApi, compute: &Compute) -> Api {
    let ctx = stack.ctx;
    let mut integrations: HashMap<&str, Output<String>> = HashMap::new();
    let mut routes = Vec::new();
    let mut lane_routes = Vec::new();
    // Every function a route names, once, in the routes' order.
    let mut served_functions: Vec<Function> = Vec::new();
    for (_, function) in donut_config::routes::ROUTES {
        if !served_functions.contains(function) {
            served_functions.push(*function);
        }
    }
    let api_of = |function: Function| {
        if on_factory_lane(function) {
            &lane
        } else {
            &api
        }
    };
    for served in served_functions {
        let (function_key, function) = (served.name(), &compute.functions[&served]);
        let api = api_of(served);
        // An aliased function is invoked through its `live` alias — the integration names the
        // alias's ARN and API Gateway's permission is the alias's (`qualifier`), since one on
        // the function does not cover an invocation of the alias — so the alias is the one
        // switch a release moves. The others are invoked as they are ($LATEST).
        let alias = compute.aliases.get(&served);
        let target = alias.map_or(&function.arn, |alias| &alias.arn);
        // API Gateway may invoke it before an integration names it: a deployment that moves an
        // integration to the alias never leaves it without the alias's permission.
        let allowed = permission::create(
            ctx,
            &stack.name(&format!("{function_key}-api-invoke")),
            permission::PermissionArgs::builder()
                .action("lambda:InvokeFunction")
                .function(function.name.clone())
                .maybe_qualifier(alias.map(|alias| alias.name.clone()))
                .principal("apigateway.amazonaws.com")
                .source_arn(api.execution_arn.map(|arn| format!("{arn}/*/*")))
                .build_struct(),
        );
        let created = integration::create(
            ctx,
            &stack.name(&format!("{function_key}-integration")),
            integration::IntegrationArgs::builder()
                .api_id(api.id.clone())
                .integration_type("AWS_PROXY")
                // API Gateway calls Lambda's Invoke API by POST: the only method AWS accepts for
                // AWS_PROXY ("HttpMethod must be POST for AWS_PROXY IntegrationType"), and the
                // provider's docs ask for one on every integration that is not MOCK.
                .integration_method("POST")
                .integration_uri(crate::out::after_all(
                    target,
                    &[compute.migrated.clone(), allowed.id],
                ))
                .payload_format_version("2.0")
                .timeout_milliseconds(29_000)
                .build_struct(),
        );
        integrations.insert(function_key, created.id);
    }
    let api_of = |function: Function| {
        if on_factory_lane(function) {
            &lane
        } else {
            &api
        }
    };
    let buyer_authorizer = stack
        .config
        .buyer_auth
        .as_ref()
        .map(|auth| declare_buyer_authorizer(stack, &api.id, auth));
    for (route_key, target) in donut_config::routes::ROUTES {
        let function_key = target.name();
        let resource_name = route_key
            .to_lowercase()
            .replace(|c: char| !c.is_ascii_alphanumeric(), "-");
        let authorization = authorization_type(route_key, *target, buyer_authorizer.is_some());
        let created = route::create(
            ctx,
            &stack.name(&format!("route-{}", resource_name.trim_matches('-'))),
            route::RouteArgs::builder()
                .api_id(api_of(*target).id.clone())
                .route_key(*route_key)
                .authorization_type(authorization)
                .maybe_authorizer_id(
                    (authorization == "JWT")
                        .then(|| buyer_authorizer.clone())
                        .flatten(),
                )
                .target(integrations[function_key].map(|id| format!("integrations/{id}")))
                .build_struct(),
        );
        if on_factory_lane(*target) {
            lane_routes.push((*route_key, *target, created.id));
        } else {
            routes.push((*route_key, *target, created.id));
        }
    }
    let stage = declare_stage(stack, &api, &routes);
    declare_lane_stage(stack, &lane, &lane_routes);
    let operator_policy_arn = declare_operator_policy(stack, &api, &routes, &stage);
    Api {
        id: api.id,
        endpoint: api.endpoint,
        stage,
        operator_policy_arn,
    }
}

/// The managed policy ops attach to the role they sign their calls with: `execute-api:Invoke`
/// on each operators' route of this API (any stage, any method the route serves) and nothing
/// else — IAM is asked about no other route. Declared once the routes and the stage that
/// serves them exist, so it never names a request AWS could not take yet.
fn declare_operator_policy(
    stack: &Stack,
    api: &HttpApi,
    routes: &[(&'static str, Function, Output<String>)],
    stage: &Output<String>,
) -> Output<String> {
    let resources: Vec<Output<String>> = routes
        .iter()
        .filter(|(_, function, _)| requires_iam(*function))
        .map(|(key, _, id)| {
            let resource = invoke_resource(key);
            let arn = api
                .execution_arn
                .map(move |arn| format!("{arn}/*/{resource}"));
            crate::out::after_all(&arn, &[id.clone(), stage.clone()])
        })
        .collect();
    let created = policy::create(
        stack.ctx,
        &stack.name("operator-policy"),
        policy::PolicyArgs::builder()
            .tags(stack.tags())
            .description(format!(
                "Lets an operator call the admin routes of donut-states ({}): attach it to the operators' role",
                stack.stack
            ))
            .policy(document(vec![Statement::new(
                &["execute-api:Invoke"],
                resources,
            )]))
            .build_struct(),
    );
    created.arn
}

/// The lane's `$default` stage: access logs, and the factory's throttle (`callbackThrottle*`)
/// for its one route — declared once the route exists.
fn declare_lane_stage(
    stack: &Stack,
    lane: &HttpApi,
    routes: &[(&'static str, Function, Output<String>)],
) -> Output<String> {
    let capacity = &stack.config.capacity;
    let ids: Vec<Output<String>> = routes.iter().map(|(_, _, id)| id.clone()).collect();
    let stage = stage::create(
        stack.ctx,
        &stack.name("factory-lane-stage"),
        stage::StageArgs::builder()
            .tags(stack.tags())
            .api_id(crate::out::after_all(&lane.id, &ids))
            .name("$default")
            .auto_deploy(true)
            .default_route_settings(
                StageDefaultRouteSettings::builder()
                    .throttling_rate_limit(f64::from(capacity.callback_throttle_rate))
                    .throttling_burst_limit(capacity.callback_throttle_burst as i32)
                    .build_struct(),
            )
            .access_log_settings(lane.access_logs_arn.map(|arn| {
                StageAccessLogSettings::builder()
                    .destination_arn(arn)
                    .format(access_log_format())
                    .build_struct()
            }))
            .build_struct(),
    );
    stage.name
}

/// What each API call's access log line holds.
fn access_log_format() -> String {
    json!({
        "requestId": "$context.requestId", "ip": "$context.identity.sourceIp",
        "requestTime": "$context.requestTime", "routeKey": "$context.routeKey",
        "status": "$context.status", "latency": "$context.responseLatency",
        "integrationLatency": "$context.integrationLatency", "error": "$context.integrationErrorMessage"
    })
    .to_string()
}

/// The public API's `$default` stage: access logs, a throttle per route for the buyers'
/// routes, and a small one for the operators' routes (a leaked operator key cannot take the
/// buyers' share).
fn declare_stage(
    stack: &Stack,
    api: &HttpApi,
    routes: &[(&'static str, Function, Output<String>)],
) -> Output<String> {
    let ctx = stack.ctx;
    let capacity = &stack.config.capacity;
    let format = access_log_format();
    // The operators' own throttle, each route's declared once the route exists.
    let lane = |function: Function| {
        requires_iam(function)
            .then_some((capacity.admin_throttle_rate, capacity.admin_throttle_burst))
    };
    let own_lanes: Vec<Output<StageRouteSetting>> = routes
        .iter()
        .filter_map(|(key, function, id)| {
            let (rate, burst) = lane(*function)?;
            Some(
                crate::out::after(&crate::out::known((*key).to_owned()), id).map(move |key| {
                    StageRouteSetting::builder()
                        .route_key(key)
                        .throttling_rate_limit(f64::from(rate))
                        .throttling_burst_limit(burst as i32)
                        .build_struct()
                }),
            )
        })
        .collect();
    let stage = stage::create(
        ctx,
        &stack.name("api-stage"),
        stage::StageArgs::builder()
            .tags(stack.tags())
            .api_id(api.id.clone())
            .name("$default")
            .auto_deploy(true)
            // Beyond this the API answers 429 before any function or the database is asked.
            .default_route_settings(
                StageDefaultRouteSettings::builder()
                    .throttling_rate_limit(f64::from(capacity.api_throttle_rate))
                    .throttling_burst_limit(capacity.api_throttle_burst as i32)
                    .build_struct(),
            )
            .route_settings(crate::out::all(own_lanes))
            .access_log_settings(api.access_logs_arn.map(move |arn| {
                StageAccessLogSettings::builder()
                    .destination_arn(arn)
                    .format(format.clone())
                    .build_struct()
            }))
            .build_struct(),
    );
    stage.name
}
