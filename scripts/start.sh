#!/usr/bin/env bash
# `npm start`: prepare the machine, then run the Dokkaa control plane in the foreground.
# etcd is not started here (DOKKAA_SETUP_ETCD=0) because `dokkaa up` spawns its own.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DOKKAA_SETUP_ETCD=0 bash scripts/lib/setup-host.sh
# Node flags: src/daemon-node-flags.ts.
exec node --max-semi-space-size=32 bin/dokkaa.js up "$@"
