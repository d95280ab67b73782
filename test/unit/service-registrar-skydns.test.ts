import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Keys } from '../../api/keys.js';
import { ServiceRegistrarReconciler } from '../../controllers/service-registrar/service-registrar-reconciler.js';
import type { NodeLease } from '../../src/agent/node-lease.js';
import type { Config } from '../../src/config.js';
import { createLogger } from '../../src/logging.js';
import { FakeKvStore } from './fake-kv-store.js';
import { placement, replica, spec } from './builders.js';

describe('service registrar: SkyDNS records', () => {
  const keys = new Keys('/d');
  const lease = { node: 'vm', id: () => '0' } as unknown as NodeLease;
  const config = { skydnsPrefix: '/sky' } as Config;
  const log = createLogger('error', true);
  const web = spec({ image: 'x', services: { web: 80, metrics: { port: 9100, protocol: 'udp' } } });
  const p = placement(web, 0, 'vm', { app: 'shop', name: 'front' });
  const running = replica(p, {
    address: '10.0.0.5',
    ports: { web: { containerPort: 80, hostPort: 32768, protocol: 'tcp' }, metrics: { containerPort: 9100, hostPort: 32769, protocol: 'udp' } },
  });

  it('mirrors each endpoint as {"host", "port"} under <prefix>/local/dokkaa/<app>/<service>/<label>, and removes it with the endpoint', async () => {
    const store = new FakeKvStore();
    const registrar = new ServiceRegistrarReconciler(store, keys, lease, config);
    await store.put(keys.replica('vm', 'shop', 'front', 0), JSON.stringify(running));
    await registrar.reconcile('shop/front/0', log);
    const sky = Object.fromEntries((await store.list('/sky/')).kvs.map((kv) => [kv.key, kv.value]));
    assert.deepEqual(sky, {
      '/sky/local/dokkaa/shop/metrics/front-0-vm': '{"host":"10.0.0.5","port":32769}',
      '/sky/local/dokkaa/shop/web/front-0-vm': '{"host":"10.0.0.5","port":32768}',
    });
    assert.equal((await store.list(keys.nodeEndpoints('vm'))).kvs.length, 2);

    // The service "metrics" goes from the replica: its endpoint and its record go.
    await store.put(keys.replica('vm', 'shop', 'front', 0), JSON.stringify({ ...running, ports: { web: running.ports.web } }));
    await registrar.reconcile('shop/front/0', log);
    assert.deepEqual((await store.list('/sky/')).kvs.map((kv) => kv.key), ['/sky/local/dokkaa/shop/web/front-0-vm']);

    await store.delete(keys.replica('vm', 'shop', 'front', 0));
    await registrar.reconcile('shop/front/0', log);
    assert.deepEqual((await store.list('/sky/')).kvs, []);
    assert.deepEqual((await store.list(keys.nodeEndpoints('vm'))).kvs, []);
  });

  it('leaves other replicas\' records alone', async () => {
    const store = new FakeKvStore();
    const registrar = new ServiceRegistrarReconciler(store, keys, lease, config);
    await store.put('/sky/local/dokkaa/shop/web/front-1-vm', '{"host":"10.0.0.5","port":1}');
    await store.put('/sky/local/dokkaa/shop/web/back-0-vm', '{"host":"10.0.0.6","port":2}');
    await registrar.reconcile('shop/front/0', log);
    assert.equal((await store.list('/sky/')).kvs.length, 2);
  });
});
