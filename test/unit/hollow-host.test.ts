import 'reflect-metadata';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Keys } from '../../api/keys.js';
import { hollowHost, HollowInformerFactory, isNodePrefix } from '../../bench/hollow-host.js';
import { SystemClock } from '../../src/clock.js';
import { InformerFactory } from '../../src/informer/informer-factory.js';
import { Resources } from '../../src/informer/resources.js';
import { createLogger } from '../../src/logging.js';
import { FakeKvStore } from './fake-kv-store.js';

const keys = new Keys('/d');
const log = createLogger('error', true);

describe('hollow hosts (the scale bench harness)', () => {
  it("tells a node's own prefixes from cluster-wide ones", () => {
    assert.equal(isNodePrefix(keys.nodePlacements('h1'), 'h1'), true);
    assert.equal(isNodePrefix(keys.nodeSealed('h1'), 'h1'), true);
    assert.equal(isNodePrefix(keys.nodePlacements('h10'), 'h1'), false);
    assert.equal(isNodePrefix(keys.replicas, 'h1'), false);
    assert.equal(isNodePrefix(keys.endpoints, 'h1'), false);
  });

  it('shares cluster-wide informers between the hosts of a process and keeps each host its own', () => {
    const store = new FakeKvStore();
    const clock = new SystemClock();
    const shared = new InformerFactory(store, clock, log);
    const a = new HollowInformerFactory(store, clock, log, 'h1', shared);
    const b = new HollowInformerFactory(store, clock, log, 'h2', shared);
    assert.equal(a.informer(Resources.replicas(keys)), b.informer(Resources.replicas(keys)));
    assert.equal(a.informer(Resources.endpoints(keys)), shared.informer(Resources.endpoints(keys)));
    assert.notEqual(a.informer(Resources.nodePlacements(keys, 'h1')), b.informer(Resources.nodePlacements(keys, 'h2')));
    assert.deepEqual(a.counts().map((c) => c.prefix), [keys.nodePlacements('h1')]);
  });

  it('starts the real agent modules on a memory engine: each host registers under its own lease', async () => {
    const store = new FakeKvStore();
    const shared = new InformerFactory(store, new SystemClock(), log);
    const dir = mkdtempSync(join(tmpdir(), 'dokkaa-hollow-'));
    const hosts = ['h1', 'h2'].map((node, i) =>
      hollowHost({ node, address: `10.0.0.${i + 1}`, etcd: ['http://fake:2379'], prefix: '/d', store, shared, leaseTtlSeconds: 10, resyncSeconds: 30, dir, log, capacity: { cpus: 64, memoryBytes: 2 ** 36, version: 'hollow' } }),
    );
    for (const h of hosts) await h.manager.start();
    try {
      const nodes = (await store.list(keys.nodes)).kvs.map((kv) => JSON.parse(kv.value) as { name: string; address: string; capacity: { cpus: number } });
      assert.deepEqual(nodes.map((n) => [n.name, n.address, n.capacity.cpus]).sort(), [['h1', '10.0.0.1', 64], ['h2', '10.0.0.2', 64]]);
      assert.notEqual(hosts[0]!.engine, hosts[1]!.engine);
      assert.equal(hosts[0]!.engine.calls.info, 1, "the lease read the host's capacity from its own engine");
    } finally {
      for (const h of hosts) await h.manager.stop();
    }
    assert.deepEqual((await store.list(keys.nodes)).kvs, [], 'stopping revokes each lease');
  });
});
