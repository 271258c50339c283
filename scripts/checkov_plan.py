#!/usr/bin/env python3
"""A Pulumi stack's state as the Terraform plan checkov reads (`terraform show -json` form).

    python3 scripts/checkov_plan.py STATE.json PLAN.json [--strip-prefix PREFIX] [--schema SCHEMA]

STATE.json is `pulumi stack export` (the engine tests' state, or a deployed stack's). pulumi-aws
is bridged from Terraform's AWS provider, so each resource is the Terraform resource under
other names; this script only renames and reshapes, it judges nothing:

- the type token becomes the Terraform type (TF_TYPES: pulumi-aws's own table, see there);
- property names become Terraform's: camelCase to snake_case, except the names pulumi-aws
  renamed (RENAMES: a Terraform block list that Pulumi pluralised, `name` for
  `function_name`...);
- shapes follow the schema subset the program is built from (infra/schema/aws-subset.json):
  an object-typed property is a Terraform block, so a list (`vpc_config: [{...}]`,
  `environment: [{variables: {...}}]`); a map (`tags`, `variables`) stays a map, its keys as
  they are;
- a secret (Pulumi's secret marker; the export holds only its ciphertext) is a placeholder
  marked in `sensitive_values`; an archive (a Lambda's `code`) is its path, as `filename`;
- the plan is the one that would create the stack: where a property's value is another
  resource's identity (its id, ARN, name, URL, endpoint: one of the resources the state records
  this property depends on, `propertyDependencies`), Terraform would not know it before the
  apply, so the value is unknown (null, `after_unknown`) and `configuration` holds the
  expression's `references` (`aws_security_group.lambda-sg.id`), from which checkov draws its
  graph's edges (a security group attached to a function, an address to its NAT, a parameter
  group to its database). A value that merely contains such an identity (a policy document, a
  URL with a path) is kept, and its expression lists the references too. A dependency that no
  value names (an ordering edge) is the resource's `depends_on`.

Resource addresses are `<terraform type>.<logical name>`, the logical name without
PREFIX when given (`--strip-prefix donut-states-dev-`), so both stages share addresses.
Standard library only.
"""

import argparse
import copy
import json
import os
import re
import sys

SIG = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
ARCHIVE_SIG = "0def7320c3a5731c473e5ecbe6d01bc7"
ASSET_SIG = "c44067f5952c0a294b673a41bacd8c17"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
SENSITIVE = "(sensitive: only its ciphertext is in the Pulumi state)"

# Pulumi type token -> Terraform resource type: pulumi-aws's own table (`renames.resources` of
# provider/cmd/pulumi-resource-aws/bridge-metadata.json), for every type the program deploys
# (infra/schema/gen_aws_schema.py RESOURCES). Most are `aws_<module>_<snake case>`; the
# exceptions are the ec2 module's (no module prefix: aws_vpc, aws_eip, ...) and the rds
# module's (aws_db_...). A type missing here stops the script: add it from that table.
TF_TYPES = {
    "aws:apigatewayv2/api:Api": "aws_apigatewayv2_api",
    "aws:apigatewayv2/authorizer:Authorizer": "aws_apigatewayv2_authorizer",
    "aws:apigatewayv2/integration:Integration": "aws_apigatewayv2_integration",
    "aws:apigatewayv2/route:Route": "aws_apigatewayv2_route",
    "aws:apigatewayv2/stage:Stage": "aws_apigatewayv2_stage",
    "aws:cloudwatch/dashboard:Dashboard": "aws_cloudwatch_dashboard",
    "aws:cloudwatch/eventRule:EventRule": "aws_cloudwatch_event_rule",
    "aws:cloudwatch/eventTarget:EventTarget": "aws_cloudwatch_event_target",
    "aws:cloudwatch/logGroup:LogGroup": "aws_cloudwatch_log_group",
    "aws:cloudwatch/metricAlarm:MetricAlarm": "aws_cloudwatch_metric_alarm",
    "aws:cloudwatch/queryDefinition:QueryDefinition": "aws_cloudwatch_query_definition",
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": "aws_default_security_group",
    "aws:ec2/eip:Eip": "aws_eip",
    "aws:ec2/flowLog:FlowLog": "aws_flow_log",
    "aws:ec2/internetGateway:InternetGateway": "aws_internet_gateway",
    "aws:ec2/natGateway:NatGateway": "aws_nat_gateway",
    "aws:ec2/routeTable:RouteTable": "aws_route_table",
    "aws:ec2/routeTableAssociation:RouteTableAssociation": "aws_route_table_association",
    "aws:ec2/securityGroup:SecurityGroup": "aws_security_group",
    "aws:ec2/subnet:Subnet": "aws_subnet",
    "aws:ec2/vpc:Vpc": "aws_vpc",
    "aws:ec2/vpcEndpoint:VpcEndpoint": "aws_vpc_endpoint",
    "aws:iam/policy:Policy": "aws_iam_policy",
    "aws:iam/role:Role": "aws_iam_role",
    "aws:iam/rolePolicy:RolePolicy": "aws_iam_role_policy",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": "aws_iam_role_policy_attachment",
    "aws:kms/key:Key": "aws_kms_key",
    "aws:lambda/alias:Alias": "aws_lambda_alias",
    "aws:lambda/eventSourceMapping:EventSourceMapping": "aws_lambda_event_source_mapping",
    "aws:lambda/function:Function": "aws_lambda_function",
    "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig": "aws_lambda_function_event_invoke_config",
    "aws:lambda/functionUrl:FunctionUrl": "aws_lambda_function_url",
    "aws:lambda/invocation:Invocation": "aws_lambda_invocation",
    "aws:lambda/permission:Permission": "aws_lambda_permission",
    "aws:rds/instance:Instance": "aws_db_instance",
    "aws:rds/parameterGroup:ParameterGroup": "aws_db_parameter_group",
    "aws:rds/proxy:Proxy": "aws_db_proxy",
    "aws:rds/proxyDefaultTargetGroup:ProxyDefaultTargetGroup": "aws_db_proxy_default_target_group",
    "aws:rds/proxyTarget:ProxyTarget": "aws_db_proxy_target",
    "aws:rds/subnetGroup:SubnetGroup": "aws_db_subnet_group",
    "aws:secretsmanager/secret:Secret": "aws_secretsmanager_secret",
    "aws:secretsmanager/secretPolicy:SecretPolicy": "aws_secretsmanager_secret_policy",
    "aws:secretsmanager/secretVersion:SecretVersion": "aws_secretsmanager_secret_version",
    "aws:sns/topic:Topic": "aws_sns_topic",
    "aws:sns/topicSubscription:TopicSubscription": "aws_sns_topic_subscription",
    "aws:sqs/queue:Queue": "aws_sqs_queue",
    "aws:sqs/queuePolicy:QueuePolicy": "aws_sqs_queue_policy",
}

# Property names pulumi-aws did not derive from Terraform's by camelCase (`renames.
# renamedProperties` of the same file), for the types above and the object types they reach:
# Terraform's block lists, which Pulumi pluralises, and a few names of Pulumi's own. Every
# other name is Terraform's in camelCase.
RENAMES = {
    "aws:lambda/function:Function": {"name": "function_name", "code": "filename"},
    "aws:lambda/permission:Permission": {"function": "function_name"},
    "aws:sns/topicSubscription:TopicSubscription": {"topic": "topic_arn"},
    "aws:cloudwatch/metricAlarm:MetricAlarm": {"name": "alarm_name", "metricQueries": "metric_query"},
    "aws:apigatewayv2/route:Route": {"requestParameters": "request_parameter"},
    "aws:ec2/routeTable:RouteTable": {"routes": "route"},
    "aws:ec2/vpcEndpoint:VpcEndpoint": {
        "dnsEntries": "dns_entry",
        "subnetConfigurations": "subnet_configuration",
    },
    "aws:ec2/natGateway:NatGateway": {
        "availabilityZoneAddresses": "availability_zone_address",
        "regionalNatGatewayAddresses": "regional_nat_gateway_address",
    },
    "aws:iam/role:Role": {"inlinePolicies": "inline_policy"},
    "aws:lambda/eventSourceMapping:EventSourceMapping": {
        "sourceAccessConfigurations": "source_access_configuration",
    },
    "aws:lambda/EventSourceMappingFilterCriteria:EventSourceMappingFilterCriteria": {"filters": "filter"},
    "aws:lambda/EventSourceMappingAmazonManagedKafkaEventSourceConfigSchemaRegistryConfig:EventSourceMappingAmazonManagedKafkaEventSourceConfigSchemaRegistryConfig": {
        "accessConfigs": "access_config",
        "schemaValidationConfigs": "schema_validation_config",
    },
    "aws:lambda/EventSourceMappingSelfManagedKafkaEventSourceConfigSchemaRegistryConfig:EventSourceMappingSelfManagedKafkaEventSourceConfigSchemaRegistryConfig": {
        "accessConfigs": "access_config",
        "schemaValidationConfigs": "schema_validation_config",
    },
    "aws:lambda/FunctionImageConfig:FunctionImageConfig": {"commands": "command", "entryPoints": "entry_point"},
    "aws:rds/instance:Instance": {
        "masterUserSecrets": "master_user_secret",
        "listenerEndpoints": "listener_endpoint",
    },
    "aws:rds/parameterGroup:ParameterGroup": {"parameters": "parameter"},
    "aws:rds/proxy:Proxy": {"auths": "auth"},
    "aws:secretsmanager/secret:Secret": {"replicas": "replica"},
    "aws:cloudwatch/EventTargetEcsTarget:EventTargetEcsTarget": {
        "capacityProviderStrategies": "capacity_provider_strategy",
        "orderedPlacementStrategies": "ordered_placement_strategy",
        "placementConstraints": "placement_constraint",
    },
    "aws:cloudwatch/EventTargetSagemakerPipelineTarget:EventTargetSagemakerPipelineTarget": {
        "pipelineParameterLists": "pipeline_parameter_list",
    },
}

# The outputs that name a resource: a value equal to one of these is a reference to it.
IDENTITY_KEYS = ("id", "arn", "name", "url")
IDENTITY_SUFFIXES = ("Arn", "Url", "Endpoint", "Id", "Name")
NOT_IDENTITY = {"ownerId", "region", "vpcId", "subnetId", "availabilityZoneId", "hostedZoneId", "keyId"}


def snake(name):
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def tf_name(token, prop):
    return RENAMES.get(token, {}).get(prop) or snake(prop)


def tf_identifier(logical, prefix):
    name = logical[len(prefix):] if prefix and logical.startswith(prefix) else logical
    name = re.sub(r"[^A-Za-z0-9_-]", "_", name)
    return name if re.match(r"[A-Za-z_]", name) else "_" + name


class Schema:
    def __init__(self, path):
        with open(path) as f:
            schema = json.load(f)
        self.resources = schema["resources"]
        self.types = schema["types"]

    def resource_properties(self, token):
        spec = self.resources.get(token, {})
        props = dict(spec.get("inputProperties", {}))
        props.update(spec.get("properties", {}))
        return props

    def object_type(self, spec):
        ref = (spec or {}).get("$ref", "")
        if ref.startswith("#/types/"):
            token = ref[len("#/types/"):]
            if token in self.types and self.types[token].get("type", "object") == "object":
                return token
        return None


class Mapper:
    """Maps one resource's properties, recording what Terraform would not know yet."""

    def __init__(self, schema):
        self.schema = schema

    def convert(self, value, spec, atoms):
        """(value, after_unknown, sensitive, expression) of one property value: Terraform's.

        atoms: {identity value: [references]} of the resources the property depends on.
        """
        if isinstance(value, dict) and SIG in value:
            if value[SIG] == SECRET_SIG:
                # Never the plaintext, even from `pulumi stack export --show-secrets`.
                return SENSITIVE, False, True, {"constant_value": SENSITIVE}
            if value[SIG] in (ARCHIVE_SIG, ASSET_SIG):
                path_value = value.get("path") or value.get("uri") or value.get("text")
                return path_value, False, False, {"constant_value": path_value}
        if value == UNKNOWN:
            return None, True, False, {}
        if isinstance(value, str):
            if value in atoms:
                return None, True, False, {"references": list(atoms[value])}
            inside = [atom for atom in atoms if len(atom) >= 8 and atom in value]
            # The longest names only (an ARN, not the name within it).
            inside = [atom for atom in inside if not any(atom != other and atom in other for other in inside)]
            contained = [ref for atom in inside for ref in atoms[atom]]
            if contained:
                # A template (a policy, a URL with a path): known, and its expression refers.
                return value, False, False, {"references": dedupe(contained)}
            return value, False, False, {"constant_value": value}
        object_token = self.schema.object_type(spec)
        if object_token is not None:
            # A Terraform block: a list of one (or, for a list of objects, of each).
            if value is None:
                return [], False, False, {}
            v, unknown, sensitive, expr = self.convert_object(value, object_token, atoms)
            return [v], [unknown] if unknown else False, [sensitive] if sensitive else False, [expr]
        if isinstance(value, list):
            item_spec = (spec or {}).get("items", {})
            if self.schema.object_type(item_spec) is not None:
                token = self.schema.object_type(item_spec)
                out = [self.convert_object(item, token, atoms) for item in value]
                return (
                    [o[0] for o in out],
                    [o[1] for o in out] if any(o[1] for o in out) else False,
                    [o[2] for o in out] if any(o[2] for o in out) else False,
                    [o[3] for o in out],
                )
            out = [self.convert(item, item_spec, atoms) for item in value]
            refs = dedupe([r for o in out for r in o[3].get("references", [])])
            expr = {"references": refs} if refs else {"constant_value": [o[0] for o in out]}
            return (
                [o[0] for o in out],
                [o[1] for o in out] if any(o[1] for o in out) else False,
                [o[2] for o in out] if any(o[2] for o in out) else False,
                expr,
            )
        if isinstance(value, dict):
            # A map: keys as they are.
            item_spec = (spec or {}).get("additionalProperties", {})
            out = {k: self.convert(v, item_spec, atoms) for k, v in value.items()}
            refs = dedupe([r for o in out.values() for r in o[3].get("references", [])])
            expr = {"references": refs} if refs else {"constant_value": {k: o[0] for k, o in out.items()}}
            unknown = {k: o[1] for k, o in out.items() if o[1]}
            sensitive = {k: o[2] for k, o in out.items() if o[2]}
            return {k: o[0] for k, o in out.items()}, unknown or False, sensitive or False, expr
        return value, False, False, {"constant_value": value}

    def convert_object(self, value, token, atoms):
        """An object of the schema (a resource's properties, a block): Terraform's names."""
        if token in self.schema.types:
            props = self.schema.types[token].get("properties", {})
        else:
            props = self.schema.resource_properties(token)
        values, unknown, sensitive, expressions = {}, {}, {}, {}
        for key, item in (value or {}).items():
            name = tf_name(token, key)
            v, u, s, e = self.convert(item, props.get(key), atoms)
            values[name] = v
            if u:
                unknown[name] = u
            if s:
                sensitive[name] = s
            if e:
                expressions[name] = e
        return values, unknown, sensitive, expressions


def dedupe(items):
    seen, out = set(), []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


def identities_of(token, address, outputs, resource_id):
    """{value: (reference, rank)} of a resource's identity outputs (rank: lower names it better)."""
    found = {}
    candidates = [("id", resource_id)] + sorted(outputs.items())
    for key, value in candidates:
        if not isinstance(value, str) or not value or key in NOT_IDENTITY:
            continue
        if key in IDENTITY_KEYS:
            rank = IDENTITY_KEYS.index(key)
        elif key.endswith(IDENTITY_SUFFIXES):
            rank = len(IDENTITY_KEYS)
        else:
            continue
        attribute = tf_name(token, key)
        if value not in found or rank < found[value][1]:
            found[value] = (f"{address}.{attribute}", rank)
    return found


def plan(state, schema, prefix=""):
    resources = [
        r
        for r in state["deployment"]["resources"]
        if r.get("custom") and not r["type"].startswith("pulumi:") and not r.get("delete")
    ]
    unknown_types = sorted({r["type"] for r in resources if r["type"] not in TF_TYPES})
    if unknown_types:
        sys.exit(
            "checkov_plan.py: no Terraform type for "
            + ", ".join(unknown_types)
            + ": add it to TF_TYPES from pulumi-aws's bridge-metadata.json (renames.resources)"
        )
    address_of, identity_of = {}, {}
    for r in resources:
        logical = r["urn"].rsplit("::", 1)[-1]
        address = f"{TF_TYPES[r['type']]}.{tf_identifier(logical, prefix)}"
        if address in address_of.values():
            sys.exit(f"checkov_plan.py: two resources at {address}")
        address_of[r["urn"]] = address
        identity_of[r["urn"]] = identities_of(r["type"], address, r.get("outputs", {}), r.get("id", ""))

    mapper = Mapper(schema)
    planned, changes, configured = [], [], []
    region = None
    for r in resources:
        token = r["type"]
        address = address_of[r["urn"]]
        tf_type, name = address.split(".", 1)
        if region is None:
            region = (r.get("outputs") or {}).get("region")
        property_deps = r.get("propertyDependencies") or {}
        props = schema.resource_properties(token)
        values, after_unknown, sensitive, expressions = {}, {}, {}, {}
        used = set()
        outputs = dict(r.get("outputs") or {})
        inputs = r.get("inputs") or {}
        for key in sorted(set(outputs) | set(inputs)):
            value = outputs.get(key, inputs.get(key))
            deps = [u for u in property_deps.get(key, []) if u in identity_of]
            atoms = {}
            for urn in deps:
                for atom, (ref, rank) in identity_of[urn].items():
                    if atom not in atoms or rank < atoms[atom][1]:
                        atoms[atom] = (ref, rank, urn)
            refs = {atom: [ref, ref.rsplit(".", 1)[0]] for atom, (ref, _, _) in atoms.items()}
            attribute = tf_name(token, key)
            v, u, s, e = mapper.convert(value, props.get(key), refs)
            values[attribute] = v
            if u:
                after_unknown[attribute] = u
            if s:
                sensitive[attribute] = s
            if key in inputs and e:
                expressions[attribute] = e
            text = json.dumps(e)
            used.update(urn for atom, (ref, _, urn) in atoms.items() if f'"{ref}"' in text)
        values["id"] = r.get("id")
        ordering = [address_of[u] for u in r.get("dependencies", []) if u in address_of and u not in used]
        planned.append(
            {
                "address": address,
                "mode": "managed",
                "type": tf_type,
                "name": name,
                "provider_name": "registry.terraform.io/hashicorp/aws",
                "schema_version": 0,
                "values": values,
                "sensitive_values": sensitive,
            }
        )
        changes.append(
            {
                "address": address,
                "mode": "managed",
                "type": tf_type,
                "name": name,
                "provider_name": "registry.terraform.io/hashicorp/aws",
                "change": {
                    "actions": ["create"],
                    "before": None,
                    "after": copy.deepcopy(values),
                    "after_unknown": after_unknown,
                    "before_sensitive": False,
                    "after_sensitive": sensitive,
                },
            }
        )
        conf = {
            "address": address,
            "mode": "managed",
            "type": tf_type,
            "name": name,
            "provider_config_key": "aws",
            "expressions": expressions,
            "schema_version": 0,
        }
        if ordering:
            conf["depends_on"] = dedupe(ordering)
        configured.append(conf)

    return {
        "format_version": "1.2",
        "terraform_version": "1.9.8",
        "planned_values": {"root_module": {"resources": planned}},
        "resource_changes": changes,
        "configuration": {
            "provider_config": {
                "aws": {
                    "name": "aws",
                    "full_name": "registry.terraform.io/hashicorp/aws",
                    "expressions": {"region": {"constant_value": region}} if region else {},
                }
            },
            "root_module": {"resources": configured},
        },
    }


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("state", help="pulumi stack export (JSON); - for stdin")
    parser.add_argument("plan", help="where to write the plan (JSON); - for stdout")
    parser.add_argument("--strip-prefix", default="", help="taken off each logical name in addresses")
    parser.add_argument("--schema", default=os.path.join(root, "infra/schema/aws-subset.json"))
    args = parser.parse_args()
    if args.state == "-":
        state = json.load(sys.stdin)
    else:
        with open(args.state) as f:
            state = json.load(f)
    result = plan(state, Schema(args.schema), args.strip_prefix)
    text = json.dumps(result, indent=1, sort_keys=True) + "\n"
    if args.plan == "-":
        sys.stdout.write(text)
    else:
        with open(args.plan, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
