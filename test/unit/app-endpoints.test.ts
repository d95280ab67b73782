import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Keys } from '../../api/keys.js';
import { AppEndpoints, LOOKUP_HOLD_MS, LOOKUP_WAIT_MS, type EndpointsChange } from '../../src/agent/app-endpoints.js';
import { InformerFactory } from '../../src/informer/informer-factory.js';
import { createLogger } from '../../src/logging.js';
import { endpoint } from './builders.js';
import { FakeClock, flush } from './fake-clock.js';
import { FakeKvStore } from './fake-kv-store.js';

const keys = new Keys('/d');

function setup() {
  const store = new FakeKvStore();
  const clock = new FakeClock();
  const informers = new InformerFactory(store, clock, createLogger('error', true));
  const apps = new AppEndpoints(informers, keys, clock);
  const changes: EndpointsChange[] = [];
  apps.changes.subscribe((c) => changes.push(c));
  const put = (app: string, service: string, replica: number, port = 30000 + replica) =>
    store.put(keys.serviceEndpoint(app, service, keys.endpointId('web', replica, 'h1')), JSON.stringify(endpoint('10.0.0.1', port, { app, replica })));
  const watched = () => store.liveWatchers().map((w) => w.prefix).sort();
  return { store, clock, informers, apps, changes, put, watched };
}

describe('AppEndpoints', () => {
  it('watches only the apps held, each under its own prefix, and lets an app go after its last holder', async () => {
    const t = setup();
    await t.put('shop', 'www', 0);
    await t.put('shop', 'db', 1);
    await t.put('blog', 'www', 2);
    assert.deepEqual(t.watched(), [], 'nothing held, nothing watched');

    t.apps.hold('ambassador', ['shop']);
    t.apps.hold('router', ['shop', 'blog']);
    await flush();
    assert.deepEqual(t.watched(), ['/d/service-endpoints/blog/', '/d/service-endpoints/shop/']);
    assert.equal(t.apps.synced(['shop', 'blog']), true);
    assert.deepEqual(t.apps.endpoints('shop', 'www').map((e) => e.port), [30000]);
    assert.equal(t.apps.hasApp('blog'), true);
    assert.deepEqual(t.apps.endpoints('news', 'www'), [], 'an app not held has none');

    t.apps.hold('router', []);
    await flush();
    assert.deepEqual(t.watched(), ['/d/service-endpoints/shop/'], 'blog had only the router');
    assert.deepEqual(t.informers.counts().map((c) => c.prefix), ['/d/service-endpoints/shop/'], 'the let-go app\'s informer forgotten, not kept for ever');
    assert.deepEqual(t.apps.endpoints('blog', 'www'), []);
    assert.ok(t.changes.some((c) => c.app === 'blog' && c.service === 'www'), 'the let-go app\'s services reported changed');
    await t.apps.lookup('news');
    t.apps.endLookups();
    await flush();
    assert.deepEqual(t.watched(), ['/d/service-endpoints/shop/'], 'ending the lookups lets go of news only');
    t.apps.hold('ambassador', []);
    await flush();
    assert.deepEqual(t.watched(), []);
  });

  it('reports each change of a held app\'s endpoints, by service', async () => {
    const t = setup();
    t.apps.hold('ambassador', ['shop']);
    await flush();
    t.changes.length = 0;
    await t.put('shop', 'www', 3);
    await t.put('blog', 'www', 4);
    await flush();
    assert.deepEqual(t.changes, [{ app: 'shop', service: 'www' }]);
    assert.deepEqual(t.apps.endpoints('shop', 'www').map((e) => e.replica), [3]);
  });

  it('holds an app looked up by name until LOOKUP_HOLD_MS after its last lookup, and answers once it is listed', async () => {
    const t = setup();
    await t.put('shop', 'www', 0);
    await t.apps.lookup('shop');
    assert.deepEqual(t.apps.endpoints('shop', 'www').map((e) => e.port), [30000], 'listed before the lookup resolves');
    await t.clock.advance(LOOKUP_HOLD_MS / 2);
    await t.apps.lookup('shop');
    await t.clock.advance(LOOKUP_HOLD_MS / 2 + 1);
    assert.deepEqual(t.watched(), ['/d/service-endpoints/shop/'], 'the second lookup renewed the hold');
    await t.clock.advance(LOOKUP_HOLD_MS / 2);
    assert.deepEqual(t.watched(), [], 'released once no lookup came for LOOKUP_HOLD_MS');
  });

  it('answers a lookup after LOOKUP_WAIT_MS if the listing does not come', async () => {
    const t = setup();
    t.store.failLists = 1000;
    let answered = false;
    const lookup = t.apps.lookup('shop').then(() => (answered = true));
    await t.clock.advance(LOOKUP_WAIT_MS - 1);
    assert.equal(answered, false);
    await t.clock.advance(1);
    await lookup;
    assert.deepEqual(t.apps.endpoints('shop', 'www'), []);
  });
});
