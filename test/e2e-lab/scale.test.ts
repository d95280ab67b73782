import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NGINX_PAGE, waitFor } from '../e2e/support/world.js';
import { sleepMs, webManifest, useSharedLab } from './support/lab-world.js';

const LAB = 'lscale';
const TTL = 4;

describe('3 hosts: scale 6 spreads evenly', () => {
  const lab = useSharedLab({ name: LAB, nodes: 3, ttlSeconds: TTL });

  it('runs exactly 2 replicas on each engine, each registered where it runs', async () => {
    const w = lab();
    const app = 'spread';
    await w.putManifest(app, 'web', webManifest({ scale: 6 }));

    const counts = await waitFor('2 running replicas on each engine and status Running', async () => {
      const c = await w.runningCounts(app, 'web');
      const s = await w.status(app, 'web');
      return s?.phase === 'Running' && Object.values(c).every((n) => n === 2) ? c : undefined;
    }, 60_000, 250);
    assert.deepEqual(counts, { n1: 2, n2: 2, n3: 2 });

    // Docker's view: 6 containers in all (none stopped or left over), replicas 0..5 once each,
    // each labelled with the node whose engine runs it.
    const byNode = await w.containers(app, 'web', { all: true });
    const all = [...byNode.values()].flat();
    assert.equal(all.length, 6, `containers (all states): ${JSON.stringify(all)}`);
    assert.ok(all.every((c) => c.running));
    assert.deepEqual(all.map((c) => c.replica).sort(), [0, 1, 2, 3, 4, 5]);
    for (const [node, cs] of byNode) {
      for (const c of cs) {
        const info = await w.engine(node).getContainer(c.id).inspect();
        assert.equal(info.Config.Labels['dokkaa.node'], node);
      }
    }

    // etcd's view agrees: one placement per replica, on the node that runs it; one replica
    // record per replica naming that node and container; one endpoint per replica at that
    // node's address and the container's published port.
    const placements = await w.placements(app, 'web');
    assert.deepEqual(placements.map((p) => p.replica), [0, 1, 2, 3, 4, 5]);
    const where = new Map(all.map((c) => [c.replica, c]));
    for (const p of placements) assert.equal(p.node, where.get(p.replica)!.node, `placement of replica ${p.replica}`);
    const records = await w.replicaRecords(app, 'web');
    assert.equal(records.length, 6);
    for (const r of records) {
      const c = where.get(r.replica)!;
      assert.equal(r.node, c.node);
      assert.equal(r.containerId, c.id);
      assert.equal(r.state, 'running');
      assert.equal(r.address, w.node(c.node).address);
    }
    const endpoints = await w.endpoints(app, 'web');
    assert.equal(endpoints.length, 6);
    for (const e of endpoints) {
      const c = where.get(e.replica)!;
      assert.equal(e.host, w.node(c.node).address);
      assert.equal(e.port, c.port80);
      assert.equal(e.containerId, c.id);
    }

    // Every endpoint really serves, reached over the lab network at its host's address.
    for (const e of endpoints) {
      const page = await waitFor(`GET http://${e.host}:${e.port}/`, async () => {
        const res = await fetch(`http://${e.host}:${e.port}/`, { signal: AbortSignal.timeout(2_000) });
        return res.ok ? res.text() : undefined;
      }, 15_000, 250);
      assert.ok(page.includes(NGINX_PAGE), `replica ${e.replica} on ${e.node} serves the page`);
    }

    // And it stays that way: no churn once converged.
    const ids = all.map((c) => c.id).sort();
    await sleepMs(TTL * 1000);
    const again = [...(await w.containers(app, 'web', { all: true })).values()].flat();
    assert.deepEqual(again.map((c) => c.id).sort(), ids, 'the same 6 containers, none replaced');
    assert.deepEqual(await w.runningCounts(app, 'web'), { n1: 2, n2: 2, n3: 2 });
  });
});
