import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WorkQueue, type WorkerSlot } from '../../src/queue/work-queue.js';
import { deferred, FakeClock, flush } from './fake-clock.js';

const opts = { baseDelayMs: 100, maxDelayMs: 1000, concurrency: 4 };

/** A handler that records calls and, per call, waits for the test to release it. */
function gatedHandler() {
  const calls: string[] = [];
  const gates: { key: string; release: () => void; fail: (e: unknown) => void }[] = [];
  const active = new Map<string, number>();
  let maxActivePerKey = 0;
  const handler = async (key: string) => {
    calls.push(key);
    const n = (active.get(key) ?? 0) + 1;
    active.set(key, n);
    maxActivePerKey = Math.max(maxActivePerKey, n);
    const d = deferred();
    gates.push({ key, release: () => d.resolve(), fail: d.reject });
    try {
      await d.promise;
    } finally {
      active.set(key, active.get(key)! - 1);
    }
  };
  const inFlight = () => [...active.entries()].filter(([, n]) => n > 0).map(([k]) => k).sort();
  const release = async (key: string) => {
    const i = gates.findIndex((g) => g.key === key);
    assert.ok(i >= 0, `${key} is not in flight`);
    gates.splice(i, 1)[0]!.release();
    await flush();
  };
  return { handler, calls, inFlight, release, gates, maxActivePerKey: () => maxActivePerKey };
}

/** A handler that records calls and finishes at once. */
function recorder() {
  const calls: string[] = [];
  return { calls, handler: async (key: string) => void calls.push(key) };
}

describe('WorkQueue', () => {
  it('holds a waiting key once however often it is added', async () => {
    const q = new WorkQueue(new FakeClock(), opts);
    q.add('a');
    q.add('a');
    q.add('b');
    q.add('a');
    assert.equal(q.length, 2);
    const r = recorder();
    q.run(r.handler);
    await flush();
    assert.deepEqual(r.calls, ['a', 'b']);
    assert.equal(q.length, 0);
  });

  it('hands keys over as they are added once running', async () => {
    const q = new WorkQueue(new FakeClock(), opts);
    const r = recorder();
    q.run(r.handler);
    q.add('a');
    await flush();
    q.add('a');
    await flush();
    assert.deepEqual(r.calls, ['a', 'a']);
  });

  it('handles a key by one worker at a time; re-adds during handling run once afterwards', async () => {
    const q = new WorkQueue(new FakeClock(), opts);
    const h = gatedHandler();
    q.run(h.handler);
    q.add('a');
    await flush();
    assert.deepEqual(h.calls, ['a']);
    q.add('a');
    q.add('a');
    q.add('a');
    await flush();
    assert.deepEqual(h.calls, ['a'], 'not handled again while in flight');
    assert.equal(q.length, 0, 'a key in flight is not also waiting');
    await h.release('a');
    assert.deepEqual(h.calls, ['a', 'a'], 'handled exactly once more');
    await h.release('a');
    assert.deepEqual(h.calls, ['a', 'a'], 'and then not again');
    assert.equal(h.maxActivePerKey(), 1);
  });

  it('caps the keys handled at once, and starts the next when one finishes', async () => {
    const q = new WorkQueue(new FakeClock(), { ...opts, concurrency: 2 });
    const h = gatedHandler();
    q.run(h.handler);
    for (const k of ['a', 'b', 'c', 'd']) q.add(k);
    await flush();
    assert.deepEqual(h.inFlight(), ['a', 'b']);
    assert.equal(q.length, 2);
    await h.release('b');
    assert.deepEqual(h.inFlight(), ['a', 'c']);
    await h.release('a');
    assert.deepEqual(h.inFlight(), ['c', 'd']);
    await h.release('c');
    await h.release('d');
    assert.deepEqual(h.calls, ['a', 'b', 'c', 'd']);
    assert.deepEqual(h.inFlight(), []);
  });

  it('re-queues a dirty key behind keys already waiting under the cap', async () => {
    const q = new WorkQueue(new FakeClock(), { ...opts, concurrency: 1 });
    const h = gatedHandler();
    q.run(h.handler);
    q.add('a');
    q.add('b');
    await flush();
    q.add('a'); // dirty while in flight
    await h.release('a');
    assert.deepEqual(h.inFlight(), ['b']);
    await h.release('b');
    assert.deepEqual(h.calls, ['a', 'b', 'a']);
  });

  it('adds a key after a delay', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue(clock, opts);
    const r = recorder();
    q.run(r.handler);
    q.addAfter('a', 500);
    await clock.advance(499);
    assert.deepEqual(r.calls, []);
    await clock.advance(1);
    assert.deepEqual(r.calls, ['a']);
    await clock.advance(10_000);
    assert.deepEqual(r.calls, ['a']);
  });

  it('adds at once for a delay <= 0', async () => {
    const q = new WorkQueue(new FakeClock(), opts);
    const r = recorder();
    q.run(r.handler);
    q.addAfter('a', 0);
    q.addAfter('b', -5);
    await flush();
    assert.deepEqual(r.calls, ['a', 'b']);
  });

  it('lets the earlier of two delayed adds of a key win, and runs it once', async () => {
    for (const [first, second] of [[500, 200], [200, 500]] as const) {
      const clock = new FakeClock();
      const q = new WorkQueue(clock, opts);
      const r = recorder();
      q.run(r.handler);
      q.addAfter('a', first);
      q.addAfter('a', second);
      await clock.advance(199);
      assert.deepEqual(r.calls, [], `${first}, ${second}`);
      await clock.advance(1);
      assert.deepEqual(r.calls, ['a'], `${first}, ${second}`);
      await clock.advance(1000);
      assert.deepEqual(r.calls, ['a'], `${first}, ${second}: the later add was dropped`);
      assert.equal(clock.pending, 0);
    }
  });

  it('delays rate-limited adds base * 2^failures, capped at maxDelayMs', () => {
    const q = new WorkQueue(new FakeClock(), opts);
    const delays = Array.from({ length: 7 }, () => q.addRateLimited('a'));
    assert.deepEqual(delays, [100, 200, 400, 800, 1000, 1000, 1000]);
    assert.equal(q.numFailures('a'), 7);
    assert.equal(q.numFailures('b'), 0);
    assert.equal(q.addRateLimited('b'), 100, 'failures count per key');
  });

  it('keeps the cap after very many failures', () => {
    const q = new WorkQueue(new FakeClock(), { baseDelayMs: 1, maxDelayMs: 30_000, concurrency: 1 });
    let last = 0;
    for (let i = 0; i < 100; i++) last = q.addRateLimited('a');
    assert.equal(last, 30_000);
  });

  it('runs a rate-limited key when its backoff has passed', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue(clock, opts);
    const r = recorder();
    q.run(r.handler);
    q.addRateLimited('a'); // 100
    await clock.advance(100);
    assert.deepEqual(r.calls, ['a']);
    q.addRateLimited('a'); // 200
    await clock.advance(199);
    assert.deepEqual(r.calls, ['a']);
    await clock.advance(1);
    assert.deepEqual(r.calls, ['a', 'a']);
  });

  it('starts the backoff afresh after forget', () => {
    const q = new WorkQueue(new FakeClock(), opts);
    q.addRateLimited('a');
    q.addRateLimited('a');
    q.addRateLimited('b');
    q.forget('a');
    assert.equal(q.numFailures('a'), 0);
    assert.equal(q.numFailures('b'), 1, 'other keys keep their count');
    assert.equal(q.addRateLimited('a'), 100);
  });

  it('keeps working after a handler rejects', async () => {
    const q = new WorkQueue(new FakeClock(), { ...opts, concurrency: 1 });
    const calls: string[] = [];
    q.run(async (key) => {
      calls.push(key);
      if (key === 'bad') throw new Error('boom');
    });
    q.add('bad');
    q.add('good');
    await flush();
    q.add('bad');
    q.add('after');
    await flush();
    assert.deepEqual(calls, ['bad', 'good', 'bad', 'after']);
  });

  it('on shutdown, waits for handlers in flight and drops waiting, dirty and delayed keys', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue(clock, { ...opts, concurrency: 1 });
    const h = gatedHandler();
    q.run(h.handler);
    q.add('a');
    q.add('b'); // waiting behind the cap
    await flush();
    q.add('a'); // dirty
    q.addAfter('c', 100);
    let stopped = false;
    const done = q.shutdown().then(() => (stopped = true));
    await flush();
    assert.equal(stopped, false, 'still waiting for a');
    assert.equal(q.length, 0);
    q.add('d'); // ignored after shutdown
    q.addAfter('e', 10);
    q.addRateLimited('f');
    await h.release('a');
    await flush();
    assert.equal(stopped, true, 'resolved once a finished');
    await done;
    await clock.advance(10_000);
    assert.deepEqual(h.calls, ['a'], 'nothing started after shutdown');
    assert.equal(clock.pending, 0, 'no timers left behind');
  });

  it('shuts down at once when idle', async () => {
    const q = new WorkQueue(new FakeClock(), opts);
    q.run(recorder().handler);
    let stopped = false;
    void q.shutdown().then(() => (stopped = true));
    await flush();
    assert.equal(stopped, true);
  });

  it('waits for every handler in flight, not just the first to finish', async () => {
    const q = new WorkQueue(new FakeClock(), opts);
    const h = gatedHandler();
    q.run(h.handler);
    q.add('a');
    q.add('b');
    await flush();
    let stopped = false;
    const done = q.shutdown().then(() => (stopped = true));
    await h.release('a');
    assert.equal(stopped, false);
    await h.release('b');
    await flush();
    assert.equal(stopped, true);
    await done;
  });

  it('resolves every shutdown caller', async () => {
    const q = new WorkQueue(new FakeClock(), opts);
    const h = gatedHandler();
    q.run(h.handler);
    q.add('a');
    await flush();
    let resolved = 0;
    void q.shutdown().then(() => resolved++);
    void q.shutdown().then(() => resolved++);
    await h.release('a');
    await flush();
    assert.equal(resolved, 2);
  });

  describe('a handler idling (WorkerSlot.idle)', () => {
    /** 'a' waits on `pull` with its worker given back; the other keys are gated. */
    function idler(pull: Promise<void>) {
      const log: string[] = [];
      const gates = new Map<string, () => void>();
      const handler = async (key: string, worker: WorkerSlot) => {
        log.push(`${key} begins`);
        if (key === 'a') {
          await worker.idle(pull).catch(() => log.push('a pull failed'));
          log.push('a resumes');
          return;
        }
        const d = deferred();
        gates.set(key, d.resolve);
        await d.promise;
        log.push(`${key} ends`);
      };
      return { log, handler, release: async (k: string) => { gates.get(k)!(); await flush(); } };
    }

    /** A queue of `concurrency` workers running the idler, with `keys` added. */
    async function started(concurrency: number, keys: string[]) {
      const q = new WorkQueue(new FakeClock(), { ...opts, concurrency });
      const pull = deferred();
      const h = idler(pull.promise);
      q.run(h.handler);
      for (const k of keys) q.add(k);
      await flush();
      return { q, pull, h };
    }

    it('gives its worker to the next key, and takes one back ahead of keys not yet begun', async () => {
      const { pull, h } = await started(1, ['a', 'b', 'c']);
      assert.deepEqual(h.log, ['a begins', 'b begins'], 'b runs while a waits for its pull');
      pull.resolve();
      await flush();
      assert.deepEqual(h.log, ['a begins', 'b begins'], 'a waits for a worker: b holds the only one');
      await h.release('b');
      assert.deepEqual(h.log, ['a begins', 'b begins', 'b ends', 'a resumes', 'c begins'], 'a resumes before c begins');
      await h.release('c');
    });

    it('keeps the key in hand: added again while idling, it runs once more only after', async () => {
      const { q, pull, h } = await started(2, ['a']);
      q.add('a');
      await flush();
      assert.deepEqual(h.log, ['a begins']);
      pull.resolve();
      await flush();
      assert.deepEqual(h.log, ['a begins', 'a resumes', 'a begins', 'a resumes']);
    });

    it('passes a failure of the wait on, after taking a worker back', async () => {
      const { q, pull, h } = await started(1, ['a', 'b']);
      pull.reject(new Error('pull failed'));
      await flush();
      assert.deepEqual(h.log, ['a begins', 'b begins']);
      await h.release('b');
      assert.deepEqual(h.log, ['a begins', 'b begins', 'b ends', 'a pull failed', 'a resumes']);
      let stopped = false;
      await q.shutdown().then(() => (stopped = true));
      assert.equal(stopped, true, 'no worker is left counted');
    });
  });

  it('reads a concurrency function before each start (an adaptive limit)', async () => {
    let limit = 1;
    const q = new WorkQueue(new FakeClock(), { ...opts, concurrency: () => limit });
    const h = gatedHandler();
    q.run(h.handler);
    for (const k of ['a', 'b', 'c', 'd']) q.add(k);
    await flush();
    assert.deepEqual(h.inFlight(), ['a']);
    limit = 3;
    await h.release('a');
    assert.deepEqual(h.inFlight(), ['b', 'c', 'd'], 'the next start sees the raised limit');
    limit = 1;
    await h.release('b');
    await h.release('c');
    assert.deepEqual(h.inFlight(), ['d']);
    await h.release('d');
  });
});
