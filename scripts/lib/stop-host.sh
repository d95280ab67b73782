#!/usr/bin/env bash
# Stop the daemons that scripts/lib/setup-host.sh started, and only those: each is found
# by the pid file setup-host.sh wrote, never by process name (other dockerd/etcd
# processes on the machine, e.g. lab hosts in network namespaces, are left alone).
# Idempotent: a missing or stale pid file is just removed.
set -euo pipefail

log() { echo "[setup] $*" >&2; }

# stop PIDFILE COMM TIMEOUT: SIGTERM, wait, then SIGKILL as a last resort.
stop() {
  local f="$1" comm="$2" secs="$3" pid
  if [[ ! -s "$f" ]]; then
    log "$comm: no pid file $f (not started by setup-host.sh)"; return 0
  fi
  pid="$(cat "$f")"
  # The comm check guards against a stale pid file whose number now belongs to
  # some unrelated process.
  if [[ ! "$pid" =~ ^[0-9]+$ ]] || ! kill -0 "$pid" 2>/dev/null \
     || [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" != "$comm" ]]; then
    log "$comm: pid file $f is stale; removing"; rm -f "$f"; return 0
  fi
  log "stopping $comm (pid $pid)"
  kill -TERM "$pid"
  local deadline=$((SECONDS + secs))
  while kill -0 "$pid" 2>/dev/null; do
    if (( SECONDS >= deadline )); then
      log "$comm (pid $pid) still running after ${secs}s; SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.2
  done
  rm -f "$f"
}

[[ $EUID -eq 0 ]] || { log "ERROR: must run as root"; exit 1; }
# dockerd removes its own pid file on a clean exit; the rm above covers the other case.
stop /var/run/dokkaa-dockerd.pid dockerd 30
stop /var/run/dokkaa-etcd.pid etcd 10
