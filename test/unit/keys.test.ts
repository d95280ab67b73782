import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Keys, manifestId, parseManifestId, parseReplicaId, parseServiceId, replicaId, serviceId, SkyDnsKeys } from '../../api/keys.js';

describe('Keys with the default prefix', () => {
  const k = new Keys();

  it('roots everything at /dokkaa', () => {
    assert.equal(k.root, '/dokkaa');
    assert.equal(k.apps, '/dokkaa/apps/');
    assert.equal(k.nodes, '/dokkaa/nodes/');
    assert.equal(k.placements, '/dokkaa/placements/');
    assert.equal(k.replicas, '/dokkaa/node-replicas/');
    assert.equal(k.endpoints, '/dokkaa/node-endpoints/');
    assert.equal(k.events, '/dokkaa/node-events/');
    assert.equal(k.prepulled, '/dokkaa/node-prepulled/');
    assert.equal(k.links, '/dokkaa/links/');
    assert.equal(k.statuses, '/dokkaa/status/');
    assert.equal(k.election, '/dokkaa/election/');
  });

  it('builds and parses manifest keys', () => {
    const key = k.manifest('shop', 'web');
    assert.equal(key, '/dokkaa/apps/shop/web/manifest');
    assert.deepEqual(k.parseManifest(key), { app: 'shop', name: 'web' });
  });

  it('builds and parses node keys', () => {
    assert.equal(k.node('host-1'), '/dokkaa/nodes/host-1');
    assert.equal(k.parseNode(k.node('host-1')), 'host-1');
  });

  it('builds and parses placement keys', () => {
    assert.equal(k.nodePlacements('h1'), '/dokkaa/placements/h1/');
    const key = k.placement('h1', 'shop', 'web', 12);
    assert.equal(key, '/dokkaa/placements/h1/shop/web/12');
    assert.ok(key.startsWith(k.nodePlacements('h1')));
    assert.deepEqual(k.parsePlacement(key), { node: 'h1', app: 'shop', name: 'web', replica: 12 });
  });

  it('builds and parses replica keys', () => {
    const key = k.replica('h1', 'shop', 'web', 0);
    assert.equal(key, '/dokkaa/node-replicas/h1/shop/web/0');
    assert.ok(key.startsWith(k.nodeReplicas('h1')));
    assert.deepEqual(k.parseReplica(key), { node: 'h1', app: 'shop', name: 'web', replica: 0 });
    assert.equal(k.parseReplica('/dokkaa/replicas/shop/web/0'), undefined);
  });

  it('builds and parses endpoint keys', () => {
    const key = k.endpoint('h1', 'shop', 'nginx', 'web.0.h1');
    assert.equal(key, '/dokkaa/node-endpoints/h1/shop/nginx/web.0.h1');
    assert.ok(key.startsWith(k.nodeAppEndpoints('h1', 'shop')));
    assert.ok(key.startsWith(k.nodeEndpoints('h1')));
    assert.deepEqual(k.parseEndpoint(key), { node: 'h1', app: 'shop', service: 'nginx', endpoint: 'web.0.h1' });
  });

  it('builds and parses link keys', () => {
    assert.equal(k.link('shop', 'crawler'), '/dokkaa/links/shop/crawler');
    assert.deepEqual(k.parseLink(k.link('shop', 'crawler')), { app: 'shop', name: 'crawler' });
  });

  it('builds and parses status keys', () => {
    assert.equal(k.status('shop', 'web'), '/dokkaa/status/shop/web');
    assert.deepEqual(k.parseStatus(k.status('shop', 'web')), { app: 'shop', name: 'web' });
  });

  it('builds and parses pre-pull answer keys', () => {
    const key = k.prepulledAnswer('h1', 'shop', 'web');
    assert.equal(key, '/dokkaa/node-prepulled/h1/shop/web');
    assert.ok(key.startsWith(k.nodePrepulled('h1')));
    assert.deepEqual(k.parsePrepulled(key), { node: 'h1', app: 'shop', name: 'web' });
  });

  it('parses the old layout of host-written keys', () => {
    const old = k.legacy;
    assert.deepEqual(old.parseReplica('/dokkaa/replicas/shop/web/3'), { app: 'shop', name: 'web', replica: 3 });
    assert.deepEqual(old.parseEndpoint('/dokkaa/services/shop/nginx/web.0.h1'), { app: 'shop', service: 'nginx', endpoint: 'web.0.h1' });
    assert.deepEqual(old.parseEvent('/dokkaa/events/shop/web/001-h1-0'), { app: 'shop', name: 'web', id: '001-h1-0' });
    assert.deepEqual(old.parsePrepulled('/dokkaa/prepulled/shop/web/h1'), { app: 'shop', name: 'web', node: 'h1' });
    assert.equal(old.parseReplica(k.replica('h1', 'shop', 'web', 3)), undefined);
  });

  it('builds the leader key', () => {
    assert.equal(k.leader, '/dokkaa/election/controller');
  });

  it('builds endpoint and event ids', () => {
    assert.equal(k.endpoint('vm', 'shop', 'nginx', k.endpointId('nginx', 0, 'vm')), '/dokkaa/node-endpoints/vm/shop/nginx/nginx.0.vm');
    const event = k.event('vm', 'dummy', 'nginx', k.eventId(1795543106240, 'vm', 1));
    assert.equal(event, '/dokkaa/node-events/vm/dummy/nginx/001795543106240-vm-1');
    assert.deepEqual(k.parseEvent(event), { source: 'vm', app: 'dummy', name: 'nginx', id: '001795543106240-vm-1' });
    assert.ok(event.startsWith(k.nodeEvents('vm')));
    // Zero-padded: event ids sort by time as strings.
    assert.ok(k.eventId(999, 'vm', 0) < k.eventId(1000, 'vm', 0));
  });

  it('names every key of the cluster, and the section a key is in', () => {
    assert.equal(k.all, '/dokkaa/');
    assert.equal(k.parseSection(k.manifest('shop', 'web')), 'apps');
    assert.equal(k.parseSection(k.leader), 'election');
    assert.equal(k.parseSection(k.status('shop', 'web')), 'status');
    assert.equal(k.parseSection('/dokkaa2/apps/shop/web/manifest'), undefined);
    assert.equal(k.parseSection('/dokkaa'), undefined);
  });

  it('rejects keys of the wrong kind or shape', () => {
    assert.equal(k.parseManifest('/dokkaa/apps/shop/web'), undefined);
    assert.equal(k.parseManifest('/dokkaa/apps/shop/web/status'), undefined);
    assert.equal(k.parseManifest('/dokkaa/apps/shop/web/x/manifest'), undefined);
    assert.equal(k.parseManifest('/dokkaa/apps//web/manifest'), undefined);
    assert.equal(k.parseManifest(k.status('shop', 'web')), undefined);
    assert.equal(k.parseNode('/dokkaa/nodes/h1/extra'), undefined);
    assert.equal(k.parseNode('/dokkaa/nodes/'), undefined);
    assert.equal(k.parsePlacement('/dokkaa/placements/h1/shop/web/x'), undefined);
    assert.equal(k.parsePlacement('/dokkaa/placements/h1/shop/web'), undefined);
    assert.equal(k.parsePlacement('/dokkaa/placements/h1/shop/web/1/2'), undefined);
    // Only the spelling the builders make: a key rebuilt from the parse must be the same key
    // (found by fuzzing: `portalloc/01` parsed as port 1 stopped every link port allocation).
    assert.equal(k.parsePlacement('/dokkaa/placements/h1/shop/web/01'), undefined);
    assert.equal(k.parseReplica('/dokkaa/node-replicas/h1/shop/web/99999999999999999999'), undefined);
    assert.equal(k.parsePortAlloc('/dokkaa/portalloc/01'), undefined);
    assert.equal(k.parsePortAlloc('/dokkaa/portalloc/65536'), undefined);
    assert.equal(k.parsePortAlloc('/dokkaa/portalloc/99999999999999999999'), undefined);
    assert.equal(k.parsePortAlloc('/dokkaa/portalloc/20000'), 20000);
    assert.equal(k.parsePlacement('/dokkaa/placements/h1/shop/web/0')?.replica, 0);
    assert.equal(k.parseReplica('/dokkaa/replicas/shop/web/-1'), undefined);
    assert.equal(k.parseReplica('/dokkaa/replicas/shop/web'), undefined);
    assert.equal(k.parseEndpoint('/dokkaa/services/shop/nginx/'), undefined);
    assert.equal(k.parseEndpoint('/dokkaa/services/shop/nginx'), undefined);
    assert.equal(k.parseLink('/dokkaa/links/shop/a/b'), undefined);
    assert.equal(k.parseStatus('/dokkaa/status/shop'), undefined);
  });

  it('rejects keys under another prefix', () => {
    assert.equal(k.parseManifest('/other/apps/shop/web/manifest'), undefined);
    assert.equal(k.parseManifest('/dokkaa2/apps/shop/web/manifest'), undefined);
    assert.equal(k.parseManifest('dokkaa/apps/shop/web/manifest'), undefined);
    assert.equal(k.parseNode('/dokkaa-test/nodes/h1'), undefined);
    assert.equal(k.parsePlacement('/x/placements/h1/shop/web/0'), undefined);
    assert.equal(k.parseReplica('/x/replicas/shop/web/0'), undefined);
    assert.equal(k.parseEndpoint('/x/services/shop/nginx/e'), undefined);
    assert.equal(k.parseLink('/x/links/shop/web'), undefined);
    assert.equal(k.parseStatus('/x/status/shop/web'), undefined);
  });
});

describe('Keys with a custom prefix', () => {
  it('is the same with and without a trailing slash', () => {
    for (const prefix of ['/tenants/a', '/tenants/a/', '/tenants/a//']) {
      const k = new Keys(prefix);
      assert.equal(k.root, '/tenants/a', prefix);
      assert.equal(k.manifest('shop', 'web'), '/tenants/a/apps/shop/web/manifest');
      assert.deepEqual(k.parseManifest('/tenants/a/apps/shop/web/manifest'), { app: 'shop', name: 'web' });
      assert.equal(k.placement('h', 'shop', 'web', 1), '/tenants/a/placements/h/shop/web/1');
      assert.equal(k.election, '/tenants/a/election/');
      assert.equal(k.leader, '/tenants/a/election/controller');
      assert.equal(k.all, '/tenants/a/');
    }
  });

  it('does not parse keys of the default or a sibling prefix', () => {
    const k = new Keys('/tenants/a');
    assert.equal(k.parseManifest('/dokkaa/apps/shop/web/manifest'), undefined);
    assert.equal(k.parseManifest('/tenants/ab/apps/shop/web/manifest'), undefined);
    assert.equal(k.parseStatus('/tenants/b/status/shop/web'), undefined);
    assert.equal(new Keys().parseManifest(k.manifest('shop', 'web')), undefined);
  });
});

describe('work-queue ids', () => {
  it('round-trips manifest ids', () => {
    assert.equal(manifestId('shop', 'web'), 'shop/web');
    assert.deepEqual(parseManifestId('shop/web'), { app: 'shop', name: 'web' });
  });

  it('round-trips replica ids', () => {
    assert.equal(replicaId('shop', 'web', 3), 'shop/web/3');
    assert.deepEqual(parseReplicaId('shop/web/3'), { app: 'shop', name: 'web', replica: 3 });
  });

  it('round-trips service ids', () => {
    assert.equal(serviceId('shop', 'nginx'), 'shop/nginx');
    assert.deepEqual(parseServiceId('shop/nginx'), { app: 'shop', service: 'nginx' });
    assert.equal(parseServiceId('nginx'), undefined);
    assert.equal(parseServiceId('a/b/c'), undefined);
  });
});

describe('SkyDnsKeys', () => {
  const k = new SkyDnsKeys('/skydns/');

  it('builds and parses endpoint records, labels reversed under the prefix', () => {
    assert.equal(k.domain, '/skydns/local/dokkaa/');
    assert.equal(k.app('shop'), '/skydns/local/dokkaa/shop/');
    assert.equal(k.service('shop', 'nginx'), '/skydns/local/dokkaa/shop/nginx/');
    assert.equal(k.endpoint('shop', 'nginx', 'nginx-0-vm'), '/skydns/local/dokkaa/shop/nginx/nginx-0-vm');
    assert.deepEqual(k.parseEndpoint(k.endpoint('shop', 'nginx', 'nginx-0-vm')), { app: 'shop', service: 'nginx', label: 'nginx-0-vm' });
  });

  it('rejects keys of another shape or prefix', () => {
    assert.equal(k.parseEndpoint('/skydns/local/dokkaa/shop/nginx/'), undefined);
    assert.equal(k.parseEndpoint('/skydns/local/dokkaa/shop/nginx'), undefined);
    assert.equal(k.parseEndpoint('/skydns/local/dokkaa/shop/nginx/a/b'), undefined);
    assert.equal(k.parseEndpoint('/other/local/dokkaa/shop/nginx/x'), undefined);
  });
});
