#!/usr/bin/env bash
# Creates (or refreshes) the project's virtualenv in .venv with the pinned Python tools the
# tests and the local runs use. Idempotent: does nothing when the pins are already installed.
set -euo pipefail
cd "$(dirname "$0")/.."
req=scripts/requirements-test.txt
stamp=.venv/.installed-$(sha256sum "$req" | cut -c1-16)
if [ -f "$stamp" ]; then exit 0; fi
python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -r "$req"
rm -f .venv/.installed-*
touch "$stamp"
echo "venv: installed $(grep -v "^#" "$req" | tr "\n" " ")" >&2
