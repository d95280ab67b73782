import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalJson } from '../../api/canonical-json.js';
import { Keys } from '../../api/keys.js';
import type { EndpointRecord, ReplicaRecord } from '../../api/records.js';
import { ServiceRegistrarReconciler } from '../../controllers/service-registrar/service-registrar-reconciler.js';
import { HostCaches } from '../../src/agent/host-caches.js';
import type { NodeLease } from '../../src/agent/node-lease.js';
import { InformerFactory } from '../../src/informer/informer-factory.js';
import { createLogger } from '../../src/logging.js';
import { placement, replica, spec } from './builders.js';
import { FakeClock, flush } from './fake-clock.js';
import { FakeKvStore, grantRevisions } from './fake-kv-store.js';

/** Host h1's registrar over a fake store, its informers synced as its controller has them. */

const keys = new Keys('/d');
const log = createLogger('error', true);
const ID = 'app/web/0';
const p = placement(spec({ image: 'nginx', services: { web: 80 } }), 0, 'h1');
const ready = (extra: Partial<ReplicaRecord> = {}) => replica(p, { ports: { web: { containerPort: 80, hostPort: 32010, protocol: 'tcp' } }, ...extra });
const endpointKey = keys.endpoint('h1', 'app', 'web', keys.endpointId('web', 0, 'h1'));

async function world() {
  const store = new FakeKvStore();
  const factory = new InformerFactory(store, new FakeClock(), log);
  const grantRevisionOf = grantRevisions(store);
  const lease = {
    node: 'h1',
    leaseId: '7',
    id() { return this.leaseId; },
    live: () => true,
    grantRevision() {
      return grantRevisionOf(this.leaseId);
    },
  };
  const caches = new HostCaches(factory, keys, { node: 'h1' }, lease);
  const reconciler = new ServiceRegistrarReconciler(store, keys, lease as unknown as NodeLease, caches);
  const { endpoints } = caches;
  for (const informer of [caches.records, endpoints]) informer.acquire();
  await flush();
  return {
    store, lease, endpoints,
    setRecord: (r: ReplicaRecord) => store.put(keys.replica('h1', 'app', 'web', 0), canonicalJson(r), { lease: lease.leaseId }),
    reconcile: () => reconciler.reconcile(ID, log),
  };
}

describe('ServiceRegistrarReconciler', () => {
  it('publishes an endpoint per service of a ready replica, under the host\'s lease', async () => {
    const w = await world();
    await w.setRecord(ready());
    await w.reconcile();
    const kv = await w.store.get(endpointKey);
    const expected: EndpointRecord = { host: 'addr-of-h1', port: 32010, protocol: 'tcp', node: 'h1', app: 'app', name: 'web', replica: 0, containerId: 'c-0' };
    assert.equal(kv?.value, canonicalJson(expected));
    assert.equal(kv?.lease, '7');
  });

  it('reads back its own endpoint writes before their watch events: no second write, no delete of what it just deleted', async () => {
    const w = await world();
    const deliver = w.store.lag(keys.nodeEndpoints('h1'));
    await w.setRecord(ready());
    await w.reconcile();
    const written = w.store.revision;
    assert.equal(w.endpoints.get(endpointKey)?.modRevision, written, 'the cache holds the write while its event is still on the way');
    await w.reconcile();
    assert.equal(w.store.revision, written, 'the same endpoint is not written again');

    await w.setRecord(ready({ ready: false }));
    await w.reconcile();
    assert.equal(await w.store.get(endpointKey), undefined, 'withdrawn once the replica is not ready');
    const deleted = w.store.revision;
    await w.reconcile();
    assert.equal(w.store.revision, deleted, 'nothing more to do');
    deliver();
    assert.equal(w.endpoints.get(endpointKey), undefined, 'the late events of the writes change nothing');
  });

  it('writes its endpoints again under a new lease, and puts back one deleted by someone else', async () => {
    const w = await world();
    await w.setRecord(ready());
    await w.reconcile();
    w.lease.leaseId = '8';
    await w.reconcile();
    assert.equal((await w.store.get(endpointKey))?.lease, '8');
    await w.store.delete(endpointKey);
    await w.reconcile();
    assert.equal((await w.store.get(endpointKey))?.lease, '8');
  });

  it('publishes the serving container of a start-first update until the new one is ready', async () => {
    const w = await world();
    const ports = { web: { containerPort: 80, hostPort: 32011, protocol: 'tcp' as const } };
    await w.setRecord(ready({ containerId: 'c-new', ready: false, serving: { containerId: 'c-old', ports } }));
    await w.reconcile();
    const e = JSON.parse((await w.store.get(endpointKey))!.value) as EndpointRecord;
    assert.deepEqual([e.containerId, e.port], ['c-old', 32011]);
  });
});
