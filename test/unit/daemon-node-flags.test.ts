import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DAEMON_NODE_FLAGS } from '../../src/daemon-node-flags.js';

const BIN = fileURLToPath(new URL('../../../bin/dokkaa.js', import.meta.url));
const START = fileURLToPath(new URL('../../../scripts/start.sh', import.meta.url));

describe("the daemons' Node flags", async () => {
  it("bin/dokkaa.js's #! line and scripts/start.sh give Node every flag of DAEMON_NODE_FLAGS", async () => {
    const shebang = readFileSync(BIN, 'utf8').split('\n')[0]!;
    const start = readFileSync(START, 'utf8').split('\n').find((l) => l.startsWith('exec node '));
    assert.ok(start, 'start.sh runs node');
    for (const flag of DAEMON_NODE_FLAGS) {
      assert.ok(shebang.split(' ').includes(flag), `${flag} in ${shebang}`);
      assert.ok(start.split(' ').includes(flag), `${flag} in ${start}`);
    }
  });

  it('the #! line runs: env -S splits it, this Node accepts the flags, and the young generation grows past its default limit', async () => {
    // What the kernel runs for `./bin/dokkaa.js`, with a script in place of the CLI: it churns
    // objects that survive a scavenge or two, then reports its flags and how large the nursery
    // grew. V8 grows it on survival: with 1e5 kept at a time it stayed at 32 MB in 4 of 20 runs
    // on a busy machine, with 5e5 it reached 64 MB in 44 of 44.
    const [interpreter, ...args] = readFileSync(BIN, 'utf8').split('\n')[0]!.slice(2).split(' ');
    const script = 'const a = []; for (let i = 0; i < 6e6; i++) { a.push({ i }); if (a.length > 5e5) a.length = 0; }' +
      'const mb = require("v8").getHeapSpaceStatistics().find((s) => s.space_name === "new_space").space_size / 1048576;' +
      'console.log(JSON.stringify({ flags: process.execArgv, mb }));';
    const out = JSON.parse(execFileSync(interpreter!, [...args, '-e', script], { encoding: 'utf8' })) as { flags: string[]; mb: number };
    // execArgv also holds `-e <script>`.
    for (const flag of DAEMON_NODE_FLAGS) assert.ok(out.flags.includes(flag), `${flag} in ${out.flags.join(' ')}`);
    // V8's default stops two semi-spaces at 16 MB each.
    assert.ok(out.mb > 32, `new space ${out.mb} MB`);
  });
});
