import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '../e2e/support/world.js';
import { webManifest, useSharedLab } from './support/lab-world.js';

const LAB = 'lconstr';
const TTL = 4;

describe('constraints on node labels across 3 hosts', () => {
  const lab = useSharedLab({ name: LAB, nodes: 3, ttlSeconds: TTL, labels: { n1: { disk: 'ssd' }, n2: { disk: 'hdd' }, n3: { disk: 'ssd' } } });

  it('runs a constrained manifest only on matching hosts, and reports one that matches none as unschedulable', async () => {
    const w = lab();
    // The labels reached the node records the scheduler reads: the lab's, disk among them
    // (the shared lab's hosts carry other labels too).
    for (const [n, disk] of [['n1', 'ssd'], ['n2', 'hdd'], ['n3', 'ssd']] as const) {
      const labels = (await w.nodeRecord(n))?.labels;
      assert.deepEqual(labels, w.node(n).labels, `${n}'s record has the labels its agent was given`);
      assert.equal(labels?.disk, disk);
    }

    const app = 'disks';
    await w.putManifest(app, 'fast', webManifest({ scale: 4, constraints: { 'node.labels.disk': 'ssd' } }));
    await w.putManifest(app, 'nvme', webManifest({ scale: 2, constraints: { 'node.labels.disk': 'nvme' } }));

    const counts = await waitFor('fast: 2 running on n1 and on n3, status Running', async () => {
      const c = await w.runningCounts(app, 'fast');
      return (await w.status(app, 'fast'))?.phase === 'Running' && c.n1 === 2 && c.n3 === 2 ? c : undefined;
    }, 60_000, 250);
    assert.deepEqual(counts, { n1: 2, n2: 0, n3: 2 });
    const fast = await w.containers(app, 'fast', { all: true });
    assert.equal(fast.get('n2')!.length, 0, 'nothing of it on n2 (disk=hdd), not even a stopped container');
    assert.deepEqual([...fast.values()].flat().map((c) => c.replica).sort(), [0, 1, 2, 3]);
    const placed = await w.placements(app, 'fast');
    assert.deepEqual(placed.map((p) => p.replica), [0, 1, 2, 3]);
    assert.ok(placed.every((p) => p.node === 'n1' || p.node === 'n3'), `placements: ${JSON.stringify(placed.map((p) => [p.replica, p.node]))}`);

    const pending = await waitFor('nvme Pending with unschedulable replicas', async () => {
      const s = await w.status(app, 'nvme');
      return s?.phase === 'Pending' && s.replicas.length === 2 && s.replicas.every((r) => r.message?.includes('unschedulable')) ? s : undefined;
    }, 30_000, 250);
    assert.equal(pending.desired, 2);
    assert.equal(pending.running, 0);
    for (const r of pending.replicas) {
      assert.equal(r.state, 'unscheduled');
      assert.match(r.message!, /unschedulable/);
    }
    assert.deepEqual(await w.placements(app, 'nvme'), [], 'no placement for a manifest no host matches');
    const nvme = await w.containers(app, 'nvme', { all: true });
    assert.deepEqual([...nvme.values()].flat(), [], 'no container of it on any engine');
  });
});
