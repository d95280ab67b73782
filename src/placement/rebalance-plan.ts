import { matchesConstraints } from '../../api/constraints.js';
import type { ManifestSpec } from '../../api/manifest.js';
import type { Amounts, NodeRecord } from '../../api/records.js';
import { allocatableOf, DEFAULT_RESERVATION, placementOf, reservationOf } from '../../api/reservation.js';
import { holdsVolumes } from '../../api/volumes.js';

/**
 * A move is worth its restart only if it lowers the higher allocation of the two nodes by
 * this much (a share of the node: 0.05 is 5 points); smaller gains would churn replicas.
 */
export const MIN_ALLOCATION_GAIN = 0.05;

export interface RebalanceManifest {
  app: string;
  name: string;
  spec: Pick<ManifestSpec, 'constraints' | 'placement' | 'mode' | 'resources' | 'volumes' | 'volumeLoss'>;
}

export interface RebalancePlacement {
  app: string;
  name: string;
  replica: number;
  node: string;
  /** Absent: the default reservation (api/reservation.ts). */
  reserved?: Amounts;
  /** A move in flight: its manifest is left alone. */
  replaces?: number;
}

export interface RebalanceInput {
  /** The live nodes. */
  nodes: readonly NodeRecord[];
  /** Cordoned (or draining) nodes: never a target, and their replicas are the drain's to move. */
  cordoned: ReadonlySet<string>;
  /** Every placement of the cluster: all of them count towards their node's allocation. */
  placements: readonly RebalancePlacement[];
  /** The manifests that may move (valid ones, in the scope asked for); others only count. */
  manifests: readonly RebalanceManifest[];
}

export interface PlannedMove {
  app: string;
  name: string;
  replica: number;
  from: string;
  to: string;
}

export interface RebalancePlan {
  moves: PlannedMove[];
  /** Manifests in scope left as they are, and why (global, binpack, a move in flight). */
  skipped: { app: string; name: string; reason: string }[];
}

interface Replica {
  app: string;
  name: string;
  replica: number;
  node: string;
  /** What it holds on its node now. */
  reserved: Amounts;
}

/** One manifest as the plan sees it: its replicas on eligible nodes, and where they may go. */
interface Spread {
  m: RebalanceManifest;
  need: Amounts;
  eligible: string[];
  spreadBy?: string;
  maxPerNode?: number;
  replicas: Replica[];
}

/**
 * The moves that make the spread as even as placement makes it: first, for each replicated
 * spread manifest (by app/name), from the node with the most of its replicas to an eligible
 * one with the fewest (constraints, room, maxPerNode; across `spreadBy` groups before
 * nodes within a group) while they differ by more than one; then, across nodes, moves that
 * lower the most allocated node's share (max of CPU and memory) by MIN_ALLOCATION_GAIN,
 * without making any manifest's spread less even. Global manifests never move; binpack ones
 * are not spread (they stay packed where they are). A replica moved twice in the plan is
 * moved once, to where it ends. Pure and deterministic.
 */
export function planRebalance(input: RebalanceInput): RebalancePlan {
  const nodes = new Map([...input.nodes].sort((a, b) => a.name.localeCompare(b.name)).map((n) => [n.name, n]));
  const allocated = new Map<string, Amounts>();
  for (const p of input.placements) add(allocated, p.node, p.reserved ?? DEFAULT_RESERVATION, 1);
  const share = (node: string, delta?: Amounts, sign = 0): number => {
    const cap = allocatableOf(nodes.get(node)!);
    const a = allocated.get(node) ?? { cpus: 0, memoryBytes: 0 };
    const part = (used: number, total: number) => (used <= 1e-9 ? 0 : total <= 0 ? Infinity : used / total);
    return Math.max(part(a.cpus + sign * (delta?.cpus ?? 0), cap.cpus), part(a.memoryBytes + sign * (delta?.memoryBytes ?? 0), cap.memoryBytes));
  };
  const fits = (node: string, need: Amounts): boolean => {
    const cap = allocatableOf(nodes.get(node)!);
    const a = allocated.get(node) ?? { cpus: 0, memoryBytes: 0 };
    return a.cpus + need.cpus <= cap.cpus + 1e-9 && a.memoryBytes + need.memoryBytes <= cap.memoryBytes;
  };

  const skipped: RebalancePlan['skipped'] = [];
  const spreads: Spread[] = [];
  const inFlight = new Set(input.placements.filter((p) => p.replaces !== undefined).map((p) => `${p.app}/${p.name}`));
  for (const m of [...input.manifests].sort((a, b) => a.app.localeCompare(b.app) || a.name.localeCompare(b.name))) {
    const strategy = placementOf(m.spec);
    const reason = m.spec.mode === 'global' ? 'global: one replica per node, never moved'
      : strategy.strategy === 'binpack' ? 'binpack: kept packed where it is, not spread'
      : holdsVolumes(m.spec) ? 'holds volumes on its nodes (volumeLoss: wait)'
      : inFlight.has(`${m.app}/${m.name}`) ? 'a move is in progress' : undefined;
    if (reason) {
      skipped.push({ app: m.app, name: m.name, reason });
      continue;
    }
    const eligible = [...nodes.values()].filter((n) => !input.cordoned.has(n.name) && matchesConstraints(n, m.spec.constraints)).map((n) => n.name);
    const eligibleSet = new Set(eligible);
    spreads.push({
      m,
      need: reservationOf(m.spec),
      eligible,
      ...(strategy.spreadBy !== undefined ? { spreadBy: strategy.spreadBy } : {}),
      ...(strategy.maxPerNode !== undefined ? { maxPerNode: strategy.maxPerNode } : {}),
      // Replicas on nodes it may not use are the drain's (or the placement planner's) to move.
      replicas: input.placements
        .filter((p) => p.app === m.app && p.name === m.name && eligibleSet.has(p.node))
        .map((p) => ({ app: p.app, name: p.name, replica: p.replica, node: p.node, reserved: p.reserved ?? DEFAULT_RESERVATION })),
    });
  }

  const moves = new Map<string, PlannedMove>();
  const move = (s: Spread, r: Replica, to: string) => {
    add(allocated, r.node, r.reserved, -1);
    // On its new node it reserves what its current spec asks.
    add(allocated, to, s.need, 1);
    const id = `${r.app}/${r.name}/${r.replica}`;
    const from = moves.get(id)?.from ?? r.node;
    if (from === to) moves.delete(id);
    else moves.set(id, { app: r.app, name: r.name, replica: r.replica, from, to });
    r.node = to;
    r.reserved = s.need;
  };
  const groupOf = (s: Spread, node: string) => (s.spreadBy === undefined ? '' : nodes.get(node)!.labels[s.spreadBy] ?? '');
  const countOn = (s: Spread, node: string) => s.replicas.filter((r) => r.node === node).length;
  const groupCount = (s: Spread, group: string) => s.replicas.filter((r) => groupOf(s, r.node) === group).length;
  const canTake = (s: Spread, node: string) => fits(node, s.need) && (s.maxPerNode === undefined || countOn(s, node) < s.maxPerNode);
  /** The replica to move off `node`: the highest index (a stable choice). */
  const replicaOn = (s: Spread, node: string) => s.replicas.filter((r) => r.node === node).sort((a, b) => b.replica - a.replica)[0]!;
  const limit = input.placements.length * (nodes.size + 1) + 1;

  // Phase 1: each manifest as even as it can be, across groups, then across nodes in a group.
  for (const s of spreads) {
    for (let i = 0; i < limit; i++) {
      const step = evenGroups(s) ?? evenNodes(s);
      if (!step) break;
      move(s, replicaOn(s, step.from), step.to);
    }
  }

  /** A move from the fullest group to the emptiest one that can take it, while they differ by more than one. */
  function evenGroups(s: Spread): { from: string; to: string } | undefined {
    if (s.spreadBy === undefined) return undefined;
    const groups = [...new Set(s.eligible.map((n) => groupOf(s, n)))].sort((a, b) => groupCount(s, b) - groupCount(s, a) || a.localeCompare(b));
    const from = groups[0];
    if (from === undefined) return undefined;
    for (const to of [...groups].reverse()) {
      if (groupCount(s, from) - groupCount(s, to) <= 1) return undefined;
      const target = emptiest(s, s.eligible.filter((n) => groupOf(s, n) === to));
      if (target) return { from: fullest(s, s.eligible.filter((n) => groupOf(s, n) === from))!, to: target };
    }
    return undefined;
  }

  function evenNodes(s: Spread): { from: string; to: string } | undefined {
    for (const group of new Set(s.eligible.map((n) => groupOf(s, n)))) {
      const members = s.eligible.filter((n) => groupOf(s, n) === group);
      const from = fullest(s, members);
      if (from === undefined) continue;
      const to = emptiest(s, members.filter((n) => countOn(s, from) - countOn(s, n) > 1));
      if (to) return { from, to };
    }
    return undefined;
  }

  /** Of `candidates`, the node with most of the manifest's replicas (then the most allocated, then by name). */
  function fullest(s: Spread, candidates: string[]): string | undefined {
    return candidates.filter((n) => countOn(s, n) > 0).sort((a, b) => countOn(s, b) - countOn(s, a) || share(b) - share(a) || a.localeCompare(b))[0];
  }

  /** Of `candidates`, a node that can take one more with the fewest (then the least allocated, then by name). */
  function emptiest(s: Spread, candidates: string[]): string | undefined {
    return candidates.filter((n) => canTake(s, n)).sort((a, b) => countOn(s, a) - countOn(s, b) || share(a) - share(b) || a.localeCompare(b))[0];
  }

  // Phase 2: lower the most allocated node while no manifest's spread gets less even.
  const schedulable = [...nodes.keys()].filter((n) => !input.cordoned.has(n));
  // Each replica moves at most once here: a move changes its reservation to its spec's, and must not undo itself.
  const settled = new Set<Replica>();
  for (let i = 0; i < limit; i++) {
    const top = [...schedulable].sort((a, b) => share(b) - share(a) || a.localeCompare(b))[0];
    if (top === undefined) break;
    const before = share(top);
    let best: { s: Spread; r: Replica; to: string; after: number } | undefined;
    for (const s of spreads) {
      const from = s.replicas.filter((r) => r.node === top && !settled.has(r)).sort((a, b) => b.replica - a.replica)[0];
      if (!from) continue;
      for (const to of s.eligible) {
        if (to === top || !canTake(s, to) || countOn(s, to) >= countOn(s, top)) continue;
        if (groupOf(s, to) !== groupOf(s, top) && groupCount(s, groupOf(s, to)) >= groupCount(s, groupOf(s, top))) continue;
        const after = Math.max(share(top, from.reserved, -1), share(to, s.need, 1));
        if (after <= before - MIN_ALLOCATION_GAIN && (!best || after < best.after - 1e-12)) best = { s, r: from, to, after };
      }
    }
    if (!best) break;
    move(best.s, best.r, best.to);
    settled.add(best.r);
  }

  return { moves: [...moves.values()], skipped };
}

function add(map: Map<string, Amounts>, node: string, amounts: Amounts, sign: number): void {
  const a = map.get(node) ?? { cpus: 0, memoryBytes: 0 };
  map.set(node, { cpus: a.cpus + sign * amounts.cpus, memoryBytes: a.memoryBytes + sign * amounts.memoryBytes });
}
