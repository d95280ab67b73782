import 'reflect-metadata';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Keys } from '../../api/keys.js';
import { DnsServer } from '../../controllers/ambassador/dns-server.js';
import { AppEndpoints } from '../../src/agent/app-endpoints.js';
import type { NodeLease } from '../../src/agent/node-lease.js';
import { SystemClock } from '../../src/clock.js';
import type { Config } from '../../src/config.js';
import { InformerFactory } from '../../src/informer/informer-factory.js';
import { createLogger } from '../../src/logging.js';
import { freePort } from '../../src/net/free-port.js';
import { FakeKvStore } from './fake-kv-store.js';
import { endpoint } from './builders.js';
import { eventually } from './local-http.js';

describe('DnsServer as the DNS directory (fake etcd)', () => {
  it('answers from the index of the app asked about: a service\'s endpoints by label, and an app while any of its services has one', async () => {
    const store = new FakeKvStore();
    const keys = new Keys('/d');
    const log = createLogger('error', true);
    const clock = new SystemClock();
    const informers = new InformerFactory(store, clock, log);
    const lease = { containerGateway: () => '127.0.0.1', bridgeGateway: () => '127.0.0.1' } as unknown as NodeLease;
    const config = { dnsPort: await freePort(), dnsUpstream: ['127.0.0.1'] } as Config;
    const appEndpoints = new AppEndpoints(informers, keys, clock);
    const server = new DnsServer(lease, config, log, appEndpoints);
    const at = (node: string, app: string, service: string, replica: number) => keys.serviceEndpoint(app, service, keys.endpointId(service, replica, node));
    const put = (node: string, app: string, service: string, replica: number, port: number) =>
      store.put(at(node, app, service, replica), JSON.stringify(endpoint('10.0.0.1', port, { node, app, name: service, replica })));

    assert.deepEqual(server.endpoints('shop', 'nginx'), [], 'nothing before it serves');
    await put('h2', 'shop', 'nginx', 1, 32001);
    await put('h1', 'shop', 'nginx', 0, 32000);
    await put('h1', 'shop', 'db', 0, 32002);
    await server.start();
    try {
      assert.deepEqual(appEndpoints.heldApps(), [], 'no app watched before a name is asked for');
      await server.prepare('shop');
      assert.deepEqual(appEndpoints.heldApps(), ['shop'], 'only the app asked about');
      assert.deepEqual(server.endpoints('shop', 'nginx'), [
        { label: 'nginx-0-h1', host: '10.0.0.1', port: 32000 },
        { label: 'nginx-1-h2', host: '10.0.0.1', port: 32001 },
      ]);
      assert.equal(server.hasApp('shop'), true);
      await server.prepare('sho');
      assert.equal(server.hasApp('sho'), false, 'an app name that only begins another');
      await server.prepare('other');
      assert.equal(server.hasApp('other'), false);

      await store.delete(at('h1', 'shop', 'nginx', 0));
      await eventually('the deleted endpoint gone', async () => (server.endpoints('shop', 'nginx').length === 1) || undefined);
      await store.delete(at('h2', 'shop', 'nginx', 1));
      await eventually('the service gone', async () => (server.endpoints('shop', 'nginx').length === 0) || undefined);
      assert.equal(server.hasApp('shop'), true, 'db still has an endpoint');
      await store.delete(at('h1', 'shop', 'db', 0));
      await eventually('the app gone', async () => (!server.hasApp('shop')) || undefined);
    } finally {
      await server.stop();
    }
    assert.deepEqual(server.endpoints('shop', 'nginx'), [], 'nothing once stopped');
    assert.deepEqual(appEndpoints.heldApps(), [], 'the apps it looked up let go');
  });
});
