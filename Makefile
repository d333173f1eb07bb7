# The same commands locally and in CI. `make test` is what .ci/run runs.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
CARGO ?= cargo

.PHONY: demo serve test venv dynalite fmt lint template unit bench

## The whole pipeline on the sample events, on a local moto and EverBright stand-in.
demo: venv
	$(CARGO) run --quiet -p everbright-sync -- demo

## The same local stack kept running, to send events by hand (Ctrl-C stops it).
serve: venv
	$(CARGO) run --quiet -p everbright-sync -- serve

## Everything CI checks: formatting, lints, every test (moto and dynalite are installed here and
## started by the tests).
test: venv dynalite fmt lint template unit

## The pinned Python tools (moto's server) in .venv.
venv:
	scripts/venv.sh

## dynalite, the tests' strict DynamoDB (pinned in scripts/dynalite/), in .tools/dynalite.
dynalite:
	scripts/dynalite.sh

fmt:
	$(CARGO) fmt --all -- --check

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## The SAM template: cfn-lint and sam validate --lint (both pinned in .venv; offline, no credentials).
template:
	.venv/bin/cfn-lint infra/template.yaml
	SAM_CLI_TELEMETRY=0 .venv/bin/sam validate --lint --region us-east-1

unit:
	$(CARGO) test --workspace

## Every performance figure, in one table at the end (release builds; see README "Performance").
bench: venv
	$(CARGO) build --release -p webhook-receiver -p contract-fetcher
	$(CARGO) bench -p shared --benches
	$(CARGO) bench -p webhook-receiver --benches
	$(CARGO) bench -p integration-tests --benches
	scripts/bloat.sh
	$(CARGO) run --quiet --release -p integration-tests --bin bench-report
