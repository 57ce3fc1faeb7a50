#!/usr/bin/env bash
# Makes a Node base image from this machine's own Node installation, for machines that cannot
# reach an image registry (our CI): `FROM node:20-...` and `docker pull` fail there.
#
# The image holds only what `node` needs to run: the node binary (at /usr/local/bin/node, where
# the official image has it), the shared libraries `ldd` lists for it and for the native addons
# given as arguments (better-sqlite3, msgpackr-extract), /etc/passwd and /etc/group with the
# non-root user `node` (uid/gid 1000, as in the official image), /etc/nsswitch.conf and /tmp.
# There is no shell, no package manager and no curl: everything runs as `node ...` in exec form.
#
# Usage: deploy/build-base-image.sh [--tag NAME:TAG] [addon.node ...]
# Default tag: patina-node-base:local. Prints the tag. Skips the import when an image with the
# same tag already holds the same node binary and libraries (label patina.base.digest).
set -euo pipefail

tag="patina-node-base:local"
addons=()
while [ $# -gt 0 ]; do
  case "$1" in
    --tag) tag="$2"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) addons+=("$1"); shift ;;
  esac
done

command -v docker >/dev/null || { echo "build-base-image: docker is not installed" >&2; exit 1; }
command -v ldd >/dev/null || { echo "build-base-image: ldd is not installed" >&2; exit 1; }
node_bin="$(readlink -f "$(command -v node)")"
node_major="$("$node_bin" -p 'process.versions.node.split(".")[0]')"
case "$node_major" in
  20 | 22 | 24) ;;
  *)
    echo "build-base-image: the image must run a supported Node line (20, 22 or 24); this machine has $("$node_bin" --version)" >&2
    exit 1
    ;;
esac

# Every library the dynamic loader needs, by the path ldd prints (the loader included).
libs="$(
  for bin in "$node_bin" "${addons[@]}"; do
    ldd "$bin" | awk '/=> \//{print $3} $1 ~ /^\//{print $1}'
  done | sort -u
)"

digest="$(
  { sha256sum "$node_bin"; for l in $libs; do sha256sum "$(readlink -f "$l")"; done; } |
    sha256sum | cut -c1-16
)"
if [ "$(docker image inspect -f '{{index .Config.Labels "patina.base.digest"}}' "$tag" 2>/dev/null || true)" = "$digest" ]; then
  echo "$tag"
  exit 0
fi

root="$(mktemp -d "${TMPDIR:-/tmp}/patina-base.XXXXXX")"
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/local/bin" "$root/etc" "$root/tmp"
chmod 1777 "$root/tmp"
cp "$node_bin" "$root/usr/local/bin/node"
for l in $libs; do
  mkdir -p "$root$(dirname "$l")"
  cp -L "$l" "$root$l"
done
# Debian keeps the libraries under /lib -> usr/lib; the loader looks in both.
cat >"$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/usr/sbin/nologin
node:x:1000:1000:node:/home/node:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
PASSWD
cat >"$root/etc/group" <<'GROUP'
root:x:0:
node:x:1000:
nogroup:x:65534:
GROUP
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"
mkdir -p "$root/home/node"
chown 1000:1000 "$root/home/node"

tar -C "$root" --numeric-owner -c . | docker import \
  -c 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
  -c "ENV NODE_VERSION=$("$node_bin" -p process.versions.node)" \
  -c "LABEL patina.base.digest=$digest" \
  -c 'CMD ["/usr/local/bin/node"]' \
  -m "patina: Node $("$node_bin" --version) from $(uname -n), imported" \
  - "$tag" >/dev/null
echo "$tag"
