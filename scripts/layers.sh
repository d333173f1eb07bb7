#!/usr/bin/env bash
# The layers of shared/ as Cargo sees them, and the size of every source file. Part of `make test`.
#
# 1. The domain does no I/O: nothing that talks to AWS, speaks HTTP, does TLS or runs tasks is
#    among its dependencies (normal and build; dev-dependencies are the tests' business).
# 2. Dependencies point one way, toward the domain: each library crate may use only the crates
#    listed for it below.
# 3. No Rust source file is over 450 lines unless its first lines say why ("over 450 lines").
set -euo pipefail
cd "$(dirname "$0")/.."
status=0

forbidden='^(aws-[a-z-]+|aws_lambda_events|lambda_[a-z_]+|reqwest|hyper[a-z-]*|h2|rustls[a-z-]*|ring|tokio[a-z-]*|openssl[a-z-]*|mio|socket2) v'
found=$(cargo tree --locked -p domain -e normal,build --prefix none --format '{p}' | sort -u | grep -E "$forbidden" || true)
if [[ -n $found ]]; then
  echo "layers: the domain crate depends on I/O crates:" >&2
  echo "$found" >&2
  status=1
fi

declare -A allowed=(
  [domain]=""
  [sigv4]=""
  [everbright]="domain"
  [config]="domain everbright sigv4"
  [aws]="domain config everbright sigv4"
)
workspace_crates="domain sigv4 everbright config aws webhook-receiver contract-fetcher event-publisher sweeper everbright-sync local-stack integration-tests"
for crate in "${!allowed[@]}"; do
  direct=$(cargo tree --locked -p "$crate" -e normal --depth 1 --prefix none --format '{p}' | tail -n +2 | awk '{print $1}' | sort -u)
  for dep in $direct; do
    if [[ " $workspace_crates " == *" $dep "* && " ${allowed[$crate]} " != *" $dep "* ]]; then
      echo "layers: $crate may not depend on $dep (it may use: ${allowed[$crate]:-no crate of the workspace})" >&2
      status=1
    fi
  done
done

while IFS= read -r file; do
  lines=$(wc -l <"$file")
  if ((lines > 450)) && ! head -n 5 "$file" | grep -q "over 450 lines"; then
    echo "layers: $file has $lines lines (over 450, and its first lines do not say why)" >&2
    status=1
  fi
done < <(git ls-files '*.rs')

if ((status == 0)); then
  echo "layers: the domain does no I/O, dependencies point toward it, no source file is over 450 lines"
fi
exit $status
