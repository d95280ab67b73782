#!/usr/bin/env bash
# `npm run bench`: the same set-up as the tests (deps, Docker, etcd, image, build), then the
# benchmarks, which write bench/results/report.md.
set -euo pipefail
cd "$(dirname "$0")/.."
DOKKAA_SETUP_BENCH=1 bash scripts/lib/setup-host.sh
exec node dist/bench/run.js "$@"
