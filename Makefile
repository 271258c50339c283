# Donut-States — the commands a newcomer needs. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help up down test stress engine deploy smoke contract metrics bench load lambdas infra schema schema-check inbox dlq lint fmt deny

help: ## this list
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

up: ## the whole system on 127.0.0.1 (API :8080, factory :8090), foreground; Ctrl-C stops it
	@scripts/up.sh

down: ## stop anything a crashed `make up` left behind
	@scripts/down.sh

test: ## install what is missing (or say what and how), start test MariaDB + LocalStack, run every test
	@scripts/test.sh

stress: ## the outbox relays' race, 200 rounds (DONUT_RELAY_ROUNDS), outside `make test`
	@scripts/stress.sh

engine: ## the Pulumi CLI from Go modules + the test stand-ins (language host, AWS provider) → .local/bin/
	@scripts/engine.sh

deploy: ## zips + program, then `pulumi up` of STAGE (default dev) with the Pulumi CLI on your PATH
	@scripts/deploy.sh $(or $(STAGE),dev)

smoke: ## after a deploy, STAGE=dev|prod (its stack outputs; prod: SMOKE_FLAGS=--real-shop); without STAGE, a running `make up`
	@cargo run -q -p donut-cli -- $(if $(STAGE),--aws --stage $(STAGE)) smoke $(SMOKE_FLAGS)

bench: ## benchmarks beside their baselines → bench/results/<date>.md (+ latency SVG)
	@scripts/bench.sh

load: ## a 10 s rush at 100/s against a running `make up` (see donut-load --help)
	@cargo run -q --release -p donut-load -- rush --rate 100 --duration 10s --threshold 'p99<100ms' --threshold 'errors<1%'

lambdas: ## release bootstrap.zip per Lambda (arm64, cargo-lambda) into target/lambda/
	@scripts/lambdas.sh

contract: ## schemathesis fuzzes the local stack from openapi.json (services must be up)
	@scripts/contract.sh

infra: ## the Pulumi program's binary (Pulumi.yaml runs target/release/donut-infra)
	cargo build --release -p donut-infra --bin donut-infra

schema: ## regenerate infra/schema/aws-subset.json from the pinned pulumi-aws wheel
	@scripts/schema.sh

schema-check: ## prove the committed schema is what the pinned wheel yields
	@scripts/schema.sh --check

inbox: ## e-mails ops received from the local stack (alarms)
	@cargo run -q -p donut-cli -- ops inbox

metrics: ## one screen of the metrics the local stack logged
	@cargo run -q -p donut-cli -- ops metrics

dlq: ## what sits in the local dead-letter queue
	@cargo run -q -p donut-cli -- dlq list

deny: ## cargo deny (deny.toml): advisories, licences, bans, sources; CI fails on a finding
	@scripts/deny.sh

lint: ## clippy (warnings are errors) and rustfmt check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo fmt --check

fmt: ## format the code
	cargo fmt
