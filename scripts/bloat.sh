#!/usr/bin/env bash
# Which crates weigh most in each function's bootstrap: `cargo bloat --crates` (pinned, installed
# in .tools on first use) on the `bloat` profile, which is the release profile with symbols kept.
# The lists go to target/bench/bloat-<function>.txt, where `bench-report` prints them from.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/cargo-tool.sh cargo-bloat 0.12.1
export PATH="$PWD/.tools/bin:$PATH"
out=${CARGO_TARGET_DIR:-target}/bench
mkdir -p "$out"
for function in webhook-receiver contract-fetcher event-publisher sweeper; do
  cargo bloat --profile bloat -p "$function" --bin "$function" --crates -n 15 --message-format table \
    >"$out/bloat-$function.txt"
done
