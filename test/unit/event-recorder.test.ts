import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Keys } from '../../api/keys.js';
import type { Config } from '../../src/config.js';
import type { TxnCondition, TxnOp } from '../../src/etcd/kv-store.js';
import { EVENT_WRITE_INTERVAL_MS, EventRecorder } from '../../src/events/event-recorder.js';
import { createLogger } from '../../src/logging.js';
import { FakeClock, flush } from './fake-clock.js';
import { FakeKvStore } from './fake-kv-store.js';

/** A store whose transactions wait for `release()`, each one counted with its puts. */
class GatedStore extends FakeKvStore {
  readonly txns: number[] = [];
  private gate: Promise<void> = Promise.resolve();
  private open: () => void = () => undefined;
  failNext = false;

  hold(): void {
    this.gate = new Promise((resolve) => (this.open = resolve));
  }
  release(): void {
    this.open();
  }

  override async txn(conditions: TxnCondition[], ops: TxnOp[]): Promise<boolean> {
    this.txns.push(ops.length);
    await this.gate;
    if (this.failNext) {
      this.failNext = false;
      throw new Error('14 UNAVAILABLE: etcd unreachable');
    }
    return super.txn(conditions, ops);
  }
}

const keys = new Keys('/d');
const started = (n: number) => ({ type: 'Normal' as const, reason: 'Started', message: `started ${n}`, replica: n, node: 'h1' });

describe('EventRecorder', () => {
  it('writes an event alone at once, and those recorded within the second after it together in one transaction', async () => {
    const store = new GatedStore();
    const clock = new FakeClock(1_795_543_106_240);
    const recorder = new EventRecorder(store, keys, clock, { node: 'h1' } as Config, createLogger('error', true));
    store.hold();
    const first = recorder.record('app', 'web', started(0));
    await flush();
    const rest = [1, 2].map((n) => recorder.record('app', 'web', started(n)));
    await flush();
    assert.deepEqual(store.txns, [1], 'the others wait for the write in flight');
    store.release();
    await first;
    await clock.advance(400);
    rest.push(recorder.record('app', 'web', started(3)));
    await flush();
    assert.deepEqual(store.txns, [1], 'and for the second after it to be up');
    await clock.advance(EVENT_WRITE_INTERVAL_MS - 400);
    await Promise.all(rest);
    assert.deepEqual(store.txns, [1, 3]);
    const written = (await store.list(keys.nodeEvents('h1'))).kvs.map((kv) => JSON.parse(kv.value) as { message: string; time: string });
    assert.deepEqual(written.map((e) => e.message).sort(), ['started 0', 'started 1', 'started 2', 'started 3']);
    assert.equal(written.find((e) => e.message === 'started 3')!.time, new Date(1_795_543_106_240 + 400).toISOString(), 'an event keeps the time it was recorded at');
  });

  it('writes an event at once when the last write began a second or more before', async () => {
    const store = new GatedStore();
    const clock = new FakeClock(1_795_543_106_240);
    const recorder = new EventRecorder(store, keys, clock, { node: 'h1' } as Config, createLogger('error', true));
    await recorder.record('app', 'web', started(0));
    await clock.advance(EVENT_WRITE_INTERVAL_MS);
    await recorder.record('app', 'web', started(1));
    assert.deepEqual(store.txns, [1, 1]);
    assert.equal(clock.pending, 0, 'no write waited');
  });

  it('splits a batch into transactions of at most 128 puts', async () => {
    const store = new GatedStore();
    const recorder = new EventRecorder(store, keys, new FakeClock(1_795_543_106_240), { node: 'h1' } as Config, createLogger('error', true));
    await recorder.recordMany('app', 'web', Array.from({ length: 300 }, (_, n) => started(n)));
    assert.deepEqual(store.txns, [128, 128, 44]);
    assert.equal((await store.list(keys.nodeEvents('h1'))).kvs.length, 300);
  });

  it('drops a batch that could not be written, never throwing, and writes the next', async () => {
    const store = new GatedStore();
    const clock = new FakeClock(1_795_543_106_240);
    const recorder = new EventRecorder(store, keys, clock, { node: 'h1' } as Config, createLogger('error', true));
    store.failNext = true;
    await recorder.record('app', 'web', started(0));
    const next = recorder.record('app', 'web', started(1));
    await clock.advance(EVENT_WRITE_INTERVAL_MS);
    await next;
    const written = (await store.list(keys.nodeEvents('h1'))).kvs.map((kv) => (JSON.parse(kv.value) as { message: string }).message);
    assert.deepEqual(written, ['started 1']);
  });
});
