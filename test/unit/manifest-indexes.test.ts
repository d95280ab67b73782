import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Keys } from '../../api/keys.js';
import { decodeRecord, LinkRecord, StatusRecord } from '../../api/records.js';
import { LinkInjectorReconciler } from '../../controllers/link-injector/link-injector-reconciler.js';
import { ReadySince } from '../../controllers/scheduler/ready-since.js';
import { RouteConflicts } from '../../controllers/status/route-conflicts.js';
import { StatusCache } from '../../controllers/status/status-cache.js';
import { StatusReconciler } from '../../controllers/status/status-reconciler.js';
import { InformerFactory } from '../../src/informer/informer-factory.js';
import { manifestReplicas, Resources, serviceEndpoints } from '../../src/informer/resources.js';
import { createLogger } from '../../src/logging.js';
import { endpoint, node, placement, replica, spec } from './builders.js';
import { FakeClock, flush } from './fake-clock.js';
import { FakeKvStore } from './fake-kv-store.js';

/**
 * The per-manifest and per-service reads of the controllers' hot paths: replica records by
 * manifest and endpoints by service, from the shared informers' indexes, where a listing of
 * `node-replicas/` or `node-endpoints/` would read every host's records for each reconcile.
 */

const log = createLogger('error', true);
const keys = new Keys('/dokkaa');
const web = spec({ image: 'busybox', scale: 2 });

describe('replica records by manifest (the replicas informer, BY_MANIFEST)', () => {
  it('holds every host\'s records of one manifest, in key order, and follows puts and deletes', async () => {
    const store = new FakeKvStore();
    const put = (r: ReturnType<typeof replica>) => store.put(keys.replica(r.node, r.app, r.name, r.replica), JSON.stringify(r));
    store.setQuietly(keys.replica('b', 'app', 'web', 1), JSON.stringify(replica(placement(web, 1, 'b'))));
    store.setQuietly(keys.replica('a', 'app', 'web', 0), JSON.stringify(replica(placement(web, 0, 'a'))));
    store.setQuietly(keys.replica('a', 'app', 'other', 0), JSON.stringify(replica(placement(web, 0, 'a', { name: 'other' }))));
    const replicas = factoryOf(store).informer(Resources.replicas(keys));
    replicas.acquire();
    await replicas.synced();
    const of = (name: string) => manifestReplicas(replicas, 'app', name).map((r) => `${r.replica}@${r.node}`);
    assert.deepEqual(of('web'), ['0@a', '1@b']);
    assert.deepEqual(of('other'), ['0@a']);
    assert.deepEqual(of('none'), []);

    await put(replica(placement(web, 2, 'c')));
    await put(replica(placement(web, 1, 'a'))); // index 1 reported by a second host (a move)
    await store.delete(keys.replica('b', 'app', 'web', 1));
    assert.deepEqual(of('web'), ['0@a', '1@a', '2@c']);
    await put(replica(placement(web, 0, 'a'), { state: 'exited', ready: false }));
    assert.deepEqual(manifestReplicas(replicas, 'app', 'web').map((r) => r.state), ['exited', 'running', 'running']);
    await replicas.release();
  });

  it('leaves out a record under one host\'s prefix that names another host, like an undecodable one', async () => {
    const store = new FakeKvStore();
    store.setQuietly(keys.replica('a', 'app', 'web', 0), JSON.stringify(replica(placement(web, 0, 'b'))));
    store.setQuietly(keys.replica('a', 'app', 'web', 1), '{"state":');
    store.setQuietly(keys.replica('b', 'app', 'web', 1), JSON.stringify(replica(placement(web, 1, 'b'))));
    const replicas = factoryOf(store).informer(Resources.replicas(keys));
    replicas.acquire();
    await replicas.synced();
    assert.deepEqual(manifestReplicas(replicas, 'app', 'web').map((r) => `${r.replica}@${r.node}`), ['1@b']);
    await replicas.release();
  });
});

describe('endpoints by service (the endpoints informer, BY_SERVICE)', () => {
  it('holds every host\'s endpoints of one service and follows deletes', async () => {
    const store = new FakeKvStore();
    const at = (n: string, app: string, service: string, ep: string) => keys.endpoint(n, app, service, ep);
    store.setQuietly(at('h1', 'db', 'pg', 'e1'), JSON.stringify(endpoint('10.0.0.1', 5432, { node: 'h1', app: 'db', name: 'pg' })));
    store.setQuietly(at('h2', 'db', 'pg', 'e2'), JSON.stringify(endpoint('10.0.0.2', 5432, { node: 'h2', app: 'db', name: 'pg' })));
    store.setQuietly(at('h2', 'db', 'cache', 'e3'), JSON.stringify(endpoint('10.0.0.2', 6379, { node: 'h2', app: 'db', name: 'cache' })));
    const endpoints = factoryOf(store).informer(Resources.endpoints(keys));
    endpoints.acquire();
    await endpoints.synced();
    const hosts = (service: string) => serviceEndpoints(endpoints, 'db', service).map((e) => e.host).sort();
    assert.deepEqual(hosts('pg'), ['10.0.0.1', '10.0.0.2']);
    assert.deepEqual(hosts('cache'), ['10.0.0.2']);
    assert.deepEqual(serviceEndpoints(endpoints, 'other', 'pg'), []);
    await store.delete(at('h1', 'db', 'pg', 'e1'));
    await store.delete(at('h2', 'db', 'cache', 'e3'));
    assert.deepEqual(hosts('pg'), ['10.0.0.2']);
    assert.deepEqual(hosts('cache'), []);
    await endpoints.release();
  });
});

describe('ReadySince', () => {
  it('keeps the first time a key was seen ready, forgets it when it is not, and forgets a manifest\'s keys together', () => {
    const r = new ReadySince();
    r.see('app/web/0', true, 100);
    r.see('app/web/0', true, 200);
    r.see('app/web/1', false, 100);
    r.see('app/webber/0', true, 150);
    assert.equal(r.get('app/web/0'), 100);
    assert.equal(r.get('app/web/1'), undefined);
    r.see('app/web/0', false, 300);
    r.see('app/web/0', true, 400);
    assert.equal(r.get('app/web/0'), 400, 'readiness lost starts the clock again');
    r.see('app/web/2/hash', true, 500);
    r.forgetManifest('app/web');
    assert.deepEqual([r.get('app/web/0'), r.get('app/web/2/hash'), r.get('app/webber/0')], [undefined, undefined, 150]);
    r.delete('app/webber/0');
    assert.equal(r.get('app/webber/0'), undefined);
  });
});

describe('reconciles read replica records and endpoints from the informers, not etcd', () => {
  it('status: the running count follows the replica records, and no reconcile lists anything', async () => {
    const store = new FakeKvStore();
    store.setQuietly(keys.manifest('app', 'web'), JSON.stringify({ image: 'busybox', scale: 2 }));
    for (const n of ['a', 'b']) store.setQuietly(keys.node(n), JSON.stringify(node(n)));
    const placed = [placement(web, 0, 'a'), placement(web, 1, 'b')];
    for (const p of placed) store.setQuietly(keys.placement(p.node, 'app', 'web', p.replica), JSON.stringify(p));
    store.setQuietly(keys.replica('a', 'app', 'web', 0), JSON.stringify(replica(placed[0]!)));
    const factory = factoryOf(store);
    const cache = new StatusCache(factory, keys);
    const routes = new RouteConflicts(factory, keys);
    // As the status controller holds them: it watches the replicas informer.
    const replicas = factory.informer(Resources.replicas(keys));
    for (const c of [cache, routes, replicas]) c.acquire();
    await flush();
    await Promise.all([cache.synced(), routes.synced(), replicas.synced()]);
    const reconciler = new StatusReconciler(store, keys, cache, routes, factory, new FakeClock());
    const status = async () => {
      await reconciler.reconcile('app/web', log);
      const s = decodeRecord(StatusRecord, (await store.get(keys.status('app', 'web')))?.value);
      return `${s?.phase} ${s?.running}/${s?.desired}`;
    };
    const listedBefore = store.listed.length;
    assert.equal(await status(), 'Pending 1/2');
    await store.put(keys.replica('b', 'app', 'web', 1), JSON.stringify(replica(placed[1]!)));
    assert.equal(await status(), 'Running 2/2');
    await store.put(keys.replica('b', 'app', 'web', 1), JSON.stringify(replica(placed[1]!, { state: 'exited', ready: false, exitCode: 1 })));
    assert.match(await status(), / 1\/2$/);
    assert.deepEqual(store.listed.slice(listedBefore), [], 'no listing per reconcile');
    await Promise.all([cache.release(), routes.release(), replicas.release()]);
  });

  it('link injector: a link resolves once its service has an endpoint on any host, and no reconcile reads etcd', async () => {
    const store = new FakeKvStore();
    const admitted = JSON.stringify({ image: 'busybox', links: ['db/pg'] });
    store.setQuietly(keys.manifest('app', 'web'), admitted);
    store.setQuietly(keys.rollout('app', 'web'), admittedRollout(admitted, 1));
    store.setQuietly(keys.port('db', 'pg'), JSON.stringify({ port: 20001, protocol: 'tcp' }));
    const factory = factoryOf(store);
    // As the link injector's controller holds them: it watches each of these.
    const informers = [Resources.manifests(keys), Resources.endpoints(keys), Resources.rollouts(keys), Resources.ports(keys), Resources.links(keys)].map((r) => factory.informer<unknown>(r as never));
    for (const i of informers) i.acquire();
    await Promise.all(informers.map((i) => i.synced()));
    await flush();
    const reconciler = new LinkInjectorReconciler(store, keys, factory);
    const reads: string[] = [];
    const link = async () => {
      const before = store.got.length;
      await reconciler.reconcile('app/web', log);
      reads.push(...store.got.slice(before));
      // The watch brings the write's event (the cache already has it, assumed).
      await flush();
      const r = decodeRecord(LinkRecord, (await store.get(keys.link('app', 'web')))?.value);
      return { ports: Object.values(r?.links ?? {}).map((l) => l.port), missing: r?.missing };
    };
    const listedBefore = store.listed.length;
    assert.deepEqual(await link(), { ports: [], missing: ['db/pg'] }, 'never an endpoint yet');
    await store.put(keys.endpoint('h2', 'db', 'pg', 'e1'), JSON.stringify(endpoint('10.0.0.2', 5432, { node: 'h2', app: 'db', name: 'pg' })));
    assert.deepEqual(await link(), { ports: [20001], missing: [] });
    assert.deepEqual(store.listed.slice(listedBefore), [], 'no listing per reconcile');

    // A revision the scheduler did not admit (its rollout still targets the first): no new link.
    await store.put(keys.manifest('app', 'web'), JSON.stringify({ image: 'busybox', links: ['db/pg', 'db/cache'] }));
    assert.deepEqual(await link(), { ports: [20001], missing: [] });
    // No version admitted at all yet: nothing is written.
    await store.delete(keys.link('app', 'web'));
    await store.delete(keys.rollout('app', 'web'));
    assert.deepEqual(await link(), { ports: [], missing: undefined });
    assert.deepEqual(reads, [], 'no get per reconcile');
    await Promise.all(informers.map((i) => i.release()));
  });
});

/** A rollout record whose target (the version the scheduler admitted) is `manifest`. */
function admittedRollout(manifest: string, revision: number): string {
  return JSON.stringify({ phase: 'Complete', targetHash: 'h', targetRevision: revision, message: '', updated: 1, ready: 1, total: 1, startedAt: '2026-01-01T00:00:00.000Z', target: { templateHash: 'h', revision, manifest } });
}

function factoryOf(store: FakeKvStore): InformerFactory {
  return new InformerFactory(store, new FakeClock(), log);
}
