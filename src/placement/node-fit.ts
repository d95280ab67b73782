import type { Amounts } from '../../api/records.js';
import { DEFAULT_RESERVATION, formatCpus, formatMemory } from '../../api/reservation.js';

/**
 * Whether and how well a reservation fits on a node: pure arithmetic shared by the
 * scheduler's planner and the CLI (rebalance, `dokkaa nodes`). A node's free room is its
 * allocatable amounts less what its placements reserve.
 */

/** Per-node sums of what placements reserve, with their count (the scheduler cache keeps these). */
export interface Allocation extends Amounts {
  replicas: number;
}

/**
 * CPU sums are floats added and subtracted over many placements (0.01 at a time): allow
 * that much rounding so that a replica that exactly fills a node still fits.
 */
const EPSILON = 1e-9;

/** What a placement reserves: its `reserved`, or the default for one written before reservations. */
export function reservedOf(p: { reserved?: Amounts | undefined }): Amounts {
  return p.reserved ?? DEFAULT_RESERVATION;
}

export function freeOf(allocatable: Amounts, allocated: Amounts | undefined): Amounts {
  return { cpus: allocatable.cpus - (allocated?.cpus ?? 0), memoryBytes: allocatable.memoryBytes - (allocated?.memoryBytes ?? 0) };
}

export function fits(free: Amounts, need: Amounts): boolean {
  return need.cpus <= free.cpus + EPSILON && need.memoryBytes <= free.memoryBytes + EPSILON;
}

/**
 * How full a node would be with `need` added to `allocated`: the larger of its CPU and
 * memory shares, so that a node full on either counts as full. A dimension the node has
 * none of counts as empty (a replica needing it does not fit there anyway).
 */
export function shareAfter(allocatable: Amounts, allocated: Amounts, need: Amounts): number {
  const cpu = allocatable.cpus > 0 ? (allocated.cpus + need.cpus) / allocatable.cpus : 0;
  const mem = allocatable.memoryBytes > 0 ? (allocated.memoryBytes + need.memoryBytes) / allocatable.memoryBytes : 0;
  return cpu > mem ? cpu : mem;
}

/** What `free` lacks for `need`, in words (`insufficient memory: needs 2Gi, free 1Gi`), or undefined if it fits. */
export function shortfall(free: Amounts, need: Amounts): string | undefined {
  if (need.memoryBytes > free.memoryBytes + EPSILON) return `insufficient memory: needs ${formatMemory(need.memoryBytes)}, free ${formatMemory(Math.max(0, free.memoryBytes))}`;
  if (need.cpus > free.cpus + EPSILON) return `insufficient cpu: needs ${formatCpus(need.cpus)}, free ${formatCpus(Math.max(0, free.cpus))}`;
  return undefined;
}

/** A node as a strategy compares it for the next replica of one manifest (within one spreadBy group). */
export interface Candidate {
  name: string;
  /** This manifest's replicas on the node. */
  mine: number;
  /** shareAfter(...) with the replica placed. */
  share: number;
}

/**
 * Whether `a` is a better node than `b` for the next replica (the planner first picks the
 * spreadBy group with the fewest of the manifest's replicas). `spread`: fewest of this
 * manifest's replicas on the node, then the least allocated; `binpack`: the most allocated
 * (best fit). Then the name, so that plans are deterministic.
 */
export function better(strategy: 'spread' | 'binpack', a: Candidate, b: Candidate): boolean {
  if (strategy === 'spread') {
    if (a.mine !== b.mine) return a.mine < b.mine;
    if (a.share !== b.share) return a.share < b.share;
  } else if (a.share !== b.share) {
    return a.share > b.share;
  }
  return a.name < b.name;
}
