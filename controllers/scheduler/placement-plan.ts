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
  const eligible = input.liveNodes.filter((n) => matchesConstraints(n, input.constraints));
  const eligibleNames = new Set(eligible.map((n) => n.name));
  const load = new Map(input.load);
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

  for (let replica = 0; replica < input.scale; replica++) {
    if (kept.has(replica)) continue;
    const node = pickNode(eligible, mine, load);
    if (!node) {
      plan.unschedulable.push({ replica, reason: unschedulableReason(input) });
      continue;
    }
    plan.add.push({ replica, node });
    mine.set(node, (mine.get(node) ?? 0) + 1);
    load.set(node, (load.get(node) ?? 0) + 1);
  }
  return plan;
}

function pickNode(eligible: NodeRecord[], mine: Map<string, number>, load: Map<string, number>): string | undefined {
  let best: string | undefined;
  let bestKey: [number, number] = [Infinity, Infinity];
  for (const n of eligible) {
    const key: [number, number] = [mine.get(n.name) ?? 0, load.get(n.name) ?? 0];
    if (key[0] < bestKey[0] || (key[0] === bestKey[0] && (key[1] < bestKey[1] || (key[1] === bestKey[1] && best !== undefined && n.name < best)))) {
      best = n.name;
      bestKey = key;
    }
  }
  return best;
}

export function unschedulableReason(input: { liveNodes: NodeRecord[]; constraints: Record<string, string> }): string {
  if (input.liveNodes.length === 0) return 'no live nodes';
  return `no live node matches constraints ${JSON.stringify(input.constraints)}`;
}
