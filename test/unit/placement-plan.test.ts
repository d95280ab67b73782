import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { planPlacements, type Placed, type Plan, type PlanInput } from '../../controllers/scheduler/placement-plan.js';
import { DEFAULT_RESERVATION } from '../../api/reservation.js';
import type { Amounts } from '../../api/records.js';
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
