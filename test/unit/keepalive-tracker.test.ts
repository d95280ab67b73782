import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { KeepaliveTracker } from '../../src/etcd/keepalive-tracker.js';
import type { Lease } from '../../src/etcd/kv-store.js';
import { FakeClock, flush } from './fake-clock.js';

/** A lease whose regular acks the test sends (`ack`) and whose probes it answers (`answer`). */
function fakeLease() {
  const keepaliveFns: (() => void)[] = [];
  const probes: { timeoutMs: number; settle: (ok: boolean) => void }[] = [];
  const lease: Lease = {
    id: '1',
    onLost: () => undefined,
    onKeepalive: (fn) => keepaliveFns.push(fn),
    keepaliveOnce: (timeoutMs) => new Promise<void>((resolve, reject) => {
      probes.push({ timeoutMs, settle: (ok) => (ok ? resolve() : reject(new Error('no leader'))) });
    }),
    revoke: async () => undefined,
    release: () => undefined,
  };
  return { lease, probes, ack: () => keepaliveFns.forEach((fn) => fn()) };
}

describe('KeepaliveTracker', () => {
  const TTL = 6_000;

  it('counts the time since the last acknowledged keepalive', async () => {
    const clock = new FakeClock(1_000);
    const { lease, ack } = fakeLease();
    const t = new KeepaliveTracker(lease, clock, TTL);
    assert.equal(t.sinceAck(), 0, 'from the grant');
    await clock.advance(1_500);
    assert.equal(t.sinceAck(), 1_500);
    ack();
    assert.equal(t.sinceAck(), 0);
  });

  it('sends no keepalive of its own while the regular ones arrive on time', async () => {
    const clock = new FakeClock();
    const { lease, probes, ack } = fakeLease();
    const t = new KeepaliveTracker(lease, clock, TTL);
    for (let i = 0; i < 10; i++) {
      await clock.advance(TTL / 3);
      t.tick();
      ack();
    }
    assert.equal(probes.length, 0);
  });

  it('once an ack is overdue, probes one at a time until one is acknowledged', async () => {
    const clock = new FakeClock();
    const { lease, probes } = fakeLease();
    const t = new KeepaliveTracker(lease, clock, TTL);
    await clock.advance(TTL / 3 + TTL / 10); // due, not yet overdue
    t.tick();
    assert.equal(probes.length, 0);
    await clock.advance(1);
    t.tick();
    t.tick();
    assert.equal(probes.length, 1, 'one probe in flight at a time');
    assert.equal(probes[0]!.timeoutMs, TTL / 10, 'short enough that a probe stuck on a dead member or a leaderless cluster leaves room for more before 2/3 of the TTL');

    probes[0]!.settle(false); // e.g. the member it reached has no leader yet
    await flush();
    assert.equal(t.sinceAck(), TTL / 3 + TTL / 10 + 1, 'a failed probe is no ack');
    t.tick();
    assert.equal(probes.length, 2, 'the next tick tries again');

    await clock.advance(300);
    probes[1]!.settle(true);
    await flush();
    assert.equal(t.sinceAck(), 0, 'an acknowledged probe counts as an ack');
    t.tick();
    assert.equal(probes.length, 2);
  });

  it('a probe that waits out its bound (a dead member, no leader yet) leaves time for another before 2/3 of the TTL', async () => {
    const clock = new FakeClock();
    const { lease, probes } = fakeLease();
    const t = new KeepaliveTracker(lease, clock, TTL);
    // Ticked every TTL/20, as NodeLease's check does; the first probe is answered by nobody
    // and fails at its bound, the second is acknowledged at once.
    const started: number[] = [];
    while (t.sinceAck() < (TTL * 2) / 3 && probes.length < 2) {
      await clock.advance(TTL / 20);
      if (started.length === 1 && clock.now() - started[0]! >= probes[0]!.timeoutMs) {
        probes[0]!.settle(false);
        await flush();
      }
      t.tick();
      if (probes.length > started.length) started.push(clock.now());
    }
    assert.equal(probes.length, 2, 'a second probe went out');
    probes[1]!.settle(true);
    await flush();
    assert.ok(started[1]! < (TTL * 2) / 3, `the second probe went out at ${started[1]} ms, before ${(TTL * 2) / 3} ms`);
    assert.equal(t.sinceAck(), 0);
  });
});
