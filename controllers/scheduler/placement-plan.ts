import { matchesConstraints } from '../../api/constraints.js';
import type { NodeRecord } from '../../api/records.js';

/** A replica as placed: which index on which node, and the spec hash it carries. */
export interface Placed {
  replica: number;
  node: string;
  templateHash: string;
}

export interface PlanInput {
  /** Replicas wanted: indices 0..scale-1. */
  scale: number;
  templateHash: string;
  constraints: Record<string, string>;
  /** This manifest's current placements. */
  placed: Placed[];
  liveNodes: NodeRecord[];
  /** Placements per node across all manifests (including this one's current ones). */
  load: Map<string, number>;
}

export interface Plan {
  /** Replica index -> node for new placements. */
  add: { replica: number; node: string }[];
  /** Placements to delete (scale-down, dead or no longer eligible node, duplicates). */
  remove: Placed[];
  /** Placements kept on their node whose spec must be updated. */
  update: Placed[];
  /** Replica indices that fit on no live node (or stay stranded on a dead one), with the reason. */
  unschedulable: { replica: number; reason: string }[];
}

/**
 * Decides where one manifest's replicas run. Pure: the reconciler reads etcd and writes
 * the plan. Existing placements on live, eligible nodes stay where they are (a joining
 * host moves nothing); new ones go to the eligible node with the fewest of this manifest's
 * replicas, then the fewest containers overall, then by name for determinism.
 */
export function planPlacements(input: PlanInput): Plan {
  const eligible = Object.keys(input.constraints).length === 0 ? input.liveNodes : input.liveNodes.filter((n) => matchesConstraints(n, input.constraints));
  const eligibleNames = new Set(eligible.map((n) => n.name));
  // The load as this plan changes it: the input map plus this plan's changes (not a copy:
  // with thousands of nodes, copying it per manifest would cost more than the planning).
  const loadDelta = new Map<string, number>();
  const load = {
    get: (node: string): number | undefined => {
      const base = input.load.get(node);
      const d = loadDelta.get(node);
      return d === undefined ? base : (base ?? 0) + d;
    },
    set: (node: string, value: number) => {
      loadDelta.set(node, value - (input.load.get(node) ?? 0));
    },
  };
  const mine = new Map<string, number>();
  const plan: Plan = { add: [], remove: [], update: [], unschedulable: [] };
  const kept = new Map<number, Placed>();

  // Sorted so that, of two placements of one index, the same one is always kept.
  const sorted = [...input.placed].sort((a, b) => a.replica - b.replica || a.node.localeCompare(b.node));
  // First pass: what stays where it is. A replica on a dead or ineligible node only moves
  // if another node can take it (second pass); with nowhere to go it stays, so a lone host
  // that comes back keeps its containers instead of having them replaced.
  const stranded: Placed[] = [];
  for (const p of sorted) {
    const wanted = p.replica < input.scale && !kept.has(p.replica);
    if (wanted && !eligibleNames.has(p.node)) {
      stranded.push(p);
      continue;
    }
    if (!wanted) {
      plan.remove.push(p);
      load.set(p.node, (load.get(p.node) ?? 1) - 1);
      continue;
    }
    kept.set(p.replica, p);
    mine.set(p.node, (mine.get(p.node) ?? 0) + 1);
    if (p.templateHash !== input.templateHash) plan.update.push(p);
  }

  for (const p of stranded) {
    if (kept.has(p.replica)) {
      plan.remove.push(p); // a duplicate of a replica kept elsewhere
    } else if (eligible.length === 0) {
      kept.set(p.replica, p);
      plan.unschedulable.push({ replica: p.replica, reason: unschedulableReason(input) });
      if (p.templateHash !== input.templateHash) plan.update.push(p);
    } else {
      plan.remove.push(p);
    }
    load.set(p.node, (load.get(p.node) ?? 1) - (kept.get(p.replica) === p ? 0 : 1));
  }

  let heap: NodeHeap | undefined;
  for (let replica = 0; replica < input.scale; replica++) {
    if (kept.has(replica)) continue;
    if (eligible.length === 0) {
      plan.unschedulable.push({ replica, reason: unschedulableReason(input) });
      continue;
    }
    // Built once, at the first replica to place: each pick is then O(log nodes), not O(nodes).
    heap ??= new NodeHeap(eligible.map((n) => ({ name: n.name, mine: mine.get(n.name) ?? 0, load: load.get(n.name) ?? 0 })));
    const best = heap.top();
    const node = best.name;
    plan.add.push({ replica, node });
    mine.set(node, (mine.get(node) ?? 0) + 1);
    load.set(node, (load.get(node) ?? 0) + 1);
    best.mine++;
    best.load++;
    heap.topChanged();
  }
  return plan;
}

interface Candidate {
  name: string;
  /** This manifest's replicas on the node. */
  mine: number;
  /** Placements on the node across all manifests. */
  load: number;
}

/** Fewest of this manifest's replicas, then the fewest containers, then the name. */
function better(a: Candidate, b: Candidate): boolean {
  return a.mine < b.mine || (a.mine === b.mine && (a.load < b.load || (a.load === b.load && a.name < b.name)));
}

/** A binary min-heap of candidate nodes under `better`: the node to pick is at the top. */
class NodeHeap {
  constructor(private readonly items: Candidate[]) {
    for (let i = (items.length >> 1) - 1; i >= 0; i--) this.down(i);
  }

  top(): Candidate {
    return this.items[0]!;
  }

  /** The top's key grew (a replica was placed on it): restore the order. */
  topChanged(): void {
    this.down(0);
  }

  private down(i: number): void {
    const a = this.items;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < a.length && better(a[l]!, a[m]!)) m = l;
      if (r < a.length && better(a[r]!, a[m]!)) m = r;
      if (m === i) return;
      [a[i], a[m]] = [a[m]!, a[i]!];
      i = m;
    }
  }
}

export function unschedulableReason(input: { liveNodes: NodeRecord[]; constraints: Record<string, string> }): string {
  if (input.liveNodes.length === 0) return 'no live nodes';
  return `no live node matches constraints ${JSON.stringify(input.constraints)}`;
}
