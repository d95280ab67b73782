import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Keys } from '../../api/keys.js';
import type { EndpointRecord } from '../../api/records.js';
import { describeRoutes, readRoutes } from '../../cli/router-commands.js';
import { FakeKvStore } from './fake-kv-store.js';

const keys = new Keys('/dokkaa');

function endpoint(app: string, name: string, service: string, replica: number, host: string, port: number): [string, string] {
  const e: EndpointRecord = { host, port, protocol: 'tcp', node: `n${replica}`, app, name, replica, containerId: `c${replica}` };
  return [keys.endpoint(`n${replica}`, app, service, `${name}.${replica}.n${replica}`), JSON.stringify(e)];
}

/** What the route publisher writes for an admitted web manifest: its text and its key's create revision. */
const published = (manifest: object | string, createRevision: number) => JSON.stringify({ manifest: typeof manifest === 'string' ? manifest : JSON.stringify(manifest), revision: createRevision, createRevision });

/** Two shops claiming one host name (the first applied keeps it), an endpoint, and the domain. */
function cluster(): FakeKvStore {
  const store = new FakeKvStore();
  store.setQuietly(keys.route('dummy', 'nginx'), published({ image: 'nginx', services: { nginx: { port: 80, role: 'web', hosts: ['shop.example.com'] } } }, 1));
  store.setQuietly(keys.route('other', 'web'), published({ image: 'nginx', services: { web: { port: 8080, role: 'web', hosts: ['shop.example.com'] } } }, 2));
  // Not served: a manifest key alone (the publisher writes routes/ for admitted versions only), a bad record.
  store.setQuietly(keys.manifest('late', 'x'), JSON.stringify({ image: 'nginx', services: { web: { port: 80, role: 'web' } } }));
  store.setQuietly(keys.route('broken', 'x'), published('{"image": 1}', 3));
  store.setQuietly(...endpoint('dummy', 'nginx', 'nginx', 0, '10.0.0.1', 32768));
  store.setQuietly(...endpoint('dummy', 'nginx', 'nginx', 1, '10.0.0.2', 32769));
  // Same service name in the app, another manifest: not this route's endpoint.
  store.setQuietly(...endpoint('dummy', 'canary', 'nginx', 0, '10.0.0.3', 32770));
  return store;
}

describe('readRoutes (dokkaa routes)', () => {
  it('computes the table from the published routes, by the manifests\' create revision, with each route\'s ready endpoints', async () => {
    const store = cluster();
    // A new version of the first manifest keeps its key's create revision: it still holds the name.
    await store.put(keys.route('dummy', 'nginx'), published({ image: 'nginx:1.27', services: { nginx: { port: 80, role: 'web', hosts: ['shop.example.com'] } } }, 1));
    const view = await readRoutes(store, keys);
    assert.equal(view.domain, 'dokkaa.local');
    assert.deepEqual(view.routes.map((r) => [r.host, `${r.app}/${r.name}`, r.service, r.endpoints.join(',') || 'none ready']), [
      ['dummy.dokkaa.local', 'dummy/nginx', 'nginx', '10.0.0.1:32768,10.0.0.2:32769'],
      ['nginx.dummy.dokkaa.local', 'dummy/nginx', 'nginx', '10.0.0.1:32768,10.0.0.2:32769'],
      ['other.dokkaa.local', 'other/web', 'web', 'none ready'],
      ['shop.example.com', 'dummy/nginx', 'nginx', '10.0.0.1:32768,10.0.0.2:32769'],
      ['web.other.dokkaa.local', 'other/web', 'web', 'none ready'],
    ]);
    assert.deepEqual(view.conflicts, [{ host: 'shop.example.com', app: 'other', name: 'web', service: 'web', heldBy: { app: 'dummy', name: 'nginx', service: 'nginx' } }]);
  });

  it('names routes under the domain of router/config', async () => {
    const store = cluster();
    store.setQuietly(keys.routerConfig, JSON.stringify({ domain: 'apps.example.net' }));
    assert.ok((await readRoutes(store, keys)).routes.some((r) => r.host === 'nginx.dummy.apps.example.net'));
  });
});

describe('describeRoutes (dokkaa describe)', () => {
  it('lists the manifest\'s routes, its conflicts, or <none>', async () => {
    const store = cluster();
    const lines = async (app: string, name: string) => (await describeRoutes(store, keys, app, name)).join('\n').split('\n');
    const held = await lines('dummy', 'nginx');
    assert.equal(held[0], 'Routes:');
    assert.match(held[1]!, /^HOST\s+SERVICE\s+ENDPOINTS$/);
    assert.match(held.join('\n'), /^shop\.example\.com\s+nginx\s+10\.0\.0\.1:32768,10\.0\.0\.2:32769$/m);
    const lost = await lines('other', 'web');
    assert.match(lost.join('\n'), /^web\.other\.dokkaa\.local\s+web\s+none ready$/m);
    assert.equal(lost.at(-1), 'conflict: services.web: host shop.example.com is already routed to dummy/nginx (service nginx); this service does not get it');
    assert.deepEqual(await lines('dummy', 'db'), ['Routes:', '  <none>']);
  });
});
