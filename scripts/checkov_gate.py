#!/usr/bin/env python3
"""checkov on each stage's Pulumi state, held to the accepted findings.

    .local/venv-checkov/bin/python scripts/checkov_gate.py [--accepted FILE] [--out DIR] \
        STAGE=STATE.json [STAGE=STATE.json ...]

For each stage: the state (`pulumi stack export`) becomes a Terraform plan
(scripts/checkov_plan.py, addresses without the `donut-states-<stage>-` prefix), which checkov
scans (`checkov -f plan.json --framework terraform_plan -o json --skip-download`, no update
check: nothing leaves the machine). Its failed checks, (check id, resource address), are held
to FILE (infra/checkov-accepted.yaml): a failed check FILE does not accept for that stage is a
new finding, and an entry of FILE for that stage that no longer fails is stale; either makes
the exit status 1. Plans, checkov's results and a report are written under DIR.

Runs in checkov's venv (PyYAML comes with checkov). Exit status 2: checkov or FILE unusable.
"""

import argparse
import json
import os
import subprocess
import sys
from collections import defaultdict

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checkov_plan  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROJECT = "donut-states"


def fail(message):
    print(f"checkov gate: {message}", file=sys.stderr)
    sys.exit(2)


def load_accepted(path, stages):
    """{(stage, check, resource): reason} from FILE; every entry checked for its shape."""
    with open(path) as f:
        document = yaml.safe_load(f) or {}
    if not isinstance(document, dict):
        fail(f"{path}: a mapping of check ids to lists of entries expected")
    accepted = {}
    for check, entries in document.items():
        if not isinstance(entries, list) or not entries:
            fail(f"{path}: {check}: a list of entries expected")
        for entry in entries:
            where = f"{path}: {check}: {entry!r}"
            if not isinstance(entry, dict) or set(entry) - {"resource", "stages", "reason"}:
                fail(f"{where}: an entry has resource, stages, reason (and nothing else)")
            resource, entry_stages, reason = entry.get("resource"), entry.get("stages"), entry.get("reason")
            if not isinstance(resource, str) or "." not in resource:
                fail(f"{where}: resource is a plan address, <terraform type>.<name>")
            if not isinstance(entry_stages, list) or not entry_stages or not all(isinstance(s, str) for s in entry_stages):
                fail(f"{where}: stages is a list of stage names ([dev, prod])")
            if not isinstance(reason, str) or len(reason.strip()) < 10:
                fail(f"{where}: every accepted finding says why (reason)")
            for stage in entry_stages:
                key = (stage, str(check), resource)
                if key in accepted:
                    fail(f"{where}: accepted twice for {stage}")
                accepted[key] = reason.strip()
    return {k: v for k, v in accepted.items() if k[0] in stages}


def run_checkov(checkov, plan_path, out_dir):
    env = dict(os.environ, CKV_SKIP_PACKAGE_UPDATE_CHECK="true", BC_SKIP_MAPPING="TRUE", LOG_LEVEL="WARNING")
    env.pop("BC_API_KEY", None)
    command = [
        checkov, "-f", plan_path, "--framework", "terraform_plan",
        "-o", "json", "--skip-download", "--compact",
    ]
    run = subprocess.run(command, cwd=out_dir, env=env, capture_output=True, text=True)
    with open(os.path.join(out_dir, "checkov.stderr.txt"), "w") as f:
        f.write(run.stderr)
    # checkov exits 1 when a check fails, 0 when none does; anything else is checkov failing.
    if run.returncode not in (0, 1):
        fail(f"{' '.join(command)} exited {run.returncode}:\n{run.stderr[-3000:]}")
    try:
        results = json.loads(run.stdout)
    except json.JSONDecodeError:
        fail(f"{' '.join(command)} printed no JSON:\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}")
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    if isinstance(results, list):
        results = next((r for r in results if r.get("check_type") == "terraform_plan"), None)
    if not results or results.get("check_type") != "terraform_plan":
        fail(f"checkov reported no terraform_plan results for {plan_path}")
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("states", nargs="+", metavar="STAGE=STATE.json")
    parser.add_argument("--accepted", default=os.path.join(ROOT, "infra/checkov-accepted.yaml"))
    parser.add_argument("--out", default=os.path.join(ROOT, "target/checkov"))
    parser.add_argument("--checkov", default=os.path.join(os.path.dirname(sys.executable), "checkov"))
    parser.add_argument("--schema", default=os.path.join(ROOT, "infra/schema/aws-subset.json"))
    args = parser.parse_args()

    stages = {}
    for item in args.states:
        stage, sep, path = item.partition("=")
        if not sep or not stage or not path:
            fail(f"{item}: STAGE=STATE.json expected")
        stages[stage] = path
    accepted = load_accepted(args.accepted, set(stages))
    schema = checkov_plan.Schema(args.schema)
    version = subprocess.run([args.checkov, "--version"], capture_output=True, text=True).stdout.strip()

    lines, new, stale, findings = [], [], [], {}
    lines.append(f"checkov {version} (terraform_plan) on the Pulumi state, held to {os.path.relpath(args.accepted, ROOT)}:")
    for stage, state_path in stages.items():
        out_dir = os.path.abspath(os.path.join(args.out, stage))
        os.makedirs(out_dir, exist_ok=True)
        with open(state_path) as f:
            state = json.load(f)
        plan = checkov_plan.plan(state, schema, f"{PROJECT}-{stage}-")
        plan_path = os.path.join(out_dir, "plan.json")
        with open(plan_path, "w") as f:
            json.dump(plan, f, indent=1, sort_keys=True)
        planned = len(plan["planned_values"]["root_module"]["resources"])
        results = run_checkov(args.checkov, plan_path, out_dir)
        summary = results["summary"]
        if summary.get("parsing_errors"):
            fail(f"{stage}: checkov could not parse {plan_path}: {results['results'].get('parsing_errors')}")
        if summary.get("resource_count") != planned:
            fail(f"{stage}: checkov saw {summary.get('resource_count')} resources of the plan's {planned}")
        failed = {}
        for check in results["results"]["failed_checks"]:
            failed[(stage, check["check_id"], check["resource"])] = check["check_name"]
        findings[stage] = [
            {"check": c, "resource": r, "name": n, "accepted": (s, c, r) in accepted}
            for (s, c, r), n in sorted(failed.items())
        ]
        new += [(key, failed[key]) for key in sorted(failed) if key not in accepted]
        stale += [key for key in sorted(accepted) if key[0] == stage and key not in failed]
        lines.append(
            f"  {stage}: {planned} resources, {summary['passed']} checks passed, {summary['failed']} failed"
            f" ({sum(1 for k in failed if k in accepted)} accepted)"
        )

    by_check = defaultdict(list)
    for stage, items in findings.items():
        for item in items:
            by_check[(item["check"], item["name"])].append(f"{stage} {item['resource']}")
    lines.append("failed checks, by check:")
    for (check, name), where in sorted(by_check.items()):
        lines.append(f"  {check} {name}")
        lines += [f"      {w}" for w in where]
    if new:
        lines.append(f"NEW: {len(new)} failed check(s) not accepted in {os.path.relpath(args.accepted, ROOT)}:")
        for (stage, check, resource), name in new:
            lines.append(f"  {stage} {check} {resource}: {name}")
        lines.append("fix the infrastructure, or accept each with its reason:")
        for (stage, check, resource), name in new:
            lines.append(f"  {check}:  # {name}")
            lines.append(f"    - resource: {resource}")
            lines.append(f"      stages: [{stage}]")
            lines.append("      reason: <why this is right here>")
    if stale:
        lines.append(f"STALE: {len(stale)} accepted finding(s) that no longer fail; remove them from the list:")
        for stage, check, resource in stale:
            lines.append(f"  {stage} {check} {resource}")
    if not new and not stale:
        lines.append("every failed check is accepted, and every accepted one still fails")
    report = "\n".join(lines) + "\n"
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "report.txt"), "w") as f:
        f.write(report)
    with open(os.path.join(args.out, "findings.json"), "w") as f:
        json.dump(findings, f, indent=1)
    sys.stdout.write(report)
    sys.exit(1 if new or stale else 0)


if __name__ == "__main__":
    main()
