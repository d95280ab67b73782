#!/usr/bin/env bash
# `npm test`: prepare the machine (Docker Engine, etcd, image, build), then run the
# compiled unit and end-to-end tests against the real etcd and dockerd.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DOKKAA_SETUP_ETCD=1 bash scripts/lib/setup-host.sh

export DOKKAA_TEST_ETCD=http://127.0.0.1:2379
export DOKKAA_TEST_DOCKER=unix:///var/run/docker.sock

# Node 20's test runner takes directories (searched recursively for *.test.js and
# similar names), not globs. Leave out directories the build did not produce.
dirs=()
for d in dist/test/unit dist/test/e2e; do
  [[ -d "$d" ]] && dirs+=("$d")
done
# The multi-host lab tests (each file brings up its own `dokkaa lab`; root) run after the
# rest, in a run of their own: the runner sorts the files it finds by path, and
# dist/test/e2e-lab/ would sort before dist/test/e2e/.
lab_dirs=()
for d in dist/test/e2e-lab; do
  [[ -d "$d" ]] && lab_dirs+=("$d")
done
if (( ${#dirs[@]} + ${#lab_dirs[@]} == 0 )); then
  echo "[test] ERROR: no compiled tests (dist/test/unit, dist/test/e2e, dist/test/e2e-lab); did the build run?" >&2
  exit 1
fi
# One file at a time: e2e tests share one Docker Engine and one etcd.
run_tests() {
  # --test-force-exit: a file whose tests are done must not wait on clients still reconnecting.
  node --test --test-reporter=spec --test-concurrency=1 --test-timeout=600000 --test-force-exit "$@"
}
status=0
if (( ${#dirs[@]} )); then run_tests "${dirs[@]}" || status=$?; fi
if (( ${#lab_dirs[@]} )); then run_tests "${lab_dirs[@]}" || status=$?; fi
exit "$status"
