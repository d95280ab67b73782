import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3, EtcdPermissionDeniedError, GRPCDeadlineExceededError, GRPCResourceExhastedError, GRPCUnavailableError } from 'etcd3';
import { Etcd3KvStore } from '../../src/etcd/etcd3-kv-store.js';
import { etcdFaultHandling, neverSent, readRetry, type RetryTiming } from '../../src/etcd/fault-handling.js';
import { freePort } from '../../src/net/free-port.js';

/** Quick retries, so that the tests do not wait on backoff. */
const QUICK: RetryTiming = { retries: 2, initialDelayMs: 1, maxDelayMs: 2 };

/** What grpc-js says when it has no connection to pick (the call was never sent). */
const notSent = () => new GRPCUnavailableError('14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:2379');
/** What etcd says when it took the call and could not finish it in time: it may have been applied. */
const timedOut = () => new GRPCUnavailableError('14 UNAVAILABLE: etcdserver: request timed out');

/** Runs `policy` on a call failing with `errors` in turn, then succeeding: how many times the call ran, and how it ended. */
async function calls(policy: { execute<T>(fn: () => Promise<T>): Promise<T> }, errors: Error[]): Promise<{ calls: number; result: string }> {
  let n = 0;
  try {
    const r = await policy.execute(async () => {
      const err = errors[n++];
      if (err) throw err;
      return 'ok';
    });
    return { calls: n, result: r };
  } catch (err) {
    return { calls: n, result: (err as Error).constructor.name };
  }
}

describe('etcd fault handling (src/etcd/fault-handling.ts)', () => {
  it('tells a call grpc-js never sent from one etcd failed', () => {
    assert.equal(neverSent(notSent()), true);
    assert.equal(neverSent(timedOut()), false);
    assert.equal(neverSent(new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED: Deadline exceeded')), false);
  });

  it('host policy: never opens, however many calls fail in a row', async () => {
    const host = etcdFaultHandling(QUICK).host!('127.0.0.1:2379');
    for (let i = 0; i < 10; i++) {
      assert.deepEqual(await calls(host, [new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED')]), { calls: 1, result: 'GRPCDeadlineExceededError' });
      assert.deepEqual(await calls(host, [notSent()]), { calls: 1, result: 'GRPCUnavailableError' });
    }
    assert.deepEqual(await calls(host, []), { calls: 1, result: 'ok' }, 'the next call goes through');
  });

  it('global policy: retries a call that was never sent (any call: etcd did not see it), nothing else', async () => {
    const global = etcdFaultHandling(QUICK).global!;
    assert.deepEqual(await calls(global, [notSent(), notSent()]), { calls: 3, result: 'ok' });
    assert.deepEqual(await calls(global, [notSent(), notSent(), notSent()]), { calls: 3, result: 'GRPCUnavailableError' }, 'two retries at most');
    // Reached etcd: a write may have been applied, a deadline means etcd is slow.
    assert.deepEqual(await calls(global, [timedOut()]), { calls: 1, result: 'GRPCUnavailableError' });
    assert.deepEqual(await calls(global, [new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED')]), { calls: 1, result: 'GRPCDeadlineExceededError' });
    assert.deepEqual(await calls(global, [new GRPCResourceExhastedError('8 RESOURCE_EXHAUSTED: etcdserver: too many requests')]), { calls: 1, result: 'GRPCResourceExhastedError' });
  });

  it('read retry: retries a read etcd failed for a transient reason, not a deadline, a refusal or what the global policy retried', async () => {
    const reads = readRetry(QUICK);
    assert.deepEqual(await calls(reads, [timedOut(), new GRPCResourceExhastedError('8 RESOURCE_EXHAUSTED: etcdserver: too many requests')]), { calls: 3, result: 'ok' });
    assert.deepEqual(await calls(reads, [timedOut(), timedOut(), timedOut()]), { calls: 3, result: 'GRPCUnavailableError' }, 'two retries at most');
    assert.deepEqual(await calls(reads, [new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED')]), { calls: 1, result: 'GRPCDeadlineExceededError' });
    assert.deepEqual(await calls(reads, [new EtcdPermissionDeniedError('etcdserver: permission denied')]), { calls: 1, result: 'EtcdPermissionDeniedError' });
    assert.deepEqual(await calls(reads, [notSent()]), { calls: 1, result: 'GRPCUnavailableError' });
  });

  it('a real client to an etcd that is not there: every call is tried (no "circuit breaker is open"), unlike with etcd3\'s defaults', async () => {
    const hosts = `http://127.0.0.1:${await freePort()}`; // nothing listens: connections are refused
    const failures = async (get: () => Promise<unknown>) => {
      const seen: string[] = [];
      for (let i = 0; i < 3; i++) {
        await get().then(
          () => seen.push('answered'),
          (err: Error) => seen.push(`${err.constructor.name}${neverSent(err) ? ' (never sent)' : ''}`),
        );
      }
      return seen;
    };
    const store = new Etcd3KvStore({ hosts });
    try {
      assert.deepEqual(await failures(() => store.get('/x')), Array(3).fill('GRPCUnavailableError (never sent)'));
    } finally {
      store.close();
    }
    // What the scale bench ran into: after one failed call, etcd3's default breaker refuses every call for 5 s.
    const defaults = new Etcd3({ hosts });
    try {
      assert.deepEqual(await failures(() => defaults.get('/x').string()), ['GRPCUnavailableError (never sent)', 'BrokenCircuitError', 'BrokenCircuitError']);
    } finally {
      defaults.close();
    }
  });
});
