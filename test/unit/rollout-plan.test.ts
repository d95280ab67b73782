import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ReplicaRecord } from '../../api/records.js';
import type { UpdateSpec } from '../../api/lifecycle.js';
import { planRollout, type RolloutInput } from '../../controllers/scheduler/rollout-plan.js';

const update: UpdateSpec = { parallelism: 1, order: 'stop-first', delayMs: 0, deadlineMs: 60_000 };
const rec = (replica: number, hash: string, extra: Partial<ReplicaRecord> = {}): ReplicaRecord => ({
  app: 'a', name: 'w', replica, node: `n${replica}`, address: 'x', state: 'running', containerName: 'c', templateHash: hash,
  revision: 1, restarts: 0, crashes: 0, ports: {}, ready: true, ...extra,
});
const kept = (hashes: string[], updatedAt?: number) => hashes.map((h, i) => ({ replica: i, node: `n${i}`, templateHash: h, ...(updatedAt !== undefined ? { updatedAt } : {}) }));
const input = (over: Partial<RolloutInput>): RolloutInput => ({
  targetHash: 'new', update, kept: kept(['old', 'old', 'old', 'old']), replicas: new Map([0, 1, 2, 3].map((i) => [i, rec(i, 'old')])),
  now: 10_000, readySince: () => undefined, monitorMs: 3000, ...over,
});

describe('planRollout', () => {
  it('switches one replica at a time by default', () => {
    const d = planRollout(input({}));
    assert.deepEqual(d.toUpdate.map((p) => p.replica), [0]);
    assert.equal(d.done, false);
  });

  it('switches `parallelism` replicas at once, not-ready ones first', () => {
    const replicas = new Map([0, 1, 2, 3].map((i) => [i, rec(i, 'old', i === 2 ? { ready: false } : {})]));
    const d = planRollout(input({ update: { ...update, parallelism: 2 }, replicas }));
    assert.deepEqual(d.toUpdate.map((p) => p.replica), [2, 0]);
  });

  it('waits while a switched replica is not yet ready for the monitor period', () => {
    const replicas = new Map([0, 1, 2, 3].map((i) => [i, rec(i, i === 0 ? 'new' : 'old')]));
    const d = planRollout(input({ kept: kept(['new', 'old', 'old', 'old'], 9000), replicas, readySince: (i) => (i === 0 ? 9000 : undefined) }));
    assert.deepEqual(d.toUpdate, []);
    assert.equal(d.waitMs, 2000);
  });

  it('goes on once the switched replica has been ready for the monitor period, after the delay', () => {
    const replicas = new Map([0, 1, 2, 3].map((i) => [i, rec(i, i === 0 ? 'new' : 'old')]));
    const ready = (i: number) => (i === 0 ? 5000 : undefined);
    assert.deepEqual(planRollout(input({ kept: kept(['new', 'old', 'old', 'old']), replicas, readySince: ready })).toUpdate.map((p) => p.replica), [1]);
    const delayed = planRollout(input({ update: { ...update, delayMs: 4000 }, kept: kept(['new', 'old', 'old', 'old']), replicas, readySince: ready }));
    assert.deepEqual(delayed.toUpdate, []);
    assert.equal(delayed.waitMs, 2000); // ready at 5 s + 3 s monitor + 4 s delay = 12 s; now 10 s
  });

  it('stalls when a switched replica crashes, switching nothing more', () => {
    const replicas = new Map([0, 1, 2, 3].map((i) => [i, i === 0 ? rec(0, 'new', { state: 'CrashLoopBackOff', ready: false, crashes: 2, exitCode: 1 }) : rec(i, 'old')]));
    const d = planRollout(input({ kept: kept(['new', 'old', 'old', 'old']), replicas }));
    assert.deepEqual(d.toUpdate, []);
    assert.equal(d.stalled?.replica, 0);
    assert.match(d.stalled!.reason, /CrashLoopBackOff \(exit code 1\)/);
  });

  it('stalls when a switched replica is OOM-killed, even one its policy does not restart', () => {
    const replicas = new Map([0, 1, 2, 3].map((i) => [i, i === 0 ? rec(0, 'new', { state: 'OOMKilled', ready: false, crashes: 0, exitCode: 137 }) : rec(i, 'old')]));
    const d = planRollout(input({ kept: kept(['new', 'old', 'old', 'old']), replicas }));
    assert.deepEqual(d.toUpdate, []);
    assert.match(d.stalled!.reason, /replica 0 on \S+ OOMKilled \(exit code 137\)/);
  });

  it('stalls when a switched replica is not ready by the deadline', () => {
    const replicas = new Map([0, 1, 2, 3].map((i) => [i, i === 0 ? rec(0, 'new', { ready: false }) : rec(i, 'old')]));
    const d = planRollout(input({ kept: kept(['new', 'old', 'old', 'old'], 0), replicas, update: { ...update, deadlineMs: 5000 } }));
    assert.match(d.stalled!.reason, /not ready within 5 s/);
  });

  it('is done when every replica is on the target and ready', () => {
    const replicas = new Map([0, 1].map((i) => [i, rec(i, 'new')]));
    const d = planRollout(input({ kept: kept(['new', 'new']), replicas, readySince: () => 0 }));
    assert.equal(d.done, true);
    assert.equal(d.ready, 2);
  });
});

describe('planRollout: resizes', () => {
  const Gi = 2 ** 30;
  const need = { cpus: 0.1, memoryBytes: 2 * Gi };
  const withReserved = (hashes: string[]) => kept(hashes).map((p) => ({ ...p, reserved: { cpus: 0.1, memoryBytes: Gi } }));

  it('does not switch a replica whose new reservation does not fit on its node, and says why', () => {
    // n0 has 0.5Gi free besides the replica's own 1Gi: 1.5Gi, short of 2Gi. n1 has room.
    const free = (node: string) => ({ cpus: 1, memoryBytes: node === 'n0' ? 0.5 * Gi : 4 * Gi });
    const d = planRollout(input({ kept: withReserved(['old', 'old']), replicas: new Map([0, 1].map((i) => [i, rec(i, 'old')])), resize: { need, free } }));
    assert.deepEqual(d.toUpdate.map((p) => p.replica), [1]);
    assert.deepEqual(d.blocked, [{ replica: 0, reason: 'replica 0 on n0 cannot be resized: insufficient memory: needs 2Gi, free 1.5Gi' }]);
    assert.equal(d.stalled, undefined);
  });

  it('stalls, keeping the old replicas, when none left to switch can be resized', () => {
    const free = () => ({ cpus: 1, memoryBytes: 0 });
    const d = planRollout(input({ kept: withReserved(['new', 'old']), replicas: new Map([[0, rec(0, 'new')], [1, rec(1, 'old')]]), readySince: () => 0, resize: { need, free } }));
    assert.deepEqual(d.toUpdate, []);
    assert.deepEqual(d.stalled, { replica: 1, reason: 'replica 1 on n1 cannot be resized: insufficient memory: needs 2Gi, free 1Gi' });
  });

  it('counts the room taken by replicas switched in the same step on one node', () => {
    const onOne = withReserved(['old', 'old']).map((p) => ({ ...p, node: 'n0' }));
    const replicas = new Map([0, 1].map((i) => [i, rec(i, 'old', { node: 'n0' })]));
    const d = planRollout(input({ update: { ...update, parallelism: 2 }, kept: onOne, replicas, resize: { need, free: () => ({ cpus: 1, memoryBytes: 1.5 * Gi }) } }));
    assert.deepEqual(d.toUpdate.map((p) => p.replica), [0]);
    assert.deepEqual(d.blocked?.map((b) => b.replica), [1]);
  });
});
