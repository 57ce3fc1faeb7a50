#!/usr/bin/env bash
# Builds the Patina image without any image registry (our CI; any machine with Node 20, pnpm
# and Docker): the app is built on this machine (deploy/bundle.sh), the base image is made
# from this machine's Node (deploy/build-base-image.sh), and deploy/Dockerfile's `prebuilt`
# target puts them together. The result has the same layout, user, volume, healthcheck and
# entrypoint as `docker build -f deploy/Dockerfile .` (which compiles inside the official
# Node image instead).
#
# Usage: deploy/build-image.sh [TAG]          default TAG: patina:test
set -euo pipefail
tag="${1:-patina:test}"
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"

command -v docker >/dev/null || { echo "build-image: docker is not installed (bash scripts/setup.sh --docker)" >&2; exit 1; }
docker info >/dev/null 2>&1 || { echo "build-image: the Docker daemon does not answer (bash scripts/setup.sh --docker)" >&2; exit 1; }

ctx="$(mktemp -d "${TMPDIR:-/tmp}/patina-image.XXXXXX")"
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/deploy"
cp -R deploy/docker "$ctx/deploy/docker"
rm -rf "$ctx/deploy/docker/prebuilt"
bash deploy/bundle.sh "$ctx/deploy/docker/prebuilt"

# The base must load the same native addons the bundle was compiled with.
mapfile -t addons < <(find "$ctx/deploy/docker/prebuilt" -name '*.node' -path '*glibc*' -o -name '*.node' -path '*/Release/*')
base="$(bash deploy/build-base-image.sh "${addons[@]}")"

docker build -q -f deploy/Dockerfile --target prebuilt --build-arg "BASE_IMAGE=$base" \
  --label "org.opencontainers.image.revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)" \
  -t "$tag" "$ctx" >/dev/null
echo "$tag"
