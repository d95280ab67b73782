import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Keys } from '../../api/keys.js';
import { endpointConsumers, portConsumers } from '../../controllers/link-injector/link-maps.js';
import { endpointOwner, replicaConcerns } from '../../controllers/service-registrar/registrar-maps.js';
import { InformerFactory } from '../../src/informer/informer-factory.js';
import { Resources, type Endpoint, type Port, type Replica } from '../../src/informer/resources.js';
import type { InformerEvent, SharedInformer } from '../../src/informer/shared-informer.js';
import { createLogger } from '../../src/logging.js';
import { endpoint, placement, replica, spec } from './builders.js';
import { FakeClock, flush } from './fake-clock.js';
import { FakeKvStore } from './fake-kv-store.js';

const keys = new Keys('/d');

/** Informers over a fake store, synced, with every later event of `of` collected. */
async function world() {
  const store = new FakeKvStore();
  const factory = new InformerFactory(store, new FakeClock(), createLogger('error', true));
  const started = <T>(i: SharedInformer<T>) => {
    i.acquire();
    return i;
  };
  const manifests = started(factory.informer(Resources.manifests(keys)));
  const endpoints = started(factory.informer(Resources.endpoints(keys)));
  const ports = started(factory.informer(Resources.ports(keys)));
  const replicas = started(factory.informer(Resources.replicas(keys)));
  await flush();
  const last = <T>(i: SharedInformer<T>) => {
    const seen: InformerEvent<T>[] = [];
    i.events.subscribe((ev) => seen.push(ev));
    return () => seen.at(-1)!;
  };
  return { store, manifests, endpoints, ports, replicas, lastEndpoint: last<Endpoint>(endpoints), lastPort: last<Port>(ports), lastReplica: last<Replica>(replicas) };
}

describe('link injector map functions', () => {
  it('maps an endpoint or port change to the manifests linking to its service, as the manifests say now', async () => {
    const w = await world();
    await w.store.put(keys.manifest('app', 'web'), JSON.stringify({ image: 'x', links: ['db'] }));
    await w.store.put(keys.manifest('app', 'cron'), JSON.stringify({ image: 'x', links: ['db', 'cache'] }));
    await w.store.put(keys.manifest('app', 'db'), JSON.stringify({ image: 'x', services: { db: 5432 } }));
    await w.store.put(keys.endpoint('h1', 'app', 'db', 'db.0.h1'), JSON.stringify(endpoint('10.0.0.1', 32768, { name: 'db' })));
    assert.deepEqual(endpointConsumers(w.manifests, w.endpoints, w.lastEndpoint()).sort(), ['app/cron', 'app/web']);
    await w.store.put(keys.port('app', 'cache'), JSON.stringify({ port: 20001, protocol: 'tcp' }));
    assert.deepEqual(portConsumers(w.manifests, w.lastPort()), ['app/cron']);
    // web drops its link: a later endpoint change reaches cron only; the delete is mapped through the record it had.
    await w.store.put(keys.manifest('app', 'web'), JSON.stringify({ image: 'x' }));
    await w.store.delete(keys.endpoint('h1', 'app', 'db', 'db.0.h1'));
    assert.equal(w.lastEndpoint().type, 'delete');
    assert.deepEqual(endpointConsumers(w.manifests, w.endpoints, w.lastEndpoint()), ['app/cron']);
  });

  it('maps only the first endpoint of a service coming and its last going (a resolution says whether there is any)', async () => {
    const w = await world();
    await w.store.put(keys.manifest('app', 'web'), JSON.stringify({ image: 'x', links: ['db'] }));
    const ep = (n: number) => keys.endpoint(`h${n}`, 'app', 'db', `db.${n}.h${n}`);
    const put = (n: number, port = 32768) => w.store.put(ep(n), JSON.stringify(endpoint(`10.0.0.${n}`, port, { name: 'db', node: `h${n}`, replica: n })));
    await put(1);
    assert.deepEqual(endpointConsumers(w.manifests, w.endpoints, w.lastEndpoint()), ['app/web'], 'the first');
    await put(2);
    assert.deepEqual(endpointConsumers(w.manifests, w.endpoints, w.lastEndpoint()), [], 'a second');
    await put(1, 40000);
    assert.deepEqual(endpointConsumers(w.manifests, w.endpoints, w.lastEndpoint()), [], 'one changed');
    await w.store.delete(ep(1));
    assert.deepEqual(endpointConsumers(w.manifests, w.endpoints, w.lastEndpoint()), [], 'one of two gone');
    await w.store.delete(ep(2));
    assert.deepEqual(endpointConsumers(w.manifests, w.endpoints, w.lastEndpoint()), ['app/web'], 'the last gone');
  });
});

describe('service registrar map functions', () => {
  const s = spec({ image: 'x', services: { web: 80 } });
  const rec = (n: number, node: string) => JSON.stringify(replica(placement(s, n, node)));

  it('maps this host\'s endpoints to their replica, puts and deletes, and leaves other hosts\' alone', async () => {
    const w = await world();
    await w.store.put(keys.endpoint('h1', 'app', 'web', 'web.0.h1'), JSON.stringify(endpoint('10.0.0.1', 32768, { node: 'h1', replica: 0 })));
    assert.deepEqual(endpointOwner('h1', w.lastEndpoint()), ['app/web/0']);
    assert.deepEqual(endpointOwner('h2', w.lastEndpoint()), []);
    await w.store.delete(keys.endpoint('h1', 'app', 'web', 'web.0.h1'));
    assert.deepEqual(endpointOwner('h1', w.lastEndpoint()), ['app/web/0']);
  });

  it('maps a replica record to this host only if it runs, ran, or still has endpoints here', async () => {
    const w = await world();
    await w.store.put(keys.replica('h1', 'app', 'web', 0), rec(0, 'h1'));
    assert.deepEqual(replicaConcerns('h1', w.endpoints, w.lastReplica()), ['app/web/0']);
    assert.deepEqual(replicaConcerns('h2', w.endpoints, w.lastReplica()), [], 'another host\'s replica');
    // It moved from h1 to h2: h1's node runner deletes its record, and h1 must drop its endpoints.
    await w.store.delete(keys.replica('h1', 'app', 'web', 0));
    assert.deepEqual(replicaConcerns('h1', w.endpoints, w.lastReplica()), ['app/web/0']);
    // h3 still holds an endpoint of replica 1, whose record (h2's) goes.
    await w.store.put(keys.replica('h2', 'app', 'web', 1), rec(1, 'h2'));
    await w.store.put(keys.endpoint('h3', 'app', 'web', 'web.1.h3'), JSON.stringify(endpoint('10.0.0.3', 32768, { node: 'h3', replica: 1 })));
    await w.store.delete(keys.replica('h2', 'app', 'web', 1));
    assert.deepEqual(replicaConcerns('h3', w.endpoints, w.lastReplica()), ['app/web/1']);
    assert.deepEqual(replicaConcerns('h1', w.endpoints, w.lastReplica()), []);
  });
});
