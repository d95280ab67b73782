#!/usr/bin/env -S node --max-semi-space-size=32
// The CLI entry point: the compiled TypeScript lives in dist/ (`npm run build`).
// The `#!` line gives Node the flags of src/daemon-node-flags.ts (env -S: coreutils 8.30+).
import '../dist/cli/main.js';
