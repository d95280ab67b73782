#!/usr/bin/env node
// The CLI entry point: the compiled TypeScript lives in dist/ (`npm run build`).
import '../dist/cli/main.js';
