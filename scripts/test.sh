#!/usr/bin/env bash
# `npm test`: prepare the machine (packages, build), bring up the suite's own Docker Engine
# and etcd (a bare one-host lab: lab/test-env.ts), run the unit and single-host
# end-to-end tests inside that host's network namespace and, beside them, the multi-host
# lab tests (each file brings up its own lab); remove it. Nothing here uses or starts the machine's own
# engine or the etcd on 127.0.0.1:2379: a `dokkaa up` beside the suite keeps its containers.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DOKKAA_SETUP_ETCD=0 DOKKAA_SETUP_DOCKER=0 bash scripts/lib/setup-host.sh

TEST_LAB="${DOKKAA_TEST_LAB:-test}"
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
lab_pid=0
stop_lab_tests() {
  if (( lab_pid )) && kill -0 "$lab_pid" 2>/dev/null; then kill "$lab_pid" 2>/dev/null || true; fi
}
# Also on failure and interruption: the environment and the lab tests never outlive the run.
trap 'env_down; stop_lab_tests' EXIT
trap 'exit 130' INT TERM

# Node 20's test runner takes directories (searched recursively for *.test.js and
# similar names), not globs. Leave out directories the build did not produce.
dirs=()
for d in dist/test/unit dist/test/e2e; do
  [[ -d "$d" ]] && dirs+=("$d")
done
# The multi-host lab tests (each file brings up its own `dokkaa lab`; root) run in a run of
# their own: the runner sorts the files it finds by path, and dist/test/e2e-lab/ would sort
# before dist/test/e2e/.
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
# The multi-host lab tests run beside the single-host ones: they use labs of their own
# (their own bridges, engines and etcd), and both mostly wait on engines and timers, so
# side by side the suite takes about the longer of the two instead of their sum. Their
# output is kept apart and printed after the single-host tests'.
lab_log=""
start_lab_tests() {
  (( ${#lab_dirs[@]} )) || return 0
  lab_log="$(mktemp)"
  run_tests "${lab_dirs[@]}" >"$lab_log" 2>&1 &
  lab_pid=$!
}
if (( ${#dirs[@]} )); then
  env_up=1
  env_file="$(mktemp)"
  node dist/lab/test-env-main.js up "$TEST_LAB" >"$env_file"
  # shellcheck disable=SC1090
  source "$env_file"
  rm -f "$env_file"
  echo "[test] environment ready after $(( $(date +%s) - started )) s: engine $DOKKAA_TEST_DOCKER, etcd $DOKKAA_TEST_ETCD, netns $DOKKAA_TEST_NETNS" >&2
  # The lab tests import the single-host support code, which reads DOKKAA_TEST_*: start them now.
  start_lab_tests
  # In the host's namespace, as an agent runs on a real host: the agents the tests start
  # there listen on that engine's bridge gateway, not on the machine's.
  nsenter --net="/run/netns/$DOKKAA_TEST_NETNS" -- bash -c "$(declare -f run_tests); run_tests \"\$@\"" run_tests "${dirs[@]}" || status=$?
  env_down
else
  start_lab_tests
fi
if (( lab_pid )); then
  lab_status=0
  wait "$lab_pid" || lab_status=$?
  echo "[test] multi-host lab tests (run beside the single-host ones):" >&2
  cat "$lab_log"
  rm -f "$lab_log"
  if (( lab_status )); then status=$lab_status; fi
fi

machine_after="$(machine_running)"
gone="$(comm -23 <(echo "$machine_before") <(echo "$machine_after") | sed '/^$/d')"
if [[ -n "$gone" ]]; then
  echo "[test] ERROR: containers of the machine's own engine stopped or vanished during the run: $(echo "$gone" | cut -c1-12 | tr '\n' ' ')" >&2
  status=1
fi
echo "[test] done in $(( $(date +%s) - started )) s" >&2
exit "$status"
