import type { UpdateSpec } from '../../api/lifecycle.js';
import type { Amounts, ReplicaRecord } from '../../api/records.js';
import { reservedOf, shortfall } from '../../src/placement/node-fit.js';
import type { Placed } from './placement-plan.js';

export interface RolloutInput {
  targetHash: string;
  update: UpdateSpec;
  /** Placements that stay where they are (the placement plan's kept ones), with their hash. */
  kept: (Placed & { updatedAt?: number })[];
  /** This manifest's replica records, by replica index (only those from the placed node). */
  replicas: Map<number, ReplicaRecord>;
  now: number;
  /** When the scheduler first saw replica `i` ready at the target hash, if it has. */
  readySince: (replica: number) => number | undefined;
  /** How long a new replica must stay ready before the next one is replaced. */
  monitorMs: number;
  /**
   * What the target spec reserves and the room on each node now: a replica is switched only
   * if the new reservation fits on its node with its old one released. Absent: no check.
   */
  resize?: { need: Amounts; free: (node: string) => Amounts };
}

export interface RolloutDecision {
  /** Placements to switch to the target spec now. */
  toUpdate: Placed[];
  /** Set when a new replica crashed or missed its deadline, or every replica left to switch cannot be resized: the rollout stops here. */
  stalled?: { replica: number; reason: string };
  /** Outdated replicas whose new reservation does not fit on their node: they keep running the old spec. */
  blocked?: { replica: number; reason: string }[];
  /** Reconcile again after this long (monitor period or delay still running). */
  waitMs?: number;
  updated: number;
  ready: number;
  total: number;
  done: boolean;
}

/**
 * A rolling update, one step. Pure. At most `parallelism` replicas are between "switched
 * to the new spec" and "ready for the monitor period"; the next batch waits `delay` after
 * the last one finished. A switched replica that crashes, or is not ready by its deadline,
 * stalls the rollout: nothing more is switched, the rest keep the old spec.
 */
export function planRollout(input: RolloutInput): RolloutDecision {
  const { targetHash, update, kept, replicas, now } = input;
  const outdated = kept.filter((p) => p.templateHash !== targetHash);
  const switched = kept.filter((p) => p.templateHash === targetHash);
  let ready = 0;
  let lastDoneAt = 0;
  let waitMs: number | undefined;
  const inFlight: Placed[] = [];
  for (const p of switched) {
    const r = replicas.get(p.replica);
    const atTarget = r && r.templateHash === targetHash && r.node === p.node;
    // A crash stalls a rollout only while old replicas remain to protect; on a first
    // deployment, or once all are switched, it is just a crash (status shows it).
    if (outdated.length > 0 && atTarget && hasCrashed(r)) return stalled(p.replica, crashReason(p, r));
    const since = atTarget && r.state === 'running' && r.ready ? input.readySince(p.replica) : undefined;
    if (since !== undefined && now - since >= input.monitorMs) {
      ready++;
      lastDoneAt = Math.max(lastDoneAt, since + input.monitorMs);
      continue;
    }
    if (since !== undefined) waitMs = Math.min(waitMs ?? Infinity, since + input.monitorMs - now);
    if (outdated.length > 0 && p.updatedAt !== undefined && now - p.updatedAt > update.deadlineMs) {
      return stalled(p.replica, `replica ${p.replica} on ${p.node} not ready within ${update.deadlineMs / 1000} s`);
    }
    inFlight.push(p);
  }
  const base = { updated: switched.length, ready, total: kept.length };
  if (outdated.length === 0) return { ...base, toUpdate: [], done: inFlight.length === 0, ...(waitMs !== undefined ? { waitMs } : {}) };

  const budget = update.parallelism - inFlight.length;
  if (budget <= 0) return { ...base, toUpdate: [], done: false, ...(waitMs !== undefined ? { waitMs } : {}) };
  if (inFlight.length === 0 && lastDoneAt + update.delayMs > now) {
    return { ...base, toUpdate: [], done: false, waitMs: lastDoneAt + update.delayMs - now };
  }
  // Replicas that serve nothing anyway go first.
  const order = [...outdated].sort((a, b) => Number(isReady(replicas.get(a.replica))) - Number(isReady(replicas.get(b.replica))) || a.replica - b.replica);
  const { toUpdate, blocked } = input.resize ? resizable(order, budget, input.resize) : { toUpdate: order.slice(0, budget), blocked: [] };
  const more = blocked.length ? { blocked } : {};
  if (toUpdate.length === 0 && inFlight.length === 0 && blocked.length) {
    const others = blocked.length > 1 ? ` (and ${blocked.length - 1} more)` : '';
    return { ...stalled(blocked[0]!.replica, `${blocked[0]!.reason}${others}`), ...more };
  }
  return { ...base, toUpdate, done: false, ...more, ...(waitMs !== undefined ? { waitMs } : {}) };

  function stalled(replica: number, reason: string): RolloutDecision {
    return { toUpdate: [], stalled: { replica, reason }, updated: switched.length, ready, total: kept.length, done: false };
  }
}

/** A new replica that crashed (or is backing off, or failed to start): what stops a rollout or a move. */
export function hasCrashed(r: ReplicaRecord): boolean {
  return r.state === 'CrashLoopBackOff' || r.state === 'OOMKilled' || r.state === 'failed' || (r.state === 'exited' && r.crashes > 0) || (r.crashes > 0 && !r.ready);
}

/** `replica 2 on n1 CrashLoopBackOff (exit code 1): ...`. */
export function crashReason(p: { replica: number; node: string }, r: ReplicaRecord): string {
  return `replica ${p.replica} on ${p.node} ${r.state}${r.exitCode !== undefined ? ` (exit code ${r.exitCode})` : ''}${r.message ? `: ${r.message}` : ''}`;
}

/**
 * Up to `budget` of `order` whose new reservation fits on their node (their old one
 * released, the room taken by those switched before them counted), and the ones that do not.
 */
function resizable(order: Placed[], budget: number, resize: NonNullable<RolloutInput['resize']>): { toUpdate: Placed[]; blocked: { replica: number; reason: string }[] } {
  const toUpdate: Placed[] = [];
  const blocked: { replica: number; reason: string }[] = [];
  const taken = new Map<string, Amounts>();
  for (const p of order) {
    const old = reservedOf(p);
    const free = resize.free(p.node);
    const used = taken.get(p.node) ?? { cpus: 0, memoryBytes: 0 };
    const room = { cpus: free.cpus - used.cpus + old.cpus, memoryBytes: free.memoryBytes - used.memoryBytes + old.memoryBytes };
    const short = shortfall(room, resize.need);
    if (short) {
      blocked.push({ replica: p.replica, reason: `replica ${p.replica} on ${p.node} cannot be resized: ${short}` });
    } else if (toUpdate.length < budget) {
      toUpdate.push(p);
      taken.set(p.node, { cpus: used.cpus + resize.need.cpus - old.cpus, memoryBytes: used.memoryBytes + resize.need.memoryBytes - old.memoryBytes });
    }
  }
  return { toUpdate, blocked };
}

function isReady(r: ReplicaRecord | undefined): boolean {
  return !!r && r.state === 'running' && r.ready;
}
