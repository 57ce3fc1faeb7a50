#!/usr/bin/env bash
# Installs everything Patina needs on a fresh Debian 12 machine with Node 20:
# pnpm 10, the toolchain for better-sqlite3 (compiled from source against /usr/include/node),
# Debian's nginx and an HTTP/2 curl (for tests), the workspace dependencies, and — with --docker —
# Debian's docker.io with a running dockerd.
#
# Each step says what it does and about how long it takes; the tools' own output (apt, npm,
# pnpm, the compiler's warnings) goes to a log file, which is shown when a step fails.
set -euo pipefail
cd "$(dirname "$0")/.."

want_docker=0
for arg in "$@"; do
  case "$arg" in
    --docker) want_docker=1 ;;
    *) echo "unknown option: $arg" >&2; exit 2 ;;
  esac
done

log_file="$(mktemp "${TMPDIR:-/tmp}/patina-setup.XXXXXX.log")"
tty=0
if [ -t 1 ]; then tty=1; fi
say() {
  if [ "$tty" = 1 ]; then printf '\033[1;34m[setup]\033[0m %s\n' "$*"; else printf '[setup] %s\n' "$*"; fi
}

# step "what (how long)" command...: runs the command with its output in the log. On a terminal
# the line counts the seconds meanwhile. On failure: the end of the log, and exit.
step() {
  local what="$1"
  shift
  local start=$SECONDS status=0
  printf '\n=== %s\n$ %s\n' "$what" "$*" >>"$log_file"
  if [ "$tty" = 1 ]; then
    "$@" >>"$log_file" 2>&1 &
    local pid=$!
    while kill -0 "$pid" 2>/dev/null; do
      printf '\r\033[1;34m[setup]\033[0m %s ... %ds ' "$what" $((SECONDS - start))
      sleep 0.5
    done
    wait "$pid" || status=$?
    printf '\r\033[K'
  else
    say "$what ..."
    "$@" >>"$log_file" 2>&1 || status=$?
  fi
  if [ "$status" != 0 ]; then
    say "FAILED after $((SECONDS - start)) s: $what (exit code $status). The end of $log_file:"
    tail -n 40 "$log_file" >&2
    exit "$status"
  fi
  say "$what: done in $((SECONDS - start)) s"
}

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then
    step "updating apt's package lists (a few seconds)" $SUDO apt-get update
    apt_updated=1
  fi
  step "$1" $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${@:2}"
}

node_version="$(node -p 'process.versions.node')"
node_major="${node_version%%.*}"
if [ "$node_major" -lt 20 ]; then
  echo "Node 20 or newer is required (found $node_version)" >&2
  exit 1
fi

say "setting up Patina with Node $node_version; the tools' output goes to $log_file"

if ! command -v g++ >/dev/null || ! command -v make >/dev/null || ! command -v python3 >/dev/null; then
  apt_install "installing the native build toolchain: g++, make, python3 (about a minute)" g++ make python3
fi

# Debian's nginx: the template tests (test/process/template-nginx.test.ts, readme-nginx.test.ts)
# run it as a plain process with their own config on loopback ports.
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  apt_install "installing nginx, for the template tests (a few seconds)" nginx
fi

# The API tests drive the server with Debian's curl over HTTP/2 with prior knowledge (h2c).
if ! command -v curl >/dev/null || ! curl -V | grep -q '^Features:.*HTTP2'; then
  apt_install "installing curl with HTTP/2 support (a few seconds)" curl
fi

if ! command -v pnpm >/dev/null || [ "$(pnpm --version)" != "10.34.9" ]; then
  npm_sudo=""
  if [ ! -w "$(npm prefix -g)" ]; then npm_sudo="$SUDO"; fi
  step "installing pnpm 10.34.9 (a few seconds)" $npm_sudo npm install -g --no-fund --no-audit pnpm@10.34.9
fi

# better-sqlite3 has no prebuilt binary here: node-gyp compiles it against Node's own headers.
if [ -d /usr/include/node ]; then export npm_config_nodedir=/usr; fi

if compgen -G 'node_modules/.pnpm/better-sqlite3@*/node_modules/better-sqlite3/build/Release/better_sqlite3.node' >/dev/null; then
  step "installing the workspace dependencies (a few seconds)" pnpm install --frozen-lockfile
else
  step "installing the workspace dependencies; the first time this compiles better-sqlite3 from source (about a minute, more on a busy machine)" \
    pnpm install --frozen-lockfile
fi

if [ "$want_docker" = 1 ]; then
  if ! command -v dockerd >/dev/null; then
    apt_install "installing docker.io (about a minute)" docker.io
  fi
  if ! docker info >/dev/null 2>&1; then
    start_dockerd() {
      $SUDO sh -c 'nohup dockerd >/var/log/patina-dockerd.log 2>&1 &'
      for _ in $(seq 1 60); do
        if docker info >/dev/null 2>&1; then return 0; fi
        sleep 1
      done
      echo "dockerd did not answer within 60 s; see /var/log/patina-dockerd.log"
      return 1
    }
    step "starting dockerd (a few seconds)" start_dockerd
  fi
  if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null; then
    apt_install "installing docker-compose (about a minute)" docker-compose
  fi
  say "docker is ready"
fi

say "done in $SECONDS s. Next:"
echo "  bin/patina dev    # a local cluster: 3 workers, an edge and demo data (Ctrl-C stops it)"
echo "  pnpm test         # lint, types and every test tier (the container tier needs --docker)"
