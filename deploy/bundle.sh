#!/usr/bin/env bash
# Builds the runnable Patina app into OUT_DIR: compiled packages (`pnpm build`) plus the
# production dependencies of @patina/node (`pnpm deploy --prod`), with the native addons
# (better-sqlite3) compiled for the Node and glibc this runs on. Then drops what is never
# loaded at run time (source maps, TypeScript sources, C sources and objects of the addon,
# the browser builds of node-sql-parser).
#
# Used in two places, with the same result:
# - inside `deploy/Dockerfile` (stage `build`, on the official Node image);
# - on the host by `deploy/build-image.sh`, where no image registry is reachable.
#
# Usage: deploy/bundle.sh OUT_DIR      (OUT_DIR must not exist or be empty)
set -euo pipefail
out="$(realpath -m "${1:?usage: deploy/bundle.sh OUT_DIR}")"
cd "$(dirname "$0")/.."

if [ -e "$out" ] && [ -n "$(ls -A "$out")" ]; then
  echo "bundle: $out is not empty" >&2
  exit 1
fi
# better-sqlite3 compiles against Node's own headers when no prebuilt binary can be fetched.
if [ -z "${npm_config_nodedir:-}" ]; then
  for d in /usr /usr/local; do
    if [ -f "$d/include/node/node.h" ]; then export npm_config_nodedir="$d"; break; fi
  done
fi

pnpm install --frozen-lockfile --prefer-offline
pnpm build
pnpm --filter @patina/node deploy --legacy --prod "$out" >/dev/null

sqlite_dir="$(ls -d "$out"/node_modules/.pnpm/better-sqlite3@*/node_modules/better-sqlite3 | head -n 1)"
node -e 'const D = require(process.argv[1]); new D(":memory:").close()' "$sqlite_dir" ||
  { echo "bundle: better-sqlite3 does not load from $sqlite_dir" >&2; exit 1; }

# The statement-deadline SQLite extension of @patina/core (packages/core/native, built by
# node-gyp when the workspace is installed): `pnpm deploy` copies the package's files but runs
# no build, so the extension built above goes where core looks for it (build/Release). It is a
# SQLite extension, not a Node addon: it depends on glibc only, not on Node's ABI.
ext=packages/core/build/Release/patina_deadline.node
[ -f "$ext" ] || pnpm --filter @patina/core run build:native >/dev/null
core_dir="$(realpath "$out/node_modules/@patina/core")"
mkdir -p "$core_dir/build/Release"
cp "$ext" "$core_dir/build/Release/"
node -e 'const D = require(process.argv[1]); const db = new D(":memory:"); db.loadExtension(process.argv[2]); db.close()' \
  "$sqlite_dir" "$core_dir/build/Release/patina_deadline.node" ||
  { echo "bundle: the deadline extension does not load from $core_dir/build/Release" >&2; exit 1; }

# Prune. Everything below is either for development or for other platforms.
find "$out" -name '*.map' -type f -delete
# Shell shims of package binaries (no shell in the image) and pnpm's bookkeeping: both hold
# the absolute path of this build, which would change the image layer on every build.
find "$out" -path '*/node_modules/.bin' -prune -exec rm -rf {} +
rm -f "$out/node_modules/.modules.yaml"
find "$out" -path '*/node_modules/@patina/*/src' -prune -type d -exec rm -rf {} +
rm -rf "$out/src"
for d in "$out"/node_modules/.pnpm/better-sqlite3@*/node_modules/better-sqlite3; do
  rm -rf "$d/deps" "$d/src" "$d/build/Release/obj.target" "$d/build/Release/.deps" \
    "$d/build/Release/obj" "$d/build/Release/test_extension.node" "$d/build/Release/sqlite3.a" \
    "$d/build/deps"
done
for d in "$out"/node_modules/.pnpm/node-sql-parser@*/node_modules/node-sql-parser; do
  rm -rf "$d/umd" "$d/build"
done
echo "bundle: $(du -sh "$out" | cut -f1) in $out"
