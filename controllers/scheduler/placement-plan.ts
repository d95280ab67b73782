import { indicesFor, standingIndices } from '../../src/placement/replica-indices.js';
import { matchesConstraints } from '../../api/constraints.js';
import type { Amounts, NodeRecord } from '../../api/records.js';
import { allocatableOf, formatMemory, formatCpus } from '../../api/reservation.js';
import { waitingForVolumes } from '../../api/volumes.js';
import { better, fits, freeOf, reservedOf, shareAfter, shortfall, type Candidate } from '../../src/placement/node-fit.js';

/** A replica as placed: which index on which node, the spec hash it carries, what it reserves. */
export interface Placed {
  replica: number;
  node: string;
  templateHash: string;
  /** Absent: the default reservation (a placement from before reservations). */
  reserved?: Amounts;
  /** A move's replacement of replica `replaces` (a surge): not counted towards scale while that replica is placed. */
  replaces?: number;
}

export interface PlanInput {
  /** Replicas wanted (replicated mode): how many; which indices, see planReplicated. */
  scale: number;
  /** One replica on every live, matching, non-cordoned node that fits; `scale` is ignored. */
  global?: boolean;
  templateHash: string;
  constraints: Record<string, string>;
  strategy?: 'spread' | 'binpack';
  /** A node label whose values this manifest's replicas are evened across first. */
  spreadBy?: string;
  maxPerNode?: number;
  /** What one replica reserves (api/reservation.ts reservationOf). */
  need: Amounts;
  /** This manifest's current placements. */
  placed: Placed[];
  liveNodes: NodeRecord[];
  /** Reserved per node across all manifests, this one's current placements included. */
  allocated: ReadonlyMap<string, Amounts>;
  /** Nodes that take no new placements (maintenance/<node> cordoned). */
  cordoned?: ReadonlySet<string>;
  /**
   * Replica index -> the node that holds its volumes (replicated manifests with named
   * volumes): a replica to place goes there, or waits for it, unless `volumeLoss` is
   * `reschedule`, when it goes wherever placement picks (`volumesLost` says so).
   */
  volumeHolders?: ReadonlyMap<number, string>;
  volumeLoss?: 'wait' | 'reschedule';
}

export interface Plan {
  /** Replica index -> node for new placements. */
  add: { replica: number; node: string }[];
  /** Placements to delete (scale-down, dead or no longer eligible node, duplicates). */
  remove: Placed[];
  /** Placements kept on their node whose spec must be updated. */
  update: Placed[];
  /** Replica indices that fit on no node (or stay stranded on a dead one), with a reason a user can act on. */
  unschedulable: { replica: number; reason: string }[];
  /** Replicas placed (in `add`) away from the node holding their volumes (volumeLoss reschedule): they start empty. */
  volumesLost?: { replica: number; holder: string; node: string }[];
}

/** Nodes without the spreadBy label form one group of their own (a replica is better placed than not). */
const UNLABELLED = '\u0000unlabelled';

/**
 * Decides where one manifest's replicas run. Pure: the reconciler reads etcd and writes the
 * plan. A replica goes only where its reservation fits (CPU and memory) on a live, matching,
 * non-cordoned node under maxPerNode; among those the strategy picks (src/placement/node-fit.ts
 * `better`). Existing placements on live, eligible nodes stay where they are (a joining host
 * moves nothing). One linear scan of the eligible nodes per replica: thousands of nodes cost
 * microseconds, and every rule (groups, caps, fit) stays a plain comparison.
 */
export function planPlacements(input: PlanInput): Plan {
  return input.global ? planGlobal(input) : planReplicated(input);
}

function eligibleNodes(input: PlanInput): NodeRecord[] {
  return Object.keys(input.constraints).length === 0 ? input.liveNodes : input.liveNodes.filter((n) => matchesConstraints(n, input.constraints));
}

/** A node's state while one plan places on it. */
interface NodeState extends Candidate {
  allocatable: Amounts;
  allocated: Amounts;
  group: string;
  cordoned: boolean;
}

function nodeStates(eligible: NodeRecord[], input: PlanInput): Map<string, NodeState> {
  const states = new Map<string, NodeState>();
  for (const n of eligible) {
    const a = input.allocated.get(n.name);
    states.set(n.name, {
      name: n.name,
      mine: 0,
      share: 0,
      allocatable: allocatableOf(n),
      allocated: { cpus: a?.cpus ?? 0, memoryBytes: a?.memoryBytes ?? 0 },
      group: input.spreadBy === undefined ? '' : n.labels[input.spreadBy] ?? UNLABELLED,
      cordoned: input.cordoned?.has(n.name) ?? false,
    });
  }
  return states;
}

function release(s: NodeState | undefined, p: Placed): void {
  if (!s) return;
  const r = reservedOf(p);
  s.allocated.cpus -= r.cpus;
  s.allocated.memoryBytes -= r.memoryBytes;
}

function reserve(s: NodeState, need: Amounts): void {
  s.allocated.cpus += need.cpus;
  s.allocated.memoryBytes += need.memoryBytes;
  s.mine++;
}

function planReplicated(input: PlanInput): Plan {
  const plan: Plan = { add: [], remove: [], update: [], unschedulable: [] };
  const eligible = eligibleNodes(input);
  const states = nodeStates(eligible, input);
  // Sorted so that, of two placements of one index, the same one is always kept.
  const sorted = [...input.placed].sort((a, b) => a.replica - b.replica || (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));

  // Wanted indices, by count: the lowest `scale` indices placed now, then the lowest free
  // ones. Indices need not be 0..scale-1: a finished move leaves its replacement at the
  // index it was given ({0, 2, 3} at scale 3), and that must stay where it is. A surge
  // (a move's replacement whose replica is still placed) counts for nothing; one whose
  // replica is gone stands in for it, as an ordinary placement at its own index.
  const standing = standingIndices(sorted);
  const isSurge = (p: Placed) => p.replaces !== undefined && standing.surges.has(p.replica);
  const wantedSet = indicesFor(standing, input.scale);
  const wanted = (i: number) => wantedSet.has(i);

  const kept = new Map<number, Placed>();
  const surgeFor = new Map<number, Placed>();
  const stranded: Placed[] = [];
  const drop = (p: Placed) => {
    plan.remove.push(p);
    release(states.get(p.node), p);
  };
  // Surges first (they sort anywhere): a move's replacement stays while the replica it
  // replaces is wanted and its node can hold it; the mover finishes or abandons it.
  for (const p of sorted) {
    if (!isSurge(p)) continue;
    if (!wanted(p.replaces!) || !states.has(p.node) || surgeFor.has(p.replaces!)) drop(p);
    else surgeFor.set(p.replaces!, p);
  }
  // Then what stays where it is. A replica on a dead or ineligible node only moves if
  // another node can take it (below); with nowhere to go it stays, so a lone host that
  // comes back keeps its containers instead of having them replaced.
  for (const p of sorted) {
    if (isSurge(p)) continue;
    const want = wanted(p.replica) && !kept.has(p.replica);
    if (!want) drop(p);
    else if (!states.has(p.node)) stranded.push(p);
    else {
      kept.set(p.replica, p);
      if (p.templateHash !== input.templateHash) plan.update.push(p);
    }
  }
  for (const p of [...kept.values(), ...surgeFor.values()]) states.get(p.node)!.mine++;

  // Indices to place, ascending: missing ones and stranded ones.
  const strandedAt = new Map<number, Placed>();
  for (const p of stranded) {
    if (kept.has(p.replica) || strandedAt.has(p.replica)) plan.remove.push(p); // a duplicate of one kept elsewhere
    else strandedAt.set(p.replica, p);
  }
  const toPlace: number[] = [];
  for (const i of [...wantedSet].sort((a, b) => a - b)) if (!kept.has(i) && !surgeFor.has(i)) toPlace.push(i);

  // Replicas whose volumes are on a node go back there first (before the picker ranks nodes).
  const lostFrom = new Map<number, string>();
  const free = toPlace.filter((replica) => {
    const holder = input.volumeHolders?.get(replica);
    if (holder === undefined) return true;
    const s = states.get(holder);
    const old = strandedAt.get(replica);
    if (s && usable(s, input)) {
      if (old && old.node !== holder) plan.remove.push(old);
      plan.add.push({ replica, node: holder });
      reserve(s, input.need);
      return false;
    }
    if (input.volumeLoss === 'reschedule') {
      lostFrom.set(replica, holder);
      return true;
    }
    plan.unschedulable.push({ replica, reason: holderReason(holder, s, input) });
    if (old && old.templateHash !== input.templateHash) plan.update.push(old);
    return false;
  });

  const nodes = [...states.values()];
  const picker = new Picker(nodes, input);
  let reason: string | undefined;
  for (const replica of free) {
    const best = reason === undefined ? picker.pick() : undefined;
    const old = strandedAt.get(replica);
    if (!best) {
      // Nothing fits now, so nothing fits for the rest either: one reason for all of them.
      reason ??= unschedulableReason(input, eligible.length, nodes);
      plan.unschedulable.push({ replica, reason });
      if (old && old.templateHash !== input.templateHash) plan.update.push(old);
      continue;
    }
    if (old) plan.remove.push(old);
    plan.add.push({ replica, node: best.name });
    const holder = lostFrom.get(replica);
    if (holder !== undefined && holder !== best.name) (plan.volumesLost ??= []).push({ replica, holder, node: best.name });
    picker.placed(best);
  }
  return plan;
}

/** Whether `s` can take one more replica of this manifest now: not cordoned, under maxPerNode, room for its reservation. */
function usable(s: NodeState, input: PlanInput): boolean {
  return !s.cordoned && s.mine < (input.maxPerNode ?? Infinity) && fits(freeOf(s.allocatable, s.allocated), input.need);
}

/** Why a replica waits for the node holding its volumes (`s`: that node's state, if live and eligible). */
function holderReason(holder: string, s: NodeState | undefined, input: PlanInput): string {
  if (!input.liveNodes.some((n) => n.name === holder)) return waitingForVolumes(holder);
  const why = !s ? `it does not match constraints ${JSON.stringify(input.constraints)}`
    : s.cordoned ? 'it is cordoned'
    : s.mine >= (input.maxPerNode ?? Infinity) ? `maxPerNode ${input.maxPerNode} reached there`
    : shortfall(freeOf(s.allocatable, s.allocated), input.need) ?? 'it cannot take it';
  return `${waitingForVolumes(holder)} (${why})`;
}

/**
 * Picks nodes for one manifest's replicas, the best under the strategy first. Within a plan
 * every replica needs the same, free room only shrinks and a node's count only grows, so a
 * node that cannot take a replica (cordoned, at maxPerNode, full) never can again, and only
 * the chosen node's rank changes: one binary heap of nodes per spreadBy group (one group
 * without spreadBy) makes each pick O(groups + log nodes) instead of a scan of every node.
 */
class Picker {
  private readonly groups: { count: number; heap: Heap<NodeState> }[];
  private readonly byName = new Map<string, { count: number; heap: Heap<NodeState> }>();
  private readonly strategy: 'spread' | 'binpack';

  constructor(nodes: NodeState[], private readonly input: PlanInput) {
    this.strategy = input.strategy ?? 'spread';
    const grouped = new Map<string, NodeState[]>();
    const counts = new Map<string, number>();
    for (const s of nodes) {
      counts.set(s.group, (counts.get(s.group) ?? 0) + s.mine);
      if (!this.usable(s)) continue;
      s.share = shareAfter(s.allocatable, s.allocated, input.need);
      const g = grouped.get(s.group);
      if (g) g.push(s);
      else grouped.set(s.group, [s]);
    }
    this.groups = [...grouped].map(([name, members]) => {
      const group = { count: counts.get(name)!, heap: new Heap(members, (a, b) => better(this.strategy, a, b)) };
      this.byName.set(name, group);
      return group;
    });
  }

  /** The node for the next replica, or undefined if none can take it. */
  pick(): NodeState | undefined {
    let best: { count: number; heap: Heap<NodeState> } | undefined;
    for (const g of this.groups) {
      while (g.heap.size > 0 && !this.usable(g.heap.top())) g.heap.pop();
      if (g.heap.size === 0) continue;
      if (!best || g.count < best.count || (g.count === best.count && better(this.strategy, g.heap.top(), best.heap.top()))) best = g;
    }
    return best?.heap.top();
  }

  /** `s`, the top of its group, took a replica. */
  placed(s: NodeState): void {
    reserve(s, this.input.need);
    s.share = shareAfter(s.allocatable, s.allocated, this.input.need);
    const g = this.byName.get(s.group)!;
    g.count++;
    g.heap.topChanged();
  }

  private usable(s: NodeState): boolean {
    return usable(s, this.input);
  }
}

/** A binary heap under `first`: the item to take is at the top. */
class Heap<T> {
  constructor(private readonly items: T[], private readonly first: (a: T, b: T) => boolean) {
    for (let i = (items.length >> 1) - 1; i >= 0; i--) this.down(i);
  }

  get size(): number {
    return this.items.length;
  }

  top(): T {
    return this.items[0]!;
  }

  pop(): void {
    const last = this.items.pop()!;
    if (this.items.length === 0) return;
    this.items[0] = last;
    this.down(0);
  }

  /** The top's rank changed: restore the order. */
  topChanged(): void {
    this.down(0);
  }

  private down(i: number): void {
    const a = this.items;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < a.length && this.first(a[l]!, a[m]!)) m = l;
      if (r < a.length && this.first(a[r]!, a[m]!)) m = r;
      if (m === i) return;
      [a[i], a[m]] = [a[m]!, a[i]!];
      i = m;
    }
  }
}

/**
 * Why no node takes a replica, naming what to change: the constraints, cordoned nodes,
 * maxPerNode, or the resource short everywhere with the most any node has free.
 */
export function unschedulableReason(input: Pick<PlanInput, 'liveNodes' | 'constraints' | 'need' | 'maxPerNode'>, matching: number, nodes: NodeState[]): string {
  if (input.liveNodes.length === 0) return 'no live nodes';
  if (matching === 0) return `no live node matches constraints ${JSON.stringify(input.constraints)}`;
  const max = input.maxPerNode ?? Infinity;
  const cordoned = nodes.filter((s) => s.cordoned).length;
  const open = nodes.filter((s) => !s.cordoned && s.mine < max);
  const atMax = nodes.length - cordoned - open.length;
  if (cordoned === nodes.length) return `all ${plural(nodes.length, 'matching node')} ${nodes.length === 1 ? 'is' : 'are'} cordoned`;
  const others = [...(cordoned ? [`${cordoned} cordoned`] : []), ...(atMax ? [`${atMax} at maxPerNode ${max}`] : [])];
  const also = others.length ? ` (other matching nodes: ${others.join(', ')})` : '';
  if (open.length === 0) return `maxPerNode ${max} reached on all ${plural(nodes.length - cordoned, 'matching node')}${cordoned ? ` (${cordoned} more cordoned)` : ''}`;
  const mostMemory = open.reduce((a, s) => (freeOf(s.allocatable, s.allocated).memoryBytes > freeOf(a.allocatable, a.allocated).memoryBytes ? s : a));
  const mostCpus = open.reduce((a, s) => (freeOf(s.allocatable, s.allocated).cpus > freeOf(a.allocatable, a.allocated).cpus ? s : a));
  const freeMemory = Math.max(0, freeOf(mostMemory.allocatable, mostMemory.allocated).memoryBytes);
  const freeCpus = Math.max(0, freeOf(mostCpus.allocatable, mostCpus.allocated).cpus);
  if (input.need.memoryBytes > freeMemory) {
    return `insufficient memory: needs ${formatMemory(input.need.memoryBytes)}, most free on any matching node ${formatMemory(freeMemory)} (${mostMemory.name})${also}`;
  }
  if (input.need.cpus > freeCpus) return `insufficient cpu: needs ${formatCpus(input.need.cpus)}, most free on any matching node ${formatCpus(freeCpus)} (${mostCpus.name})${also}`;
  return `insufficient cpu and memory together: needs ${formatCpus(input.need.cpus)} cpu and ${formatMemory(input.need.memoryBytes)}, no matching node has both free${also}`;
}

function plural(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}

/**
 * Global mode: one replica per live, matching node. Existing replicas keep their node and
 * index; a node without one gets the lowest free index if it is not cordoned and the
 * reservation fits (else it is reported, under the index it would take); a replica whose
 * node left or stopped matching is removed, not moved.
 */
function planGlobal(input: PlanInput): Plan {
  const plan: Plan = { add: [], remove: [], update: [], unschedulable: [] };
  const eligible = eligibleNodes(input);
  const states = nodeStates(eligible, input);
  const sorted = [...input.placed].sort((a, b) => a.replica - b.replica || (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
  const used = new Set<number>();
  const hasOne = new Set<string>();
  for (const p of sorted) {
    if (p.replaces !== undefined) {
      // A move's replacement on a node that can hold it stays (its index stays taken).
      if (states.has(p.node) && !used.has(p.replica)) used.add(p.replica);
      else plan.remove.push(p);
      continue;
    }
    if (!states.has(p.node) || hasOne.has(p.node) || used.has(p.replica)) {
      plan.remove.push(p);
      release(states.get(p.node), p);
      continue;
    }
    used.add(p.replica);
    hasOne.add(p.node);
    if (p.templateHash !== input.templateHash) plan.update.push(p);
  }
  let next = 0;
  const freeIndex = () => {
    while (used.has(next)) next++;
    used.add(next);
    return next;
  };
  const open = eligible.filter((n) => !hasOne.has(n.name) && !states.get(n.name)!.cordoned).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const n of open) {
    const s = states.get(n.name)!;
    const short = shortfall(freeOf(s.allocatable, s.allocated), input.need);
    const replica = freeIndex();
    if (short) plan.unschedulable.push({ replica, reason: `${n.name}: ${short}` });
    else {
      plan.add.push({ replica, node: n.name });
      reserve(s, input.need);
    }
  }
  return plan;
}
