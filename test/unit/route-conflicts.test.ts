import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Keys } from '../../api/keys.js';
import { decodeRecord, StatusRecord } from '../../api/records.js';
import { RouteConflicts } from '../../controllers/status/route-conflicts.js';
import { StatusCache } from '../../controllers/status/status-cache.js';
import { StatusReconciler } from '../../controllers/status/status-reconciler.js';
import { InformerFactory } from '../../src/informer/informer-factory.js';
import { createLogger } from '../../src/logging.js';
import { FakeClock, flush } from './fake-clock.js';
import { FakeKvStore } from './fake-kv-store.js';

const log = createLogger('error', true);
const keys = new Keys('/dokkaa');
const web = (hosts: string[] = []) => JSON.stringify({ image: 'nginx', services: { www: { port: 80, role: 'web', ...(hosts.length ? { hosts } : {}) } } });

async function started(store: FakeKvStore) {
  const routes = new RouteConflicts(new InformerFactory(store, new FakeClock(), log), keys);
  const queued: string[] = [];
  routes.changes.subscribe((id) => queued.push(id));
  routes.acquire();
  await flush();
  await routes.synced();
  await flush();
  const take = () => queued.splice(0).sort();
  return { routes, take };
}

describe('RouteConflicts (the status controller\'s view of the route table)', () => {
  it('gives the later claim of a host name its conflict message, and follows changes', async () => {
    const store = new FakeKvStore();
    store.setQuietly(keys.manifest('a', 'x'), web(['shop.example.com']));
    store.setQuietly(keys.manifest('b', 'y'), web(['shop.example.com']));
    const { routes, take } = await started(store);
    assert.deepEqual(routes.messagesFor('b', 'y'), ['services.www: host shop.example.com is already routed to a/x (service www); this service does not get it']);
    assert.deepEqual(routes.messagesFor('a', 'x'), []);
    take();

    // Rewriting the holder keeps its create revision: nothing changes, nothing is re-queued.
    await store.put(keys.manifest('a', 'x'), JSON.stringify({ image: 'nginx:2', services: { www: { port: 80, role: 'web', hosts: ['shop.example.com'] } } }));
    await flush();
    assert.deepEqual(take(), []);

    // The holder lets go of the name: the other manifest gets it and is re-queued.
    await store.put(keys.manifest('a', 'x'), web());
    await flush();
    assert.deepEqual(routes.messagesFor('b', 'y'), []);
    assert.deepEqual(take(), ['b/y']);

    // Deleted and re-created, the first manifest is now the later claim.
    await store.delete(keys.manifest('a', 'x'));
    await store.put(keys.manifest('a', 'x'), web(['shop.example.com']));
    await flush();
    assert.deepEqual(routes.messagesFor('a', 'x'), ['services.www: host shop.example.com is already routed to b/y (service www); this service does not get it']);
    assert.deepEqual(take(), ['a/x']);
    await routes.release();
  });

  it('re-computes the generated names when the domain changes, re-queuing whom it concerns', async () => {
    const store = new FakeKvStore();
    store.setQuietly(keys.manifest('shop', 'front'), web());
    // Another app's explicit host that is a generated name under the new domain.
    store.setQuietly(keys.manifest('other', 'web'), web(['shop.example.net']));
    const { routes, take } = await started(store);
    assert.deepEqual(routes.messagesFor('other', 'web'), []);
    take();
    await store.put(keys.routerConfig, JSON.stringify({ domain: 'example.net' }));
    await flush();
    assert.deepEqual(routes.messagesFor('other', 'web'), ['services.www: host shop.example.net is already routed to shop/front (service www); this service does not get it']);
    assert.deepEqual(take(), ['other/web']);
    await routes.release();
  });

  it('ignores manifests without a web service and manifests that do not decode', async () => {
    const store = new FakeKvStore();
    store.setQuietly(keys.manifest('a', 'x'), web(['shop.example.com']));
    const { routes, take } = await started(store);
    take();
    await store.put(keys.manifest('a', 'db'), JSON.stringify({ image: 'redis', services: { redis: 6379 } }));
    await store.put(keys.manifest('b', 'bad'), JSON.stringify({ image: 'nginx', services: { www: { port: 80, role: 'web', hosts: ['shop.example.com'] } }, scale: -1 }));
    await flush();
    assert.deepEqual(take(), []);
    assert.deepEqual(routes.messagesFor('b', 'bad'), []);
    await routes.release();
  });
});

describe('StatusReconciler with RouteConflicts', () => {
  it('writes the conflict into the later manifest\'s status, and takes it out once the name is free', async () => {
    const store = new FakeKvStore();
    store.setQuietly(keys.manifest('a', 'x'), web(['shop.example.com']));
    store.setQuietly(keys.manifest('b', 'y'), JSON.stringify({ image: 'nginx', scale: 0, services: { www: { port: 80, role: 'web', hosts: ['shop.example.com'] } } }));
    const factory = new InformerFactory(store, new FakeClock(), log);
    const cache = new StatusCache(factory, keys);
    const routes = new RouteConflicts(factory, keys);
    cache.acquire();
    routes.acquire();
    await flush();
    const reconciler = new StatusReconciler(store, keys, cache, routes, factory, new FakeClock());
    const status = async () => {
      await reconciler.reconcile('b/y', log);
      return decodeRecord(StatusRecord, (await store.get(keys.status('b', 'y')))?.value);
    };
    const lost = 'services.www: host shop.example.com is already routed to a/x (service www); this service does not get it';
    assert.deepEqual(await status().then((s) => [s?.phase, s?.message, s?.errors]), ['Running', `0/0 replicas running; warning: ${lost}`, [lost]]);
    await store.delete(keys.manifest('a', 'x'));
    await flush();
    assert.deepEqual(await status().then((s) => [s?.phase, s?.message, s?.errors]), ['Running', '0/0 replicas running', undefined]);
    await Promise.all([cache.release(), routes.release()]);
  });
});
