import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Keys } from '../../api/keys.js';
import { StatusCache, type StatusCacheChange } from '../../controllers/status/status-cache.js';
import { createLogger } from '../../src/logging.js';
import { node, placement, spec } from './builders.js';
import { FakeClock, flush } from './fake-clock.js';
import { FakeKvStore } from './fake-kv-store.js';
import { InformerFactory } from '../../src/informer/informer-factory.js';

const log = createLogger('error', true);
const keys = new Keys('/dokkaa');
const s = spec({ image: 'busybox', scale: 3 });
const rec = (replica: number, n: string, name = 'web') => JSON.stringify({ ...placement(s, replica, n), name });

async function started(store: FakeKvStore) {
  const clock = new FakeClock();
  const cache = new StatusCache(new InformerFactory(store, clock, log), keys);
  const changes: StatusCacheChange[] = [];
  cache.changes.subscribe((c) => changes.push(c));
  cache.acquire();
  await flush();
  await cache.synced();
  const placed = (name = 'web') => cache.placementsOf('app', name).map((p) => `${p.replica}@${p.node}`).sort();
  return { cache, clock, changes, placed };
}

describe('StatusCache', () => {
  it('indexes placements by manifest and follows the watches, telling which manifest changed', async () => {
    const store = new FakeKvStore();
    store.setQuietly(keys.node('a'), JSON.stringify(node('a')));
    store.setQuietly(keys.placement('a', 'app', 'web', 0), rec(0, 'a'));
    store.setQuietly(keys.placement('b', 'app', 'other', 0), rec(0, 'b', 'other'));
    const { cache, changes, placed } = await started(store);
    assert.deepEqual(placed(), ['0@a']);
    assert.deepEqual(placed('other'), ['0@b']);
    assert.deepEqual(cache.liveNodes().map((n) => n.name), ['a']);
    const [p] = cache.placementsOf('app', 'web');
    assert.equal(p?.key, keys.placement('a', 'app', 'web', 0));
    assert.equal(p?.templateHash, placement(s, 0, 'a').templateHash);
    assert.deepEqual(changes, []);

    await store.put(keys.placement('b', 'app', 'web', 1), rec(1, 'b'));
    await store.delete(keys.placement('a', 'app', 'web', 0));
    await store.put(keys.node('b'), JSON.stringify(node('b')));
    await store.delete(keys.node('a'));
    assert.deepEqual(placed(), ['1@b']);
    assert.deepEqual(cache.liveNodes().map((n) => n.name), ['b']);
    assert.deepEqual(changes, [
      { kind: 'placement', id: 'app/web' },
      { kind: 'placement', id: 'app/web' },
      { kind: 'node' },
      { kind: 'node' },
    ]);
    await cache.release();
  });

  it('after a lost watch, re-lists: what went meanwhile is gone, and every manifest is re-queued', async () => {
    const store = new FakeKvStore();
    store.setQuietly(keys.placement('a', 'app', 'web', 0), rec(0, 'a'));
    store.setQuietly(keys.placement('a', 'app', 'web', 1), rec(1, 'a'));
    const { cache, clock, changes, placed } = await started(store);
    store.compact();
    store.deleteQuietly(keys.placement('a', 'app', 'web', 1));
    await clock.advance(10_000);
    await flush();
    assert.deepEqual(placed(), ['0@a']);
    assert.ok(changes.some((c) => c.kind === 'relisted'));
    await cache.release();
    await assert.rejects(cache.synced(), /not running/);
  });
});
