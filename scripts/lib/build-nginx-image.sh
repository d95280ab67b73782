#!/usr/bin/env bash
# Put dokkaa/nginx:bench on a Docker Engine: Debian's nginx binary and the libraries it links,
# in a root filesystem of its own, serving its container's hostname on port 80 with
# keep-alive. The benchmarks' fast backend: busybox httpd forks per request and would be the
# bottleneck the router is measured against. Usage: build-nginx-image.sh [DOCKER_HOST]
set -euo pipefail
log() { echo "[bench] $*" >&2; }
if [[ $# -ge 1 && -n "$1" ]]; then export DOCKER_HOST="$1"; fi
IMAGE=dokkaa/nginx:bench
NGINX=/usr/sbin/nginx
[[ -x "$NGINX" ]] || { log "ERROR: $NGINX missing (apt-get install nginx-light)"; exit 1; }
if docker image inspect "$IMAGE" >/dev/null 2>&1; then exit 0; fi
ROOT="$(mktemp -d /tmp/dokkaa-nginx-rootfs.XXXXXX)"
trap 'rm -rf "$ROOT"' EXIT
mkdir -p "$ROOT"/{usr/sbin,etc/nginx,var/log/nginx,var/lib/nginx,run,tmp}
chmod 1777 "$ROOT/tmp"
cp "$NGINX" "$ROOT/usr/sbin/nginx"
# The binary's shared libraries and the dynamic loader, at the paths it looks for them.
for lib in $(ldd "$NGINX" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'); do cp --parents -L "$lib" "$ROOT"; done
cat > "$ROOT/etc/nginx/nginx.conf" <<'CONF'
user root;
worker_processes 1;
daemon off;
error_log stderr warn;
pid /run/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000;
  server {
    listen 80;
    location / { default_type text/plain; return 200 "$hostname\n"; }
  }
}
CONF
printf 'root:x:0:0:root:/root:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$ROOT/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$ROOT/etc/group"
tar --numeric-owner --owner=0 --group=0 -C "$ROOT" -c . | docker import -c 'CMD ["/usr/sbin/nginx", "-c", "/etc/nginx/nginx.conf"]' - "$IMAGE" >/dev/null
log "image $IMAGE on ${DOCKER_HOST:-default engine}"
