import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { PullOptions, PullProgress, RegistryAuth } from '../../src/docker/container-engine.js';
import { PullCoordinator, type PullCoordinatorOptions } from '../../src/docker/pull-coordinator.js';
import { PullError } from '../../src/docker/pull-errors.js';
import { createLogger } from '../../src/logging.js';
import { FakeClock, flush } from './fake-clock.js';

/** One pull the fake engine is doing: the test moves it along or ends it. */
interface EnginePull {
  ref: string;
  options: PullOptions;
  progress(p: PullProgress): void;
  finish(): void;
  fail(err: Error): void;
  aborted: boolean;
}

/** An engine whose pulls run until the test says; an abort rejects as dockerode does. */
class PullingEngine {
  readonly pulls: EnginePull[] = [];

  pull(ref: string, options: PullOptions = {}): Promise<void> {
    return new Promise((resolve, reject) => {
      const p: EnginePull = { ref, options, progress: (x) => options.onProgress?.(x), finish: resolve, fail: reject, aborted: false };
      options.signal?.addEventListener('abort', () => {
        p.aborted = true;
        reject(new Error('aborted'));
      });
      this.pulls.push(p);
    });
  }
}

const OPTIONS: PullCoordinatorOptions = { stallMs: 60_000, progressIntervalMs: 1_000, attempts: 3, retryBaseMs: 2_000, retryMaxMs: 30_000 };
const log = createLogger('error', true);

function setup(auth: (ref: string) => Promise<RegistryAuth | undefined> = async () => undefined) {
  const engine = new PullingEngine();
  const clock = new FakeClock(1_000_000);
  return { engine, clock, pulls: new PullCoordinator(engine, clock, auth, log, OPTIONS) };
}

describe('PullCoordinator', () => {
  it('pulls an image once however many wait for it, and tells each of them the outcome', async () => {
    const { engine, clock, pulls } = setup();
    const a = pulls.pull('reg:5000/web:1');
    const b = pulls.pull('reg:5000/web:1');
    await flush();
    assert.equal(engine.pulls.length, 1);
    assert.deepEqual(pulls.active, ['reg:5000/web:1']);
    engine.pulls[0]!.progress({ current: 50, total: 100 });
    await clock.advance(3_000);
    engine.pulls[0]!.progress({ current: 100, total: 100 });
    engine.pulls[0]!.finish();
    const [ra, rb] = await Promise.all([a, b]);
    assert.deepEqual(ra, { ref: 'reg:5000/web:1', bytes: 100, durationMs: 3_000 });
    assert.deepEqual(rb, ra);
    assert.deepEqual(pulls.active, []);
    // Once done, a new call pulls again (the caller checks whether the engine has the image first).
    void pulls.pull('reg:5000/web:1');
    await flush();
    assert.equal(engine.pulls.length, 2);
  });

  it('pulls different images side by side', async () => {
    const { engine, pulls } = setup();
    void pulls.pull('a:1');
    void pulls.pull('b:1');
    await flush();
    assert.deepEqual(engine.pulls.map((p) => p.ref), ['a:1', 'b:1']);
  });

  it('passes progress on at most once a second per pull, to its waiters in turn', async () => {
    const { engine, clock, pulls } = setup();
    const seen: Record<string, number[]> = { a: [], b: [], c: [] };
    void pulls.pull('web:1', (p) => seen.a!.push(p.current));
    await flush();
    const pull = engine.pulls[0]!;
    pull.progress({ current: 10, total: 100 });
    pull.progress({ current: 20, total: 100 }); // same second: not passed on
    // Late waiters get the latest at once, then take their turns.
    void pulls.pull('web:1', (p) => seen.b!.push(p.current));
    void pulls.pull('web:1', (p) => seen.c!.push(p.current));
    for (const current of [30, 40, 50, 60]) {
      await clock.advance(1_000);
      pull.progress({ current, total: 100 });
      pull.progress({ current: current + 5, total: 100 }); // same second
    }
    assert.deepEqual(seen, { a: [10, 30, 60], b: [20, 40], c: [20, 50] });
  });

  it('passes the credentials of the image to the engine', async () => {
    const auth = { username: 'u', password: 'p', serveraddress: 'reg:5000' };
    const { engine, pulls } = setup(async (ref) => (ref.startsWith('reg:5000/') ? auth : undefined));
    void pulls.pull('reg:5000/web:1');
    void pulls.pull('busybox');
    await flush();
    assert.deepEqual(engine.pulls[0]!.options.auth, auth);
    assert.equal(engine.pulls[1]!.options.auth, undefined);
  });

  it('cancels a pull with no progress for 60 s and tries again after a backoff', async () => {
    const { engine, clock, pulls } = setup();
    const done = pulls.pull('web:1');
    await flush();
    engine.pulls[0]!.progress({ current: 1, total: 10 });
    await clock.advance(59_000);
    assert.equal(engine.pulls[0]!.aborted, false, 'progress re-arms the stall timer');
    await clock.advance(1_000);
    assert.equal(engine.pulls[0]!.aborted, true);
    assert.equal(engine.pulls.length, 1, 'no retry before the backoff');
    await clock.advance(1_999);
    assert.equal(engine.pulls.length, 1);
    await clock.advance(1);
    assert.equal(engine.pulls.length, 2);
    engine.pulls[1]!.progress({ current: 10, total: 10 });
    engine.pulls[1]!.finish();
    assert.equal((await done).bytes, 10);
  });

  it('reports a stall after its attempts, with growing backoffs between them', async () => {
    const { engine, clock, pulls } = setup();
    const done = pulls.pull('web:1');
    const failed = assert.rejects(done, (err: unknown) => err instanceof PullError && err.kind === 'stalled' && /pull of web:1 stalled: no progress for 60s/.test(err.message));
    await clock.advance(60_000 + 2_000);
    assert.equal(engine.pulls.length, 2);
    await clock.advance(60_000 + 3_999);
    assert.equal(engine.pulls.length, 2, 'the second backoff is 4 s');
    await clock.advance(1);
    assert.equal(engine.pulls.length, 3);
    await clock.advance(60_000);
    await failed;
    assert.ok(engine.pulls.every((p) => p.aborted));
    assert.deepEqual(pulls.active, []);
  });

  it('ends at once on an engine error, classified, for every waiter', async () => {
    const { engine, pulls } = setup();
    const a = pulls.pull('reg:5000/web:nope');
    const b = pulls.pull('reg:5000/web:nope');
    await flush();
    engine.pulls[0]!.fail(Object.assign(new Error('(HTTP code 404) unexpected - manifest for reg:5000/web:nope not found: manifest unknown: manifest unknown'), { statusCode: 404 }));
    for (const p of [a, b]) await assert.rejects(p, (err: unknown) => err instanceof PullError && err.kind === 'notFound' && err.message.startsWith('pull of reg:5000/web:nope failed: image or tag not found'));
    assert.equal(engine.pulls.length, 1);
  });

  it('fails the pull when its credentials cannot be read', async () => {
    const { engine, pulls } = setup(async () => {
      throw new Error('no cluster key file');
    });
    await assert.rejects(pulls.pull('reg:5000/web:1'), /pull of reg:5000\/web:1 failed: credentials: no cluster key file/);
    assert.equal(engine.pulls.length, 0);
  });
});
