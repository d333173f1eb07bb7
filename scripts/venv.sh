#!/usr/bin/env bash
# Creates (or refreshes) the project's virtualenv in .venv with pinned Python tools:
#   scripts/venv.sh local   moto's server, for make demo and make serve (requirements-local.txt)
#   scripts/venv.sh         that and the test tools: cfn-lint, SAM CLI, awscurl (requirements-test.txt)
# Idempotent: does nothing when the pins are already installed.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-test}" in
  local) req=scripts/requirements-local.txt ;;
  test) req=scripts/requirements-test.txt ;;
  *) echo "usage: scripts/venv.sh [local|test]" >&2; exit 2 ;;
esac
name=$(basename "$req" .txt)
hash=$(cat "$req" scripts/requirements-local.txt | sha256sum | cut -c1-16)
stamp=.venv/.installed-$name-$hash
if [ -f "$stamp" ]; then exit 0; fi
python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -r "$req"
rm -f .venv/.installed-"$name"-*
touch "$stamp"
echo "venv: installed $(grep -hv "^#\|^-r" "$req" scripts/requirements-local.txt | sort -u | tr "\n" " ")" >&2
