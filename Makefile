# The same commands locally and in CI. `make test` is what .ci/run runs.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
CARGO ?= cargo

.PHONY: test venv fmt lint unit bench

## Everything CI checks: formatting, lints, every test (moto is installed and started by the tests).
test: venv fmt lint unit

## The pinned Python tools (moto's server) in .venv.
venv:
	scripts/venv.sh

fmt:
	$(CARGO) fmt --all -- --check

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

unit:
	$(CARGO) test --workspace

## Criterion benchmarks (release build).
bench:
	$(CARGO) bench --workspace
