import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PortAllocatorReconciler } from '../../controllers/link-injector/port-allocator-reconciler.js';
import { decodeRecord, PortRecord } from '../../api/records.js';
import { Etcd3KvStore } from '../../src/etcd/etcd3-kv-store.js';
import { createLogger } from '../../src/logging.js';
import { etcdOptions, waitFor, World } from './support/world.js';
import { SystemClock } from '../../src/clock.js';
import type { Config } from '../../src/config.js';
import { InformerFactory } from '../../src/informer/informer-factory.js';
import { Resources } from '../../src/informer/resources.js';

describe('link port allocation on real etcd', () => {
  const world = new World();
  const stores = [new Etcd3KvStore(etcdOptions(world.etcdUrl)), new Etcd3KvStore(etcdOptions(world.etcdUrl))];
  const log = createLogger('error', true);
  // Each allocator reads manifests and links from its process's informers, as under its controller.
  const factories = stores.map((s) => new InformerFactory(s, new SystemClock(), log));
  const informers = factories.flatMap((f) => [f.informer(Resources.manifests(world.keys)), f.informer(Resources.links(world.keys))]);
  const allocator = (i: number, config: Config) => new PortAllocatorReconciler(stores[i]!, world.keys, config, factories[i]!);
  after(async () => {
    for (const i of informers) await i.release();
    for (const s of stores) s.close();
    await world.cleanup();
  });

  it('never hands out a port twice when two allocators race', async () => {
    const services = 40;
    for (let i = 0; i < services; i++) {
      await world.putManifest('shop', `c${i}`, { image: 'x', links: [`svc${i}`] });
    }
    const config = world.config({ linkPorts: { min: 21000, max: 21000 + services - 1 } });
    for (const i of informers) i.acquire();
    await waitFor('both processes\' informers hold every manifest', async () => informers.every((i) => i.prefix !== world.keys.apps || i.list().length === services));
    const allocators = [allocator(0, config), allocator(1, config)];
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
    const fresh = allocator(0, world.config({ linkPorts: { min: 21000, max: 21039 } }));
    await fresh.reconcile('ports', log);
    assert.deepEqual(await world.etcd.getAll().prefix(world.keys.ports).strings(), before);

    await world.etcd.delete().prefix(world.keys.apps);
    await waitFor('the informer without the manifests', async () => informers[0]!.list().length === 0);
    await fresh.reconcile('ports', log);
    assert.deepEqual(await world.keysUnder(world.keys.ports), []);
    assert.deepEqual(await world.keysUnder(world.keys.portAllocs), []);
  });
});
