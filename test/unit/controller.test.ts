import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Subject } from 'rxjs';
import { Controller, TerminalError, type ControllerSpec, type ReconcileResult } from '../../src/controller/controller.js';
import { createLogger, type Logger } from '../../src/logging.js';
import { deferred, FakeClock, flush } from './fake-clock.js';

const log = createLogger('error', true);
const HOUR = 3_600_000;

type Reconcile = (key: string, log: Logger) => Promise<ReconcileResult>;

function setup(reconcile: Reconcile, extra: Partial<ControllerSpec> = {}) {
  const clock = new FakeClock();
  const events = new Subject<string>();
  const calls: [string, number][] = [];
  let listings = 0;
  const controller = new Controller(
    {
      name: 'test',
      reconciler: {
        reconcile: (key, l) => {
          calls.push([key, clock.now()]);
          return reconcile(key, l);
        },
      },
      sources: [events],
      listKeys: async () => {
        listings++;
        return [];
      },
      resyncMs: HOUR,
      baseDelayMs: 100,
      maxDelayMs: 1000,
      ...extra,
    },
    clock,
    log,
  );
  return { clock, events, calls, controller, listings: () => listings };
}

describe('Controller', () => {
  it('reconciles each key its sources emit, once per burst while waiting', async () => {
    const t = setup(async () => undefined);
    await t.controller.start();
    t.events.next('a');
    t.events.next('b');
    await flush();
    assert.deepEqual(t.calls.map(([k]) => k), ['a', 'b']);
    t.events.next('a');
    await flush();
    assert.deepEqual(t.calls.map(([k]) => k), ['a', 'b', 'a']);
    await t.controller.stop();
  });

  it('merges several sources and takes keys from enqueue()', async () => {
    const clock = new FakeClock();
    const s1 = new Subject<string>();
    const s2 = new Subject<string>();
    const seen: string[] = [];
    const c = new Controller(
      { name: 't', reconciler: { reconcile: async (k) => void seen.push(k) }, sources: [s1, s2], listKeys: async () => [], resyncMs: HOUR },
      clock,
      log,
    );
    await c.start();
    s1.next('x');
    s2.next('y');
    c.enqueue('z');
    await flush();
    assert.deepEqual(seen.sort(), ['x', 'y', 'z']);
    await c.stop();
  });

  it('hands the reconciler a logger', async () => {
    let got: Logger | undefined;
    const t = setup(async (_k, l) => void (got = l));
    await t.controller.start();
    t.events.next('a');
    await flush();
    assert.ok(got);
    assert.equal(typeof got.info, 'function');
    await t.controller.stop();
  });

  it('retries a failing key with doubling backoff, then stops once it succeeds', async () => {
    let failuresLeft = 3;
    const t = setup(async () => {
      if (failuresLeft-- > 0) throw new Error('etcd unavailable');
    });
    await t.controller.start();
    t.events.next('a');
    await t.clock.advance(10_000);
    assert.deepEqual(t.calls, [['a', 0], ['a', 100], ['a', 300], ['a', 700]]);
    await t.controller.stop();
  });

  it('starts the backoff afresh after a success', async () => {
    let fail = true;
    const t = setup(async () => {
      if (fail) throw new Error('x');
    });
    await t.controller.start();
    t.events.next('a');
    await t.clock.advance(100); // fails at 0 and 100
    fail = false;
    await t.clock.advance(200); // succeeds at 300
    assert.deepEqual(t.calls.map(([, at]) => at), [0, 100, 300]);
    fail = true;
    t.events.next('a'); // fails at 300, retried after the base delay again
    await t.clock.advance(100);
    assert.deepEqual(t.calls.map(([, at]) => at), [0, 100, 300, 300, 400]);
    await t.controller.stop();
  });

  it('caps the retry delay at maxDelayMs', async () => {
    const t = setup(async () => {
      throw new Error('x');
    });
    await t.controller.start();
    t.events.next('a');
    await t.clock.advance(10_000);
    const at = t.calls.map(([, ms]) => ms);
    const gaps = at.slice(1).map((ms, i) => ms - at[i]!);
    assert.deepEqual(gaps.slice(0, 6), [100, 200, 400, 800, 1000, 1000]);
    await t.controller.stop();
  });

  it('does not retry a TerminalError', async () => {
    const t = setup(async () => {
      throw new TerminalError('manifest invalid');
    });
    await t.controller.start();
    t.events.next('a');
    await t.clock.advance(60_000);
    assert.deepEqual(t.calls, [['a', 0]]);
    t.events.next('a'); // the input changed: reconciled again
    await flush();
    assert.equal(t.calls.length, 2);
    await t.controller.stop();
  });

  it('clears the backoff after a TerminalError', async () => {
    let n = 0;
    const t = setup(async () => {
      n++;
      if (n <= 2) throw new Error('transient');
      if (n === 3) throw new TerminalError('bad');
      throw new Error('transient again');
    });
    await t.controller.start();
    t.events.next('a');
    await t.clock.advance(300); // 0 fail, 100 fail, 300 terminal
    assert.deepEqual(t.calls.map(([, at]) => at), [0, 100, 300]);
    t.events.next('a'); // 300 fails: retried after the base delay, not 400
    await t.clock.advance(100);
    assert.deepEqual(t.calls.map(([, at]) => at), [0, 100, 300, 300, 400]);
    await t.controller.stop();
  });

  it('honours requeueAfterMs', async () => {
    let first = true;
    const t = setup(async () => {
      if (first) {
        first = false;
        return { requeueAfterMs: 5000 };
      }
      return undefined;
    });
    await t.controller.start();
    t.events.next('a');
    await t.clock.advance(4999);
    assert.equal(t.calls.length, 1);
    await t.clock.advance(1);
    assert.deepEqual(t.calls, [['a', 0], ['a', 5000]]);
    await t.clock.advance(HOUR - 5001);
    assert.equal(t.calls.length, 2, 'done means done');
    await t.controller.stop();
  });

  it('lists every key at start and again each resync period', async () => {
    const clock = new FakeClock();
    const seen: [string, number][] = [];
    let listings = 0;
    const c = new Controller(
      {
        name: 't',
        reconciler: { reconcile: async (k) => void seen.push([k, clock.now()]) },
        sources: [],
        listKeys: async () => {
          listings++;
          return ['a', 'b'];
        },
        resyncMs: 30_000,
      },
      clock,
      log,
    );
    await c.start();
    await clock.advance(0);
    assert.equal(listings, 1);
    assert.deepEqual(seen, [['a', 0], ['b', 0]]);
    await clock.advance(29_999);
    assert.equal(listings, 1);
    await clock.advance(1);
    assert.equal(listings, 2);
    await clock.advance(30_000);
    assert.equal(listings, 3);
    assert.deepEqual(seen.map(([, at]) => at), [0, 0, 30_000, 30_000, 60_000, 60_000]);
    await c.stop();
  });

  it('keeps resyncing after a listing fails', async () => {
    const clock = new FakeClock();
    let listings = 0;
    const seen: string[] = [];
    const c = new Controller(
      {
        name: 't',
        reconciler: { reconcile: async (k) => void seen.push(k) },
        sources: [],
        listKeys: async () => {
          if (++listings === 1) throw new Error('etcd down');
          return ['a'];
        },
        resyncMs: 1000,
      },
      clock,
      log,
    );
    await c.start();
    await clock.advance(0);
    assert.deepEqual(seen, []);
    await clock.advance(1000);
    assert.equal(listings, 2);
    assert.deepEqual(seen, ['a']);
    await c.stop();
  });

  it('on stop, waits for a reconcile in flight, then takes no more work', async () => {
    const gate = deferred();
    let finished = false;
    const t = setup(async () => {
      await gate.promise;
      finished = true;
    });
    await t.controller.start();
    await t.clock.advance(0);
    const listingsBefore = t.listings();
    t.events.next('a');
    await flush();
    let stopped = false;
    const done = t.controller.stop().then(() => (stopped = true));
    await flush();
    assert.equal(stopped, false);
    gate.resolve();
    await flush();
    assert.equal(stopped, true, 'stop resolves once the reconcile has finished');
    assert.equal(finished, true);
    await done;
    t.events.next('b');
    t.controller.enqueue('c');
    await t.clock.advance(10 * HOUR);
    assert.deepEqual(t.calls.map(([k]) => k), ['a']);
    assert.equal(t.listings(), listingsBefore, 'no resync after stop');
  });

  it('does not retry a failure that ends after stop', async () => {
    const gate = deferred();
    const t = setup(async () => {
      await gate.promise;
      throw new Error('late failure');
    });
    await t.controller.start();
    t.events.next('a');
    await flush();
    let stopped = false;
    const done = t.controller.stop().then(() => (stopped = true));
    gate.resolve();
    await flush();
    assert.equal(stopped, true);
    await done;
    await t.clock.advance(HOUR);
    assert.equal(t.calls.length, 1);
    assert.equal(t.clock.pending, 0);
  });

  it('starts again after stop, reconciling and resyncing as before', async () => {
    const t = setup(async () => undefined, { resyncMs: 1000 });
    await t.controller.start();
    await t.clock.advance(0);
    await t.controller.stop();
    await t.controller.start();
    await t.clock.advance(0);
    t.events.next('a');
    await flush();
    assert.deepEqual(t.calls.map(([k]) => k), ['a']);
    const listings = t.listings();
    await t.clock.advance(1000);
    assert.equal(t.listings(), listings + 1, 'one resync per period');
    await t.controller.stop();
  });

  it('ignores start() while started', async () => {
    const t = setup(async () => undefined, { resyncMs: 1000 });
    await t.controller.start();
    await t.controller.start();
    await t.clock.advance(0);
    assert.equal(t.listings(), 1);
    await t.clock.advance(1000);
    assert.equal(t.listings(), 2);
    await t.controller.stop();
  });

  it('keeps one resync loop when restarted while a listing is in flight', async () => {
    const clock = new FakeClock();
    const gates: (() => void)[] = [];
    let listings = 0;
    const c = new Controller(
      {
        name: 't',
        reconciler: { reconcile: async () => undefined },
        sources: [],
        listKeys: () => {
          listings++;
          return new Promise<string[]>((resolve) => gates.push(() => resolve([])));
        },
        resyncMs: 1000,
      },
      clock,
      log,
    );
    await c.start();
    await clock.advance(0); // listing 1 in flight
    await c.stop();
    await c.start();
    await clock.advance(0); // listing 2 in flight
    for (const g of gates.splice(0)) g();
    await flush();
    assert.equal(listings, 2);
    await clock.advance(1000);
    for (const g of gates.splice(0)) g();
    await flush();
    assert.equal(listings, 3, 'the listing begun before stop() schedules no second loop');
    await c.stop();
    await clock.advance(10_000);
    assert.equal(listings, 3, 'no resync after stop');
  });
});
