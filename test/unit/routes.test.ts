import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeManifest } from '../../api/manifest.js';
import { conflictMessages, routeTable, type RoutedManifest } from '../../api/routes.js';

const web = (port = 80, extra: object = {}) => ({ port, protocol: 'tcp' as const, role: 'web', ...extra });
const m = (app: string, name: string, createRevision: number, services: RoutedManifest['services']): RoutedManifest => ({ app, name, createRevision, services });

describe('routeTable', () => {
  it('routes a web service at <service>.<app>.<domain>, and at <app>.<domain> when it is the app\'s only one', () => {
    const { routes, conflicts } = routeTable([m('shop', 'front', 5, { www: web(8080) }), m('shop', 'db', 3, { db: { port: 5432, protocol: 'tcp' } })], 'dokkaa.local');
    assert.deepEqual(routes.map((r) => `${r.host} -> ${r.app}/${r.name}:${r.service}:${r.port}`), ['shop.dokkaa.local -> shop/front:www:8080', 'www.shop.dokkaa.local -> shop/front:www:8080']);
    assert.deepEqual(conflicts, []);
  });

  it('gives no app-level name when an app has two web services', () => {
    const { routes } = routeTable([m('a', 'x', 1, { web: web() }), m('a', 'y', 2, { api: web() })], 'd.test');
    assert.deepEqual(routes.map((r) => r.host), ['api.a.d.test', 'web.a.d.test']);
  });

  it('adds the service\'s hosts, wildcards included, and carries its options', () => {
    const { routes } = routeTable([m('a', 'x', 1, { web: web(80, { hosts: ['shop.example.com', '*.example.org'], httpsRedirect: true, proxyProtocol: true }) })], 'd.test');
    assert.deepEqual(routes.map((r) => r.host), ['*.example.org', 'a.d.test', 'shop.example.com', 'web.a.d.test']);
    assert.ok(routes.every((r) => r.httpsRedirect && r.proxyProtocol));
  });

  it('gives a name claimed twice to the manifest created first, and reports the later one', () => {
    const first = m('a', 'x', 10, { web: web(80, { hosts: ['shop.example.com'] }) });
    const later = m('b', 'y', 20, { web: web(80, { hosts: ['shop.example.com'] }) });
    for (const order of [[first, later], [later, first]]) {
      const { routes, conflicts } = routeTable(order, 'd.test');
      assert.equal(routes.find((r) => r.host === 'shop.example.com')?.app, 'a');
      assert.deepEqual(conflicts, [{ host: 'shop.example.com', app: 'b', name: 'y', service: 'web', heldBy: { app: 'a', name: 'x', service: 'web' } }]);
      assert.deepEqual(conflictMessages(conflicts, 'b', 'y'), ['services.web: host shop.example.com is already routed to a/x (service web); this service does not get it']);
      assert.deepEqual(conflictMessages(conflicts, 'a', 'x'), []);
    }
  });

  it('routes nothing that is not a TCP web service', () => {
    assert.deepEqual(routeTable([m('a', 'x', 1, { dns: { port: 53, protocol: 'udp', role: 'web' }, db: { port: 5432, protocol: 'tcp' } })], 'd.test').routes, []);
  });
});

describe('manifest: web service fields', () => {
  it('accepts hosts, httpsRedirect and proxyProtocol, lower-casing the names', () => {
    const r = decodeManifest(JSON.stringify({ image: 'x', services: { web: { port: 80, role: 'web', hosts: ['Shop.Example.com', '*.example.org'], httpsRedirect: true, proxyProtocol: true } } }), 'a');
    assert.ok(r.ok);
    assert.deepEqual(r.spec.services.web, { port: 80, protocol: 'tcp', role: 'web', hosts: ['shop.example.com', '*.example.org'], httpsRedirect: true, proxyProtocol: true });
  });

  it('leaves a service without them as it was (its spec, and so its hash, unchanged)', () => {
    const r = decodeManifest(JSON.stringify({ image: 'x', services: { web: { port: 80, role: 'web' } } }), 'a');
    assert.ok(r.ok);
    assert.deepEqual(r.spec.services.web, { port: 80, protocol: 'tcp', role: 'web' });
  });

  it('names a bad host by its path', () => {
    const r = decodeManifest(JSON.stringify({ image: 'x', services: { web: { port: 80, role: 'web', hosts: ['ok.example.com', 'not a name'] } } }), 'a');
    assert.ok(!r.ok);
    assert.ok(r.errors.some((e) => e.startsWith('services.web.hosts[1]: expected a DNS name, got "not a name"')), r.errors.join('\n'));
  });
});
