import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ControllerFactory } from '../../src/controller/controller-factory.js';
import { InformerFactory } from '../../src/informer/informer-factory.js';
import type { Decoder } from '../../src/informer/shared-informer.js';
import { createLogger } from '../../src/logging.js';
import { FakeClock, flush } from './fake-clock.js';
import { FakeKvStore } from './fake-kv-store.js';

const log = createLogger('error', true);
const APPS = '/dokkaa/apps/';
const LINKS = '/dokkaa/links/';
const RESYNC = 60_000;

const text: Decoder<string> = (kv) => ({ ok: true, value: kv.value });

/**
 * A controller for apps (primary: each app key reconciles as its name) that also watches
 * links (each link's value names the app it bears on).
 */
function setup(store: FakeKvStore, settleMs?: number) {
  const clock = new FakeClock();
  const informers = new InformerFactory(store, clock, log);
  const factory = new ControllerFactory(informers, clock, log, { resyncSeconds: RESYNC / 1000 });
  const apps = factory.informer({ kind: 'app', prefix: APPS, decode: text });
  const links = factory.informer({ kind: 'link', prefix: LINKS, decode: text });
  const calls: string[] = [];
  const builder = factory
    .builder('test', {
      reconcile: async (key) => {
        // The reconciler reads the caches: they must be synced by now.
        calls.push(apps.hasSynced() && links.hasSynced() ? key : `${key} unsynced`);
      },
    })
    .for(apps, (c) => [c.key.slice(APPS.length)])
    .watches(links, (ev) => [ev.type === 'put' ? ev.obj.value : ev.old.value])
    .resyncsAlso(() => ['extra']);
  const controller = (settleMs === undefined ? builder : builder.settle(settleMs)).build();
  return { clock, informers, apps, links, calls, controller, take: () => calls.splice(0).sort() };
}

describe('ControllerBuilder', () => {
  it('reconciles nothing until every informer has synced, then resyncs the primary keys', async () => {
    const store = new FakeKvStore();
    store.setQuietly(`${APPS}a`, '1');
    store.setQuietly(`${APPS}b`, '1');
    store.setQuietly(`${LINKS}l1`, 'c');
    store.failLists = 2; // the first listing of each prefix fails
    const t = setup(store);
    await t.controller.start();
    t.controller.enqueue('early');
    await t.clock.advance(0);
    assert.deepEqual(t.calls, []);
    assert.equal(t.apps.running && t.links.running, true);
    await t.clock.advance(500);
    assert.deepEqual(t.take(), ['a', 'b', 'early', 'extra'], 'the link listing brought no key: initial events are skipped');
    await t.clock.advance(RESYNC - 1);
    assert.deepEqual(t.calls, []);
    await t.clock.advance(1);
    assert.deepEqual(t.take(), ['a', 'b', 'extra']);
    await t.controller.stop();
  });

  it('maps puts and deletes of the primary and of watched informers, deletes through the old object', async () => {
    const store = new FakeKvStore();
    store.setQuietly(`${APPS}a`, '1');
    store.setQuietly(`${LINKS}l1`, 'x');
    const t = setup(store);
    await t.controller.start();
    await t.clock.advance(0);
    t.take();
    await store.put(`${APPS}b`, '1');
    await store.put(`${LINKS}l2`, 'y');
    await flush();
    assert.deepEqual(t.take(), ['b', 'y']);
    await store.delete(`${APPS}a`);
    await store.delete(`${LINKS}l1`);
    await flush();
    assert.deepEqual(t.take(), ['a', 'x']);
    await t.controller.stop();
  });

  it("reconciles the primary's keys after it re-lists", async () => {
    const store = new FakeKvStore();
    store.setQuietly(`${APPS}a`, '1');
    const t = setup(store);
    await t.controller.start();
    await t.clock.advance(0);
    t.take();
    for (const w of store.liveWatchers().filter((w) => w.prefix === APPS)) {
      w.cancelled = true;
      w.handlers.onError(new Error('watch lost'));
    }
    await t.clock.advance(500);
    assert.deepEqual(t.take(), ['a']);
    await t.controller.stop();
  });

  it('releases its informers on stop, and starts again from fresh listings', async () => {
    const store = new FakeKvStore();
    store.setQuietly(`${APPS}a`, '1');
    const t = setup(store);
    t.links.acquire(); // another consumer of links
    await t.controller.start();
    await t.clock.advance(0);
    assert.equal(store.liveWatchers().length, 2);
    await t.controller.stop();
    assert.deepEqual(
      t.informers.counts().map((c) => [c.prefix, c.running]),
      [
        [APPS, false],
        [LINKS, true],
      ],
      'links still serves its other consumer',
    );
    assert.deepEqual(store.liveWatchers().map((w) => w.prefix), [LINKS]);
    t.take();
    await store.put(`${APPS}b`, '1');
    await t.clock.advance(RESYNC);
    assert.deepEqual(t.calls, [], 'nothing after stop');

    await t.controller.start();
    await t.clock.advance(0);
    assert.deepEqual(t.take(), ['a', 'b', 'extra']);
    await t.controller.stop();
    await t.links.release();
    assert.equal(store.liveWatchers().length, 0);
  });

  it('with settle(ms), reconciles a burst of changes once, that long after its first; resyncs at once', async () => {
    const store = new FakeKvStore();
    store.setQuietly(`${APPS}a`, '1');
    const t = setup(store, 25);
    await t.controller.start();
    await t.clock.advance(0);
    assert.deepEqual(t.take(), ['a', 'extra'], 'the first resync is not held back');
    await store.put(`${APPS}b`, '1');
    await flush();
    await t.clock.advance(10);
    await store.put(`${APPS}b`, '2');
    await store.put(`${LINKS}l1`, 'b');
    await flush();
    await t.clock.advance(14);
    assert.deepEqual(t.calls, [], 'nothing before 25 ms');
    await t.clock.advance(1);
    assert.deepEqual(t.take(), ['b'], 'three changes of b, one reconcile');
    await t.clock.advance(100);
    assert.deepEqual(t.calls, []);
    await t.controller.stop();
  });
});
