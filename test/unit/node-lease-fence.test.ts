import 'reflect-metadata';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Keys } from '../../api/keys.js';
import { NodeLease } from '../../src/agent/node-lease.js';
import type { Config } from '../../src/config.js';
import type { Lease } from '../../src/etcd/kv-store.js';
import { createLogger } from '../../src/logging.js';
import { FakeClock } from './fake-clock.js';
import { FakeEngine } from './fake-engine.js';
import { FakeKvStore } from './fake-kv-store.js';

const keys = new Keys('/d');
const TTL_MS = 10_000;

/** A store whose leases' regular keepalives never answer, and whose one-off keepalives answer while `reachable`. */
class SilentStore extends FakeKvStore {
  reachable = true;
  probes = 0;
  /** The lease's regular keepalive is answered while a one-off keepalive waits (and then fails). */
  answerDuringProbe = false;
  override async grantLease(): Promise<Lease> {
    const lease = await super.grantLease();
    const acked: (() => void)[] = [];
    return {
      ...lease,
      onKeepalive: (fn) => void acked.push(fn),
      keepaliveOnce: async () => {
        this.probes++;
        await Promise.resolve();
        if (this.answerDuringProbe) for (const fn of acked) fn();
        if (!this.reachable) throw new Error('14 UNAVAILABLE: etcd unreachable');
      },
    };
  }
}

async function started(store: SilentStore, clock: FakeClock): Promise<{ lease: NodeLease; expired: () => number }> {
  const config = { etcd: [], prefix: '/d', docker: 'unix:///fake.sock', node: 'n1', address: '10.0.0.1', labels: {}, leaseTtlSeconds: TTL_MS / 1000, resyncSeconds: 30, logLevel: 'error', fence: true } as Config;
  const lease = new NodeLease(config, store, new FakeEngine(), keys, clock, createLogger('error', true));
  let expiring = 0;
  lease.expiring$.subscribe(() => expiring++);
  await lease.start();
  return { lease, expired: () => expiring };
}

describe('the node lease after a silence', () => {
  it('signals expiring at 2/3 of the TTL when etcd does not answer while the agent runs', async () => {
    const store = new SilentStore();
    const clock = new FakeClock(1_000_000);
    const { lease, expired } = await started(store, clock);
    store.reachable = false;
    await clock.advance(TTL_MS * 0.6);
    assert.equal(expired(), 0);
    await clock.advance(TTL_MS * 0.1 + 500);
    assert.equal(expired(), 1);
    assert.equal(lease.live(), false);
    await lease.stop();
  });

  /** A lease whose agent did not run for 0.8 of the TTL (no timer, no keepalive meanwhile), etcd `reachable` or not. */
  async function afterAStall(reachable: boolean, answerDuringProbe = false) {
    const store = new SilentStore();
    store.answerDuringProbe = answerDuringProbe;
    const clock = new FakeClock(1_000_000);
    const w = await started(store, clock);
    await clock.advance(1_000);
    const probesBefore = store.probes;
    store.reachable = reachable;
    clock.stall(TTL_MS * 0.8);
    await clock.advance(0);
    return { ...w, asked: () => store.probes > probesBefore };
  }

  it('after a stall of the agent itself, asks etcd once and keeps the lease (no fence) if it answers', async () => {
    const { lease, expired, asked } = await afterAStall(true);
    assert.equal(expired(), 0, 'not fenced');
    assert.ok(asked(), 'asked etcd');
    assert.equal(lease.live(), true, 'acknowledged again');
    await lease.stop();
  });

  it('after a stall, fences if etcd does not answer either', async () => {
    const { lease, expired } = await afterAStall(false);
    assert.equal(expired(), 1);
    await lease.stop();
  });

  it('after a stall, keeps the lease if its own keepalive is answered while the probe fails', async () => {
    const { lease, expired, asked } = await afterAStall(false, true);
    assert.ok(asked(), 'asked etcd');
    assert.equal(expired(), 0, 'renewed meanwhile: not fenced');
    assert.equal(lease.live(), true);
    await lease.stop();
  });
});
