#!/usr/bin/env bash
# Build the local image dokkaa/busybox:latest from the static busybox binary.
# Why: these machines have no registry, so nothing can be pulled; every image the
# project uses is made locally with `docker import` from a tiny root filesystem.
#
# Usage: build-image.sh [DOCKER_HOST]
#   DOCKER_HOST (argument or environment) selects the engine, e.g.
#   unix:///run/dokkaa/h1/docker.sock for one of the lab hosts. Default: docker's default.
#   DOKKAA_IMAGE overrides the image name; DOKKAA_IMAGE_REBUILD=1 rebuilds even if present.
# Idempotent: does nothing when the image already exists on that engine.
set -euo pipefail

log() { echo "[setup] $*" >&2; }

if [[ $# -ge 1 && -n "$1" ]]; then
  export DOCKER_HOST="$1"
fi
IMAGE="${DOKKAA_IMAGE:-dokkaa/busybox:latest}"
BUSYBOX="${DOKKAA_BUSYBOX:-/bin/busybox}"
TARGET="${DOCKER_HOST:-default engine}"

if [[ "${DOKKAA_IMAGE_REBUILD:-0}" != "1" ]] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
  log "image $IMAGE present on $TARGET"
  exit 0
fi

[[ -x "$BUSYBOX" ]] || { log "ERROR: $BUSYBOX missing (apt-get install busybox-static)"; exit 1; }
# A dynamically linked busybox would not run in an image without libc.
if command -v file >/dev/null 2>&1 && file -L "$BUSYBOX" | grep -q 'dynamically linked'; then
  log "ERROR: $BUSYBOX is dynamically linked; the busybox-static package is needed"; exit 1
fi

ROOT="$(mktemp -d /tmp/dokkaa-rootfs.XXXXXX)"
trap 'rm -rf "$ROOT"' EXIT

mkdir -p "$ROOT"/{bin,etc,www,root,tmp}
chmod 1777 "$ROOT/tmp"
cp "$BUSYBOX" "$ROOT/bin/busybox"
chmod 0755 "$ROOT/bin/busybox"

# Applets the project's manifests and tests rely on (httpd serves, wget/nc probe, ...).
APPLETS="sh ash cat echo env hostname httpd wget sleep nc ls ps kill true false seq date
head tail grep sed awk printf mkdir rm test id uname ifconfig ip nslookup"
AVAILABLE=" $("$BUSYBOX" --list | tr '\n' ' ') "
for a in $APPLETS; do
  [[ "$AVAILABLE" == *" $a "* ]] || log "warning: busybox has no applet '$a'"
  ln -sf busybox "$ROOT/bin/$a"
done

# The page served by the sample "nginx" manifest (busybox httpd -h /www).
echo '<h1>Welcome to Dokkaa nginx</h1>' > "$ROOT/www/index.html"
cat > "$ROOT/etc/passwd" <<'PW'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PW
cat > "$ROOT/etc/group" <<'GR'
root:x:0:
nogroup:x:65534:
GR

log "importing $IMAGE into $TARGET"
tar --numeric-owner --owner=0 --group=0 -C "$ROOT" -c . \
  | docker import -c 'ENV PATH=/bin' - "$IMAGE" >/dev/null
docker image inspect "$IMAGE" >/dev/null
log "image $IMAGE built on $TARGET"
