//! The network: a VPC with two private subnets (RDS needs two AZs) for the database and the
//! functions; one NAT gateway in a public subnet, the way out to the legacy Factory API (and,
//! without endpoints, to the AWS APIs); where the stage asks for them (`interfaceEndpoints`),
//! interface endpoints through which the functions reach SNS and Secrets Manager without
//! leaving the VPC. Security groups for each.
//!
//! What the functions' calls travel on is in place before they run: a function in the VPC
//! waits for the route to the AWS APIs (the endpoints, or the private subnets' route through
//! the NAT) and, if it calls the factory, for the route to the internet
//! ([`Network::routes_for`]); and a security group lets HTTPS reach the endpoints only once
//! they exist, so switching `interfaceEndpoints` on never leaves the functions with neither
//! way out.
//!
//! The VPC's default security group, which AWS makes allowing all traffic between its members,
//! is adopted and closed (no rule in, none out): nothing uses it, and nothing put in it by
//! mistake can talk. Where the stage asks for them (`vpcFlowLogs`), the VPC's flow logs (all
//! traffic) go to a log group kept `accessLogRetentionDays`.

use pulumi_gestalt_rust::Output;

use crate::Stack;
use crate::iam::{Statement, document, trust_from};
use crate::out::{all, known};
use donut_infra_aws::cloudwatch::log_group;
use donut_infra_aws::ec2::{
    default_security_group, eip, flow_log, internet_gateway, nat_gateway, route_table,
    route_table_association, security_group, subnet, vpc, vpc_endpoint,
};
use donut_infra_aws::iam::{role, role_policy};
use donut_infra_aws::types::ec2::{RouteTableRoute, SecurityGroupEgress, SecurityGroupIngress};

pub const VPC_CIDR: &str = "10.40.0.0/16";
/// [`VPC_CIDR`] as a MySQL host pattern (address/netmask, which MySQL 8.4 and MariaDB both
/// read): where the functions' database user may connect from.
pub const VPC_MYSQL_HOSTS: &str = "10.40.0.0/255.255.0.0";
const SUBNET_CIDRS: [&str; PRIVATE_SUBNETS] = ["10.40.1.0/24", "10.40.2.0/24"];
/// The private subnets (RDS needs two AZs), where the database and the functions are.
pub const PRIVATE_SUBNETS: usize = 2;
const PUBLIC_SUBNET_CIDR: &str = "10.40.0.0/24";
/// AWS services the functions in the VPC call, reached through interface endpoints where the
/// stage has them: SNS (the sales-api and the outbox-relay publish stock-outs, the watchdog
/// alerts ops) and Secrets Manager (every function reads its database login; the callback
/// key; migrate keeps the functions' login). Not SQS: the requester's queue is polled by its
/// event source mapping, which runs in the Lambda service outside the VPC, and no function in
/// the VPC calls SQS itself (the factory simulator, which does, runs outside the VPC). Not
/// KMS: SNS itself uses the topics' key. `infra/tests/least_privilege.rs` holds the calls
/// each function was seen to make.
pub const ENDPOINT_SERVICES: [&str; 2] = ["sns", "secretsmanager"];

pub struct Network {
    /// The database proxy's security group, when the stage has a proxy.
    pub proxy_sg_id: Option<Output<String>>,
    /// The AWS account the stack is deployed to.
    pub account_id: Output<String>,
    pub vpc_id: Output<String>,
    pub private_subnet_ids: Output<Vec<String>>,
    /// The private subnets' ARNs (what a function's role may create network interfaces in).
    pub private_subnet_arns: Output<Vec<String>>,
    /// The functions': out to MySQL and the AWS APIs only.
    pub lambda_sg_id: Output<String>,
    pub lambda_sg_arn: Output<String>,
    /// The functions that call the legacy factory (requester, watchdog): also out to it.
    pub factory_caller_sg_id: Output<String>,
    pub factory_caller_sg_arn: Output<String>,
    pub db_sg_id: Output<String>,
    /// The interface endpoints (ids), where the stage has them.
    pub endpoints: Vec<Output<String>>,
    /// The private subnets' route to the internet through the NAT: their route table
    /// associations (ids), known once the subnets use the route.
    pub internet_route: Vec<Output<String>>,
}

impl Network {
    /// What a function in the VPC must not run before: the way its calls reach the AWS APIs —
    /// the interface endpoints where the stage has them, else the route through the NAT — and,
    /// for a function that calls the legacy factory, the route to the internet.
    pub fn routes_for(&self, calls_factory: bool) -> Vec<Output<String>> {
        if self.endpoints.is_empty() {
            return self.internet_route.clone();
        }
        let mut routes = self.endpoints.clone();
        if calls_factory {
            routes.extend(self.internet_route.iter().cloned());
        }
        routes
    }
}

fn ingress(
    port: i32,
    from_group: Option<String>,
    cidr: Option<&str>,
    what: &str,
) -> SecurityGroupIngress {
    SecurityGroupIngress::builder()
        .protocol("tcp".to_owned())
        .from_port(port)
        .to_port(port)
        .description(what.to_owned())
        .maybe_security_groups(from_group.map(|g| vec![g]))
        .maybe_cidr_blocks(cidr.map(|c| vec![c.to_owned()]))
        .build_struct()
}

fn egress(port: i32, cidr: &str, what: &str) -> SecurityGroupEgress {
    SecurityGroupEgress::builder()
        .protocol("tcp".to_owned())
        .from_port(port)
        .to_port(port)
        .cidr_blocks(vec![cidr.to_owned()])
        .description(what.to_owned())
        .build_struct()
}

pub fn declare(stack: &Stack) -> anyhow::Result<Network> {
    let ctx = stack.ctx;
    let vpc = vpc::create(
        ctx,
        &stack.name("vpc"),
        vpc::VpcArgs::builder()
            .tags(stack.tags())
            .cidr_block(VPC_CIDR)
            .enable_dns_support(true)
            .enable_dns_hostnames(true)
            .build_struct(),
    );
    // AWS makes every VPC a default security group that lets its members talk to each other
    // and out anywhere; adopted with no rules, it allows nothing. The provider removes its rules
    // when it adopts it, and leaves the group (which only goes with the VPC) on destroy.
    default_security_group::create(
        ctx,
        &stack.name("default-sg"),
        default_security_group::DefaultSecurityGroupArgs::builder()
            .tags(stack.tags())
            .vpc_id(vpc.id.clone())
            .build_struct(),
    );
    let account_id = vpc
        .arn
        .map(|arn| arn.split(':').nth(4).unwrap_or_default().to_owned());
    if stack.config.vpc_flow_logs {
        flow_logs(stack, &vpc.id, &account_id);
    }
    let (subnets, subnet_arns): (Vec<Output<String>>, Vec<Output<String>>) = SUBNET_CIDRS
        .iter()
        .zip(["a", "b"])
        .map(|(cidr, az)| {
            let created = subnet::create(
                ctx,
                &stack.name(&format!("private-{az}")),
                subnet::SubnetArgs::builder()
                    .tags(stack.tags())
                    .vpc_id(vpc.id.clone())
                    .cidr_block(*cidr)
                    .availability_zone(format!("{}{az}", stack.config.region))
                    .map_public_ip_on_launch(false)
                    .build_struct(),
            );
            (created.id, created.arn)
        })
        .unzip();

    let private_subnet_ids = all(subnets.clone());
    let endpoints = if stack.config.interface_endpoints {
        interface_endpoints(stack, &vpc.id, &private_subnet_ids)
    } else {
        Vec::new()
    };

    // Egress by need. Every function: MySQL in the VPC, and HTTPS to the AWS APIs — inside the
    // VPC where the stage has interface endpoints, else through the NAT (the APIs' public
    // addresses: any). The requester and the watchdog also reach the legacy factory, on the
    // scheme and port of `factoryUrl`; no other function reaches the internet.
    let (scheme, factory_port) = stack
        .config
        .factory_endpoint()
        .map_err(|problem| anyhow::anyhow!("donut-states:factoryUrl: {problem}"))?;
    let (aws_apis_to, aws_apis_what) = if stack.config.interface_endpoints {
        (VPC_CIDR, "HTTPS: the AWS APIs (interface endpoints)")
    } else {
        ("0.0.0.0/0", "HTTPS: the AWS APIs (through the NAT)")
    };
    // HTTPS to the endpoints only once they exist: when a stage switches `interfaceEndpoints`
    // on, the groups give up the way through the NAT after the endpoints answer, not before.
    let aws_apis = crate::out::after_all(&known(aws_apis_what.to_owned()), &endpoints)
        .map(move |what| egress(443, aws_apis_to, &what));
    let mysql = egress(3306, VPC_CIDR, "MySQL (RDS)");
    // Without endpoints, HTTPS anywhere is already open for the AWS APIs: AWS refuses a
    // duplicate rule (`InvalidPermission.Duplicate`), so a factory on 443 adds none.
    let factory = (stack.config.interface_endpoints || factory_port != 443).then(|| {
        egress(
            i32::from(factory_port),
            "0.0.0.0/0",
            &format!("{scheme}: the legacy factory"),
        )
    });
    let base_rules = {
        let mysql = mysql.clone();
        aws_apis.map(move |aws_apis| vec![mysql.clone(), aws_apis])
    };
    let factory_rules = aws_apis.map(move |aws_apis| {
        let mut rules = vec![mysql.clone(), aws_apis];
        rules.extend(factory.clone());
        rules
    });
    let lambda_sg = security_group::create(
        ctx,
        &stack.name("lambda-sg"),
        security_group::SecurityGroupArgs::builder()
            .tags(stack.tags())
            .vpc_id(vpc.id.clone())
            .description("donut-states functions: out to MySQL and the AWS APIs")
            .egress(base_rules)
            .build_struct(),
    );
    let factory_caller_sg = security_group::create(
        ctx,
        &stack.name("factory-caller-sg"),
        security_group::SecurityGroupArgs::builder()
            .tags(stack.tags())
            .vpc_id(vpc.id.clone())
            .description(
                "donut-states functions that call the factory: MySQL, the AWS APIs, the factory",
            )
            .egress(factory_rules)
            .build_struct(),
    );
    let function_sgs = all(vec![lambda_sg.id.clone(), factory_caller_sg.id.clone()]);
    // With a proxy (`dbProxy`) the functions' MySQL goes through it: in from the functions, on
    // to the database.
    let proxy_sg = stack.config.database.proxy.then(|| {
        security_group::create(
            ctx,
            &stack.name("db-proxy-sg"),
            security_group::SecurityGroupArgs::builder()
                .tags(stack.tags())
                .vpc_id(vpc.id.clone())
                .description(
                    "donut-states database proxy: MySQL from the functions, to the database",
                )
                .ingress(function_sgs.map(|groups| {
                    groups
                        .into_iter()
                        .map(|sg| ingress(3306, Some(sg), None, "MySQL from the functions"))
                        .collect::<Vec<_>>()
                }))
                .egress(vec![egress(3306, VPC_CIDR, "MySQL (RDS)")])
                .build_struct(),
        )
        .id
    });
    let clients = match &proxy_sg {
        Some(proxy) => all(vec![
            lambda_sg.id.clone(),
            factory_caller_sg.id.clone(),
            proxy.clone(),
        ]),
        None => function_sgs,
    };
    let db_sg = security_group::create(
        ctx,
        &stack.name("db-sg"),
        security_group::SecurityGroupArgs::builder()
            .tags(stack.tags())
            .vpc_id(vpc.id.clone())
            .description("donut-states database: MySQL from the functions (and their proxy) only")
            .ingress(clients.map(|groups| {
                groups
                    .into_iter()
                    .map(|sg| {
                        ingress(
                            3306,
                            Some(sg),
                            None,
                            "MySQL from the functions or their proxy",
                        )
                    })
                    .collect::<Vec<_>>()
            }))
            .build_struct(),
    );
    let egress_route_table = internet_egress(stack, &vpc.id);
    let internet_route = subnets
        .iter()
        .zip(["a", "b"])
        .map(|(id, az)| {
            route_table_association::create(
                ctx,
                &stack.name(&format!("private-{az}-routes")),
                route_table_association::RouteTableAssociationArgs::builder()
                    .route_table_id(egress_route_table.clone())
                    .subnet_id(id.clone())
                    .build_struct(),
            )
            .id
        })
        .collect();
    Ok(Network {
        // The account, read off the VPC's ARN (`arn:aws:ec2:<region>:<account>:vpc/…`).
        account_id,
        vpc_id: vpc.id,
        private_subnet_ids,
        private_subnet_arns: all(subnet_arns),
        lambda_sg_id: lambda_sg.id,
        lambda_sg_arn: lambda_sg.arn,
        factory_caller_sg_id: factory_caller_sg.id,
        factory_caller_sg_arn: factory_caller_sg.arn,
        db_sg_id: db_sg.id,
        proxy_sg_id: proxy_sg,
        endpoints,
        internet_route,
    })
}

/// The VPC's flow logs: every packet's accept or reject (`ALL`) of the stack's VPC, to a log
/// group of their own kept `accessLogRetentionDays`, delivered by a role only the VPC Flow Logs
/// service may assume, for this account's flow logs (the confused-deputy conditions of the VPC
/// user guide's "IAM role for publishing flow logs to CloudWatch Logs"), and that may write to
/// that log group alone.
fn flow_logs(stack: &Stack, vpc_id: &Output<String>, account_id: &Output<String>) {
    let ctx = stack.ctx;
    let logs = log_group::create(
        ctx,
        &stack.name("vpc-flow-logs"),
        log_group::LogGroupArgs::builder()
            .tags(stack.tags())
            .retention_in_days(stack.config.access_log_retention_days as i32)
            .build_struct(),
    );
    let region = stack.config.region.clone();
    let role = role::create(
        ctx,
        &stack.name("vpc-flow-logs-role"),
        role::RoleArgs::builder()
            .tags(stack.tags())
            .description(format!(
                "Lets VPC Flow Logs write the flow logs of the donut-states VPC ({})",
                stack.config.stage
            ))
            .assume_role_policy(account_id.map(move |account| {
                trust_from(
                    "vpc-flow-logs.amazonaws.com",
                    &account,
                    &format!("arn:aws:ec2:{region}:{account}:vpc-flow-log/*"),
                )
            }))
            .build_struct(),
    );
    // The streams of the group (`<group ARN>:*`, as the functions' own log groups); describing
    // log groups has no resource to name (Service Authorization Reference: no resource type).
    let streams = logs.arn.map(|arn| format!("{arn}:*"));
    let allowed = role_policy::create(
        ctx,
        &stack.name("vpc-flow-logs-policy"),
        role_policy::RolePolicyArgs::builder()
            .name("write-the-flow-logs")
            .role(role.id.clone())
            .policy(document(vec![
                Statement::new(
                    &[
                        "logs:CreateLogStream",
                        "logs:PutLogEvents",
                        "logs:DescribeLogStreams",
                    ],
                    vec![streams],
                ),
                Statement::new(&["logs:DescribeLogGroups"], vec![known("*".to_owned())]),
            ]))
            .build_struct(),
    );
    flow_log::create(
        ctx,
        &stack.name("vpc-flow-log"),
        flow_log::FlowLogArgs::builder()
            .tags(stack.tags())
            .vpc_id(vpc_id.clone())
            .traffic_type("ALL")
            .log_destination_type("cloud-watch-logs")
            .log_destination(logs.arn.clone())
            // Delivered once the role may write.
            .iam_role_arn(crate::out::after(&role.arn, &allowed.id))
            .build_struct(),
    );
}

/// SNS and Secrets Manager inside the VPC, so their traffic skips the NAT; returns the
/// endpoints' ids.
fn interface_endpoints(
    stack: &Stack,
    vpc_id: &Output<String>,
    subnet_ids: &Output<Vec<String>>,
) -> Vec<Output<String>> {
    let ctx = stack.ctx;
    let endpoint_sg = security_group::create(
        ctx,
        &stack.name("endpoint-sg"),
        security_group::SecurityGroupArgs::builder()
            .tags(stack.tags())
            .vpc_id(vpc_id.clone())
            .description("donut-states interface endpoints: HTTPS from the VPC")
            .ingress(vec![ingress(
                443,
                None,
                Some(VPC_CIDR),
                "HTTPS from the VPC",
            )])
            .build_struct(),
    );
    ENDPOINT_SERVICES
        .iter()
        .map(|service| {
            vpc_endpoint::create(
                ctx,
                &stack.name(&format!("{service}-endpoint")),
                vpc_endpoint::VpcEndpointArgs::builder()
                    .tags(stack.tags())
                    .vpc_id(vpc_id.clone())
                    .service_name(format!("com.amazonaws.{}.{service}", stack.config.region))
                    .vpc_endpoint_type("Interface")
                    .private_dns_enabled(true)
                    .subnet_ids(subnet_ids.clone())
                    .security_group_ids(endpoint_sg.id.map(|id| vec![id]))
                    .build_struct(),
            )
            .id
        })
        .collect()
}

/// A public subnet with an internet gateway and a NAT gateway; returns the route table that
/// sends the private subnets' internet traffic through the NAT.
fn internet_egress(stack: &Stack, vpc_id: &Output<String>) -> Output<String> {
    let ctx = stack.ctx;
    let public = subnet::create(
        ctx,
        &stack.name("public-a"),
        subnet::SubnetArgs::builder()
            .tags(stack.tags())
            .vpc_id(vpc_id.clone())
            .cidr_block(PUBLIC_SUBNET_CIDR)
            .availability_zone(format!("{}a", stack.config.region))
            .map_public_ip_on_launch(false)
            .build_struct(),
    );
    let igw = internet_gateway::create(
        ctx,
        &stack.name("igw"),
        internet_gateway::InternetGatewayArgs::builder()
            .tags(stack.tags())
            .vpc_id(vpc_id.clone())
            .build_struct(),
    );
    let public_routes = route_table::create(
        ctx,
        &stack.name("public-routes"),
        route_table::RouteTableArgs::builder()
            .tags(stack.tags())
            .vpc_id(vpc_id.clone())
            .routes(igw.id.map(|igw| {
                vec![
                    RouteTableRoute::builder()
                        .cidr_block("0.0.0.0/0".to_owned())
                        .gateway_id(igw)
                        .build_struct(),
                ]
            }))
            .build_struct(),
    );
    route_table_association::create(
        ctx,
        &stack.name("public-a-routes"),
        route_table_association::RouteTableAssociationArgs::builder()
            .route_table_id(public_routes.id.clone())
            .subnet_id(public.id.clone())
            .build_struct(),
    );
    let address = eip::create(
        ctx,
        &stack.name("nat-ip"),
        eip::EipArgs::builder()
            .tags(stack.tags())
            .domain("vpc")
            .build_struct(),
    );
    let nat = nat_gateway::create(
        ctx,
        &stack.name("nat"),
        nat_gateway::NatGatewayArgs::builder()
            .tags(stack.tags())
            .allocation_id(address.id)
            // The NAT is usable once the public subnet routes to the internet gateway.
            .subnet_id(crate::out::after(&public.id, &public_routes.id))
            .connectivity_type("public")
            .build_struct(),
    );
    route_table::create(
        ctx,
        &stack.name("private-routes"),
        route_table::RouteTableArgs::builder()
            .tags(stack.tags())
            .vpc_id(vpc_id.clone())
            .routes(nat.id.map(|nat| {
                vec![
                    RouteTableRoute::builder()
                        .cidr_block("0.0.0.0/0".to_owned())
                        .nat_gateway_id(nat)
                        .build_struct(),
                ]
            }))
            .build_struct(),
    )
    .id
}
