#!/usr/bin/env bash
# Installs everything Patina needs on a fresh Debian 12 machine with Node 20:
# pnpm 10, the toolchain for better-sqlite3 (compiled from source against /usr/include/node),
# Debian's nginx and an HTTP/2 curl (for tests), the workspace dependencies, and — with --docker —
# Debian's docker.io with a running dockerd.
set -euo pipefail
cd "$(dirname "$0")/.."

want_docker=0
for arg in "$@"; do
  case "$arg" in
    --docker) want_docker=1 ;;
    *) echo "unknown option: $arg" >&2; exit 2 ;;
  esac
done

log() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then
    $SUDO apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "Node 20 or newer is required (found $(node --version))" >&2
  exit 1
fi

if ! command -v g++ >/dev/null || ! command -v make >/dev/null || ! command -v python3 >/dev/null; then
  log "installing the native build toolchain (g++, make, python3)"
  apt_install g++ make python3
fi

# Debian's nginx: the template tests (test/process/template-nginx.test.ts, readme-nginx.test.ts)
# run it as a plain process with their own config on loopback ports.
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  log "installing nginx (for the template tests)"
  apt_install nginx
fi

# The API tests drive the server with Debian's curl over HTTP/2 with prior knowledge (h2c).
if ! command -v curl >/dev/null || ! curl -V | grep -q '^Features:.*HTTP2'; then
  log "installing curl with HTTP/2 support"
  apt_install curl
fi

if ! command -v pnpm >/dev/null || [ "$(pnpm --version)" != "10.34.9" ]; then
  log "installing pnpm 10.34.9"
  npm install -g pnpm@10.34.9 >/dev/null
fi

# better-sqlite3 has no prebuilt binary here: node-gyp compiles it against Node's own headers.
if [ -d /usr/include/node ]; then export npm_config_nodedir=/usr; fi

log "installing workspace dependencies"
pnpm install --frozen-lockfile

if [ "$want_docker" = 1 ]; then
  if ! command -v dockerd >/dev/null; then
    log "installing docker.io"
    apt_install docker.io
  fi
  if ! docker info >/dev/null 2>&1; then
    log "starting dockerd"
    $SUDO sh -c 'nohup dockerd >/var/log/patina-dockerd.log 2>&1 &'
    for _ in $(seq 1 60); do
      if docker info >/dev/null 2>&1; then break; fi
      sleep 1
    done
    docker info >/dev/null 2>&1 || { echo "dockerd did not start; see /var/log/patina-dockerd.log" >&2; exit 1; }
  fi
  if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null; then
    log "installing docker-compose"
    apt_install docker-compose
  fi
  log "docker is ready"
fi
log "done"
