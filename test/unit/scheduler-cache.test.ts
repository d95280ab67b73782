import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Keys } from '../../api/keys.js';
import type { PlacementRecord } from '../../api/records.js';
import { SchedulerCache, type CacheChange } from '../../controllers/scheduler/scheduler-cache.js';
import { createLogger } from '../../src/logging.js';
import { node, placement, spec } from './builders.js';
import { FakeClock, flush } from './fake-clock.js';
import { FakeKvStore } from './fake-kv-store.js';
import { InformerFactory } from '../../src/informer/informer-factory.js';

const log = createLogger('error', true);
const keys = new Keys('/dokkaa');
const s = spec({ image: 'busybox', scale: 3 });
const rec = (replica: number, n: string, extra: Partial<PlacementRecord> = {}) => JSON.stringify(placement(s, replica, n, extra));
const pkey = (n: string, replica: number) => keys.placement(n, 'app', 'web', replica);

async function started(store: FakeKvStore) {
  const clock = new FakeClock();
  const cache = new SchedulerCache(new InformerFactory(store, clock, log), keys);
  const changes: CacheChange[] = [];
  cache.changes.subscribe((c) => changes.push(c));
  cache.acquire();
  await flush();
  await cache.synced();
  const watcher = (prefix: string) => store.liveWatchers().find((w) => w.prefix === prefix)!;
  const placed = () => cache.placementsOf('app', 'web').map((p) => `${p.replica}@${p.node}:${p.modRevision}`).sort();
  return { cache, clock, changes, watcher, placed };
}

describe('SchedulerCache', () => {
  it('lists nodes and placements, counts the load per node, and follows the watches', async () => {
    const store = new FakeKvStore();
    store.setQuietly(keys.node('a'), JSON.stringify(node('a')));
    store.setQuietly(keys.node('b'), JSON.stringify(node('b')));
    store.setQuietly(pkey('a', 0), rec(0, 'a'));
    store.setQuietly(keys.placement('a', 'app', 'other', 0), JSON.stringify({ ...placement(s, 0, 'a'), name: 'other' }));
    const { cache, changes, placed } = await started(store);
    assert.deepEqual(cache.liveNodes().map((n) => n.name).sort(), ['a', 'b']);
    assert.equal(cache.allocated().get('a')?.replicas, 2);
    assert.deepEqual(placed(), ['0@a:4']);
    assert.deepEqual(cache.manifestIds().sort(), ['app/other', 'app/web']);
    assert.deepEqual(changes, [], 'the first listing is not a change (the controller resyncs at start)');

    await store.put(pkey('b', 1), rec(1, 'b'));
    await store.delete(pkey('a', 0));
    await store.put(keys.node('c'), JSON.stringify(node('c')));
    assert.deepEqual(placed(), ['1@b:6']);
    assert.equal(cache.allocated().get('a')?.replicas, 1);
    assert.equal(cache.allocated().get('b')?.replicas, 1);
    assert.equal(cache.liveNodes().length, 3);
    assert.deepEqual(changes, [
      { kind: 'placement', app: 'app', name: 'web' },
      { kind: 'placement', app: 'app', name: 'web' },
      { kind: 'node' },
    ]);
    await cache.release();
  });

  it('applies its own writes at once, and ignores the watch events older than them', async () => {
    const store = new FakeKvStore();
    const { cache, changes, placed, watcher } = await started(store);
    const ops = [{ type: 'put' as const, key: pkey('a', 0), value: rec(0, 'a') }];
    const rev = (await store.txnAt([{ key: pkey('a', 0), modRevision: 0 }], ops))!;
    // The watch delivered it before we applied it: nothing changes when we do.
    assert.deepEqual(placed(), [`0@a:${rev}`]);
    changes.length = 0;
    cache.wrote(rev, ops);
    assert.equal(cache.allocated().get('a')?.replicas, 1, 'counted once');

    // A later write of ours (a delete), then a stale event of the earlier put arrives: it is ignored.
    const delRev = (await store.txnAt([{ key: pkey('a', 0), modRevision: rev }], [{ type: 'delete', key: pkey('a', 0) }]))!;
    cache.wrote(delRev, [{ type: 'delete', key: pkey('a', 0) }]);
    watcher(keys.placements).handlers.onEvents([{ type: 'put', kv: { key: pkey('a', 0), value: rec(0, 'a'), modRevision: rev, lease: '0' } }], delRev);
    assert.deepEqual(placed(), []);
    assert.equal(cache.allocated().get('a')?.replicas, undefined);

    // Our put at a new revision, then a late delete of an older revision: the put stays.
    cache.wrote(delRev + 5, [{ type: 'put', key: pkey('b', 0), value: rec(0, 'b') }]);
    watcher(keys.placements).handlers.onEvents([{ type: 'delete', key: pkey('b', 0), modRevision: delRev + 1 }], delRev + 1);
    assert.deepEqual(placed(), [`0@b:${delRev + 5}`]);
    await cache.release();
  });

  it('re-lists after a lost watch, keeping its own writes newer than the listing', async () => {
    const store = new FakeKvStore();
    store.setQuietly(pkey('a', 0), rec(0, 'a'));
    store.setQuietly(pkey('a', 1), rec(1, 'a'));
    const { cache, clock, changes, placed } = await started(store);
    // While no watch listens: replica 1 goes, and a write of ours lands after the next listing.
    store.compact();
    store.deleteQuietly(pkey('a', 1));
    const listingRev = store.revision;
    cache.wrote(listingRev + 10, [{ type: 'put', key: pkey('c', 2), value: rec(2, 'c') }]);
    await clock.advance(10_000);
    await flush();
    assert.deepEqual(placed(), [`0@a:2`, `2@c:${listingRev + 10}`]);
    assert.equal(cache.allocated().get('a')?.replicas, 1);
    assert.ok(changes.some((c) => c.kind === 'relisted'));
    await cache.release();
  });

  it('fails waiters once stopped, and starts empty again', async () => {
    const store = new FakeKvStore();
    store.failLists = 1;
    const clock = new FakeClock();
    const cache = new SchedulerCache(new InformerFactory(store, clock, log), keys);
    cache.acquire();
    await flush();
    const waiting = cache.synced();
    await cache.release();
    await assert.rejects(waiting, /stopped/);
    await assert.rejects(cache.synced(), /not running/);
    store.setQuietly(pkey('a', 0), rec(0, 'a'));
    cache.acquire();
    await flush();
    await cache.synced();
    assert.equal(cache.placementsOf('app', 'web').length, 1);
    await cache.release();
  });

  it('takes nothing of an earlier term: a placement deleted while released is gone after the next acquire', async () => {
    const store = new FakeKvStore();
    store.setQuietly(pkey('a', 0), rec(0, 'a'));
    store.setQuietly(pkey('b', 1), rec(1, 'b'));
    const { cache, placed } = await started(store);
    assert.equal(placed().length, 2);
    await cache.release();
    store.deleteQuietly(pkey('b', 1));
    cache.acquire();
    await flush();
    await cache.synced();
    assert.deepEqual(placed().map((p) => p.split(':')[0]), ['0@a']);
    assert.equal(cache.allocated().get('b')?.replicas, undefined);
    await cache.release();
  });

  it('sums what placements reserve per node, the default for those without `reserved`', async () => {
    const store = new FakeKvStore();
    store.setQuietly(pkey('a', 0), rec(0, 'a', { reserved: { cpus: 0.5, memoryBytes: 2 ** 30 } }));
    store.setQuietly(pkey('a', 1), rec(1, 'a'));
    const { cache } = await started(store);
    assert.deepEqual(cache.allocated().get('a'), { cpus: 0.51, memoryBytes: 2 ** 30 + 32 * 2 ** 20, replicas: 2 });
    // Resized in place: the old reservation goes, the new one counts.
    await store.put(pkey('a', 0), rec(0, 'a', { reserved: { cpus: 1, memoryBytes: 2 ** 31 } }));
    assert.deepEqual(cache.allocated().get('a'), { cpus: 1.01, memoryBytes: 2 ** 31 + 32 * 2 ** 20, replicas: 2 });
    await cache.release();
  });

  it('tells of room once per burst of removals, only while a manifest waits for it', async () => {
    const store = new FakeKvStore();
    for (let i = 0; i < 3; i++) store.setQuietly(pkey('a', i), rec(i, 'a'));
    const { cache, changes } = await started(store);
    await store.delete(pkey('a', 0));
    await flush();
    assert.deepEqual(changes.filter((c) => c.kind === 'room'), [], 'nobody waits');
    cache.setWaiting('app/big', true);
    cache.wrote(store.revision + 1, [{ type: 'delete', key: pkey('a', 1) }, { type: 'delete', key: pkey('a', 2) }]);
    await flush();
    assert.deepEqual(changes.filter((c) => c.kind === 'room'), [{ kind: 'room' }]);
    assert.deepEqual(cache.waitingIds(), ['app/big']);
    await cache.release();
  });

  it('follows cordons and drains, and ignores node updates that only change the agent\'s allocation count', async () => {
    const store = new FakeKvStore();
    store.setQuietly(keys.node('a'), JSON.stringify(node('a')));
    const { cache, changes } = await started(store);
    await store.put(keys.node('a'), JSON.stringify({ ...node('a'), allocated: { cpus: 1, memoryBytes: 5, replicas: 1 } }));
    assert.deepEqual(changes, [], 'a report, not a change');
    await store.put(keys.nodeMaintenance('a'), JSON.stringify({ cordoned: true, since: 'x', draining: { startedAt: 'x' } }));
    await store.put(keys.nodeMaintenance('b'), JSON.stringify({ cordoned: false, since: 'x' }));
    assert.deepEqual([...cache.cordoned()], ['a']);
    assert.deepEqual([...cache.draining().keys()], ['a']);
    assert.deepEqual(changes, [{ kind: 'node' }, { kind: 'node' }]);
    await cache.release();
  });
});
