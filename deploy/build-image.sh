#!/usr/bin/env bash
# Builds the Patina image without any image registry (our CI; any machine with Node 20, pnpm
# and Docker): the app is built on this machine (deploy/bundle.sh), the base image is made
# from this machine's Node (deploy/build-base-image.sh), and deploy/Dockerfile's `prebuilt`
# target puts them together. The result has the same layout, user, volume, healthcheck and
# entrypoint as `docker build -f deploy/Dockerfile .` (which compiles inside the official
# Node image instead).
#
# Usage: deploy/build-image.sh [TAG]          default TAG: patina:latest (what compose.yaml runs)
set -euo pipefail
tag="${1:-patina:latest}"
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"

command -v docker >/dev/null || { echo "build-image: docker is not installed (bash scripts/setup.sh --docker)" >&2; exit 1; }
docker info >/dev/null 2>&1 || { echo "build-image: the Docker daemon does not answer (bash scripts/setup.sh --docker)" >&2; exit 1; }

# One build at a time on this machine (tests may start two): bundle.sh runs `pnpm build`.
exec 9>"${TMPDIR:-/tmp}/patina-build-image.lock"
flock -w 600 9 || { echo "build-image: another build holds ${TMPDIR:-/tmp}/patina-build-image.lock" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/patina-image.XXXXXX")"
trap 'rm -rf "$work"' EXIT
bash deploy/bundle.sh "$work/app" >&2

# The base must load the native addons the bundle was compiled with.
mapfile -t addons < <(find "$work/app" -name '*.node' \( -path '*glibc*' -o -path '*/Release/*' \))
base="$(bash deploy/build-base-image.sh "${addons[@]}")"

# Build context: deploy/docker/ with the app as one tar, made reproducible (sorted, no
# timestamps or owners) so that an unchanged app hits the layer cache.
ctx="$work/context"
mkdir -p "$ctx/deploy"
cp -R deploy/docker "$ctx/deploy/docker"
tar -C "$work/app" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$ctx/deploy/docker/prebuilt/app.tar" .

docker build -q -f deploy/Dockerfile --target prebuilt --build-arg "BASE_IMAGE=$base" \
  --label "org.opencontainers.image.revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)" \
  -t "$tag" "$ctx" >/dev/null
echo "$tag"
