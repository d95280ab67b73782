import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import winston from 'winston';
import type { WatchHandle, WatchHandlers } from '../../src/etcd/kv-store.js';
import { createLogger, type Logger } from '../../src/logging.js';
import { InformerFactory } from '../../src/informer/informer-factory.js';
import { SharedInformer, type Decoder, type InformerEvent } from '../../src/informer/shared-informer.js';
import { deferred, FakeClock, flush } from './fake-clock.js';
import { FakeKvStore } from './fake-kv-store.js';

const log = createLogger('error', true);
const P = '/dokkaa/apps/';

/** Values are `group:n`; `bad` does not decode; `throws` makes the decoder throw. */
const decode: Decoder<string> = (kv) => {
  if (kv.value === 'throws') throw new RangeError('Maximum call stack size exceeded');
  return kv.value === 'bad' ? { ok: false, error: 'bad value' } : { ok: true, value: kv.value };
};
const byGroup = { group: (c: { value: string }) => [c.value.split(':')[0]!] };

/** Events as short strings: `put key=value@rev`, marked ` initial` or ` (was rev)`; `delete key (was value)`. */
function show(ev: InformerEvent<string>): string {
  const key = ev.key.slice(P.length);
  if (ev.type === 'delete') return `delete ${key} (was ${ev.old.value})`;
  const tail = ev.initial ? ' initial' : ev.old ? ` (was ${ev.old.modRevision})` : '';
  return `put ${key}=${ev.obj.value}@${ev.obj.modRevision}${tail}`;
}

/** A logger that keeps every warning's fields. */
function spyLogger(): { log: Logger; warnings: Record<string, unknown>[] } {
  const warnings: Record<string, unknown>[] = [];
  const stream = new Writable({
    objectMode: true,
    write(info: Record<string, unknown>, _enc, done) {
      if (info['level'] === 'warn') warnings.push(info);
      done();
    },
  });
  return { log: winston.createLogger({ level: 'warn', transports: [new winston.transports.Stream({ stream })] }), warnings };
}

/** A store holding these keys under P, written in order (revisions 2, 3, ...). */
function seeded(entries: Record<string, string>): FakeKvStore {
  const store = new FakeKvStore();
  for (const [key, value] of Object.entries(entries)) store.setQuietly(`${P}${key}`, value);
  return store;
}

async function start(store: FakeKvStore, logger: Logger = log) {
  const clock = new FakeClock();
  const informer = new SharedInformer<string>(store, P, decode, byGroup, clock, logger);
  const events: string[] = [];
  let relists = 0;
  informer.events.subscribe({ next: (ev) => events.push(show(ev)), error: () => events.push('ERROR'), complete: () => events.push('COMPLETE') });
  informer.relists.subscribe(() => relists++);
  informer.acquire();
  await flush();
  const keys = () => informer.list().map((c) => `${c.key.slice(P.length)}=${c.value}`).sort();
  return { informer, clock, events, keys, take: () => events.splice(0), relists: () => relists };
}

describe('SharedInformer: list then watch', () => {
  it('puts every existing key, marked initial, then watches from the listing revision + 1', async () => {
    const store = new FakeKvStore();
    store.setQuietly(`${P}a`, 'g:1'); // rev 2
    store.setQuietly(`${P}b`, 'g:2'); // rev 3
    store.setQuietly('/dokkaa/nodes/h1', 'x'); // rev 4: outside the prefix
    const w = await start(store);
    assert.deepEqual(w.take(), ['put a=g:1@2 initial', 'put b=g:2@3 initial']);
    assert.equal(w.informer.hasSynced(), true);
    await w.informer.synced();
    assert.deepEqual(w.keys(), ['a=g:1', 'b=g:2']);
    assert.equal(store.liveWatchers().length, 1);
    assert.equal(store.liveWatchers()[0]!.prefix, P);
    assert.equal(store.liveWatchers()[0]!.fromRevision, 5);
    assert.equal(w.relists(), 0, 'the first listing is not a re-list');
    await w.informer.release();
  });

  it('applies watch events to the cache, then tells them with the old object', async () => {
    const store = seeded({ a: 'g:1' });
    const w = await start(store);
    w.take();
    await store.put(`${P}b`, 'g:new');
    await store.put(`${P}a`, 'g:changed');
    await store.delete(`${P}b`);
    await store.put('/dokkaa/nodes/h1', 'x');
    assert.deepEqual(w.take(), ['put b=g:new@3', 'put a=g:changed@4 (was 2)', 'delete b (was g:new)']);
    assert.deepEqual(w.keys(), ['a=g:changed']);
    assert.equal(w.informer.get(`${P}a`)?.modRevision, 4);
    await w.informer.release();
  });

  it('gives a delete the revision it happened at, and the cache is already without the key', async () => {
    const store = seeded({ a: 'g:1' });
    const w = await start(store);
    const seen: [number, boolean][] = [];
    w.informer.events.subscribe((ev) => {
      if (ev.type === 'delete') seen.push([ev.revision, w.informer.get(ev.key) === undefined]);
    });
    await store.delete(`${P}a`);
    assert.deepEqual(seen, [[store.revision, true]]);
    await w.informer.release();
  });

  it('tells no delete for a key it never held', async () => {
    const store = new FakeKvStore();
    const w = await start(store);
    store.liveWatchers()[0]!.handlers.onEvents([{ type: 'delete', key: `${P}ghost`, modRevision: 9 }], 9);
    assert.deepEqual(w.take(), []);
    await w.informer.release();
  });

  it('drops a put whose mod revision the cache already holds', async () => {
    const store = seeded({ a: 'g:1' });
    const w = await start(store);
    w.take();
    store.liveWatchers()[0]!.handlers.onEvents([{ type: 'put', kv: { key: `${P}a`, value: 'g:other', modRevision: 2, lease: '0' } }], 2);
    assert.deepEqual(w.take(), []);
    assert.deepEqual(w.keys(), ['a=g:1']);
    await w.informer.release();
  });
});

describe('SharedInformer: re-lists', () => {
  it('after a compaction, re-lists after the backoff and tells only the differences, then relists', async () => {
    const store = seeded({ gone: 'g:1', changed: 'g:1', same: 'g:1' });
    const w = await start(store);
    assert.equal(w.take().length, 3);

    store.compact();
    // Changes made while nothing watches: only a re-list can reveal them.
    store.deleteQuietly(`${P}gone`);
    store.setQuietly(`${P}changed`, 'g:2');
    store.setQuietly(`${P}new`, 'g:1');
    const revision = store.revision;
    const listsBefore = store.listCalls;

    await w.clock.advance(499);
    assert.equal(store.listCalls, listsBefore, 'waits for the backoff');
    assert.deepEqual(w.take(), []);
    await w.clock.advance(1);
    assert.equal(store.listCalls, listsBefore + 1);
    assert.deepEqual(w.take().sort(), ['delete gone (was g:1)', `put changed=g:2@${revision - 1} (was 3)`, `put new=g:1@${revision}`].sort());
    assert.equal(w.relists(), 1);
    assert.deepEqual(w.keys(), ['changed=g:2', 'new=g:1', 'same=g:1']);
    assert.equal(store.liveWatchers().length, 1, 'watching again');
    assert.equal(store.liveWatchers()[0]!.fromRevision, revision + 1);

    await store.put(`${P}same`, 'g:2');
    assert.deepEqual(w.take(), [`put same=g:2@${revision + 1} (was 4)`]);
    await w.informer.release();
  });

  it('tells nothing but relists when nothing changed', async () => {
    const store = seeded({ a: 'g:1' });
    const w = await start(store);
    w.take();
    store.compact();
    await w.clock.advance(500);
    assert.deepEqual(w.take(), []);
    assert.equal(w.relists(), 1);
    assert.equal(store.liveWatchers().length, 1);
    await w.informer.release();
  });

  it('diffs a re-list against what the watch brought', async () => {
    const store = new FakeKvStore();
    const w = await start(store);
    await store.put(`${P}a`, 'g:1');
    await store.put(`${P}b`, 'g:1');
    await store.delete(`${P}b`);
    w.take();
    store.compact();
    await w.clock.advance(500);
    assert.deepEqual(w.take(), [], 'a is held at its revision and b is known gone');
    await w.informer.release();
  });

  it('relist() lists now, the watch going on: tells what a lagging watch has not brought yet, whose late events then change nothing', async () => {
    const store = seeded({ a: 'g:1', b: 'g:1' });
    const w = await start(store);
    w.take();
    const deliver = store.lag(P);
    await store.put(`${P}a`, 'g:2');
    await store.delete(`${P}b`);
    await store.put(`${P}c`, 'g:3');
    assert.deepEqual(w.take(), [], 'the watch is behind');
    const listings = store.listCalls;
    await w.informer.relist();
    assert.equal(store.listCalls, listings + 1);
    assert.deepEqual(w.take(), ['put a=g:2@4 (was 2)', 'put c=g:3@6', 'delete b (was g:1)']);
    assert.equal(w.relists(), 1);
    deliver();
    assert.deepEqual(w.take(), [], 'older than the listing');
    await store.put(`${P}a`, 'g:4');
    assert.deepEqual(w.take(), ['put a=g:4@7 (was 4)'], 'the same watch goes on');
    await w.informer.release();
    await w.informer.relist();
    assert.equal(store.listCalls, listings + 1, 'not running: nothing to list');
  });

  it('retries a failing listing with doubling backoff, and syncs on the first that succeeds', async () => {
    const store = seeded({ a: 'g:1' });
    store.failLists = 2;
    const w = await start(store);
    let synced = false;
    void w.informer.synced().then(() => (synced = true));
    assert.equal(store.listCalls, 1);
    assert.deepEqual(w.take(), []);
    await w.clock.advance(500);
    assert.equal(store.listCalls, 2);
    await w.clock.advance(999);
    assert.equal(store.listCalls, 2, 'second retry waits twice as long');
    assert.equal(synced, false);
    assert.equal(w.informer.hasSynced(), false);
    await w.clock.advance(1);
    assert.equal(store.listCalls, 3);
    assert.deepEqual(w.take(), ['put a=g:1@2 initial'], 'still the first listing');
    assert.equal(synced, true);
    assert.equal(w.relists(), 0);
    assert.equal(store.liveWatchers().length, 1);
    await w.informer.release();
  });

  it('re-lists and retries when starting the watch fails', async () => {
    const store = seeded({ a: 'g:1' });
    store.failWatches = 1;
    const w = await start(store);
    assert.deepEqual(w.take(), ['put a=g:1@2 initial']);
    assert.equal(w.informer.hasSynced(), true);
    assert.equal(store.liveWatchers().length, 0);
    store.setQuietly(`${P}a`, 'g:2'); // missed: no watch yet
    await w.clock.advance(500);
    assert.deepEqual(w.take(), ['put a=g:2@3 (was 2)']);
    assert.equal(w.relists(), 1);
    assert.equal(store.liveWatchers().length, 1);
    assert.equal(store.liveWatchers()[0]!.fromRevision, 4);
    await w.informer.release();
  });

  it('resets the backoff once watching again', async () => {
    const store = new FakeKvStore();
    store.failLists = 3;
    const w = await start(store);
    await w.clock.advance(500 + 1000 + 2000);
    assert.equal(store.liveWatchers().length, 1);
    const lists = store.listCalls;
    store.compact();
    await w.clock.advance(500);
    assert.equal(store.listCalls, lists + 1, 're-listed after the base delay');
    await w.informer.release();
  });

  it('caps the backoff at 30 s', async () => {
    const store = new FakeKvStore();
    store.failLists = 100;
    const w = await start(store);
    await w.clock.advance(500 + 1000 + 2000 + 4000 + 8000 + 16_000); // lists 2..7
    const lists = store.listCalls;
    assert.equal(lists, 7);
    await w.clock.advance(29_999);
    assert.equal(store.listCalls, lists);
    await w.clock.advance(1);
    assert.equal(store.listCalls, lists + 1);
    await w.clock.advance(30_000);
    assert.equal(store.listCalls, lists + 2, 'stays at the cap');
    await w.informer.release();
  });

  it('never errors nor completes, and stops everything on the last release', async () => {
    const store = seeded({ a: 'g:1' });
    const w = await start(store);
    store.compact();
    store.failLists = 1;
    await w.clock.advance(500);
    await w.clock.advance(1000);
    assert.ok(!w.events.includes('ERROR') && !w.events.includes('COMPLETE'));
    assert.equal(store.liveWatchers().length, 1);
    w.take();
    await w.informer.release();
    assert.equal(w.informer.running, false);
    assert.equal(store.liveWatchers().length, 0, 'watch cancelled');
    const stale = store.watchers.at(-1)!.handlers;
    stale.onEvents([{ type: 'put', kv: { key: `${P}late`, value: 'g:1', modRevision: 99, lease: '0' } }], 99);
    stale.onError(new Error('late error'));
    store.compact();
    await store.put(`${P}b`, 'g:1');
    const lists = store.listCalls;
    await w.clock.advance(60_000);
    assert.equal(store.listCalls, lists);
    assert.equal(w.clock.pending, 0);
    assert.deepEqual(w.take(), []);
  });

  it('stops retrying when released during a backoff', async () => {
    const store = new FakeKvStore();
    store.failLists = 1;
    const w = await start(store);
    await w.informer.release();
    await w.clock.advance(60_000);
    assert.equal(store.listCalls, 1);
    assert.equal(store.liveWatchers().length, 0);
    assert.equal(w.clock.pending, 0);
  });

  it('opens no watch when released while listing', async () => {
    const store = new FakeKvStore();
    const informer = new SharedInformer<string>(store, P, decode, {}, new FakeClock(), log);
    informer.acquire();
    await informer.release(); // the listing is still in flight
    await flush();
    assert.equal(store.listCalls, 1);
    assert.equal(store.watchers.length, 0);
  });

  it('cancels a watch that opens after the release', async () => {
    const gate = deferred();
    const store = new (class extends FakeKvStore {
      override async watch(prefix: string, fromRevision: number, handlers: WatchHandlers): Promise<WatchHandle> {
        await gate.promise;
        return super.watch(prefix, fromRevision, handlers);
      }
    })();
    const informer = new SharedInformer<string>(store, P, decode, {}, new FakeClock(), log);
    informer.acquire();
    await flush(); // listed; the watch is opening
    await informer.release();
    gate.resolve();
    await flush();
    assert.equal(store.watchers.length, 1);
    assert.equal(store.liveWatchers().length, 0);
  });
});

describe('SharedInformer: decoding', () => {
  it('leaves out a value that does not decode, logged once per key and revision', async () => {
    const store = new FakeKvStore();
    store.setQuietly(`${P}a`, 'bad'); // rev 2
    store.setQuietly(`${P}b`, 'g:1');
    const spy = spyLogger();
    const w = await start(store, spy.log);
    assert.deepEqual(w.take(), ['put b=g:1@3 initial']);
    assert.deepEqual(w.keys(), ['b=g:1']);
    assert.equal(w.informer.hasSynced(), true, 'an undecodable record does not hold up the sync');
    const undecodable = () => spy.warnings.filter((i) => i['message'] === 'record does not decode; left out').map((i) => `${String(i['key']).slice(P.length)}@${String(i['modRevision'])}`);
    assert.deepEqual(undecodable(), ['a@2']);

    store.compact();
    await w.clock.advance(500);
    assert.deepEqual(undecodable(), ['a@2'], 'the re-list finds it again at the same revision: not logged again');
    await store.put(`${P}a`, 'bad'); // rev 4
    assert.deepEqual(undecodable(), ['a@2', 'a@4'], 'a new revision is logged');
    await store.put(`${P}a`, 'g:2');
    assert.deepEqual(w.take(), ['put a=g:2@5']);
    await w.informer.release();
  });

  it('leaves out a value its decoder throws on, listed or watched, and goes on (found by fuzzing)', async () => {
    const store = seeded({ a: 'throws', b: 'g:1' });
    const spy = spyLogger();
    const w = await start(store, spy.log);
    assert.equal(w.informer.hasSynced(), true, 'the listing is not failed by one record');
    assert.deepEqual(w.keys(), ['b=g:1']);
    await store.put(`${P}c`, 'throws');
    await store.put(`${P}d`, 'g:2');
    assert.deepEqual(w.keys(), ['b=g:1', 'd=g:2'], 'the watch goes on past it');
    const errors = spy.warnings.filter((i) => i['message'] === 'record does not decode; left out').map((i) => i['error']);
    assert.deepEqual(errors, ['the decoder failed: Maximum call stack size exceeded', 'the decoder failed: Maximum call stack size exceeded']);
    await w.informer.release();
  });

  it('tells a key that no longer decodes as a delete carrying the old object', async () => {
    const store = seeded({ a: 'g:1' });
    const w = await start(store);
    w.take();
    const deletes: InformerEvent<string>[] = [];
    w.informer.events.subscribe((ev) => ev.type === 'delete' && deletes.push(ev));
    await store.put(`${P}a`, 'bad');
    assert.deepEqual(w.take(), ['delete a (was g:1)']);
    assert.equal(deletes[0]?.type === 'delete' && deletes[0].revision, store.revision);
    assert.equal(w.informer.get(`${P}a`), undefined);
    assert.deepEqual(w.informer.byIndex('group', 'g'), []);
    await store.put(`${P}a`, 'g:2');
    assert.deepEqual(w.take(), ['put a=g:2@4'], 'readable again: an add');
    await w.informer.release();
  });
});

describe('SharedInformer: indexes', () => {
  const indexed = (w: { informer: SharedInformer<string> }, index: string, value: string) =>
    w.informer.byIndex(index, value).map((c) => c.key.slice(P.length)).sort();

  it('follows puts, updates and deletes', async () => {
    const store = seeded({ a: 'x:1', b: 'x:2' });
    const w = await start(store);
    assert.deepEqual(indexed(w, 'group', 'x'), ['a', 'b']);
    assert.deepEqual(indexed(w, 'group', 'y'), []);
    await store.put(`${P}c`, 'y:1');
    await store.put(`${P}a`, 'y:2');
    assert.deepEqual(indexed(w, 'group', 'x'), ['b'], 'the old value no longer finds a');
    assert.deepEqual(indexed(w, 'group', 'y'), ['a', 'c']);
    await store.delete(`${P}c`);
    await store.delete(`${P}b`);
    assert.deepEqual(indexed(w, 'group', 'x'), []);
    assert.deepEqual(indexed(w, 'group', 'y'), ['a']);
    assert.throws(() => w.informer.byIndex('nope', 'x'), /has no index nope/);
    await w.informer.release();
  });

  it('follows a re-list', async () => {
    const store = seeded({ a: 'x:1', b: 'x:2' });
    const w = await start(store);
    store.compact();
    store.setQuietly(`${P}a`, 'y:1');
    store.deleteQuietly(`${P}b`);
    await w.clock.advance(500);
    assert.deepEqual(indexed(w, 'group', 'x'), []);
    assert.deepEqual(indexed(w, 'group', 'y'), ['a']);
    await w.informer.release();
  });

  it('indexes the items it holds when an index is added after start', async () => {
    const store = seeded({ a: 'x:1', b: 'y:1' });
    const w = await start(store);
    w.informer.addIndexers({ number: (c) => [c.value.split(':')[1]!] });
    assert.deepEqual(indexed(w, 'number', '1'), ['a', 'b']);
    await store.put(`${P}a`, 'x:2');
    assert.deepEqual(indexed(w, 'number', '1'), ['b']);
    assert.deepEqual(indexed(w, 'number', '2'), ['a']);
    await w.informer.release();
  });
});

describe('SharedInformer: sharing', () => {
  it('shares one listing and one watch between two acquires; the last release stops it', async () => {
    const store = seeded({ a: 'g:1' });
    const w = await start(store);
    w.informer.acquire();
    await w.informer.synced();
    await flush();
    assert.equal(store.listCalls, 1);
    assert.equal(store.liveWatchers().length, 1);
    assert.equal(w.informer.watchesOpened, 1);
    await w.informer.release();
    assert.equal(w.informer.running, true);
    assert.equal(store.liveWatchers().length, 1, 'still watched for the other user');
    await store.put(`${P}b`, 'g:2');
    assert.deepEqual(w.keys(), ['a=g:1', 'b=g:2']);
    await w.informer.release();
    assert.equal(w.informer.running, false);
    assert.equal(store.liveWatchers().length, 0);
    await w.informer.release(); // one too many: no effect
    assert.equal(w.informer.running, false);
  });

  it('synced() fails when not running, and when released before the first listing', async () => {
    const store = new FakeKvStore();
    const clock = new FakeClock();
    const informer = new SharedInformer<string>(store, P, decode, {}, clock, log);
    await assert.rejects(informer.synced(), /not running/);
    store.failLists = 1;
    informer.acquire();
    const pending = informer.synced();
    await flush();
    await informer.release();
    await assert.rejects(pending, /stopped/);
    await assert.rejects(informer.synced(), /not running/);
  });

  it('synced() fails after a release, and a reacquire starts from an empty cache', async () => {
    const store = seeded({ a: 'g:1', b: 'g:2' });
    const w = await start(store);
    w.take();
    await w.informer.release();
    assert.equal(w.informer.hasSynced(), false);
    await assert.rejects(w.informer.synced(), /not running/);

    store.deleteQuietly(`${P}b`);
    store.setQuietly(`${P}c`, 'g:3');
    w.informer.acquire();
    assert.deepEqual(w.keys(), [], 'emptied at start');
    await w.informer.synced();
    assert.deepEqual(w.keys(), ['a=g:1', 'c=g:3']);
    assert.deepEqual(w.take(), ['put a=g:1@2 initial', 'put c=g:3@5 initial'], 'a fresh first listing: no delete for b');
    assert.equal(w.relists(), 0);
    assert.equal(store.liveWatchers().length, 1);
    await w.informer.release();
  });

  it('withCurrent() replays what the cache holds, then live changes', async () => {
    const store = seeded({ a: 'g:1', b: 'g:2' });
    const w = await start(store);
    const seen: string[] = [];
    const sub = w.informer.withCurrent().subscribe((ev) => seen.push(show(ev)));
    assert.deepEqual(seen, ['put a=g:1@2', 'put b=g:2@3']);
    await store.put(`${P}a`, 'g:3');
    await store.delete(`${P}b`);
    assert.deepEqual(seen.slice(2), ['put a=g:3@4 (was 2)', 'delete b (was g:2)']);
    sub.unsubscribe();
    await w.informer.release();
  });

  it('deleteAt deletes a key still at the revision read, and the cache has it gone at once; not one changed since', async () => {
    const store = seeded({ a: 'g:1', b: 'g:2' });
    const w = await start(store);
    const lag = store.lag(P); // the watch brings nothing meanwhile: what the cache shows is the assumed delete
    assert.equal(await w.informer.deleteAt(`${P}a`, w.informer.get(`${P}a`)!.modRevision), true);
    assert.equal(w.informer.get(`${P}a`), undefined);
    assert.equal(await store.get(`${P}a`), undefined);
    const read = w.informer.get(`${P}b`)!.modRevision;
    await store.put(`${P}b`, 'g:9');
    assert.equal(await w.informer.deleteAt(`${P}b`, read), false);
    assert.equal((await store.get(`${P}b`))?.value, 'g:9');
    lag();
    await flush();
    assert.deepEqual(w.keys(), ['b=g:9']);
    await w.informer.release();
  });
});

describe('InformerFactory', () => {
  const spec = (kind: string, indexers = {}) => ({ kind, prefix: P, decode, indexers });

  it('gives one informer per prefix, adding the indexers of a later spec', async () => {
    const store = seeded({ a: 'x:1' });
    const factory = new InformerFactory(store, new FakeClock(), log);
    const first = factory.informer(spec('thing', byGroup));
    const second = factory.informer(spec('thing', { number: (c: { value: string }) => [c.value.split(':')[1]!] }));
    assert.equal(first, second);
    first.acquire();
    second.acquire();
    await first.synced();
    assert.deepEqual(first.byIndex('group', 'x').map((c) => c.value), ['x:1']);
    assert.deepEqual(first.byIndex('number', '1').map((c) => c.value), ['x:1']);
    assert.equal(store.liveWatchers().length, 1);
    await first.release();
    await second.release();
  });

  it('refuses a spec of another kind for a prefix it holds', () => {
    const factory = new InformerFactory(new FakeKvStore(), new FakeClock(), log);
    factory.informer(spec('thing'));
    assert.throws(() => factory.informer(spec('other')), /decodes thing, asked for other/);
  });

  it('counts its informers, whether each runs and the watches each opened', async () => {
    const store = new FakeKvStore();
    const clock = new FakeClock();
    const factory = new InformerFactory(store, clock, log);
    const apps = factory.informer(spec('thing'));
    factory.informer({ kind: 'node', prefix: '/dokkaa/nodes/', decode });
    apps.acquire();
    await apps.synced();
    await flush();
    store.compact();
    await clock.advance(500);
    assert.deepEqual(factory.counts(), [
      { prefix: P, kind: 'thing', running: true, watchesOpened: 2 },
      { prefix: '/dokkaa/nodes/', kind: 'node', running: false, watchesOpened: 0 },
    ]);
    await apps.release();
    assert.equal(factory.counts()[0]!.running, false);
  });
});
