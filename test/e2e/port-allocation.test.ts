import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PortAllocatorReconciler } from '../../controllers/link-injector/port-allocator-reconciler.js';
import { decodeRecord, PortRecord } from '../../api/records.js';
import { Etcd3KvStore } from '../../src/etcd/etcd3-kv-store.js';
import { createLogger } from '../../src/logging.js';
import { etcdOptions, World } from './support/world.js';

describe('link port allocation on real etcd', () => {
  const world = new World();
  const stores = [new Etcd3KvStore(etcdOptions(world.etcdUrl)), new Etcd3KvStore(etcdOptions(world.etcdUrl))];
  after(async () => {
    for (const s of stores) s.close();
    await world.cleanup();
  });

  it('never hands out a port twice when two allocators race', async () => {
    const services = 40;
    for (let i = 0; i < services; i++) {
      await world.putManifest('shop', `c${i}`, { image: 'x', links: [`svc${i}`] });
    }
    const config = world.config({ linkPorts: { min: 21000, max: 21000 + services - 1 } });
    const allocators = stores.map((s) => new PortAllocatorReconciler(s, world.keys, config));
    const log = createLogger('error', true);
    // Each allocator retries after a lost race, as its work queue would, until a run succeeds.
    let races = 0;
    const run = async (a: PortAllocatorReconciler) => {
      for (let attempt = 0; attempt < 200; attempt++) {
        try {
          return await a.reconcile('ports', log);
        } catch (err) {
          if (!/lost a race/.test((err as Error).message)) throw err;
          races++;
        }
      }
      throw new Error('never converged');
    };
    await Promise.all(allocators.map(run));

    const ports = await world.etcd.getAll().prefix(world.keys.ports).strings();
    const allocs = await world.etcd.getAll().prefix(world.keys.portAllocs).strings();
    assert.equal(Object.keys(ports).length, services);
    const byService = Object.entries(ports).map(([k, v]) => [world.keys.parsePort(k)!, decodeRecord(PortRecord, v)!.port] as const);
    const numbers = byService.map(([, p]) => p);
    assert.equal(new Set(numbers).size, services, 'every port distinct');
    assert.ok(numbers.every((p) => p >= 21000 && p < 21000 + services), 'all in the range, which they fill exactly');
    assert.equal(Object.keys(allocs).length, services);
    for (const [at, port] of byService) assert.equal(allocs[world.keys.portAlloc(port)], `${at.app}/${at.service}`);
    assert.ok(races > 0, 'the allocators did race');
  });

  it('reuses the ports after a restart of the allocator and frees them once unlinked', async () => {
    const before = await world.etcd.getAll().prefix(world.keys.ports).strings();
    const fresh = new PortAllocatorReconciler(stores[0]!, world.keys, world.config({ linkPorts: { min: 21000, max: 21039 } }));
    await fresh.reconcile('ports', createLogger('error', true));
    assert.deepEqual(await world.etcd.getAll().prefix(world.keys.ports).strings(), before);

    await world.etcd.delete().prefix(world.keys.apps);
    await fresh.reconcile('ports', createLogger('error', true));
    assert.deepEqual(await world.keysUnder(world.keys.ports), []);
    assert.deepEqual(await world.keysUnder(world.keys.portAllocs), []);
  });
});
