#!/usr/bin/env bash
# Installs dynalite (pinned in scripts/dynalite/package-lock.json) into .tools/dynalite: the tests'
# strict DynamoDB, which applies DynamoDB's own validation where moto is lenient. Idempotent: does
# nothing when the pinned version is already installed. Needs Node.js and npm.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=.tools/dynalite
stamp=$dir/.installed-$(cat scripts/dynalite/package.json scripts/dynalite/package-lock.json | sha256sum | cut -c1-16)
if [ -f "$stamp" ]; then exit 0; fi
command -v npm >/dev/null || { echo "dynalite: npm (Node.js 18 or later) is needed to install the tests' strict DynamoDB" >&2; exit 1; }
rm -rf "$dir"
mkdir -p "$dir"
cp scripts/dynalite/package.json scripts/dynalite/package-lock.json "$dir/"
# Without install scripts: dynalite keeps its tables in memory (memory-level) and needs no native build.
(cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
touch "$stamp"
echo "dynalite: installed $(node -p 'require("./'"$dir"'/node_modules/dynalite/package.json").version') into $dir" >&2
