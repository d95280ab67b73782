import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { haproxyConfig, type RoutedService } from '../../controllers/router/haproxy-config.js';
import { planServers, serverKey, splitServers, type ServerLine } from '../../controllers/router/haproxy-servers.js';

const route = (endpoints: RoutedService['endpoints'], extra: Partial<RoutedService> = {}): RoutedService => ({
  host: 'shop.dokkaa.local',
  app: 'shop',
  name: 'front',
  service: 'www',
  httpsRedirect: false,
  proxyProtocol: false,
  endpoints,
  ...extra,
});
const config = (...routes: RoutedService[]) =>
  haproxyConfig({ routes, certs: [], crtListFile: '/r/crt-list', statsSocket: '/r/stats.sock', address: '127.0.0.1', httpPort: 80, httpsPort: 0 });
const line = (backend: string, name: string, spec: string): ServerLine => ({ backend, name, spec });
const BE = 'web:shop:front:www';

describe('splitServers', () => {
  it('takes the server lines out of each backend, leaving a skeleton that endpoints do not change', () => {
    const a = splitServers(config(route([{ host: '10.0.0.2', port: 32768 }, { host: '10.0.0.3', port: 40000 }])));
    const b = splitServers(config(route([])));
    assert.deepEqual(a.servers, [line(BE, 'e-10.0.0.2-32768', '10.0.0.2:32768'), line(BE, 'e-10.0.0.3-40000', '10.0.0.3:40000')]);
    assert.deepEqual(b.servers, []);
    assert.equal(a.skeleton, b.skeleton);
    assert.doesNotMatch(a.skeleton, /^ {2}server /m);
  });

  it('keeps server options in the line, and a route change in the skeleton', () => {
    const proxied = splitServers(config(route([{ host: '10.0.0.2', port: 1 }], { proxyProtocol: true })));
    assert.deepEqual(proxied.servers, [line(BE, 'e-10.0.0.2-1', '10.0.0.2:1 send-proxy-v2')]);
    const renamed = splitServers(config(route([{ host: '10.0.0.2', port: 1 }], { host: 'other.dokkaa.local' })));
    assert.notEqual(renamed.skeleton, proxied.skeleton);
  });
});

describe('planServers', () => {
  const a = line(BE, 'e-10.0.0.2-1', '10.0.0.2:1');
  const b = line(BE, 'e-10.0.0.3-1', '10.0.0.3:1');
  const c = line('web:shop:back:api', 'e-10.0.0.4-1', '10.0.0.4:1');

  it('adds the new, retires the gone, leaves the kept', () => {
    assert.deepEqual(planServers([a, c], [b, c], new Map()), { add: [b], revive: [], retire: [a] });
    assert.deepEqual(planServers([a], [a], new Map()), { add: [], revive: [], retire: [] });
  });

  it('takes back a server still retiring instead of adding it again', () => {
    assert.deepEqual(planServers([b], [a, b], new Map([[serverKey(a), a]])), { add: [], revive: [a], retire: [] });
  });

  it('gives up (a reload) when a server keeps its name with another line', () => {
    assert.equal(planServers([a], [{ ...a, spec: `${a.spec} send-proxy-v2` }], new Map()), undefined);
    assert.equal(planServers([], [{ ...a, spec: `${a.spec} send-proxy-v2` }], new Map([[serverKey(a), a]])), undefined);
  });
});
