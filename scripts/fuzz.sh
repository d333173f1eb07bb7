#!/usr/bin/env bash
# The fuzz targets in fuzz/ (payload, sigv4, receiver, everbright, stream) with cargo fuzz (pinned, installed in .tools
# on first use), on the project's pinned stable toolchain: cargo fuzz passes rustc flags that are
# nightly-only, which RUSTC_BOOTSTRAP=1 allows. AddressSanitizer is on; any single allocation over
# 256 MB is a failure (so is unbounded allocation), and the process may hold 1 GB: libFuzzer keeps
# the whole corpus in memory, and a corpus grown over many runs passed 256 MB on its own.
#
#   scripts/fuzz.sh [seconds per target (default 60)] [target ...]
#
# New inputs go to fuzz/corpus/<target> (not committed); the sample payloads seed the payload and
# receiver targets. A crash leaves its input in fuzz/artifacts/<target>/ and fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/cargo-tool.sh cargo-fuzz 0.13.1
export PATH="$PWD/.tools/bin:$PATH"
seconds=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(payload sigv4 receiver everbright stream)
fi
export RUSTC_BOOTSTRAP=1
cargo fuzz build --fuzz-dir fuzz -O
for target in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$target"
  seeds=()
  if [ "$target" = payload ]; then
    seeds=(events/payloads)
  fi
  echo "== $target: $seconds s"
  mkdir -p fuzz/logs
  set +e
  cargo fuzz run --fuzz-dir fuzz -O "$target" "fuzz/corpus/$target" "${seeds[@]}" -- \
    -max_total_time="$seconds" -malloc_limit_mb=256 -rss_limit_mb=1024 -max_len=65536 -print_final_stats=1 >"fuzz/logs/$target.log" 2>&1
  status=$?
  set -e
  grep -E "^(Done [0-9]+ runs|stat::number_of_executed_units|stat::peak_rss_mb)" "fuzz/logs/$target.log" || true
  if [ "$status" -ne 0 ]; then
    grep -E "panicked|ERROR|SUMMARY|Test unit written" "fuzz/logs/$target.log" >&2 || true
    echo "$target failed: see fuzz/logs/$target.log and the input in fuzz/artifacts/$target/" >&2
    exit 1
  fi
done
