#!/usr/bin/env bash
# Runs Docker Compose on deploy/compose.yaml, with whichever Compose this machine has:
# `docker compose` (v2 plugin) or `docker-compose` (v1, Debian's package).
#
#   deploy/compose.sh up -d | ps | logs edge | kill patina-1 | start patina-1 | down -v | config
#   deploy/compose.sh wait [SECONDS]   wait until every container of the project is healthy
#                                      (default 120 s; exits 1 naming the ones that are not)
#
# COMPOSE_PROJECT_NAME picks the project (default "patina"), as for Compose itself.
set -euo pipefail
file="$(cd "$(dirname "$0")" && pwd)/compose.yaml"
export COMPOSE_PROJECT_NAME="${COMPOSE_PROJECT_NAME:-patina}"

if docker compose version >/dev/null 2>&1; then
  compose=(docker compose -f "$file")
elif command -v docker-compose >/dev/null 2>&1; then
  compose=(docker-compose -f "$file")
else
  echo "compose: neither 'docker compose' nor 'docker-compose' is installed (Debian: apt-get install docker-compose)" >&2
  exit 127
fi

if [ "${1:-}" = wait ]; then
  deadline=$(( $(date +%s) + ${2:-120} ))
  while :; do
    ids="$("${compose[@]}" ps -q)"
    [ -n "$ids" ] || { echo "compose: no container in project $COMPOSE_PROJECT_NAME" >&2; exit 1; }
    # shellcheck disable=SC2086
    states="$(docker inspect -f '{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' $ids)"
    stopped="$(awk '$2 != "running" {print substr($1, 2) " (" $2 ")"}' <<<"$states")"
    if [ -n "$stopped" ]; then
      echo "compose: not running: $(echo $stopped); see deploy/compose.sh logs" >&2
      exit 1
    fi
    pending="$(awk '$3 != "healthy" && $3 != "none" {print substr($1, 2) " (" $3 ")"}' <<<"$states")"
    [ -z "$pending" ] && { echo "all healthy"; exit 0; }
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "compose: not healthy after ${2:-120} s: $(echo $pending)" >&2
      exit 1
    fi
    sleep 1
  done
fi
exec "${compose[@]}" "$@"
