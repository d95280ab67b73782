import type { UpdateSpec } from '../../api/lifecycle.js';
import type { ReplicaRecord } from '../../api/records.js';
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
}

export interface RolloutDecision {
  /** Placements to switch to the target spec now. */
  toUpdate: Placed[];
  /** Set when a new replica crashed or missed its deadline: the rollout stops here. */
  stalled?: { replica: number; reason: string };
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
  return { ...base, toUpdate: order.slice(0, budget), done: false, ...(waitMs !== undefined ? { waitMs } : {}) };

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

function isReady(r: ReplicaRecord | undefined): boolean {
  return !!r && r.state === 'running' && r.ready;
}
