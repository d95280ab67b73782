#!/usr/bin/env bash
# Machine set-up for Dokkaa on a fresh Debian 12 box (root, only node/npm present):
# packages, node_modules, a Docker Engine, etcd, the local busybox image, and the build.
# Every step first checks whether its work is already done, so a second run is fast.
#
# Environment:
#   DOKKAA_ETCD         etcd endpoint to check (default http://127.0.0.1:2379)
#   DOKKAA_SETUP_ETCD   "0" = do not start etcd (`dokkaa up` spawns its own)
#   DOKKAA_SETUP_DOCKER "0" = leave the machine's own Docker Engine alone: neither start it nor
#                       put the local image on it (`npm test` runs engines of its own)
#   DOKKAA_SKIP_BUILD   "1" = skip `npm run build`
# Anything started here is recorded in a pid file; scripts/lib/stop-host.sh stops it.
# May be executed (bash setup-host.sh) or sourced; when sourced it runs in a subshell so
# that `set -e` and `exit` do not leak into the caller.

dokkaa_setup_host() {
  set -euo pipefail

  local here repo logdir
  here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  repo="$(cd "$here/../.." && pwd)"
  logdir=/var/log/dokkaa
  local docker_pid=/var/run/dokkaa-dockerd.pid
  local etcd_pid=/var/run/dokkaa-etcd.pid
  local etcd_url="${DOKKAA_ETCD:-http://127.0.0.1:2379}"
  local etcd_local=http://127.0.0.1:2379

  log() { echo "[setup] $*" >&2; }
  die() { echo "[setup] ERROR: $*" >&2; exit 1; }

  # True if the pid file names a live process whose command is $2 (guards against a
  # stale pid file whose number was reused by an unrelated process).
  pid_alive() {
    local f="$1" comm="$2" pid
    [[ -s "$f" ]] || return 1
    pid="$(cat "$f")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$comm" ]]
  }

  # Wait up to $1 seconds for the command in the remaining args to succeed.
  wait_for() {
    local secs="$1"; shift
    local deadline=$((SECONDS + secs))
    until "$@" >/dev/null 2>&1; do
      (( SECONDS < deadline )) || return 1
      sleep 0.5
    done
  }

  [[ $EUID -eq 0 ]] || die "must run as root (starts dockerd/etcd, writes /var/lib, /var/run)"
  cd "$repo"
  mkdir -p "$logdir"

  # --- 1. Packages. /usr/local/bin/docker may be a client-only binary, so check dockerd.
  local need_apt=0 bin
  # g++, make and python3: node-gyp builds the ambassador's splice pump (npm run build:native).
  # haproxy: each agent's web router (controllers/router/); curl and openssl: the router's
  # tests (HTTPS, HTTP/2, certificates made for the test). docker-registry and htpasswd
  # (apache2-utils): the private registry the pull tests run.
  for bin in dockerd docker etcd etcdctl ip iptables nsenter setpriv g++ make python3 haproxy curl openssl docker-registry htpasswd; do
    command -v "$bin" >/dev/null 2>&1 || need_apt=1
  done
  [[ -x /bin/busybox ]] || need_apt=1
  if (( need_apt )); then
    log "installing packages (docker.io etcd-server etcd-client busybox-static iproute2 iptables util-linux g++ make python3 haproxy curl openssl docker-registry apache2-utils)"
    # Lock timeout: another apt run may be in progress on a freshly booted machine.
    apt-get -o DPkg::Lock::Timeout=600 update >&2
    # No systemd here: the packages' attempts to start services fail harmlessly
    # (policy-rc.d / invoke-rc.d) and are ignored; we start the daemons ourselves below.
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y \
      docker.io etcd-server etcd-client busybox-static iproute2 iptables util-linux g++ make python3 haproxy curl openssl docker-registry apache2-utils >&2
    for bin in dockerd etcd etcdctl haproxy; do
      command -v "$bin" >/dev/null 2>&1 || die "$bin still missing after apt-get install"
    done
    [[ -x /bin/busybox ]] || die "/bin/busybox still missing after apt-get install"
  else
    log "packages present"
  fi
  # The benchmarks' load generators and the static proxy they compare the router with.
  if [[ "${DOKKAA_SETUP_BENCH:-0}" == "1" ]]; then
    local need_bench=0
    for bin in wrk h2load nginx; do command -v "$bin" >/dev/null 2>&1 || need_bench=1; done
    if (( need_bench )); then
      log "installing benchmark packages (wrk nghttp2-client nginx-light)"
      apt-get -o DPkg::Lock::Timeout=600 update >&2
      DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y wrk nghttp2-client nginx-light >&2
    fi
  fi

  # --- 2. node_modules. npm writes node_modules/.package-lock.json on every install, so
  # it is the marker of the last install; compare whole seconds (a fresh checkout copies
  # both files within the same second).
  if [[ -f package-lock.json ]]; then
    local marker=node_modules/.package-lock.json
    [[ -e "$marker" ]] || marker=node_modules
    if [[ ! -d node_modules ]] || (( $(stat -c %Y package-lock.json) > $(stat -c %Y "$marker") )); then
      log "npm ci"
      npm ci --no-audit --no-fund >&2
    else
      log "node_modules up to date"
    fi
  elif [[ ! -d node_modules ]]; then
    log "npm install (no package-lock.json)"
    npm install --no-audit --no-fund >&2
  fi

  # --- 3. Docker Engine on the default socket /var/run/docker.sock.
  # DOCKER_HOST is unset for the check: this is about the machine's own engine.
  docker_ok() { env -u DOCKER_HOST docker info >/dev/null 2>&1; }
  if [[ "${DOKKAA_SETUP_DOCKER:-1}" == "0" ]]; then
    log "the machine's dockerd is left as it is (DOKKAA_SETUP_DOCKER=0)"
  elif docker_ok; then
    log "dockerd running"
  else
    if pid_alive "$docker_pid" dockerd; then
      log "dockerd (pid $(cat "$docker_pid")) is starting; waiting"
    else
      log "starting dockerd (log $logdir/dockerd.log)"
      rm -f "$docker_pid"
      # setsid+nohup: detach from this shell's session so the daemon outlives it.
      setsid nohup dockerd --pidfile "$docker_pid" -H unix:///var/run/docker.sock \
        >>"$logdir/dockerd.log" 2>&1 </dev/null &
    fi
    wait_for 30 docker_ok || { tail -n 20 "$logdir/dockerd.log" >&2 || true; die "dockerd not ready after 30 s"; }
    log "dockerd ready ($(env -u DOCKER_HOST docker version --format '{{.Server.Version}} API {{.Server.APIVersion}}' 2>/dev/null))"
  fi
  # Containers are created with HostConfig.Init=true (busybox httpd as PID 1 ignores
  # SIGTERM); dockerd runs the `docker-init` binary (tini) it finds on its PATH.
  local init_path
  init_path="$(command -v docker-init || true)"
  [[ -n "$init_path" ]] || die "docker-init not found on PATH (needed for HostConfig.Init); reinstall docker.io"
  log "docker-init at $init_path"

  # --- 4. etcd (skipped on the `npm start` path: `dokkaa up` spawns its own).
  if [[ "${DOKKAA_SETUP_ETCD:-1}" != "0" ]]; then
    etcd_ok() { ETCDCTL_API=3 etcdctl --endpoints="$1" --dial-timeout=1s --command-timeout=2s endpoint health >/dev/null 2>&1; }
    if etcd_ok "$etcd_url"; then
      log "etcd healthy at $etcd_url"
    else
      [[ "$etcd_url" == "$etcd_local" ]] || log "warning: nothing answers at $etcd_url; starting a local etcd at $etcd_local"
      if pid_alive "$etcd_pid" etcd; then
        log "etcd (pid $(cat "$etcd_pid")) is starting; waiting"
      else
        log "starting etcd (data /var/lib/dokkaa/etcd, log $logdir/etcd.log)"
        mkdir -p /var/lib/dokkaa/etcd
        chmod 700 /var/lib/dokkaa/etcd   # etcd warns about looser permissions
        rm -f "$etcd_pid"
        # etcd has no pid-file option: the wrapper writes its own pid, then execs etcd.
        setsid nohup bash -c 'echo $$ >"$0"; exec "$@"' "$etcd_pid" \
          etcd --name dokkaa --data-dir /var/lib/dokkaa/etcd \
          --listen-client-urls "$etcd_local" --advertise-client-urls "$etcd_local" \
          --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
          --initial-cluster dokkaa=http://127.0.0.1:2380 \
          >>"$logdir/etcd.log" 2>&1 </dev/null &
      fi
      wait_for 20 etcd_ok "$etcd_local" || { tail -n 20 "$logdir/etcd.log" >&2 || true; die "etcd not healthy after 20 s"; }
      log "etcd healthy at $etcd_local"
    fi
  fi

  # --- 5. Local image (no registry to pull from).
  [[ "${DOKKAA_SETUP_DOCKER:-1}" == "0" ]] || env -u DOCKER_HOST bash "$here/build-image.sh"

  # --- 6. Build the TypeScript.
  if [[ "${DOKKAA_SKIP_BUILD:-0}" == "1" ]]; then
    log "build skipped (DOKKAA_SKIP_BUILD=1)"
  elif [[ ! -f tsconfig.json ]]; then
    log "warning: no tsconfig.json; skipping npm run build"
  else
    log "npm run build"
    npm run --silent build >&2 || die "npm run build (splice pump, tsc) failed"
  fi
  log "host ready"
}

if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
  # Sourced: subshell keeps set -euo pipefail and exit out of the caller's shell.
  ( dokkaa_setup_host "$@" )
else
  set -euo pipefail
  dokkaa_setup_host "$@"
fi
