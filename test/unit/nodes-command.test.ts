import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Keys } from '../../api/keys.js';
import type { MaintenanceRecord, NodeRecord } from '../../api/records.js';
import { formatNodes, readNodes } from '../../cli/client-commands.js';
import { node } from './builders.js';
import { FakeKvStore } from './fake-kv-store.js';

const keys = new Keys('/dokkaa');
const GI = 2 ** 30;
const MI = 2 ** 20;

/** n1 half full, n2 cordoned and empty, n3 draining and over-allocated, n4 an agent from before resources. */
function cluster(): FakeKvStore {
  const store = new FakeKvStore();
  const put = (n: NodeRecord) => store.setQuietly(keys.node(n.name), JSON.stringify(n));
  const hold = (name: string, m: MaintenanceRecord) => store.setQuietly(keys.nodeMaintenance(name), JSON.stringify(m));
  put({ ...node('n1', { zone: 'a' }), capacity: { cpus: 2, memoryBytes: 4 * GI }, allocatable: { cpus: 2, memoryBytes: 4 * GI - 256 * MI }, allocated: { cpus: 0.5, memoryBytes: 1.5 * GI, replicas: 2 } });
  put({ ...node('n2'), allocatable: { cpus: 1, memoryBytes: GI }, allocated: { cpus: 0, memoryBytes: 0, replicas: 0 } });
  put({ ...node('n3'), allocatable: { cpus: 1, memoryBytes: GI }, allocated: { cpus: 1.2, memoryBytes: 2 * GI, replicas: 3 } });
  put(node('n4'));
  hold('n2', { cordoned: true, since: '2026-01-01T00:00:00Z', reason: 'disk swap' });
  hold('n3', { cordoned: true, since: '2026-01-01T00:00:00Z', draining: { startedAt: '2026-01-01T00:00:01Z' } });
  hold('gone', { cordoned: true, since: '2026-01-01T00:00:00Z' }); // a host that left: not listed
  store.setQuietly(keys.node('broken'), '{"name": 1}');
  return store;
}

describe('dokkaa nodes', () => {
  it('shows allocatable, allocated, free, replicas and the maintenance state of each live node', async () => {
    const out = formatNodes(await readNodes(cluster(), keys));
    assert.deepEqual(out.split('\n').map((l) => l.split(/\s{2,}/)), [
      ['NAME', 'ADDRESS', 'CPUS', 'MEMORY', 'ALLOCATED', 'FREE', 'REPLICAS', 'STATE', 'VERSION', 'LABELS'],
      ['n1', 'addr-of-n1', '2', '3.75Gi', '0.5/1.5Gi', '1.5/2.25Gi', '2', 'ready', 'test', 'zone=a'],
      ['n2', 'addr-of-n2', '1', '1Gi', '0/0', '1/1Gi', '0', 'cordoned', 'test', '-'],
      ['n3', 'addr-of-n3', '1', '1Gi', '1.2/2Gi', '-0.2/-1Gi', '3', 'draining', 'test', '-'],
      ['n4', 'addr-of-n4', '2', '1Gi', '-', '-', '-', 'ready', 'test', '-'],
    ]);
  });

  it('gives the records with allocatable, free and state as JSON', async () => {
    const views = JSON.parse(JSON.stringify(await readNodes(cluster(), keys))) as { name: string; allocatable: unknown; free?: unknown; state: string }[];
    assert.deepEqual(views.map((v) => [v.name, v.state, v.free]), [
      ['n1', 'ready', { cpus: 1.5, memoryBytes: 2.25 * GI }],
      ['n2', 'cordoned', { cpus: 1, memoryBytes: GI }],
      ['n3', 'draining', { cpus: -0.2, memoryBytes: -GI }],
      ['n4', 'ready', undefined],
    ]);
    assert.deepEqual(views[3]!.allocatable, { cpus: 2, memoryBytes: GI }, 'an older agent: its capacity');
  });

  it('says when there is no live node', () => {
    assert.equal(formatNodes([]), 'no live nodes');
  });
});
