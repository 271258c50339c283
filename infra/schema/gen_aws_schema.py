#!/usr/bin/env python3
"""Writes the Pulumi schema subset of the AWS provider that the infra program uses.

No AWS schema JSON ships in any registry package, and `pulumi_gestalt_build::generate` needs
the Pulumi CLI to fetch one. The pulumi-aws Python wheel, though, carries every resource's
type token, wire names and types. This script reads the pinned wheel with `ast` (nothing of
it is imported or executed) and writes a Pulumi package schema holding only the resources
listed in RESOURCES, plus the object types they reach.

    python3 infra/schema/gen_aws_schema.py WHEEL OUT.json

`scripts/schema.sh` downloads the pinned wheel from PyPI and runs this; `make schema-check`
proves the committed schema is what the wheel yields.
"""

import ast
import os
import json
import re
import sys
import zipfile

# Python module directory -> resource files used by the infra program.
RESOURCES = {
    "apigatewayv2": ["api", "authorizer", "integration", "route", "stage"],
    "cloudwatch": ["dashboard", "event_rule", "event_target", "log_group", "metric_alarm", "query_definition"],
    "ec2": [
        "default_security_group",
        "eip",
        "flow_log",
        "internet_gateway",
        "nat_gateway",
        "route_table",
        "route_table_association",
        "security_group",
        "subnet",
        "vpc",
        "vpc_endpoint",
    ],
    "iam": ["policy", "role", "role_policy", "role_policy_attachment"],
    "kms": ["key"],
    "lambda_": ["alias", "event_source_mapping", "function", "function_event_invoke_config", "function_url", "invocation", "permission"],
    "rds": ["instance", "parameter_group", "proxy", "proxy_default_target_group", "proxy_target", "subnet_group"],
    "secretsmanager": ["secret", "secret_policy", "secret_version"],
    "sns": ["topic", "topic_subscription"],
    "sqs": ["queue", "queue_policy"],
}

PRIMITIVES = {"str": "string", "int": "integer", "bool": "boolean", "float": "number"}

# gestalt 0.0.12 maps pulumi.json#/Archive and #/Asset to a Rust String, which cannot carry
# an archive. An archive travels as a map whose special key marks it (FileArchive:
# {"4dabf18193072939515e22adb298388d": "0def7320c3a5731c473e5ecbe6d01bc7", "path": …}),
# so we declare it as a string map; the infra program builds that map.
ARCHIVE = {"type": "object", "additionalProperties": {"type": "string"}}


class Module:
    """One provider module (sqs, lambda, …) as found in the wheel."""

    def __init__(self, wheel, directory):
        self.directory = directory
        self.wheel = wheel
        self.inputs = self._classes("_inputs.py")
        self.outputs = self._classes("outputs.py")
        self.enums = self._enums()
        self.token_module = None

    def _enums(self):
        """Enum class name -> (type token, values), from `_enums.py`."""
        enums = {}
        for name, cls in self._classes("_enums.py").items():
            token = type_token(cls)
            values = [
                node.value.value
                for node in cls.body
                if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
            ]
            if token and values:
                enums[name] = (token, values)
        return enums

    def _source(self, name):
        path = f"pulumi_aws/{self.directory}/{name}"
        try:
            return self.wheel.read(path).decode()
        except KeyError:
            return ""

    def _classes(self, name):
        tree = ast.parse(self._source(name))
        return {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}

    def resource(self, name):
        tree = ast.parse(self._source(f"{name}.py"))
        classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
        for cls in classes.values():
            token = type_token(cls)
            if token:
                return token, cls, classes.get(f"{cls.name}Args")
        raise SystemExit(f"no resource class in {self.directory}/{name}.py")


def type_token(cls):
    for decorator in cls.decorator_list:
        if (
            isinstance(decorator, ast.Call)
            and ast.unparse(decorator.func) == "pulumi.type_token"
            and decorator.args
        ):
            return decorator.args[0].value
    return None


def getters(cls):
    """(wire name, return annotation) of every @pulumi.getter property of `cls`."""
    out = []
    for node in cls.body:
        if not isinstance(node, ast.FunctionDef) or node.returns is None:
            continue
        wire = None
        for decorator in node.decorator_list:
            text = ast.unparse(decorator)
            if text == "pulumi.getter":
                wire = node.name
            elif text.startswith("pulumi.getter("):
                wire = next((k.value.value for k in decorator.keywords if k.arg == "name"), node.name)
        if wire is not None:
            out.append((wire, node.returns))
    return out


def required_params(cls):
    """Keyword parameters of `cls.__init__` without a default."""
    init = next((n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
    if init is None:
        return set()
    args = init.args
    required = {a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is None}
    return {a for a in required if a != "__self__"}


def snake_to_wire(cls):
    """Python name -> wire name, from the getters."""
    mapping = {}
    for node in cls.body:
        if isinstance(node, ast.FunctionDef):
            for decorator in node.decorator_list:
                text = ast.unparse(decorator)
                if text == "pulumi.getter":
                    mapping[node.name] = node.name
                elif text.startswith("pulumi.getter("):
                    mapping[node.name] = next(
                        (k.value.value for k in decorator.keywords if k.arg == "name"), node.name
                    )
    return mapping


class Builder:
    def __init__(self, wheel):
        self.wheel = wheel
        self.modules = {}
        self.types = {}
        # Enums live beside the schema (aws-enums.json), not in it: the bindings stay strings.
        self.enums = {}
        self.enum_properties = {}

    def note_enum(self, owner, wire, annotation, module):
        """Records that `owner`'s property `wire` takes one of an enum's values."""
        text = ast.unparse(annotation)
        m = re.search(r"Union\[_builtins\.str, '(\w+)'\]", text)
        if m and m.group(1) in module.enums:
            token, values = module.enums[m.group(1)]
            self.enums[token] = values
            self.enum_properties.setdefault(owner, {})[wire] = token

    def module(self, directory):
        if directory not in self.modules:
            self.modules[directory] = Module(self.wheel, directory)
        return self.modules[directory]

    def schema_type(self, node, module, optional_ok=True):
        """A property schema for an annotation; returns (schema, optional)."""
        text = ast.unparse(node) if not isinstance(node, str) else node
        return self._parse(text.strip(), module)

    def _parse(self, text, module):
        optional = False
        # Peel wrappers that carry no shape.
        while True:
            m = re.fullmatch(r"(?:pulumi\.(?:Input|Output)|Optional)\[(.*)\]", text, re.S)
            if not m:
                break
            if text.startswith("Optional"):
                optional = True
            text = m.group(1).strip()
        if text.startswith("Union["):
            first = split_args(text[len("Union["):-1])[0]
            schema, inner_optional = self._parse(first, module)
            return schema, optional or inner_optional
        m = re.fullmatch(r"Sequence\[(.*)\]", text, re.S)
        if m:
            items, _ = self._parse(m.group(1), module)
            return {"type": "array", "items": items}, optional
        m = re.fullmatch(r"Mapping\[(.*)\]", text, re.S)
        if m:
            _, value = split_args(m.group(1))
            values, _ = self._parse(value, module)
            return {"type": "object", "additionalProperties": values}, optional
        base = text.replace("_builtins.", "")
        if base in PRIMITIVES:
            return {"type": PRIMITIVES[base]}, optional
        if base in ("pulumi.Archive", "pulumi.Asset", "pulumi.AssetOrArchive"):
            return dict(ARCHIVE), optional
        if base in ("Any", "typing.Any", "object"):
            return {"$ref": "pulumi.json#/Any"}, optional
        name = base.strip("'\"")
        return {"$ref": "#/types/" + self.object_type(name, module)}, optional

    def object_type(self, name, module):
        """Registers the object type `name` (an Args class or an output class) of `module`."""
        prefix, _, bare = name.rpartition(".")
        if prefix in ("_root_inputs", "_root_outputs", "outputs._root_outputs"):
            # Types of the provider's root module are not used by these resources' fields
            # we read; treat them as opaque.
            raise SystemExit(f"root type {name} not supported")
        bare = bare[: -len("Args")] if bare.endswith("Args") else bare
        token = f"aws:{module.token_module}/{bare}:{bare}"
        if token in self.types:
            return token
        cls = module.inputs.get(f"{bare}Args") or module.outputs.get(bare)
        if cls is None:
            raise SystemExit(f"type {name} not found in {module.directory}")
        self.types[token] = None  # reserve: types may refer to themselves
        properties, required = {}, []
        needed = required_params(cls)
        wires = snake_to_wire(cls)
        for wire, annotation in getters(cls):
            schema, optional = self.schema_type(annotation, module)
            properties[wire] = schema
            self.note_enum(token, wire, annotation, module)
        for python_name in sorted(needed):
            if python_name in wires:
                required.append(wires[python_name])
        self.types[token] = {"type": "object", "properties": properties, "required": sorted(required)}
        return token

    def resource(self, directory, name):
        module = self.module(directory)
        token, cls, args = module.resource(name)
        module.token_module = token.split(":")[1].split("/")[0]
        outputs, required_outputs = {}, []
        for wire, annotation in getters(cls):
            schema, optional = self.schema_type(annotation, module)
            outputs[wire] = schema
            if not optional:
                required_outputs.append(wire)
        inputs, required_inputs = {}, []
        if args is not None:
            wires = snake_to_wire(args)
            for wire, annotation in getters(args):
                schema, _ = self.schema_type(annotation, module)
                inputs[wire] = schema
                self.note_enum(token, wire, annotation, module)
            required_inputs = sorted(wires[p] for p in required_params(args) if p in wires)
        return token, {
            "properties": outputs,
            "required": sorted(required_outputs),
            "inputProperties": inputs,
            "requiredInputs": required_inputs,
        }


def split_args(text):
    """Splits `a, b[c, d], e` at top-level commas."""
    parts, depth, current = [], 0, ""
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += ch
    parts.append(current.strip())
    return parts


def main(wheel_path, out_path):
    with zipfile.ZipFile(wheel_path) as wheel:
        version = json.loads(wheel.read("pulumi_aws/pulumi-plugin.json"))["version"]
        builder = Builder(wheel)
        resources = {}
        for directory, names in sorted(RESOURCES.items()):
            for name in names:
                token, resource = builder.resource(directory, name)
                resources[token] = resource
    schema = {
        "name": "aws",
        "displayName": "AWS (subset for donut-states)",
        "version": version,
        "description": f"Generated by infra/schema/gen_aws_schema.py from pulumi-aws {version} "
        "(PyPI wheel); only the resources the infra program uses.",
        "resources": dict(sorted(resources.items())),
        "types": dict(sorted(builder.types.items())),
    }
    with open(out_path, "w") as f:
        json.dump(schema, f, indent=1, sort_keys=False)
        f.write("\n")
    enums = {
        "description": f"The enums of pulumi-aws {version} that properties of {os.path.basename(out_path)} take "
        "(by resource or type token, then property), for the stand-in provider's Check. Generated with it.",
        "enums": dict(sorted(builder.enums.items())),
        "properties": {k: dict(sorted(v.items())) for k, v in sorted(builder.enum_properties.items())},
    }
    with open(enums_path(out_path), "w") as f:
        json.dump(enums, f, indent=1)
        f.write("\n")
    print(f"{out_path}: pulumi-aws {version}, {len(resources)} resources, {len(builder.types)} types, "
          f"{len(builder.enums)} enums")


def enums_path(schema_path):
    """aws-subset.json -> aws-enums.json, beside it."""
    return os.path.join(os.path.dirname(schema_path) or ".", "aws-enums.json")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
