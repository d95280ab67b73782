import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { NodeRecord } from '../../api/records.js';
import { planRebalance, type RebalanceInput, type RebalanceManifest, type RebalancePlacement } from '../../src/placement/rebalance-plan.js';

const Gi = 2 ** 30;
const host = (name: string, memoryGi = 4, labels: Record<string, string> = {}): NodeRecord => ({
  name, address: name, labels, capacity: { cpus: 4, memoryBytes: memoryGi * Gi }, version: 't', startedAt: 't',
});
const manifest = (name: string, spec: Partial<RebalanceManifest['spec']> = {}): RebalanceManifest => ({ app: 'web', name, spec: { constraints: {}, ...spec } });
/** Replicas 0.. of web/NAME on the given nodes, in order, each reserving `memoryGi`. */
const on = (name: string, nodes: string[], memoryGi?: number): RebalancePlacement[] =>
  nodes.map((node, replica) => ({ app: 'web', name, replica, node, ...(memoryGi !== undefined ? { reserved: { cpus: 0.1, memoryBytes: memoryGi * Gi } } : {}) }));
const input = (over: Partial<RebalanceInput>): RebalanceInput => ({ nodes: [host('n1'), host('n2')], cordoned: new Set(), placements: [], manifests: [manifest('api')], ...over });
const moves = (i: RebalanceInput) => planRebalance(i).moves.map((m) => `${m.app}/${m.name} ${m.replica}: ${m.from} -> ${m.to}`);

describe('planRebalance: one manifest', () => {
  it('evens 4+0 on two nodes to 2+2 in two moves', () => {
    assert.deepEqual(moves(input({ placements: on('api', ['n1', 'n1', 'n1', 'n1']) })), ['web/api 3: n1 -> n2', 'web/api 2: n1 -> n2']);
  });

  it('evens 3,3,0 to 2,2,2 after a host joins', () => {
    const i = input({ nodes: [host('n1'), host('n2'), host('n3')], placements: on('api', ['n1', 'n2', 'n1', 'n2', 'n1', 'n2']) });
    assert.deepEqual(moves(i), ['web/api 4: n1 -> n3', 'web/api 5: n2 -> n3']);
  });

  it('leaves a spread that differs by one at most', () => {
    assert.deepEqual(moves(input({ placements: on('api', ['n1', 'n2', 'n1']) })), []);
    assert.deepEqual(moves(input({ nodes: [host('n1'), host('n2'), host('n3')], placements: on('api', ['n1', 'n2']) })), []);
  });

  it('never targets a cordoned node, nor moves replicas off one (that is the drain\'s work)', () => {
    const nodes = [host('n1'), host('n2'), host('n3')];
    assert.deepEqual(moves(input({ nodes, cordoned: new Set(['n3']), placements: on('api', ['n1', 'n1', 'n1', 'n1']) })), ['web/api 3: n1 -> n2', 'web/api 2: n1 -> n2']);
    assert.deepEqual(moves(input({ nodes, cordoned: new Set(['n1']), placements: on('api', ['n1', 'n1', 'n1', 'n1']) })), []);
  });

  it('only targets nodes matching the constraints', () => {
    const nodes = [host('n1', 4, { disk: 'ssd' }), host('n2'), host('n3', 4, { disk: 'ssd' })];
    const i = input({ nodes, manifests: [manifest('api', { constraints: { 'node.labels.disk': 'ssd' } })], placements: on('api', ['n1', 'n1', 'n1', 'n1']) });
    assert.deepEqual(moves(i), ['web/api 3: n1 -> n3', 'web/api 2: n1 -> n3']);
  });

  it('only moves where the reservation fits, and says nothing when nothing does', () => {
    const nodes = [host('n1', 8), host('n2', 1)];
    const spec = { resources: { cpus: 0.5, memoryBytes: 1.5 * Gi } };
    assert.deepEqual(moves(input({ nodes, manifests: [manifest('api', spec)], placements: on('api', ['n1', 'n1', 'n1'], 1.5) })), []);
    // 2.5 GiB free on n2: one fits, not two.
    const roomy = [host('n1', 8), host('n2', 2.5)];
    assert.deepEqual(moves(input({ nodes: roomy, manifests: [manifest('api', spec)], placements: on('api', ['n1', 'n1', 'n1', 'n1'], 1.5) })), ['web/api 3: n1 -> n2']);
  });

  it('counts every placement of the cluster towards a node\'s room, others\' included', () => {
    const nodes = [host('n1', 8), host('n2', 2)];
    const placements = [...on('api', ['n1', 'n1', 'n1'], 1), { app: 'db', name: 'pg', replica: 0, node: 'n2', reserved: { cpus: 1, memoryBytes: 1.5 * Gi } }];
    assert.deepEqual(moves(input({ nodes, manifests: [manifest('api', { resources: { memoryBytes: Gi } })], placements })), []);
  });

  it('respects maxPerNode', () => {
    const nodes = [host('n1'), host('n2'), host('n3')];
    const i = input({ nodes, manifests: [manifest('api', { placement: { maxPerNode: 2 } })], placements: [...on('api', ['n1', 'n1', 'n1']), { app: 'web', name: 'api', replica: 3, node: 'n2' }, { app: 'web', name: 'api', replica: 4, node: 'n2' }] });
    // 3,2,0 -> 2,2,1: n3 takes one; n2 (at its cap of 2) takes none.
    assert.deepEqual(moves(i), ['web/api 2: n1 -> n3']);
  });

  it('evens spreadBy groups first, then nodes within a group', () => {
    const nodes = [host('a1', 4, { zone: 'a' }), host('a2', 4, { zone: 'a' }), host('b1', 4, { zone: 'b' })];
    const i = input({ nodes, manifests: [manifest('api', { placement: { spreadBy: 'zone' } })], placements: on('api', ['a1', 'a1', 'a1', 'a1']) });
    // Zones 4+0 -> 2+2, then a1 2 / a2 0 -> 1 / 1.
    assert.deepEqual(moves(i), ['web/api 3: a1 -> b1', 'web/api 2: a1 -> b1', 'web/api 1: a1 -> a2']);
  });

  it('is deterministic: the same input, the same moves, whatever the order of its lists', () => {
    const nodes = [host('n1'), host('n2'), host('n3')];
    const placements = [...on('api', ['n1', 'n1', 'n1', 'n1', 'n2']), ...on('db', ['n1', 'n1', 'n1'])];
    const manifests = [manifest('api'), manifest('db')];
    const a = planRebalance(input({ nodes, placements, manifests }));
    const b = planRebalance(input({ nodes: [...nodes].reverse(), placements: [...placements].reverse(), manifests: [...manifests].reverse() }));
    assert.deepEqual(a, b);
    assert.ok(a.moves.length > 0);
  });
});

describe('planRebalance: what never moves', () => {
  it('skips global and binpack manifests and those with a move in flight, saying why', () => {
    const placements = [...on('g', ['n1', 'n1']), ...on('b', ['n1', 'n1', 'n1']), ...on('m', ['n1', 'n1', 'n1']), { app: 'web', name: 'm', replica: 3, node: 'n2', replaces: 0 }];
    const plan = planRebalance(input({ placements, manifests: [manifest('g', { mode: 'global' }), manifest('b', { placement: { strategy: 'binpack' } }), manifest('m')] }));
    assert.deepEqual(plan.moves, []);
    assert.deepEqual(plan.skipped, [
      { app: 'web', name: 'b', reason: 'binpack: kept packed where it is, not spread' },
      { app: 'web', name: 'g', reason: 'global: one replica per node, never moved' },
      { app: 'web', name: 'm', reason: 'a move is in progress' },
    ]);
  });

  it('moves only the manifests it is given; the others still count towards room', () => {
    const placements = [...on('api', ['n1', 'n1', 'n1', 'n1']), ...on('db', ['n1', 'n1', 'n1', 'n1'])];
    assert.deepEqual(moves(input({ placements, manifests: [manifest('db')] })), ['web/db 3: n1 -> n2', 'web/db 2: n1 -> n2']);
  });
});

describe('planRebalance: allocation across nodes', () => {
  it('moves single replicas off the most allocated node when that lowers it, without unevening any manifest', () => {
    const placements = [...on('big1', ['n1'], 1), ...on('big2', ['n1'], 1)];
    // n1 at 50%, n2 empty: one of them moves (by name: big1), both end at 25%.
    assert.deepEqual(moves(input({ placements, manifests: [manifest('big1', { resources: { memoryBytes: Gi } }), manifest('big2', { resources: { memoryBytes: Gi } })] })), ['web/big1 0: n1 -> n2']);
  });

  it('does not move for a gain under MIN_ALLOCATION_GAIN', () => {
    const placements = [...on('a', ['n1'], 0.1), ...on('b', ['n1'], 0.1)];
    assert.deepEqual(moves(input({ placements, manifests: [manifest('a'), manifest('b')] })), []);
  });

  it('does not trade a manifest\'s even spread for allocation', () => {
    // n1 1 GiB, n2 4 GiB, one 512Mi replica each: n1 at 50%, but moving it makes 0+2.
    const placements = on('api', ['n1', 'n2'], 0.5);
    assert.deepEqual(moves(input({ nodes: [host('n1', 1), host('n2', 4)], placements })), []);
  });

  it('moves a replica once, to where it ends, even when both phases move it', () => {
    const nodes = [host('n1', 4), host('n2', 4), host('n3', 16)];
    const placements = [...on('api', ['n1', 'n1', 'n1'], 1), ...on('x', ['n2'], 2)];
    const plan = planRebalance(input({ nodes, placements, manifests: [manifest('api', { resources: { memoryBytes: Gi } }), manifest('x', { resources: { memoryBytes: 2 * Gi } })] }));
    const ids = plan.moves.map((m) => `${m.name}/${m.replica}`);
    assert.equal(new Set(ids).size, ids.length);
    for (const m of plan.moves) assert.notEqual(m.from, m.to);
  });
});
