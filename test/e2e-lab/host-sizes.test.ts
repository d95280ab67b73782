import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { labUp } from '../../lab/index.js';
import { waitFor } from '../e2e/support/world.js';
import { webManifest, useLab } from './support/lab-world.js';

const LAB = 'lsizes';
const TTL = 4;
const GI = 2 ** 30;

describe('lab hosts of different sizes, and a host joining', () => {
  const lab = useLab({
    name: LAB,
    ttlSeconds: TTL,
    hosts: [{ capacity: { memory: '1Gi', cpus: 1 }, labels: { zone: 'a' } }, { capacity: { memory: '2Gi', cpus: 2 }, labels: { zone: 'b' } }],
  });

  it('each agent reports the size it was given, with no reserve, and counts what is placed on it', async () => {
    const w = lab();
    const n1 = await w.nodeRecord('n1');
    const n2 = await w.nodeRecord('n2');
    assert.deepEqual([n1?.capacity, n1?.allocatable, n1?.labels], [{ cpus: 1, memoryBytes: GI }, { cpus: 1, memoryBytes: GI }, { zone: 'a' }]);
    assert.deepEqual([n2?.capacity, n2?.allocatable, n2?.labels], [{ cpus: 2, memoryBytes: 2 * GI }, { cpus: 2, memoryBytes: 2 * GI }, { zone: 'b' }]);

    await w.putManifest('sizes', 'web', webManifest({ scale: 3 }));
    await waitFor('3 replicas counted in the node records', async () => {
      const counted = await Promise.all(['n1', 'n2'].map(async (n) => (await w.nodeRecord(n))?.allocated?.replicas ?? 0));
      return counted[0]! + counted[1]! === 3;
    }, 60_000, 250);
  });

  it('adds a bigger host to the running lab, leaving the others as they are', async () => {
    const w = lab();
    const agents = w.state.nodes.map((n) => n.agent?.pid);
    const n3 = await w.addHost({ capacity: { memory: '4Gi', cpus: 2 }, labels: { zone: 'c' } });
    assert.equal(n3.name, 'n3');
    const record = await w.nodeRecord('n3');
    assert.deepEqual([record?.capacity, record?.allocatable, record?.labels], [{ cpus: 2, memoryBytes: 4 * GI }, { cpus: 2, memoryBytes: 4 * GI }, { zone: 'c' }]);
    assert.deepEqual(w.state.nodes.slice(0, 2).map((n) => n.agent?.pid), agents, 'n1 and n2 keep their agents');
    assert.deepEqual(await w.containersOn('n3', 'sizes', 'web'), [], "n3's engine answers like the others'");

    // The sizes are the lab's: `up` without options keeps them and changes nothing.
    const again = await labUp({ name: LAB, say: w.say });
    assert.deepEqual(again.changes, []);
    assert.deepEqual(again.state.nodes.map((n) => n.capacity), [{ memory: '1Gi', cpus: 1 }, { memory: '2Gi', cpus: 2 }, { memory: '4Gi', cpus: 2 }]);
  });
});
