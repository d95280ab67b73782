#!/usr/bin/env bash
# Put the local image dokkaa/busybox:latest on a Docker Engine, from the static busybox binary.
# Why: these machines have no registry, so nothing can be pulled; every image the
# project uses is made locally with `docker import` from a tiny root filesystem.
#
# The root filesystem is built once into a tarball named after the hash of its inputs (this
# script and the busybox binary) and imported from there into every engine that lacks it:
# the machine's engine (`npm start`), the test suite's own engine and each lab host's. The
# image carries that hash as a label, so an engine holding an image built from other
# inputs gets the current one, and an engine that already has it is left alone.
#
# Usage: build-image.sh [DOCKER_HOST]
#   DOCKER_HOST (argument or environment) selects the engine, e.g.
#   unix:///var/lib/dokkaa/lab/lab/n1/docker.sock for a lab host. Default: docker's default.
#   DOKKAA_IMAGE overrides the image name; DOKKAA_IMAGE_REBUILD=1 imports even if present.
#   DOKKAA_IMAGE_CACHE is where the tarballs are kept (default: dist/images in the checkout).
set -euo pipefail

log() { echo "[setup] $*" >&2; }

if [[ $# -ge 1 && -n "$1" ]]; then
  export DOCKER_HOST="$1"
fi
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
IMAGE="${DOKKAA_IMAGE:-dokkaa/busybox:latest}"
BUSYBOX="${DOKKAA_BUSYBOX:-/bin/busybox}"
CACHE="${DOKKAA_IMAGE_CACHE:-$here/../../dist/images}"
TARGET="${DOCKER_HOST:-default engine}"
LABEL=dokkaa.image-inputs

[[ -x "$BUSYBOX" ]] || { log "ERROR: $BUSYBOX missing (apt-get install busybox-static)"; exit 1; }
# A dynamically linked busybox would not run in an image without libc.
if command -v file >/dev/null 2>&1 && file -L "$BUSYBOX" | grep -q 'dynamically linked'; then
  log "ERROR: $BUSYBOX is dynamically linked; the busybox-static package is needed"; exit 1
fi
inputs="$(cat "${BASH_SOURCE[0]}" "$BUSYBOX" | sha256sum | cut -c1-16)"

if [[ "${DOKKAA_IMAGE_REBUILD:-0}" != "1" ]] \
  && [[ "$(docker image inspect --format "{{ index .Config.Labels \"$LABEL\" }}" "$IMAGE" 2>/dev/null)" == "$inputs" ]]; then
  log "image $IMAGE present on $TARGET"
  exit 0
fi

tarball="$CACHE/dokkaa-busybox-$inputs.tar"
if [[ ! -s "$tarball" ]]; then
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
  mkdir -p "$CACHE"
  # Several engines may be set up at once (lab hosts in parallel): each writes its own
  # partial file and renames it into place, so no reader sees half a tarball.
  tar --numeric-owner --owner=0 --group=0 -C "$ROOT" -cf "$tarball.$$.partial" .
  mv -f "$tarball.$$.partial" "$tarball"
  log "root filesystem for $IMAGE in $tarball"
fi

log "importing $IMAGE into $TARGET"
docker import -c 'ENV PATH=/bin' -c "LABEL $LABEL=$inputs" "$tarball" "$IMAGE" >/dev/null
docker image inspect "$IMAGE" >/dev/null
log "image $IMAGE on $TARGET"
