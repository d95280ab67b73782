#!/usr/bin/env bash
# `npm test`: prepare the machine (packages, build), bring up the suite's own Docker Engine
# and etcd (a bare one-host lab: lab/test-env.ts), run the unit and single-host
# end-to-end tests inside that host's network namespace, remove it, then run the multi-host
# lab tests: those that can share one lab run on one brought up for them all
# (test/e2e-lab/support/shared-lab.ts), the others each bring up their own. Nothing here uses
# or starts the machine's own engine or the etcd on 127.0.0.1:2379: a `dokkaa up` beside the
# suite keeps its containers.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DOKKAA_SETUP_ETCD=0 DOKKAA_SETUP_DOCKER=0 bash scripts/lib/setup-host.sh

TEST_LAB="${DOKKAA_TEST_LAB:-test}"
# The lab the lab test files share (at most 8 characters: it names network interfaces).
SHARED_LAB="${DOKKAA_TEST_SHARED_LAB:-lshared}"
MACHINE_SOCKET=/var/run/docker.sock
started=$(date +%s)

# The machine's engine, if one answers: the containers it runs now must still run, with the
# same ids, when the suite ends (checked at the end).
machine_running() {
  [[ -S "$MACHINE_SOCKET" ]] || return 0
  env -u DOCKER_HOST docker -H "unix://$MACHINE_SOCKET" ps -q --no-trunc 2>/dev/null | sort || true
}
machine_before="$(machine_running)"

env_up=0
env_down() {
  (( env_up )) || return 0
  env_up=0
  node dist/lab/test-env-main.js down "$TEST_LAB" || echo "[test] ERROR: the test environment was not removed completely" >&2
}
shared_up=0
shared_down() {
  (( shared_up )) || return 0
  shared_up=0
  node dist/test/e2e-lab/support/shared-lab-main.js down "$SHARED_LAB" || echo "[test] ERROR: the shared lab $SHARED_LAB was not removed completely" >&2
}
# Also on failure and interruption: neither the environment nor the shared lab outlives the run.
trap 'env_down; shared_down' EXIT
trap 'exit 130' INT TERM

# Node 20's test runner takes directories (searched recursively for *.test.js and
# similar names), not globs. Leave out directories the build did not produce.
unit_dirs=()
[[ -d dist/test/unit ]] && unit_dirs+=(dist/test/unit)
e2e_dirs=()
[[ -d dist/test/e2e ]] && e2e_dirs+=(dist/test/e2e)
# The multi-host lab tests (`dokkaa lab`s; root) run after the rest, in a run of their own:
# the runner sorts the files it finds by path, and dist/test/e2e-lab/ would sort before
# dist/test/e2e/. Beside them the load made failover bounds (TTL + 5 s) miss.
lab_dirs=()
for d in dist/test/e2e-lab; do
  [[ -d "$d" ]] && lab_dirs+=("$d")
done
if (( ${#unit_dirs[@]} + ${#e2e_dirs[@]} + ${#lab_dirs[@]} == 0 )); then
  echo "[test] ERROR: no compiled tests (dist/test/unit, dist/test/e2e, dist/test/e2e-lab); did the build run?" >&2
  exit 1
fi
# run_tests CONCURRENCY EXIT PATH...: unit tests (pure logic, fakes, servers of their own on
# loopback) run two files at a time, one per CPU; end-to-end tests one at a time: they share
# one Docker Engine and one etcd.
# EXIT is "force" where a file whose tests are done must not wait on clients still
# reconnecting (etcd, Docker), else "wait": Node 20's --test-force-exit can end a file
# before its last results reach the runner, and the unit files hold no such clients.
run_tests() {
  local concurrency="$1" exit_mode="$2"
  shift 2
  local force=()
  if [[ "$exit_mode" == force ]]; then force=(--test-force-exit); fi
  node --test --test-reporter=spec --test-concurrency="$concurrency" --test-timeout=600000 "${force[@]}" "$@"
}
status=0
if (( ${#unit_dirs[@]} + ${#e2e_dirs[@]} )); then
  env_up=1
  env_file="$(mktemp)"
  node dist/lab/test-env-main.js up "$TEST_LAB" >"$env_file"
  # shellcheck disable=SC1090
  source "$env_file"
  rm -f "$env_file"
  echo "[test] environment ready after $(( $(date +%s) - started )) s: engine $DOKKAA_TEST_DOCKER, etcd $DOKKAA_TEST_ETCD, netns $DOKKAA_TEST_NETNS" >&2
  # In the host's namespace, as an agent runs on a real host: the agents the tests start
  # there listen on that engine's bridge gateway, not on the machine's.
  in_env() { nsenter --net="/run/netns/$DOKKAA_TEST_NETNS" -- bash -c "$(declare -f run_tests); run_tests \"\$@\"" run_tests "$@"; }
  if (( ${#unit_dirs[@]} )); then in_env 2 wait "${unit_dirs[@]}" || status=$?; fi
  if (( ${#e2e_dirs[@]} )); then in_env 1 force "${e2e_dirs[@]}" || status=$?; fi
  env_down
fi
if (( ${#lab_dirs[@]} )); then
  shared_up=1
  lab_started=$(date +%s)
  if node dist/test/e2e-lab/support/shared-lab-main.js up "$SHARED_LAB"; then
    # Files that can share it run on it (useSharedLab); the rest bring up labs of their own.
    DOKKAA_TEST_SHARED_LAB="$SHARED_LAB" run_tests 1 force "${lab_dirs[@]}" || status=$?
  else
    echo "[test] ERROR: the shared lab $SHARED_LAB did not come up" >&2
    status=1
  fi
  shared_down
  echo "[test] lab tests done in $(( $(date +%s) - lab_started )) s" >&2
fi

machine_after="$(machine_running)"
gone="$(comm -23 <(echo "$machine_before") <(echo "$machine_after") | sed '/^$/d')"
if [[ -n "$gone" ]]; then
  echo "[test] ERROR: containers of the machine's own engine stopped or vanished during the run: $(echo "$gone" | cut -c1-12 | tr '\n' ' ')" >&2
  status=1
fi
echo "[test] done in $(( $(date +%s) - started )) s" >&2
exit "$status"
