import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { EventRecord } from '../../api/records.js';
import { waitFor } from '../e2e/support/world.js';
import { useSharedLab, webManifest, type LabWorld } from './support/lab-world.js';

const LAB = 'lrcr';
const BIN = fileURLToPath(new URL('../../../bin/dokkaa.js', import.meta.url));
// Nothing answers there: the scheduler runs the image by tag (docs/registries.md) and the host's
// pull fails as unreachable, which it only tries once it holds the credentials. An address,
// refused at once (port 1 of each host's own loopback): a name would wait out the resolver's
// timeouts inside the hosts' namespaces, which reach no DNS server (20 s a lookup).
const HOST = '127.0.0.1:1';

function cli(w: LabWorld, input: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [BIN, ...args, ...w.cliFlags()], (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
    child.stdin!.end(input);
  });
}

describe('registry credentials reach only the hosts that pull from the registry, agents without the cluster key (3 hosts)', () => {
  const lab = useSharedLab({ name: LAB, nodes: 3, ttlSeconds: 4, labels: { n1: { zone: 'a' }, n2: { zone: 'b' }, n3: { zone: 'c' } } });
  const password = `lab-pw-${randomBytes(8).toString('hex')}`;
  const app = 'private';

  it('runs agents with no cluster key: neither flag nor environment', () => {
    const w = lab();
    for (const n of w.nodeNames) {
      const pid = w.node(n).agent!.pid;
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      assert.ok(argv.includes('agent'), `${n}: pid ${pid} is its agent`);
      assert.deepEqual(argv.filter((a) => a.includes('cluster-key')), [], `${n}: no --cluster-key-file`);
      assert.ok(!readFileSync(`/proc/${pid}/environ`, 'utf8').includes('DOKKAA_CLUSTER_KEY_FILE='), `${n}: no DOKKAA_CLUSTER_KEY_FILE`);
    }
  });

  it('seals the password to the host running the replica only, which pulls with it; follows the replica; logout takes it back', async () => {
    const w = lab();
    const login = await cli(w, `${password}\n`, 'registry', 'login', HOST, '--username', 'ci', '--password-stdin');
    assert.equal(login.code, 0, login.stderr);
    await w.putManifest(app, 'web', webManifest({ image: `${HOST}/web:1`, constraints: { 'node.labels.zone': 'a' } }));
    await waitFor('the copy on n1 only', async () => {
      const keys = await w.keysUnder(w.keys.sealedRegistries);
      return keys.length === 1 && keys[0] === w.keys.sealedRegistry('n1', HOST) ? keys : undefined;
    }, 60_000, 250);
    // It opened its copy and tried: not waiting for credentials, but a registry that does not
    // answer (the replica's failed record lasts only until its retry: its Failed event stays).
    const failed = await waitFor('n1 tried the pull', async () => {
      const events = (await w.eventValues(app, 'web')).map((v) => JSON.parse(v) as EventRecord);
      return events.find((e) => e.reason === 'Failed' && e.message.includes('registry unreachable'));
    }, 90_000, 250);
    assert.equal(failed.node, 'n1');

    await w.putManifest(app, 'web', webManifest({ image: `${HOST}/web:1`, constraints: { 'node.labels.zone': 'b' } }));
    await waitFor('the copy moved to n2', async () => {
      const keys = await w.keysUnder(w.keys.sealedRegistries);
      return keys.length === 1 && keys[0] === w.keys.sealedRegistry('n2', HOST) ? keys : undefined;
    }, 60_000, 250);

    const logout = await cli(w, '', 'registry', 'logout', HOST);
    assert.equal(logout.code, 0, logout.stderr);
    await waitFor('no copy left', async () => ((await w.keysUnder(w.keys.sealedRegistries)).length === 0 ? true : undefined), 30_000, 250);
  });
});
