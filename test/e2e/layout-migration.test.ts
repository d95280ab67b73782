import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Etcd3 } from 'etcd3';
import { Keys } from '../../api/keys.js';
import { buildContainer } from '../../cli/process-container.js';
import { layoutMigratorModule } from '../../controllers/migrator/layout-migrator-module.js';
import { leaderModule } from '../../src/controller/leader-module.js';
import { etcdClient } from '../../src/etcd/etcd3-kv-store.js';
import { createLogger } from '../../src/logging.js';
import { Manager } from '../../src/manager.js';
import { EtcdServer } from './support/etcd-server.js';
import { waitFor, World } from './support/world.js';

/**
 * The upgrade: keys an agent of the old layout wrote, on its lease, before the controllers
 * were upgraded and while it still runs, are moved by the leader's layout migrator to the
 * per-node layout on the same lease, on a real etcd.
 */
describe('the layout migrator on a real etcd', () => {
  let server: EtcdServer;
  let world: World;
  let etcd: Etcd3;
  let manager: Manager;
  const replica = (i: number) => JSON.stringify({ app: 'shop', name: 'web', replica: i, node: 'old1', address: '10.0.0.9', state: 'running', ready: true, restarts: 0, ports: {}, templateHash: 'abc', containerId: `c${i}` });
  const endpoint = JSON.stringify({ host: '10.0.0.9', port: 32768, protocol: 'tcp', node: 'old1', app: 'shop', name: 'web', replica: 0, containerId: 'c0' });
  const event = JSON.stringify({ time: '2026-11-30T04:00:00.000Z', type: 'Normal', reason: 'Started', message: 'm', source: 'old1' });

  before(async () => {
    server = await EtcdServer.start();
    world = new World(server.url);
    etcd = etcdClient({ hosts: [server.url] });
  });

  after(async () => {
    await manager?.stop();
    etcd.close();
    world.etcd.close();
    await server?.destroy();
  });

  it('moves what an old agent wrote, keeps its lease, and moves what it writes later', async () => {
    const keys: Keys = world.keys;
    const old = keys.legacy;
    const lease = etcd.lease(60, { autoKeepAlive: false });
    await lease.put(`${old.replicas}shop/web/0`).value(replica(0));
    await lease.put(`${old.services}shop/www/web.0.old1`).value(endpoint);
    await lease.put(`${old.prepulled}shop/web/old1`).value('{"state":"present"}');
    await etcd.put(`${old.events}shop/web/001795543106240-old1-1`).value(event);
    // A new agent's record of the same replica wins over the old one.
    await etcd.put(keys.replica('old1', 'shop', 'web', 5)).value(replica(5));
    await lease.put(`${old.replicas}shop/web/5`).value(replica(0));

    const container = buildContainer(world.config(), createLogger(world.config().logLevel), [leaderModule, layoutMigratorModule]);
    manager = container.get(Manager);
    await manager.start();

    await waitFor('the old sections are empty', async () => {
      for (const section of old.sections) if (Object.keys(await etcd.getAll().prefix(section).strings()).length > 0) return false;
      return true;
    });
    const leaseId = await lease.grant();
    const moved = await etcd.getAll().prefix(keys.root + '/node-').exec();
    const byKey = new Map(moved.kvs.map((kv) => [kv.key.toString(), kv]));
    assert.equal(byKey.get(keys.replica('old1', 'shop', 'web', 0))?.value.toString(), replica(0));
    assert.equal(byKey.get(keys.replica('old1', 'shop', 'web', 0))?.lease, leaseId, 'the replica record keeps the host\'s lease');
    assert.equal(byKey.get(keys.endpoint('old1', 'shop', 'www', 'web.0.old1'))?.lease, leaseId);
    assert.equal(byKey.get(keys.prepulledAnswer('old1', 'shop', 'web'))?.lease, leaseId);
    assert.equal(byKey.get(keys.event('old1', 'shop', 'web', '001795543106240-old1-1'))?.value.toString(), event);
    assert.equal(byKey.get(keys.replica('old1', 'shop', 'web', 5))?.value.toString(), replica(5), 'the new layout\'s record is kept');

    // The old agent still runs and writes its old key again: moved again.
    await lease.put(`${old.replicas}shop/web/1`).value(replica(1));
    await waitFor('the later write moved', async () => (await etcd.get(keys.replica('old1', 'shop', 'web', 1)).string()) === replica(1));
    assert.equal(await etcd.get(`${old.replicas}shop/web/1`).string(), null);

    // The host goes: its moved keys go with its lease.
    await lease.revoke();
    assert.equal(await etcd.get(keys.replica('old1', 'shop', 'web', 0)).string(), null);
    assert.equal(await etcd.get(keys.endpoint('old1', 'shop', 'www', 'web.0.old1')).string(), null);
  });
});
