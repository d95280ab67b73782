import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { planPlacements, type Placed, type Plan, type PlanInput } from '../../controllers/scheduler/placement-plan.js';
import { DEFAULT_RESERVATION } from '../../api/reservation.js';
import type { Amounts, NodeRecord } from '../../api/records.js';
import { node } from './builders.js';

const H = 'hash-new';

/**
 * `load`: placements per node of the default reservation (all manifests), instead of
 * `allocated`; by default this manifest's placements, as in a cluster running nothing else.
 */
function plan(input: Partial<PlanInput> & { nodes?: string[]; load?: Map<string, number> }): Plan {
  const { nodes, load, ...rest } = input;
  const placed = rest.placed ?? [];
  const counts = load ?? countBy(placed.map((p) => p.node));
  const allocated = rest.allocated ?? new Map([...counts].map(([n, c]): [string, Amounts] => [n, { cpus: c * DEFAULT_RESERVATION.cpus, memoryBytes: c * DEFAULT_RESERVATION.memoryBytes }]));
  return planPlacements({
    scale: 1,
    templateHash: H,
    constraints: {},
    need: DEFAULT_RESERVATION,
    liveNodes: (nodes ?? []).map((n) => node(n)),
    ...rest,
    placed,
    allocated,
  });
}

function countBy(names: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const n of names) m.set(n, (m.get(n) ?? 0) + 1);
  return m;
}

const at = (replica: number, nodeName: string, templateHash = H): Placed => ({ replica, node: nodeName, templateHash });
const perNode = (p: Plan) => countBy(p.add.map((a) => a.node));
const empty: Plan = { add: [], remove: [], update: [], unschedulable: [] };

describe('planPlacements: spreading new replicas', () => {
  it('balances 6 replicas over 3 empty nodes, 2 each, deterministically', () => {
    const p = plan({ scale: 6, nodes: ['a', 'b', 'c'] });
    assert.deepEqual(p.add, [
      { replica: 0, node: 'a' },
      { replica: 1, node: 'b' },
      { replica: 2, node: 'c' },
      { replica: 3, node: 'a' },
      { replica: 4, node: 'b' },
      { replica: 5, node: 'c' },
    ]);
    assert.deepEqual(p.remove, []);
    assert.deepEqual(p.unschedulable, []);
  });

  it('does not depend on the order the nodes are listed in', () => {
    const p1 = plan({ scale: 4, nodes: ['c', 'a', 'b'] });
    const p2 = plan({ scale: 4, nodes: ['a', 'b', 'c'] });
    assert.deepEqual(p1, p2);
  });

  it('puts a new replica on the node with the fewest containers', () => {
    const load = new Map([['a', 5], ['b', 1], ['c', 3]]);
    assert.deepEqual(plan({ scale: 1, nodes: ['a', 'b', 'c'], load }).add, [{ replica: 0, node: 'b' }]);
    assert.deepEqual(plan({ scale: 3, nodes: ['a', 'b', 'c'], load }).add, [
      { replica: 0, node: 'b' },
      { replica: 1, node: 'c' },
      { replica: 2, node: 'a' },
    ]);
  });

  it('spreads a manifest over nodes before it fills the least loaded one', () => {
    const load = new Map([['a', 0], ['b', 10], ['c', 10]]);
    const p = plan({ scale: 3, nodes: ['a', 'b', 'c'], load });
    assert.deepEqual(perNode(p), new Map([['a', 1], ['b', 1], ['c', 1]]));
    const p6 = plan({ scale: 6, nodes: ['a', 'b', 'c'], load });
    assert.deepEqual(perNode(p6), new Map([['a', 2], ['b', 2], ['c', 2]]));
  });

  it('breaks ties in spreading by load, then by name', () => {
    // b is lighter, so it takes replica 0; a, with none of this manifest, replica 1; with one
    // each, b is still lighter (2 against 3) and takes replica 2, leaving replica 3 to a.
    const load = new Map([['a', 2], ['b', 1]]);
    const p = plan({ scale: 4, nodes: ['a', 'b'], load });
    assert.deepEqual(p.add, [
      { replica: 0, node: 'b' },
      { replica: 1, node: 'a' },
      { replica: 2, node: 'b' },
      { replica: 3, node: 'a' },
    ]);
  });
});

describe('planPlacements: scaling', () => {
  it('scales up by placing only the missing indices', () => {
    const placed = [at(0, 'a'), at(1, 'b')];
    const p = plan({ scale: 4, nodes: ['a', 'b', 'c'], placed });
    assert.deepEqual(p.add, [
      { replica: 2, node: 'c' },
      { replica: 3, node: 'a' },
    ]);
    assert.deepEqual(p.remove, []);
    assert.deepEqual(p.update, []);
  });

  it('fills a gap in the indices', () => {
    const p = plan({ scale: 3, nodes: ['a', 'b', 'c'], placed: [at(0, 'a'), at(2, 'c')] });
    assert.deepEqual(p.add, [{ replica: 1, node: 'b' }]);
  });

  it('scales down by removing the highest indices only', () => {
    const placed = [at(0, 'a'), at(1, 'b'), at(2, 'c'), at(3, 'a')];
    const p = plan({ scale: 2, nodes: ['a', 'b', 'c'], placed });
    assert.deepEqual(p.add, []);
    assert.deepEqual(p.remove.map((r) => r.replica).sort(), [2, 3]);
    assert.deepEqual(p.update, []);
  });

  it('removes everything at scale 0', () => {
    const placed = [at(0, 'a'), at(1, 'b')];
    const p = plan({ scale: 0, nodes: ['a', 'b'], placed });
    assert.deepEqual(p, { ...empty, remove: placed });
  });

  it('changes nothing when everything is in place', () => {
    const placed = [at(0, 'a'), at(1, 'b')];
    assert.deepEqual(plan({ scale: 2, nodes: ['a', 'b'], placed }), empty);
  });
});

describe('planPlacements: nodes coming and going', () => {
  it('re-places a dead node\'s replicas on live nodes', () => {
    const placed = [at(0, 'a'), at(1, 'b'), at(2, 'c')];
    const p = plan({ scale: 3, nodes: ['a', 'b'], placed });
    assert.deepEqual(p.remove, [at(2, 'c')]);
    assert.deepEqual(p.add, [{ replica: 2, node: 'a' }]);
    assert.deepEqual(p.unschedulable, []);
  });

  it('re-places onto the least loaded live node', () => {
    const placed = [at(0, 'a'), at(1, 'b'), at(2, 'c')];
    const load = new Map([['a', 7], ['b', 2], ['c', 1]]);
    const p = plan({ scale: 3, nodes: ['a', 'b'], placed, load });
    assert.deepEqual(p.add, [{ replica: 2, node: 'b' }]);
  });

  it('moves nothing when a node joins', () => {
    const placed = [at(0, 'a'), at(1, 'a'), at(2, 'b')];
    assert.deepEqual(plan({ scale: 3, nodes: ['a', 'b', 'new'], placed }), empty);
  });

  it('keeps the placements of a lone host that is gone, reporting them unschedulable', () => {
    const placed = [at(0, 'a'), at(1, 'a')];
    const p = plan({ scale: 2, nodes: [], placed });
    assert.deepEqual(p.add, []);
    assert.deepEqual(p.remove, []);
    assert.deepEqual(p.unschedulable, [
      { replica: 0, reason: 'no live nodes' },
      { replica: 1, reason: 'no live nodes' },
    ]);
  });

  it('still removes excess replicas of a stranded manifest on scale-down', () => {
    const placed = [at(0, 'a'), at(1, 'a')];
    const p = plan({ scale: 1, nodes: [], placed });
    assert.deepEqual(p.remove, [at(1, 'a')]);
    assert.deepEqual(p.unschedulable, [{ replica: 0, reason: 'no live nodes' }]);
  });
});

describe('planPlacements: constraints', () => {
  const zoned = [node('a', { zone: 'east' }), node('b', { zone: 'west' }), node('c')];

  it('places only on nodes whose labels match', () => {
    const p = plan({ scale: 2, liveNodes: zoned, constraints: { 'node.labels.zone': 'west' } });
    assert.deepEqual(p.add, [
      { replica: 0, node: 'b' },
      { replica: 1, node: 'b' },
    ]);
  });

  it('places on the named node', () => {
    const p = plan({ scale: 2, liveNodes: zoned, constraints: { 'node.name': 'c' } });
    assert.deepEqual(p.add.map((a) => a.node), ['c', 'c']);
  });

  it('avoids nodes with !x', () => {
    const p = plan({ scale: 4, liveNodes: zoned, constraints: { 'node.labels.zone': '!east' } });
    assert.deepEqual(perNode(p), new Map([['b', 2], ['c', 2]]));
  });

  it('moves a replica off a node that no longer matches', () => {
    const placed = [at(0, 'a'), at(1, 'b')];
    const p = plan({ scale: 2, liveNodes: zoned, placed, constraints: { 'node.labels.zone': 'west' } });
    assert.deepEqual(p.remove, [at(0, 'a')]);
    assert.deepEqual(p.add, [{ replica: 0, node: 'b' }]);
  });

  it('reports replicas unschedulable with no live nodes', () => {
    const p = plan({ scale: 2, nodes: [] });
    assert.deepEqual(p, {
      ...empty,
      unschedulable: [
        { replica: 0, reason: 'no live nodes' },
        { replica: 1, reason: 'no live nodes' },
      ],
    });
  });

  it('reports replicas unschedulable when no node matches, naming the constraints', () => {
    const constraints = { 'node.labels.zone': 'mars' };
    const p = plan({ scale: 1, liveNodes: zoned, constraints });
    assert.deepEqual(p.add, []);
    assert.deepEqual(p.unschedulable, [{ replica: 0, reason: 'no live node matches constraints {"node.labels.zone":"mars"}' }]);
  });
});

describe('planPlacements: duplicates and updates', () => {
  it('keeps one placement of a duplicated index, the same one whatever the input order', () => {
    const dupes = [at(0, 'b'), at(0, 'a'), at(1, 'c')];
    const p1 = plan({ scale: 2, nodes: ['a', 'b', 'c'], placed: dupes });
    const p2 = plan({ scale: 2, nodes: ['a', 'b', 'c'], placed: [...dupes].reverse() });
    assert.deepEqual(p1, p2);
    assert.deepEqual(p1.remove, [at(0, 'b')]);
    assert.deepEqual(p1.add, []);
  });

  it('keeps the live copy of a duplicate whose other copy is on a dead node', () => {
    const p = plan({ scale: 1, nodes: ['b'], placed: [at(0, 'a'), at(0, 'b')] });
    assert.deepEqual(p.remove, [at(0, 'a')]);
    assert.deepEqual(p.add, []);
    assert.deepEqual(p.unschedulable, []);
  });

  it('lists placements with an old template hash for update, in place', () => {
    const placed = [at(0, 'a', 'old'), at(1, 'b'), at(2, 'c', 'old')];
    const p = plan({ scale: 3, nodes: ['a', 'b', 'c'], placed });
    assert.deepEqual(p.update, [at(0, 'a', 'old'), at(2, 'c', 'old')]);
    assert.deepEqual(p.add, []);
    assert.deepEqual(p.remove, []);
  });

  it('does not update a placement it removes', () => {
    const placed = [at(0, 'a', 'old'), at(1, 'b', 'old')];
    const p = plan({ scale: 1, nodes: ['a', 'b'], placed });
    assert.deepEqual(p.update, [at(0, 'a', 'old')]);
    assert.deepEqual(p.remove, [at(1, 'b', 'old')]);
  });

  it('updates a stranded placement it keeps', () => {
    const p = plan({ scale: 1, nodes: [], placed: [at(0, 'a', 'old')] });
    assert.deepEqual(p.update, [at(0, 'a', 'old')]);
  });
});

const Gi = 2 ** 30;
/** A node with `gi` GiB of memory and `cpus` CPUs, and labels. */
const host = (name: string, gi: number, cpus = 4, labels: Record<string, string> = {}): NodeRecord => ({ ...node(name, labels), capacity: { cpus, memoryBytes: gi * Gi } });
const mem = (gi: number, cpus = 0.1): Amounts => ({ cpus, memoryBytes: gi * Gi });

describe('planPlacements: resources', () => {
  it('places only where the memory fits', () => {
    const p = plan({ scale: 3, need: mem(1), liveNodes: [host('n1', 1), host('n2', 2), host('n4', 4)] });
    assert.deepEqual(p.unschedulable, []);
    // Spread: one each first (each fits 1Gi), the least allocated share breaking nothing here.
    assert.deepEqual(perNode(p), new Map([['n1', 1], ['n2', 1], ['n4', 1]]));
  });

  it('places only where the CPU fits', () => {
    const p = plan({ scale: 2, need: { cpus: 2, memoryBytes: 1 }, liveNodes: [host('small', 8, 1), host('big', 8, 4)] });
    assert.deepEqual(p.add, [{ replica: 0, node: 'big' }, { replica: 1, node: 'big' }]);
  });

  it('counts what other manifests reserve, and placements without `reserved` at the default', () => {
    const allocated = new Map([['n2', mem(1.5)]]);
    const p = plan({ scale: 1, need: mem(1), liveNodes: [host('n2', 2), host('n1', 1)], allocated });
    assert.deepEqual(p.add, [{ replica: 0, node: 'n1' }]);
    // A removed placement without `reserved` frees the default reservation only.
    const full = new Map([['n1', mem(1)]]);
    const q = plan({ scale: 1, need: DEFAULT_RESERVATION, liveNodes: [host('n1', 1)], allocated: full, placed: [at(0, 'n1'), at(1, 'n1')] });
    assert.deepEqual(q.remove, [at(1, 'n1')]);
  });

  it('reports 5Gi on 1, 2 and 4Gi hosts unschedulable, naming the node with the most free', () => {
    const nodes = [host('n1', 1), host('n2', 2), host('n4', 4)];
    const p = plan({ scale: 1, need: mem(5), liveNodes: nodes });
    assert.deepEqual(p.add, []);
    assert.deepEqual(p.unschedulable, [{ replica: 0, reason: 'insufficient memory: needs 5Gi, most free on any matching node 4Gi (n4)' }]);
    // A bigger host joins: placed there.
    assert.deepEqual(plan({ scale: 1, need: mem(5), liveNodes: [...nodes, host('n8', 8)] }).add, [{ replica: 0, node: 'n8' }]);
  });

  it('gives the cpu shortfall when memory fits', () => {
    const p = plan({ scale: 1, need: { cpus: 3, memoryBytes: Gi }, liveNodes: [host('a', 4, 2), host('b', 4, 1)] });
    assert.deepEqual(p.unschedulable, [{ replica: 0, reason: 'insufficient cpu: needs 3, most free on any matching node 2 (a)' }]);
  });

  it('stops at the first replica that fits nowhere, giving the rest the same reason', () => {
    const p = plan({ scale: 4, need: mem(1), liveNodes: [host('a', 1.5), host('b', 1.5)] });
    assert.deepEqual(p.add.map((a) => a.replica), [0, 1]);
    assert.deepEqual(p.unschedulable.map((u) => u.replica), [2, 3]);
    assert.equal(p.unschedulable[1]!.reason, 'insufficient memory: needs 1Gi, most free on any matching node 512Mi (a)');
  });

  it('keeps a replica stranded on a dead node when it fits nowhere else', () => {
    const p = plan({ scale: 1, need: mem(2), liveNodes: [host('small', 1)], placed: [at(0, 'gone')] });
    assert.deepEqual(p.remove, []);
    assert.deepEqual(p.unschedulable.map((u) => u.replica), [0]);
  });
});

describe('planPlacements: strategies', () => {
  const three = () => [host('a', 8), host('b', 8), host('c', 8)];

  it('spread prefers the least allocated node, binpack the most allocated that fits', () => {
    const allocated = new Map([['a', mem(6)], ['b', mem(2)], ['c', mem(7.5)]]);
    assert.deepEqual(plan({ scale: 1, need: mem(1), liveNodes: three(), allocated }).add, [{ replica: 0, node: 'b' }]);
    // c would be fullest but 1Gi does not fit in its 0.5Gi: a is the best fit.
    assert.deepEqual(plan({ scale: 1, need: mem(1), liveNodes: three(), allocated, strategy: 'binpack' }).add, [{ replica: 0, node: 'a' }]);
  });

  it('binpack fills one host before the next', () => {
    const p = plan({ scale: 5, need: mem(2), liveNodes: three(), strategy: 'binpack' });
    assert.deepEqual(p.add.map((a) => a.node), ['a', 'a', 'a', 'a', 'b']);
  });

  it('spread takes the larger host first when shares tie on count', () => {
    const p = plan({ scale: 2, need: mem(1), liveNodes: [host('small', 2), host('big', 8)] });
    assert.deepEqual(p.add, [{ replica: 0, node: 'big' }, { replica: 1, node: 'small' }]);
  });

  it('spreadBy evens replicas over the label values first: 2 zones at scale 4 give 2 + 2', () => {
    const nodes = [host('a', 8, 4, { zone: 'east' }), host('b', 8, 4, { zone: 'east' }), host('c', 8, 4, { zone: 'east' }), host('d', 8, 4, { zone: 'west' })];
    const p = plan({ scale: 4, need: mem(1), liveNodes: nodes, spreadBy: 'zone' });
    const byZone = countBy(p.add.map((a) => nodes.find((n) => n.name === a.node)!.labels.zone!));
    assert.deepEqual(byZone, new Map([['east', 2], ['west', 2]]));
    assert.equal(perNode(p).get('d'), 2);
  });

  it('spreadBy counts the replicas already placed, and nodes without the label form a group of their own', () => {
    const nodes = [host('a', 8, 4, { zone: 'east' }), host('b', 8, 4, { zone: 'west' }), host('c', 8)];
    const p = plan({ scale: 3, need: mem(1), liveNodes: nodes, spreadBy: 'zone', placed: [at(0, 'a'), at(1, 'a')] });
    assert.deepEqual(p.add, [{ replica: 2, node: 'b' }]);
    const q = plan({ scale: 3, need: mem(1), liveNodes: nodes, spreadBy: 'zone' });
    assert.deepEqual(new Set(q.add.map((a) => a.node)), new Set(['a', 'b', 'c']));
  });

  it('maxPerNode 1 at scale 4 on 3 hosts leaves 1 unschedulable, saying why', () => {
    const p = plan({ scale: 4, need: mem(1), liveNodes: three(), maxPerNode: 1 });
    assert.deepEqual(perNode(p), new Map([['a', 1], ['b', 1], ['c', 1]]));
    assert.deepEqual(p.unschedulable, [{ replica: 3, reason: 'maxPerNode 1 reached on all 3 matching nodes' }]);
  });
});

describe('planPlacements: cordoned nodes', () => {
  it('places nothing new on a cordoned node and keeps what runs there', () => {
    const p = plan({ scale: 3, nodes: ['a', 'b'], placed: [at(0, 'a')], cordoned: new Set(['a']) });
    assert.deepEqual(p.add, [{ replica: 1, node: 'b' }, { replica: 2, node: 'b' }]);
    assert.deepEqual(p.remove, []);
  });

  it('says when every matching node is cordoned', () => {
    const p = plan({ scale: 1, nodes: ['a', 'b', 'c'], cordoned: new Set(['a', 'b', 'c']) });
    assert.deepEqual(p.unschedulable, [{ replica: 0, reason: 'all 3 matching nodes are cordoned' }]);
  });

  it('names cordoned nodes beside a shortfall', () => {
    const p = plan({ scale: 1, need: mem(2), liveNodes: [host('a', 8), host('b', 1)], cordoned: new Set(['a']) });
    assert.deepEqual(p.unschedulable, [{ replica: 0, reason: 'insufficient memory: needs 2Gi, most free on any matching node 1Gi (b) (other matching nodes: 1 cordoned)' }]);
  });
});

describe('planPlacements: surges (a move\'s replacement)', () => {
  const surge = (replica: number, nodeName: string, replaces: number): Placed => ({ ...at(replica, nodeName), replaces });

  it('does not count a surge towards scale while its replica is placed, nor remove it as extra', () => {
    const placed = [at(0, 'a'), at(1, 'b'), surge(2, 'c', 1)];
    assert.deepEqual(plan({ scale: 2, nodes: ['a', 'b', 'c'], placed }), empty);
  });

  it('never places a replica at an index a surge holds', () => {
    const placed = [at(0, 'a'), surge(1, 'c', 0)];
    const p = plan({ scale: 3, nodes: ['a', 'b', 'c'], placed });
    assert.deepEqual(p.add.map((a) => a.replica), [2, 3]);
    assert.deepEqual(p.remove, []);
  });

  it('lets a surge stand in for its replica once that one is gone', () => {
    const placed = [at(0, 'a'), surge(2, 'c', 1)];
    assert.deepEqual(plan({ scale: 2, nodes: ['a', 'b', 'c'], placed }), empty);
  });

  it('removes a surge whose replica is no longer wanted, or whose node left', () => {
    const placed = [at(0, 'a'), at(1, 'b'), surge(2, 'c', 1), surge(3, 'gone', 0)];
    const p = plan({ scale: 1, nodes: ['a', 'b', 'c'], placed });
    assert.deepEqual(new Set(p.remove), new Set([at(1, 'b'), surge(2, 'c', 1), surge(3, 'gone', 0)]));
    assert.deepEqual(p.add, []);
  });

  it('counts a surge\'s reservation on its node', () => {
    const placed = [{ ...surge(1, 'a', 0), reserved: mem(1) }, { ...at(0, 'b'), reserved: mem(1) }];
    const allocated = new Map([['a', mem(1)], ['b', mem(1)]]);
    const p = plan({ scale: 2, need: mem(1), liveNodes: [host('a', 1.5), host('b', 2.5)], placed, allocated });
    assert.deepEqual(p.add, [{ replica: 2, node: 'b' }]);
  });
});

describe('planPlacements: indices by count (after moves)', () => {
  it('keeps replicas at the indices a finished move left ({0, 2, 3} at scale 3)', () => {
    assert.deepEqual(plan({ scale: 3, nodes: ['a', 'b', 'c'], placed: [at(0, 'a'), at(2, 'b'), at(3, 'c')] }), empty);
  });

  it('scales down by removing the highest indices, and up by filling the lowest free ones', () => {
    const placed = [at(0, 'a'), at(2, 'b'), at(3, 'c')];
    assert.deepEqual(plan({ scale: 2, nodes: ['a', 'b', 'c'], placed }).remove, [at(3, 'c')]);
    assert.deepEqual(plan({ scale: 5, nodes: ['a', 'b', 'c'], placed }).add.map((a) => a.replica), [1, 4]);
  });

  it('moves a stranded replica at its own index, whatever the others are', () => {
    const p = plan({ scale: 2, nodes: ['a', 'b'], placed: [at(0, 'a'), at(3, 'gone')] });
    assert.deepEqual(p.add, [{ replica: 3, node: 'b' }]);
    assert.deepEqual(p.remove, [at(3, 'gone')]);
  });
});

describe('planPlacements: global mode', () => {
  it('puts one replica on every matching node, lowest free indices in node name order', () => {
    const p = plan({ global: true, scale: 0, liveNodes: [node('c'), node('a', { role: 'db' }), node('b')], constraints: { 'node.labels.role': '!db' } });
    assert.deepEqual(p.add, [{ replica: 0, node: 'b' }, { replica: 1, node: 'c' }]);
  });

  it('starts one on a node that joins, keeping the others\' indices, and reuses a freed index', () => {
    const placed = [at(0, 'a'), at(2, 'c')];
    const p = plan({ global: true, nodes: ['a', 'c', 'd'], placed });
    assert.deepEqual(p.add, [{ replica: 1, node: 'd' }]);
    assert.deepEqual(p.remove, []);
  });

  it('removes the replica of a node that leaves, without moving it', () => {
    const placed = [at(0, 'a'), at(1, 'b')];
    const p = plan({ global: true, nodes: ['a'], placed });
    assert.deepEqual(p.remove, [at(1, 'b')]);
    assert.deepEqual(p.add, []);
  });

  it('skips cordoned nodes, keeps what runs on them, and reports a node it does not fit on', () => {
    const placed = [at(0, 'a')];
    const p = plan({ global: true, need: mem(2), liveNodes: [host('a', 4), host('b', 4), host('c', 1), host('d', 4)], placed, cordoned: new Set(['a', 'b']) });
    assert.deepEqual(p.add, [{ replica: 2, node: 'd' }]);
    assert.deepEqual(p.unschedulable, [{ replica: 1, reason: 'c: insufficient memory: needs 2Gi, free 1Gi' }]);
    assert.deepEqual(p.remove, []);
  });

  it('keeps one replica per node and one node per index', () => {
    const placed = [at(0, 'a'), at(1, 'a'), at(0, 'b')];
    const p = plan({ global: true, nodes: ['a', 'b'], placed });
    assert.deepEqual(new Set(p.remove), new Set([at(1, 'a'), at(0, 'b')]));
    assert.deepEqual(p.add, [{ replica: 1, node: 'b' }]);
  });
});
