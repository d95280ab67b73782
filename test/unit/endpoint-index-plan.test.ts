import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalJson } from '../../api/canonical-json.js';
import { Keys } from '../../api/keys.js';
import { planEndpointIndex } from '../../controllers/endpoint-index/endpoint-index-plan.js';
import { Resources, withoutAt, type Endpoint, type IndexedEndpoint } from '../../src/informer/resources.js';
import type { Cached } from '../../src/informer/shared-informer.js';

const keys = new Keys('/d');
let revision = 0;
const cached = <T>(key: string, value: T, lease = '0'): Cached<T> => ({ key, value, modRevision: ++revision, createRevision: revision, lease });
const endpoint = (service: string, name: string, replica: number, node: string, port: number, app = 'shop'): Cached<Endpoint> => {
  const id = keys.endpointId(name, replica, node);
  return cached(keys.endpoint(node, app, service, id), { host: '10.0.0.5', port, protocol: 'tcp', node, app, name, replica, containerId: 'c', at: { node, app, service, endpoint: id } }, '7');
};
/** The index's entry for an endpoint, as stored (text) and decoded. */
const entry = (e: Cached<Endpoint>, lease = '0', text = canonicalJson(withoutAt(e.value))): Cached<IndexedEndpoint> => {
  const { node: _node, ...at } = e.value.at;
  return cached(keys.serviceEndpoint(at.app, at.service, at.endpoint), { ...withoutAt(e.value), at, text }, lease);
};

describe('planEndpointIndex', () => {
  it('copies each endpoint of the service to service-endpoints/<app>/<service>/<endpoint>, the same record, on no lease', () => {
    const a = endpoint('web', 'front', 0, 'h1', 32768);
    const b = endpoint('web', 'front', 1, 'h2', 32769);
    const plan = planEndpointIndex(keys, 'shop', 'web', [a, b, endpoint('db', 'pg', 0, 'h1', 5432)], []);
    assert.deepEqual(plan, {
      puts: [
        { key: '/d/service-endpoints/shop/web/front.0.h1', value: canonicalJson(withoutAt(a.value)), modRevision: 0 },
        { key: '/d/service-endpoints/shop/web/front.1.h2', value: canonicalJson(withoutAt(b.value)), modRevision: 0 },
      ],
      deletes: [],
    });
    // What the hosts' informer of the app reads back: the endpoint as the registrar wrote it.
    const decoded = Resources.serviceEndpoints(keys, 'shop').decode({ key: plan.puts[0]!.key, value: plan.puts[0]!.value, modRevision: 9, createRevision: 9, lease: '0' });
    assert.deepEqual(decoded.ok && withoutAt(decoded.value), { ...withoutAt(a.value), text: plan.puts[0]!.value });
  });

  it('leaves a matching entry alone, rewrites a changed one or one on a lease, and deletes one without its endpoint', () => {
    const kept = endpoint('web', 'front', 0, 'h1', 32768);
    const moved = endpoint('web', 'front', 1, 'h1', 32770);
    const leased = endpoint('web', 'front', 2, 'h1', 32771);
    const gone = entry(endpoint('web', 'front', 3, 'h9', 32772));
    const plan = planEndpointIndex(keys, 'shop', 'web', [kept, moved, leased], [entry(kept), entry(moved, '0', '{"old":true}'), entry(leased, '7'), gone]);
    assert.deepEqual(plan.puts.map((p) => p.key), ['/d/service-endpoints/shop/web/front.1.h1', '/d/service-endpoints/shop/web/front.2.h1']);
    assert.deepEqual(plan.deletes, [{ key: gone.key, modRevision: gone.modRevision }]);
  });

  it('touches no other service\'s entries', () => {
    const other = entry(endpoint('db', 'pg', 0, 'h1', 5432));
    assert.deepEqual(planEndpointIndex(keys, 'shop', 'web', [], [other]), { puts: [], deletes: [] });
  });

  it('refuses, in the hosts\' decoder, an entry whose record names another app or endpoint than its key', () => {
    const e = endpoint('web', 'front', 0, 'h1', 32768);
    const value = canonicalJson(withoutAt(e.value));
    const decode = Resources.serviceEndpoints(keys).decode;
    assert.equal(decode({ key: '/d/service-endpoints/other/web/front.0.h1', value, modRevision: 1, createRevision: 1, lease: '0' }).ok, false);
    assert.equal(decode({ key: '/d/service-endpoints/shop/web/front.0.h2', value, modRevision: 1, createRevision: 1, lease: '0' }).ok, false);
    assert.equal(decode({ key: '/d/service-endpoints/shop/web/front.0.h1', value, modRevision: 1, createRevision: 1, lease: '0' }).ok, true);
  });
});
