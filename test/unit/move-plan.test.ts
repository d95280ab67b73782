import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { UpdateSpec } from '../../api/lifecycle.js';
import type { ReplicaRecord } from '../../api/records.js';
import { MOVE_RETRY_MS, planMoves, type MoveInput, type MovePlacement } from '../../controllers/scheduler/move-plan.js';

const update: UpdateSpec = { parallelism: 1, order: 'start-first', delayMs: 0, deadlineMs: 60_000 };
const NOW = 100_000;

const at = (replica: number, node: string, extra: Partial<MovePlacement> = {}): MovePlacement => ({ replica, node, templateHash: 'h', updatedAt: 0, ...extra });
const rec = (replica: number, node: string, extra: Partial<ReplicaRecord> = {}): ReplicaRecord => ({
  app: 'a', name: 'w', replica, node, address: 'x', state: 'running', containerName: 'c', templateHash: 'h',
  revision: 1, restarts: 0, crashes: 0, ports: {}, ready: true, ...extra,
});
/** Records for every placement, each running and ready on its node. */
const recordsOf = (placements: MovePlacement[]) => new Map(placements.map((p) => [p.replica, rec(p.replica, p.node)]));

function input(over: Partial<MoveInput>): MoveInput {
  const placements = over.placements ?? [at(0, 'n1'), at(1, 'n2')];
  return {
    placements,
    replicas: recordsOf(placements),
    now: NOW,
    update,
    monitorMs: 3000,
    readySince: () => undefined,
    global: false,
    draining: new Map(),
    requests: [],
    pickTarget: () => ({ node: 'n3' }),
    checkTarget: () => undefined,
    ...over,
  };
}
const drain = (...nodes: string[]) => new Map(nodes.map((n) => [n, { includeGlobal: false }]));

describe('planMoves: nothing to do', () => {
  it('is idle without draining nodes or requests', () => {
    assert.deepEqual(planMoves(input({})), { step: { kind: 'idle' }, settled: [], remaining: [] });
  });

  it('is idle when the draining node holds none of this manifest', () => {
    assert.deepEqual(planMoves(input({ draining: drain('n9') })).step, { kind: 'idle' });
  });
});

describe('planMoves: drain', () => {
  it('starts a move of the lowest replica on the draining node, to the planner\'s pick, at the lowest free index', () => {
    const picked: [number, string][] = [];
    const d = planMoves(input({
      placements: [at(0, 'n1'), at(1, 'n2'), at(2, 'n1'), at(4, 'n3')],
      draining: drain('n1'),
      pickTarget: (replica, exclude) => (picked.push([replica, exclude]), { node: 'n3' }),
    }));
    assert.deepEqual(d.step, { kind: 'start', cause: 'drain', replica: 0, from: 'n1', newReplica: 3, to: 'n3' });
    assert.deepEqual(picked, [[0, 'n1']]);
  });

  it('skips indices still held by a replica record (a stopping replica outlives its placement)', () => {
    const placements = [at(0, 'n1'), at(1, 'n2')];
    const replicas = new Map([...recordsOf(placements), [2, rec(2, 'n4')]]);
    assert.deepEqual(planMoves(input({ placements, replicas, draining: drain('n1') })).step, { kind: 'start', cause: 'drain', replica: 0, from: 'n1', newReplica: 3, to: 'n3' });
  });

  it('is blocked with the planner\'s reason when no node can take the replica', () => {
    const d = planMoves(input({ draining: drain('n1'), pickTarget: () => ({ unschedulable: 'insufficient memory: needs 2Gi, most free on any matching node 1.5Gi (n2)' }) }));
    assert.deepEqual(d.step, { kind: 'blocked', replica: 0, from: 'n1', reason: 'insufficient memory: needs 2Gi, most free on any matching node 1.5Gi (n2)' });
  });

  it('never "moves" a replica to the node it is on', () => {
    const d = planMoves(input({ draining: drain('n1'), pickTarget: () => ({ node: 'n1' }) }));
    assert.deepEqual(d.step, { kind: 'blocked', replica: 0, from: 'n1', reason: 'no node but n1 can take it' });
  });

  it('moves replicas of several draining nodes, lowest index first', () => {
    const d = planMoves(input({ placements: [at(0, 'n3'), at(1, 'n2'), at(2, 'n1')], draining: drain('n1', 'n2'), pickTarget: () => ({ node: 'n3' }) }));
    assert.deepEqual(d.step, { kind: 'start', cause: 'drain', replica: 1, from: 'n2', newReplica: 3, to: 'n3' });
  });

  it('waits MOVE_RETRY_MS after an abandoned move before starting the next', () => {
    const d = planMoves(input({ draining: drain('n1'), lastAbandonedAt: NOW - 10_000 }));
    assert.deepEqual(d.step, { kind: 'wait', ms: MOVE_RETRY_MS - 10_000 });
    assert.equal(planMoves(input({ draining: drain('n1'), lastAbandonedAt: NOW - MOVE_RETRY_MS })).step.kind, 'start');
  });

  it('leaves global replicas where they are unless the drain includes them, then removes them instead of moving them', () => {
    const placements = [at(0, 'n1'), at(1, 'n2')];
    assert.deepEqual(planMoves(input({ placements, global: true, draining: drain('n1') })).step, { kind: 'idle' });
    const d = planMoves(input({ placements, global: true, draining: new Map([['n1', { includeGlobal: true }]]), pickTarget: () => assert.fail('global replicas are not placed elsewhere') }));
    assert.deepEqual(d.step, { kind: 'evict', replica: 0, node: 'n1' });
  });
});

describe('planMoves: a move in flight', () => {
  const moving = [at(0, 'n1'), at(1, 'n2'), at(2, 'n3', { replaces: 0, updatedAt: NOW - 5000 })];

  it('waits for the replacement to become ready, until its deadline', () => {
    const replicas = new Map([...recordsOf(moving), [2, rec(2, 'n3', { ready: false })]]);
    const d = planMoves(input({ placements: moving, replicas, draining: drain('n1') }));
    assert.deepEqual(d.step, { kind: 'wait', ms: 60_000 - 5000 + 1 });
  });

  it('waits while the replacement has no record yet (pulling, starting)', () => {
    const replicas = recordsOf(moving);
    replicas.delete(2);
    assert.equal(planMoves(input({ placements: moving, replicas, draining: drain('n1') })).step.kind, 'wait');
  });

  it('waits out the monitor period once the replacement is ready', () => {
    const d = planMoves(input({ placements: moving, draining: drain('n1'), readySince: (i) => (i === 2 ? NOW - 1000 : undefined) }));
    assert.deepEqual(d.step, { kind: 'wait', ms: 2000 });
  });

  it('counts the monitor period from now when the caller has not seen it ready before', () => {
    assert.deepEqual(planMoves(input({ placements: moving, draining: drain('n1') })).step, { kind: 'wait', ms: 3000 });
  });

  it('finishes once the replacement has been ready for the monitor period: old placement removed, replaces cleared', () => {
    const d = planMoves(input({ placements: moving, draining: drain('n1'), readySince: () => NOW - 3000 }));
    assert.deepEqual(d.step, { kind: 'finish', replica: 0, from: 'n1', newReplica: 2, to: 'n3' });
  });

  it('does not count readiness of another spec or of a record another node wrote', () => {
    for (const r of [rec(2, 'n3', { templateHash: 'old' }), rec(2, 'n9')]) {
      const replicas = new Map([...recordsOf(moving), [2, r]]);
      assert.equal(planMoves(input({ placements: moving, replicas, readySince: () => NOW - 10_000 })).step.kind, 'wait');
    }
  });

  it('abandons a replacement that crashes, with the reason', () => {
    const replicas = new Map([...recordsOf(moving), [2, rec(2, 'n3', { state: 'CrashLoopBackOff', ready: false, crashes: 2, exitCode: 1 })]]);
    const d = planMoves(input({ placements: moving, replicas, draining: drain('n1') }));
    assert.deepEqual(d.step, { kind: 'abandon', replica: 0, from: 'n1', newReplica: 2, to: 'n3', reason: 'replica 2 on n3 CrashLoopBackOff (exit code 1)' });
  });

  it('abandons a replacement not ready by the update deadline', () => {
    const placements = [at(0, 'n1'), at(1, 'n2'), at(2, 'n3', { replaces: 0, updatedAt: NOW - 60_001 })];
    const replicas = new Map([...recordsOf(placements), [2, rec(2, 'n3', { ready: false })]]);
    const d = planMoves(input({ placements, replicas }));
    assert.deepEqual(d.step, { kind: 'abandon', replica: 0, from: 'n1', newReplica: 2, to: 'n3', reason: 'replica 2 on n3 not ready within 60 s' });
  });

  it('abandons a replacement whose own node is being drained meanwhile', () => {
    const d = planMoves(input({ placements: moving, draining: drain('n1', 'n3') }));
    assert.deepEqual(d.step, { kind: 'abandon', replica: 0, from: 'n1', newReplica: 2, to: 'n3', reason: 'target n3 is being drained' });
  });

  it('finishes at once, removing nothing, when the replaced replica is gone (lost node, scale-down)', () => {
    const placements = [at(1, 'n2'), at(2, 'n3', { replaces: 0 })];
    const replicas = new Map([...recordsOf(placements), [2, rec(2, 'n3', { ready: false })]]);
    assert.deepEqual(planMoves(input({ placements, replicas })).step, { kind: 'finish', replica: 0, from: undefined, newReplica: 2, to: 'n3' });
  });

  it('starts nothing else while one move is in flight, even with more to drain', () => {
    const placements = [...moving, at(3, 'n1')];
    const d = planMoves(input({ placements, draining: drain('n1'), pickTarget: () => assert.fail('no second move') }));
    assert.equal(d.step.kind, 'wait');
  });

  it('abandons all but the first of two replacements (a failover mid-write)', () => {
    const placements = [...moving, at(4, 'n4', { replaces: 1 })];
    const d = planMoves(input({ placements }));
    assert.deepEqual(d.step, { kind: 'abandon', replica: 1, from: 'n2', newReplica: 4, to: 'n4', reason: 'another move of this manifest is in flight' });
  });
});

describe('planMoves: requests (rebalance)', () => {
  it('starts a requested move to its `to`', () => {
    const requests = [{ replica: 1, from: 'n2', to: 'n4' }];
    const d = planMoves(input({ requests, pickTarget: () => assert.fail('`to` is given') }));
    assert.deepEqual(d, { step: { kind: 'start', cause: 'request', replica: 1, from: 'n2', newReplica: 2, to: 'n4' }, settled: [], remaining: requests });
  });

  it('asks the planner when the request names no `to`', () => {
    const d = planMoves(input({ requests: [{ replica: 0, from: 'n1' }], pickTarget: (_r, exclude) => ({ node: exclude === 'n1' ? 'n5' : 'x' }) }));
    assert.deepEqual(d.step, { kind: 'start', cause: 'request', replica: 0, from: 'n1', newReplica: 2, to: 'n5' });
  });

  it('drops stale requests with the reason, and goes on with the rest', () => {
    const requests = [
      { replica: 0, from: 'n9', to: 'n3' },
      { replica: 7, from: 'n1', to: 'n3' },
      { replica: 0, from: 'n1', to: 'n1' },
      { replica: 0, from: 'n1', to: 'n4' },
      { replica: 1, from: 'n2', to: 'n3' },
    ];
    const d = planMoves(input({ requests, checkTarget: (n) => (n === 'n4' ? 'insufficient memory: needs 1Gi, 512Mi free' : undefined) }));
    assert.deepEqual(d.settled, [
      { request: requests[0], outcome: 'dropped', reason: 'replica 0 is no longer on n9' },
      { request: requests[1], outcome: 'dropped', reason: 'replica 7 is no longer on n1' },
      { request: requests[2], outcome: 'dropped', reason: 'replica 0 is on n1 already' },
      { request: requests[3], outcome: 'dropped', reason: 'n4 cannot take it: insufficient memory: needs 1Gi, 512Mi free' },
    ]);
    assert.deepEqual(d.remaining, [requests[4]]);
    assert.deepEqual(d.step, { kind: 'start', cause: 'request', replica: 1, from: 'n2', newReplica: 2, to: 'n3' });
  });

  it('drops every request of a global manifest', () => {
    const d = planMoves(input({ global: true, requests: [{ replica: 0, from: 'n1', to: 'n3' }] }));
    assert.deepEqual(d.settled.map((s) => s.reason), ['global replicas do not move']);
    assert.deepEqual([d.step, d.remaining], [{ kind: 'idle' }, []]);
  });

  it('settles the request as moved when its move finishes, and as dropped when it is abandoned', () => {
    const requests = [{ replica: 0, from: 'n1', to: 'n3' }, { replica: 1, from: 'n2', to: 'n4' }];
    const placements = [at(0, 'n1'), at(1, 'n2'), at(2, 'n3', { replaces: 0, updatedAt: NOW - 70_000 })];
    const done = planMoves(input({ placements, requests, readySince: () => NOW - 3000 }));
    assert.deepEqual([done.settled, done.remaining], [[{ request: requests[0], outcome: 'moved' }], [requests[1]]]);
    const replicas = new Map([...recordsOf(placements), [2, rec(2, 'n3', { ready: false })]]);
    const failed = planMoves(input({ placements, replicas, requests }));
    assert.deepEqual(failed.settled, [{ request: requests[0], outcome: 'dropped', reason: 'move failed: replica 2 on n3 not ready within 60 s' }]);
  });

  it('keeps requests untouched while a move waits', () => {
    const requests = [{ replica: 0, from: 'n1', to: 'n3' }];
    const placements = [at(0, 'n1'), at(1, 'n2'), at(2, 'n3', { replaces: 0, updatedAt: NOW })];
    const d = planMoves(input({ placements, requests }));
    assert.deepEqual([d.step.kind, d.settled, d.remaining], ['wait', [], requests]);
  });

  it('lets the drain move a requested replica from a draining node (wherever placement picks) and settles the request when it finishes', () => {
    const requests = [{ replica: 0, from: 'n1', to: 'n4' }];
    const d = planMoves(input({ requests, draining: drain('n1'), checkTarget: () => 'cordoned' }));
    assert.deepEqual([d.step, d.settled], [{ kind: 'start', cause: 'drain', replica: 0, from: 'n1', newReplica: 2, to: 'n3' }, []]);
    const placements = [at(0, 'n1'), at(1, 'n2'), at(2, 'n3', { replaces: 0 })];
    const done = planMoves(input({ placements, requests, draining: drain('n1'), readySince: () => 0 }));
    assert.deepEqual(done.settled, [{ request: requests[0], outcome: 'moved' }]);
  });

  it('drain moves go before requested ones', () => {
    const d = planMoves(input({ placements: [at(0, 'n1'), at(1, 'n2')], draining: drain('n2'), requests: [{ replica: 0, from: 'n1', to: 'n4' }] }));
    assert.deepEqual(d.step, { kind: 'start', cause: 'drain', replica: 1, from: 'n2', newReplica: 2, to: 'n3' });
  });

  it('a blocked drain does not hold up a request that can go', () => {
    const d = planMoves(input({ placements: [at(0, 'n1'), at(1, 'n2')], draining: drain('n2'), requests: [{ replica: 0, from: 'n1', to: 'n4' }], pickTarget: () => ({ unschedulable: 'no room' }) }));
    assert.deepEqual(d.step, { kind: 'start', cause: 'request', replica: 0, from: 'n1', newReplica: 2, to: 'n4' });
  });
});
