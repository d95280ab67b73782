import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isTmpfs } from '../../controllers/node-runner/secret-file-store.js';
import { dockerExec } from '../e2e/support/exec.js';
import { waitFor } from '../e2e/support/world.js';
import { useSharedLab, webManifest, type LabWorld } from './support/lab-world.js';

const LAB = 'lsec';
const BIN = fileURLToPath(new URL('../../../bin/dokkaa.js', import.meta.url));

/** The CLI against the lab's etcd, with `input` on stdin. */
function cli(w: LabWorld, input: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [BIN, ...args, ...w.cliFlags()], (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
    child.stdin!.end(input);
  });
}

/**
 * Files under `dir` holding `text` (grep -rlF), leaving out directories named `skip` and the
 * engines' netns files (not readable as files; devices are skipped too).
 */
function filesHolding(dir: string, text: string, skip: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    execFile('grep', ['-rlFs', '-D', 'skip', `--exclude-dir=${skip}`, '--exclude-dir=netns', text, dir], { maxBuffer: 1 << 20 }, (err, stdout) => {
      // 0: found; 1: not found; 2: some file could not be read (the rest was searched).
      const code = err ? (err as { code?: number }).code : 0;
      if (code !== 0 && code !== 1 && code !== 2) return reject(err);
      resolve(stdout.split('\n').filter(Boolean));
    });
  });
}

describe('a secret reaches only the hosts that run a replica using it (3 hosts)', () => {
  const lab = useSharedLab({ name: LAB, nodes: 3, ttlSeconds: 4, labels: { n1: { zone: 'a' }, n2: { zone: 'b' }, n3: { zone: 'c' } } });
  const value = `lab-s3cret-${randomBytes(8).toString('hex')}`;
  const app = 'vault';
  const tmpfsOf = (w: LabWorld, node: string) => join(w.node(node).dir, 'secrets', node);
  const replicaDir = (w: LabWorld, node: string) => join(tmpfsOf(w, node), app, 'db', '0');

  it('seals it to the node running the replica only: no sealed copy, no file, no trace on disk elsewhere', async () => {
    const w = lab();
    const set = await cli(w, value, 'secret', 'set', `${app}/password`, '--from-stdin');
    assert.equal(set.code, 0, set.stderr);
    // As a file and in the env: neither may leave a trace on a disk (Docker keeps a container's env in its config there).
    await w.putManifest(app, 'db', webManifest({ secrets: { password: '/run/secrets/password' }, env: { PASSWORD: { secret: 'password' } }, constraints: { 'node.labels.zone': 'a' } }));
    const [c] = await waitFor('running on n1', async () => {
      const running = (await w.containers(app, 'db', { all: false })).get('n1')!.filter((x) => x.running);
      return (await w.status(app, 'db'))?.phase === 'Running' && running.length ? running : undefined;
    }, 60_000, 250);
    assert.equal((await dockerExec(w.engine('n1'), c!.id, ['cat', '/run/secrets/password'])).output, value);

    assert.deepEqual(await w.keysUnder(w.keys.sealed), [w.keys.sealedCopy('n1', app, 'password')]);
    assert.ok(await isTmpfs(tmpfsOf(w, 'n1')), 'n1 keeps it on a tmpfs');
    assert.match((await dockerExec(w.engine('n1'), c!.id, ['sh', '-c', 'grep -aho "PASSWORD=[[:alnum:]_-]*" /proc/[0-9]*/environ 2>/dev/null'])).output, new RegExp(`^PASSWORD=${value}$`, 'm'));
    assert.deepEqual(readdirSync(replicaDir(w, 'n1')).sort(), ['secret-env', 'secret-password']);
    for (const n of ['n2', 'n3']) assert.ok(!existsSync(join(tmpfsOf(w, n), app)), `${n} has no file of ${app}`);
    // Nowhere on the lab's disk: not in etcd's data, the logs, the engines' data roots, the agents' state.
    assert.deepEqual(await filesHolding(w.state.stateDir, value, 'secrets'), []);
    // The search does find it where it is: n1's tmpfs.
    assert.deepEqual((await filesHolding(tmpfsOf(w, 'n1'), value, 'none')).sort(), [join(replicaDir(w, 'n1'), 'secret-env'), join(replicaDir(w, 'n1'), 'secret-password')]);
  });

  it('follows the replica to another host and leaves none behind', async () => {
    const w = lab();
    await w.putManifest(app, 'db', webManifest({ secrets: { password: '/run/secrets/password' }, constraints: { 'node.labels.zone': 'b' } }));
    await waitFor('running on n2 only', async () => {
      const counts = await w.runningCounts(app, 'db');
      return (await w.status(app, 'db'))?.phase === 'Running' && counts.n2 === 1 && counts.n1 === 0 ? counts : undefined;
    }, 60_000, 250);
    await waitFor('the sealed copy on n2 only', async () => {
      const keys = await w.keysUnder(w.keys.sealed);
      return keys.length === 1 && keys[0] === w.keys.sealedCopy('n2', app, 'password') ? keys : undefined;
    }, 30_000, 250);
    assert.deepEqual(readdirSync(replicaDir(w, 'n2')), ['secret-password']);
    await waitFor('n1 files gone', async () => !existsSync(join(tmpfsOf(w, 'n1'), app, 'db', '0')), 30_000, 250);
  });
});
