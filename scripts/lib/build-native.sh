#!/usr/bin/env bash
# `npm run build:native`: builds the ambassador's splice pump (controllers/ambassador/native)
# with node-gyp (npm puts it on PATH for scripts), against the headers of the Node that runs
# it when they are installed next to it (Debian's nodejs, or an official tarball), so that
# no header download is needed. A second build only recompiles what changed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
dir=controllers/ambassador/native
prefix=$(dirname "$(dirname "$(command -v node)")")
args=()
[[ -f "$prefix/include/node/node_api.h" ]] && args+=(--nodedir="$prefix")
if [[ -f "$dir/build/Makefile" ]]; then
  node-gyp build --directory "$dir" "${args[@]}" >/dev/null
else
  node-gyp rebuild --directory "$dir" "${args[@]}" >/dev/null
fi
echo "[build] splice pump: $dir/build/Release/splice_pump.node"
