import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Subscription } from 'rxjs';
import { watchPrefix, type PrefixEvent } from '../../src/etcd/prefix-watch.js';
import { createLogger } from '../../src/logging.js';
import { FakeClock, flush } from './fake-clock.js';
import { FakeKvStore } from './fake-kv-store.js';

const log = createLogger('error', true);
const P = '/dokkaa/apps/';

/** Events as short strings: `put key=value@rev`, `delete key`. */
function show(ev: PrefixEvent): string {
  return ev.type === 'put' ? `put ${ev.kv.key.slice(P.length)}=${ev.kv.value}@${ev.kv.modRevision}` : `delete ${ev.key.slice(P.length)}`;
}

async function start(store: FakeKvStore, clock = new FakeClock()) {
  const events: string[] = [];
  const sub: Subscription = watchPrefix(store, P, { clock, log, baseDelayMs: 100, maxDelayMs: 1000 }).subscribe({
    next: (ev) => events.push(show(ev)),
    error: () => events.push('ERROR'),
    complete: () => events.push('COMPLETE'),
  });
  await flush();
  return { events, sub, clock, take: () => events.splice(0) };
}

describe('watchPrefix', () => {
  it('emits a put per existing key, then watches from the listing revision + 1', async () => {
    const store = new FakeKvStore();
    store.setQuietly(`${P}a`, '1'); // rev 2
    store.setQuietly(`${P}b`, '2'); // rev 3
    store.setQuietly('/dokkaa/nodes/h1', 'x'); // rev 4: outside the prefix
    const w = await start(store);
    assert.deepEqual(w.take(), ['put a=1@2', 'put b=2@3']);
    assert.equal(store.liveWatchers().length, 1);
    assert.equal(store.liveWatchers()[0]!.prefix, P);
    assert.equal(store.liveWatchers()[0]!.fromRevision, 5);
    w.sub.unsubscribe();
  });

  it('passes watch events through', async () => {
    const store = new FakeKvStore();
    store.setQuietly(`${P}a`, '1');
    const w = await start(store);
    w.take();
    await store.put(`${P}b`, 'new');
    await store.put(`${P}a`, 'changed');
    await store.delete(`${P}b`);
    await store.put('/dokkaa/nodes/h1', 'x');
    assert.deepEqual(w.take(), ['put b=new@3', 'put a=changed@4', 'delete b']);
    w.sub.unsubscribe();
  });

  it('passes on no delete for a key it never reported', async () => {
    const store = new FakeKvStore();
    const w = await start(store);
    store.liveWatchers()[0]!.handlers.onEvents([{ type: 'delete', key: `${P}ghost`, modRevision: 9 }], 9);
    assert.deepEqual(w.take(), []);
    w.sub.unsubscribe();
  });

  it('after a compaction, re-lists after the backoff and emits only the differences', async () => {
    const store = new FakeKvStore();
    store.setQuietly(`${P}gone`, '1');
    store.setQuietly(`${P}changed`, '1');
    store.setQuietly(`${P}same`, '1');
    const w = await start(store);
    assert.equal(w.take().length, 3);

    store.compact();
    // Changes made while nothing watches: only a re-list can reveal them.
    store.deleteQuietly(`${P}gone`);
    store.setQuietly(`${P}changed`, '2');
    store.setQuietly(`${P}new`, '1');
    const revision = store.revision;
    const listsBefore = store.listCalls;

    await w.clock.advance(99);
    assert.equal(store.listCalls, listsBefore, 'waits for the backoff');
    assert.deepEqual(w.take(), []);
    await w.clock.advance(1);
    assert.equal(store.listCalls, listsBefore + 1);
    assert.deepEqual(w.take().sort(), [`delete gone`, `put changed=2@${revision - 1}`, `put new=1@${revision}`].sort());
    assert.equal(store.liveWatchers().length, 1, 'watching again');
    assert.equal(store.liveWatchers()[0]!.fromRevision, revision + 1);

    await store.put(`${P}same`, '2');
    assert.deepEqual(w.take(), [`put same=2@${revision + 1}`]);
    w.sub.unsubscribe();
  });

  it('emits nothing on re-list when nothing changed', async () => {
    const store = new FakeKvStore();
    store.setQuietly(`${P}a`, '1');
    const w = await start(store);
    w.take();
    store.compact();
    await w.clock.advance(100);
    assert.deepEqual(w.take(), []);
    assert.equal(store.liveWatchers().length, 1);
    w.sub.unsubscribe();
  });

  it('remembers watch events when diffing a re-list', async () => {
    const store = new FakeKvStore();
    const w = await start(store);
    await store.put(`${P}a`, '1');
    await store.put(`${P}b`, '1');
    await store.delete(`${P}b`);
    w.take();
    store.compact();
    await w.clock.advance(100);
    assert.deepEqual(w.take(), [], 'a is known at its revision and b is known gone');
    w.sub.unsubscribe();
  });

  it('retries a failing listing with doubling backoff', async () => {
    const store = new FakeKvStore();
    store.setQuietly(`${P}a`, '1');
    store.failLists = 2;
    const w = await start(store);
    assert.equal(store.listCalls, 1);
    assert.deepEqual(w.take(), []);
    await w.clock.advance(100);
    assert.equal(store.listCalls, 2);
    await w.clock.advance(199);
    assert.equal(store.listCalls, 2, 'second retry waits twice as long');
    await w.clock.advance(1);
    assert.equal(store.listCalls, 3);
    assert.deepEqual(w.take(), ['put a=1@2']);
    assert.equal(store.liveWatchers().length, 1);
    w.sub.unsubscribe();
  });

  it('re-lists and retries when starting the watch fails', async () => {
    const store = new FakeKvStore();
    store.setQuietly(`${P}a`, '1');
    store.failWatches = 1;
    const w = await start(store);
    assert.deepEqual(w.take(), ['put a=1@2']);
    assert.equal(store.liveWatchers().length, 0);
    store.setQuietly(`${P}a`, '2'); // missed: no watch yet
    await w.clock.advance(100);
    assert.deepEqual(w.take(), ['put a=2@3']);
    assert.equal(store.liveWatchers().length, 1);
    assert.equal(store.liveWatchers()[0]!.fromRevision, 4);
    w.sub.unsubscribe();
  });

  it('resets the backoff once watching again', async () => {
    const store = new FakeKvStore();
    store.failLists = 3;
    const w = await start(store);
    await w.clock.advance(100 + 200 + 400);
    assert.equal(store.liveWatchers().length, 1);
    const lists = store.listCalls;
    store.compact();
    await w.clock.advance(100);
    assert.equal(store.listCalls, lists + 1, 're-listed after the base delay');
    w.sub.unsubscribe();
  });

  it('caps the backoff', async () => {
    const store = new FakeKvStore();
    store.failLists = 100;
    const w = await start(store);
    await w.clock.advance(100 + 200 + 400 + 800); // lists 2..5
    const lists = store.listCalls;
    await w.clock.advance(999);
    assert.equal(store.listCalls, lists);
    await w.clock.advance(1);
    assert.equal(store.listCalls, lists + 1);
    w.sub.unsubscribe();
  });

  it('never errors nor completes, and stops everything on unsubscribe', async () => {
    const store = new FakeKvStore();
    store.setQuietly(`${P}a`, '1');
    const w = await start(store);
    store.compact();
    store.failLists = 1;
    await w.clock.advance(100);
    await w.clock.advance(200);
    assert.ok(!w.events.includes('ERROR') && !w.events.includes('COMPLETE'));
    assert.equal(store.liveWatchers().length, 1);
    w.sub.unsubscribe();
    await flush();
    assert.equal(store.liveWatchers().length, 0, 'watch cancelled');
    store.compact();
    await store.put(`${P}b`, '1');
    const lists = store.listCalls;
    await w.clock.advance(60_000);
    assert.equal(store.listCalls, lists);
    assert.equal(w.clock.pending, 0);
  });

  it('stops retrying when unsubscribed during a backoff', async () => {
    const store = new FakeKvStore();
    store.failLists = 1;
    const w = await start(store);
    w.sub.unsubscribe();
    await w.clock.advance(60_000);
    assert.equal(store.listCalls, 1);
    assert.equal(store.liveWatchers().length, 0);
  });
});
