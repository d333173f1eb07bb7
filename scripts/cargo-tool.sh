#!/usr/bin/env bash
# Installs a cargo subcommand at a pinned version into .tools/ (once): scripts/cargo-tool.sh CRATE VERSION.
# The caller puts .tools/bin first on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
crate=$1
version=$2
command=${crate#cargo-}
if ! PATH="$PWD/.tools/bin:$PATH" cargo "$command" --version 2>/dev/null | grep -q "$version"; then
  cargo install --quiet --locked --root .tools "$crate" --version "$version"
fi
