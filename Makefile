# The same commands locally and in CI. `make test` is what .ci/run runs.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
CARGO ?= cargo
CARGO_DENY_VERSION := 0.20.2

.PHONY: demo serve test venv venv-local dynalite fmt lint fuzz-check deny layers audit template unit bench

## The whole pipeline on the sample events, on a local moto and EverBright stand-in.
demo: venv-local
	$(CARGO) run --quiet -p local-stack -- demo

## The same local stack kept running, to send events by hand (Ctrl-C stops it).
serve: venv-local
	$(CARGO) run --quiet -p local-stack -- serve

## Everything CI checks: formatting, lints, dependency policy, the template, every test (moto and
## dynalite are installed here and started by the tests).
test: venv dynalite fmt lint fuzz-check deny layers template unit

## The pinned Python tools in .venv: moto's server, cfn-lint, SAM CLI, awscurl.
venv:
	scripts/venv.sh

## moto's server alone, what the local runs need.
venv-local:
	scripts/venv.sh local

## dynalite, the tests' strict DynamoDB (pinned in scripts/dynalite/), in .tools/dynalite.
dynalite:
	scripts/dynalite.sh

fmt:
	$(CARGO) fmt --all -- --check

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## The fuzz targets (a workspace of their own) still compile against the crates; scripts/fuzz.sh
## runs them.
fuzz-check:
	$(CARGO) check --manifest-path fuzz/Cargo.toml --locked --bins

## The layers of shared/ (the domain does no I/O; dependencies point toward it) and no source file
## over 450 lines unless it says why.
layers:
	scripts/layers.sh

## deny.toml's bans, licenses and sources (cargo-deny, pinned, installed into .tools/; no network
## beyond crates.io).
deny:
	scripts/cargo-tool.sh cargo-deny $(CARGO_DENY_VERSION)
	PATH="$$PWD/.tools/bin:$$PATH" $(CARGO) deny --locked check bans licenses sources

## RustSec advisories: cargo-deny fetches the advisory database from GitHub, so this needs that
## network (not part of `make test`); see docs/supply-chain.md.
audit:
	scripts/cargo-tool.sh cargo-deny $(CARGO_DENY_VERSION)
	PATH="$$PWD/.tools/bin:$$PATH" $(CARGO) deny --locked check advisories

## The SAM template: cfn-lint (as written, and with each AuthMode) and sam validate --lint (both
## pinned in .venv; offline, no credentials). tests/template.rs checks what each AuthMode deploys.
template:
	.venv/bin/cfn-lint infra/template.yaml
	.venv/bin/cfn-lint infra/template.yaml --parameters AuthMode=iam EverBrightPrincipalArn=arn:aws:iam::123456789012:user/everbright
	.venv/bin/cfn-lint infra/template.yaml --parameters AuthMode=sigv4
	.venv/bin/cfn-lint infra/template.yaml --parameters AuthMode=shared-secret
	.venv/bin/cfn-lint infra/template.yaml --parameters AuthMode=shared-secret TenantsSecretArn=arn:aws:secretsmanager:us-east-1:123456789012:secret:tenants
	.venv/bin/cfn-lint infra/template.yaml --parameters AuthMode=iam TenantsSecretArn=arn:aws:secretsmanager:us-east-1:123456789012:secret:tenants
	.venv/bin/cfn-lint infra/template.yaml --parameters AuthMode=sigv4 EventBusName=installer-bus EventArchiveRetentionDays=0
	SAM_CLI_TELEMETRY=0 .venv/bin/sam validate --lint --region us-east-1

unit:
	$(CARGO) test --workspace

## Every performance figure, in one table at the end (release builds; see docs/performance.md).
bench: venv
	$(CARGO) build --release -p webhook-receiver -p contract-fetcher -p event-publisher -p sweeper
	$(CARGO) bench -p domain -p sigv4 --benches
	$(CARGO) bench -p webhook-receiver -p event-publisher --benches
	$(CARGO) bench -p integration-tests --benches
	scripts/bloat.sh
	scripts/sam-build.sh
	$(CARGO) run --quiet --release -p integration-tests --bin bench-report
