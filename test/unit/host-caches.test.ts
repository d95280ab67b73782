import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Keys } from '../../api/keys.js';
import { HostCaches } from '../../src/agent/host-caches.js';
import { FakeClock } from './fake-clock.js';
import { InformerFactory } from '../../src/informer/informer-factory.js';
import { createLogger } from '../../src/logging.js';
import { FakeKvStore } from './fake-kv-store.js';

const keys = new Keys('/d');
const log = createLogger('error', true);
const sections = [keys.nodePlacements('h1'), keys.nodeReplicas('h1'), keys.nodeEndpoints('h1')];

/** HostCaches of host h1 on a fake store, its lease `id` granted at `grantedAt`, its informers synced. */
async function world() {
  const store = new FakeKvStore();
  const lease = { leaseId: 'a', grantedAt: 0, live: () => true, id() { return this.leaseId; }, grantRevision() { return this.grantedAt; } };
  await store.put(keys.node('h1'), '{}');
  lease.grantedAt = store.revision;
  const caches = new HostCaches(new InformerFactory(store, new FakeClock(), log), keys, { node: 'h1' }, lease);
  for (const i of [caches.placements, caches.records, caches.endpoints]) i.acquire();
  await Promise.all([caches.placements.synced(), caches.records.synced(), caches.endpoints.synced()]);
  store.listed.length = 0;
  return { store, lease, caches };
}

describe('HostCaches.ready', () => {
  it('trusts sections listed after the lease was granted: no second listing under the first lease', async () => {
    const { store, caches } = await world();
    await caches.ready();
    await caches.ready();
    assert.deepEqual(store.listed, []);
  });

  it('lists every section again under a lease granted after they were listed, once', async () => {
    const { store, lease, caches } = await world();
    await store.put(keys.node('h1'), '{"again":true}');
    lease.leaseId = 'b';
    lease.grantedAt = store.revision;
    await caches.ready();
    await caches.ready();
    assert.deepEqual([...store.listed].sort(), [...sections].sort());
  });

  it('lists again only the sections listed before the grant', async () => {
    const { store, lease, caches } = await world();
    await store.put(keys.node('h1'), '{"again":true}');
    lease.leaseId = 'b';
    lease.grantedAt = store.revision;
    await caches.records.relist();
    store.listed.length = 0;
    await caches.ready();
    assert.deepEqual([...store.listed].sort(), [keys.nodePlacements('h1'), keys.nodeEndpoints('h1')].sort());
  });

  it('refuses while the lease is not live, listing nothing', async () => {
    const { store, caches } = await world();
    const dead = new HostCaches(new InformerFactory(store, new FakeClock(), log), keys, { node: 'h1' }, { live: () => false, id: () => 'a', grantRevision: () => 0 });
    await assert.rejects(dead.ready(), /etcd out of reach/);
    await caches.ready();
    assert.deepEqual(store.listed, []);
  });
});
