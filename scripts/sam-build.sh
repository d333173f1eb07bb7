#!/usr/bin/env bash
# Builds the functions exactly as a deployment does (`sam build`, BuildMethod rust-cargolambda,
# which runs `cargo lambda build --release --bin <function>` at the workspace root), into
# .aws-sam/build/<function>/bootstrap, where bench-report measures them.
# Needs scripts/venv.sh first; installs cargo-lambda (pinned) into .venv on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
req=scripts/requirements-package.txt
stamp=.venv/.package-$(sha256sum "$req" | cut -c1-16)
if [ ! -f "$stamp" ]; then
  .venv/bin/pip install --quiet --disable-pip-version-check -r "$req"
  touch "$stamp"
fi
# cargo-lambda finds zig through `python3 -m ziglang`: the venv's python first.
export PATH="$PWD/.venv/bin:$PATH" SAM_CLI_TELEMETRY=0
# x86_64: the architecture this machine builds for without another Rust target (the template's
# default is arm64; pass --parameter-overrides Architecture=arm64 where that target is installed).
sam build --region us-east-1 --parameter-overrides Architecture=x86_64 "$@"
