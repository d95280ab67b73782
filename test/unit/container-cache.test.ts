import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Subject } from 'rxjs';
import { Keys } from '../../api/keys.js';
import { ContainerCache, RELISTED } from '../../controllers/node-runner/container-cache.js';
import { LABEL } from '../../controllers/node-runner/container-template.js';
import { STREAM_CONNECTED, type ContainerEvent, type ContainerSummary } from '../../src/docker/container-engine.js';
import { deferred, FakeClock, flush } from './fake-clock.js';
import { memoryLogger } from './node-runner-world.js';

const MINE = { [LABEL.managed]: 'true', [LABEL.cluster]: '/d', [LABEL.node]: 'h1' };
const labelsOf = (replica: number, extra: Record<string, string> = {}) => ({ ...MINE, [LABEL.app]: 'shop', [LABEL.name]: 'web', [LABEL.replica]: String(replica), ...extra });
const summary = (id: string, replica: number, state = 'running', name = `shop-web-${replica}`): ContainerSummary => ({ id, name, labels: labelsOf(replica), state });
const event = (id: string, action: string, replica: number, name = `shop-web-${replica}`): ContainerEvent => ({ id, action, labels: { ...labelsOf(replica), name, image: 'busybox' } });

/** An engine whose listings the test answers one at a time, and whose events it sends. */
function scriptedEngine() {
  const events = new Subject<ContainerEvent>();
  const listings: ReturnType<typeof deferred<ContainerSummary[]>>[] = [];
  const filters: Record<string, string>[] = [];
  return {
    events,
    listings,
    filters,
    engine: {
      list: (labels: Record<string, string>) => {
        filters.push(labels);
        const d = deferred<ContainerSummary[]>();
        listings.push(d);
        return d.promise;
      },
      events: (labels: Record<string, string>) => {
        filters.push(labels);
        return events.asObservable();
      },
    },
    connect: () => events.next({ id: '', action: STREAM_CONNECTED, labels: {} }),
  };
}

function cacheOn(e: ReturnType<typeof scriptedEngine>, clock = new FakeClock()) {
  const cache = new ContainerCache(e.engine, new Keys('/d'), { node: 'h1' }, clock, memoryLogger([]));
  const told: ContainerEvent[] = [];
  cache.events.subscribe((ev) => told.push(ev));
  return { cache, told, clock };
}

describe('ContainerCache', () => {
  it('lists this host\'s containers of the cluster once the event stream is connected, and is synced after', async () => {
    const e = scriptedEngine();
    const { cache } = cacheOn(e);
    cache.acquire();
    let synced = false;
    void cache.synced().then(() => (synced = true));
    assert.equal(e.listings.length, 0, 'no listing before the stream is connected: events before it would be lost');
    e.connect();
    assert.equal(e.listings.length, 1);
    assert.deepEqual(e.filters, [MINE, MINE]);
    await flush();
    assert.equal(synced, false);
    e.listings[0]!.resolve([summary('new', 0, 'created'), summary('old', 0, 'exited'), summary('other', 1)]);
    await flush();
    assert.equal(synced, true);
    assert.deepEqual(cache.ofReplica('shop', 'web', 0).map((c) => [c.id, c.state]), [['new', 'created'], ['old', 'exited']]);
    assert.deepEqual(cache.replicaIds().sort(), ['shop/web/0', 'shop/web/1']);
    assert.deepEqual(cache.ofReplica('shop', 'web', 2), []);
  });

  it('keeps the containers by the engine\'s events and tells them after applying them', async () => {
    const e = scriptedEngine();
    const { cache, told } = cacheOn(e);
    cache.acquire();
    e.connect();
    e.listings[0]!.resolve([summary('a', 0)]);
    await cache.synced();
    const seen: string[][] = [];
    cache.events.subscribe(() => seen.push(cache.ofReplica('shop', 'web', 0).map((c) => `${c.id} ${c.name} ${c.state}`)));
    e.events.next(event('b', 'create', 0, 'shop-web-0-h'));
    e.events.next(event('b', 'start', 0, 'shop-web-0-h'));
    e.events.next(event('a', 'kill', 0));
    e.events.next(event('a', 'die', 0));
    e.events.next(event('a', 'destroy', 0));
    e.events.next(event('b', 'rename', 0, 'shop-web-0'));
    assert.deepEqual(seen, [
      ['b shop-web-0-h created', 'a shop-web-0 running'],
      ['b shop-web-0-h running', 'a shop-web-0 running'],
      ['b shop-web-0-h running', 'a shop-web-0 running'],
      ['b shop-web-0-h running', 'a shop-web-0 exited'],
      ['b shop-web-0-h running'],
      ['b shop-web-0 running'],
    ]);
    assert.deepEqual(told.map((ev) => `${ev.id} ${ev.action}`), ['b create', 'b start', 'a kill', 'a die', 'a destroy', 'b rename']);
    // Docker's own attributes are not labels.
    assert.equal(cache.ofReplica('shop', 'web', 0)[0]!.labels['image'], undefined);
    assert.equal(cache.ofReplica('shop', 'web', 0)[0]!.labels[LABEL.app], 'shop');
  });

  it('applies the events that come during a listing at once, and again over its result, in order', async () => {
    const e = scriptedEngine();
    const { cache, told } = cacheOn(e);
    cache.acquire();
    e.connect();
    e.listings[0]!.resolve([summary('a', 0), summary('d', 3)]);
    await cache.synced();
    // A re-list whose snapshot was taken before these: `a` was running, `b` did not exist, `d` was there.
    const relisted = cache.relist();
    e.events.next(event('a', 'die', 0));
    e.events.next(event('b', 'create', 1));
    e.events.next(event('b', 'start', 1));
    e.events.next(event('c', 'create', 2));
    e.events.next(event('c', 'destroy', 2));
    cache.apply({ id: 'd', action: 'destroy', labels: {} });
    // Seen at once, while the listing is in flight.
    assert.deepEqual(cache.ofReplica('shop', 'web', 0).map((c) => c.state), ['exited']);
    assert.deepEqual(cache.ofReplica('shop', 'web', 1).map((c) => c.state), ['running']);
    assert.deepEqual(told.map((ev) => `${ev.id} ${ev.action}`), ['a die', 'b create', 'b start', 'c create', 'c destroy']);
    e.listings[1]!.resolve([summary('a', 0), summary('d', 3)]);
    await relisted;
    assert.deepEqual(cache.ofReplica('shop', 'web', 0).map((c) => c.state), ['exited']);
    assert.deepEqual(cache.ofReplica('shop', 'web', 1).map((c) => c.state), ['running']);
    assert.deepEqual(cache.ofReplica('shop', 'web', 2), []);
    assert.deepEqual(cache.ofReplica('shop', 'web', 3), [], 'what the executor removed stays removed');
    assert.equal(told.length, 5, 'the events said it all: the listing tells nothing more');
  });

  it('shows what the executor did at once; the engine\'s late events do not undo it', async () => {
    const e = scriptedEngine();
    const { cache, told } = cacheOn(e);
    cache.acquire();
    e.connect();
    e.listings[0]!.resolve([]);
    await cache.synced();
    cache.apply({ id: 'n', action: 'create', labels: { ...labelsOf(0), name: 'shop-web-0' } });
    cache.apply({ id: 'n', action: 'start', labels: {} });
    assert.deepEqual(cache.ofReplica('shop', 'web', 0).map((c) => `${c.id} ${c.state}`), ['n running']);
    // The engine's create event comes after the start was applied: still running.
    e.events.next(event('n', 'create', 0));
    assert.deepEqual(cache.ofReplica('shop', 'web', 0).map((c) => `${c.id} ${c.state}`), ['n running']);
    cache.apply({ id: 'n', action: 'destroy', labels: {} });
    // A late create of a destroyed container does not bring it back.
    e.events.next(event('n', 'create', 0));
    assert.deepEqual(cache.ofReplica('shop', 'web', 0), []);
    assert.deepEqual(told.map((ev) => `${ev.id} ${ev.action}`), ['n create', 'n create'], 'what the executor applied is not told');
  });

  it('keeps the state events gave a container it did not know yet, once the create is applied', async () => {
    const e = scriptedEngine();
    const { cache } = cacheOn(e);
    cache.acquire();
    e.connect();
    e.listings[0]!.resolve([]);
    await cache.synced();
    // The stream lost the create (a torn line) and brought the start and the exit of a
    // container that ends at once, before the create's answer reached the executor.
    e.events.next(event('n', 'start', 0));
    e.events.next(event('n', 'die', 0));
    cache.apply({ id: 'n', action: 'create', labels: { ...labelsOf(0), name: 'shop-web-0' } });
    assert.deepEqual(cache.ofReplica('shop', 'web', 0).map((c) => `${c.id} ${c.state}`), ['n exited']);
  });

  it('lists again on a reconnection and tells what it found changed', async () => {
    const e = scriptedEngine();
    const { cache, told } = cacheOn(e);
    cache.acquire();
    e.connect();
    e.listings[0]!.resolve([summary('a', 0), summary('b', 1), summary('c', 2)]);
    await cache.synced();
    // While the stream was down: `a` died, `b` went, `d` came.
    e.connect();
    e.listings[1]!.resolve([summary('d', 3), summary('a', 0, 'exited'), summary('c', 2)]);
    await flush();
    assert.deepEqual(told.map((ev) => `${ev.id} ${ev.action} ${ev.labels[LABEL.replica]}`).sort(), ['a relisted 0', 'b relisted 1', 'd relisted 3']);
    assert.deepEqual(cache.replicaIds().sort(), ['shop/web/0', 'shop/web/2', 'shop/web/3']);
    assert.equal(told.every((ev) => ev.action === RELISTED), true);
  });

  it('a reconnection during a listing lists once more after it', async () => {
    const e = scriptedEngine();
    const { cache } = cacheOn(e);
    cache.acquire();
    e.connect();
    e.connect();
    assert.equal(e.listings.length, 1, 'one listing at a time');
    e.listings[0]!.resolve([summary('a', 0)]);
    await flush();
    assert.equal(e.listings.length, 2);
    e.listings[1]!.resolve([]);
    await flush();
    assert.deepEqual(cache.replicaIds(), []);
  });

  it('retries a failed listing with backoff, and is synced only once one succeeds', async () => {
    const e = scriptedEngine();
    const { cache, clock } = cacheOn(e);
    cache.acquire();
    let synced = false;
    void cache.synced().then(() => (synced = true));
    e.connect();
    e.listings[0]!.reject(new Error('engine busy'));
    await flush();
    assert.equal(synced, false);
    assert.equal(e.listings.length, 1);
    await clock.advance(1_000);
    assert.equal(e.listings.length, 2);
    e.listings[1]!.resolve([summary('a', 0)]);
    await flush();
    assert.equal(synced, true);
    assert.equal(cache.ofReplica('shop', 'web', 0).length, 1);
  });

  it('relist() lists again now (the resync) and release() stops and forgets', async () => {
    const e = scriptedEngine();
    const { cache } = cacheOn(e);
    cache.acquire();
    e.connect();
    e.listings[0]!.resolve([summary('a', 0)]);
    await cache.synced();
    const relisted = cache.relist();
    e.listings[1]!.resolve([summary('a', 0), summary('b', 1)]);
    await relisted;
    assert.deepEqual(cache.replicaIds().sort(), ['shop/web/0', 'shop/web/1']);
    await cache.release();
    assert.deepEqual(cache.replicaIds(), []);
    await assert.rejects(cache.synced(), /not running/);
    e.events.next(event('c', 'create', 2));
    assert.deepEqual(cache.replicaIds(), []);
  });
});
