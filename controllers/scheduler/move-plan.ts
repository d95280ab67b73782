import type { UpdateSpec } from '../../api/lifecycle.js';
import type { MoveRequest, ReplicaRecord } from '../../api/records.js';
import { crashReason, hasCrashed } from './rollout-plan.js';

/** After a drain move was abandoned, how long before the manifest's next move starts: a bad spec must not churn. */
export const MOVE_RETRY_MS = 30_000;

/** One placement of the manifest, as the scheduler's cache has it. */
export interface MovePlacement {
  replica: number;
  node: string;
  templateHash: string;
  /** When the scheduler wrote its spec: a replacement's deadline runs from here. */
  updatedAt?: number;
  /** Set on a replacement: the index of the replica it replaces. */
  replaces?: number;
}

/** The placement planner's choice of a node for one replica: a node, or why there is none. */
export type TargetChoice = { node: string } | { unschedulable: string };

export interface MoveInput {
  /** Every placement of the manifest, replacements included. */
  placements: MovePlacement[];
  /** `node-replicas/<node>/<app>/<name>/<i>` by index, that of the placed node where two hosts report one (the plan checks the node). */
  replicas: ReadonlyMap<number, ReplicaRecord>;
  now: number;
  /** The manifest's update policy: a replacement not ready within `deadlineMs` is abandoned. */
  update: UpdateSpec;
  /** How long a replacement must stay ready before the old replica goes (rollout-tracker's MONITOR_MS). */
  monitorMs: number;
  /** When the scheduler first saw replica `i` running and ready at its placement's hash, if it has. */
  readySince: (replica: number) => number | undefined;
  /** The manifest's mode is `global`: its replicas are never moved; on a node drained with includeGlobal they are removed. */
  global: boolean;
  /** Nodes being drained (maintenance/<node> with `draining`), with their includeGlobal flag. */
  draining: ReadonlyMap<string, { includeGlobal: boolean }>;
  /** The manifest's MovesRecord requests (empty without one). */
  requests: readonly MoveRequest[];
  /** Where the placement planner would put replica `replica` now, never on `excludeNode` (nor any cordoned node). */
  pickTarget: (replica: number, excludeNode: string) => TargetChoice;
  /** Why `node` cannot take one more replica of this manifest now (gone, cordoned, constraints, room, maxPerNode); undefined if it can. */
  checkTarget: (node: string) => string | undefined;
  /** When a move of this manifest was last abandoned (kept in memory by the caller), if ever. */
  lastAbandonedAt?: number;
  /**
   * Its replicas hold named volumes on their nodes and must wait for them (volumeLoss
   * `wait`): none is moved; a drain is blocked, a request dropped, each saying so.
   */
  holdsVolumes?: boolean;
}

/** A move: replica `replica` on `from` replaced by `newReplica` on `to`. */
export interface Move {
  replica: number;
  from: string;
  newReplica: number;
  to: string;
}

/** A move whose old replica may be gone already (`from` undefined). */
type MoveOf = Omit<Move, 'from'> & { from: string | undefined };

export type MoveStep =
  /** Put placement `newReplica` on `to` with `replaces: replica` and the manifest's current spec. Event `Moving`. */
  | ({ kind: 'start'; cause: 'drain' | 'request' } & Move)
  /**
   * In one transaction: delete placement `replica` on `from` (nothing when `from` is
   * undefined: the old one is gone already) and rewrite placement `newReplica` on `to`
   * without `replaces`, its spec unchanged (so its container is not restarted). Event `Moved`.
   */
  | ({ kind: 'finish' } & MoveOf)
  /** Delete placement `newReplica` on `to`; the old replica stays. Event `MoveFailed` (warning) with `reason`. */
  | ({ kind: 'abandon'; reason: string } & MoveOf)
  /** A global replica on a node drained with includeGlobal: delete its placement (nothing replaces it). */
  | { kind: 'evict'; replica: number; node: string }
  /** A move is in flight, or a retry waits: reconcile again after `ms`. */
  | { kind: 'wait'; ms: number }
  /** A replica must move and no node can take it; `reason` is the planner's. Try again when nodes change. */
  | { kind: 'blocked'; replica: number; from: string; reason: string }
  | { kind: 'idle' };

/** What became of a request: `moved` (its move finishes with this step) or `dropped`, with the reason. */
export interface SettledRequest {
  request: MoveRequest;
  outcome: 'moved' | 'dropped';
  reason?: string;
}

export interface MoveDecision {
  step: MoveStep;
  /** Requests this step settles, or found stale; empty when the MovesRecord needs no change. */
  settled: SettledRequest[];
  /** The requests still to do: when `settled` is not empty, write the MovesRecord with these, or delete it if none. */
  remaining: MoveRequest[];
}

/**
 * One step of one manifest's moves (drain and rebalance), start-first: a replacement is
 * placed at a fresh index on the target; once it has been ready for the monitor period the
 * old placement goes and the replacement becomes an ordinary replica. At most one move is
 * in flight per manifest; drain moves come before requested ones. Pure.
 */
export function planMoves(input: MoveInput): MoveDecision {
  const replacements = input.placements.filter((p) => p.replaces !== undefined).sort((a, b) => a.replica - b.replica);
  const originals = input.placements.filter((p) => p.replaces === undefined).sort((a, b) => a.replica - b.replica || a.node.localeCompare(b.node));
  if (replacements.length > 0) return inFlight(input, replacements, originals);

  const settled: SettledRequest[] = [];
  const remaining: MoveRequest[] = [];
  for (const r of input.requests) {
    const why = staleRequest(input, originals, r);
    if (why) settled.push({ request: r, outcome: 'dropped', reason: why });
    else remaining.push(r);
  }
  // A request whose move starts (or is blocked) stays until that move finishes.
  return { step: nextMove(input, originals, remaining), settled, remaining };
}

/** The move in flight: finish, abandon or wait; the request it serves is settled when it ends. */
function inFlight(input: MoveInput, replacements: MovePlacement[], originals: MovePlacement[]): MoveDecision {
  const originalOf = (replica: number) => originals.find((p) => p.replica === replica);
  const abandon = (p: MovePlacement, reason: string): MoveStep => ({ kind: 'abandon', replica: p.replaces!, from: originalOf(p.replaces!)?.node, newReplica: p.replica, to: p.node, reason });
  const first = replacements[0]!;
  // Two in flight (a failover mid-write): keep the first, abandon the others one by one.
  const step = replacements.length > 1 ? abandon(replacements[replacements.length - 1]!, 'another move of this manifest is in flight') : judge();

  function judge(): MoveStep {
    const p = first;
    const old = originalOf(p.replaces!);
    const finish: MoveStep = { kind: 'finish', replica: p.replaces!, from: old?.node, newReplica: p.replica, to: p.node };
    const r = input.replicas.get(p.replica);
    const here = r && r.node === p.node && r.templateHash === p.templateHash ? r : undefined;
    const since = here && here.state === 'running' && here.ready ? input.readySince(p.replica) ?? input.now : undefined;
    // With the old one gone there is nothing left to protect: the replacement is an ordinary replica now.
    if (!old || (since !== undefined && input.now - since >= input.monitorMs)) return finish;
    if (input.draining.has(p.node)) return abandon(p, `target ${p.node} is being drained`);
    if (here && hasCrashed(here)) return abandon(p, crashReason(p, here));
    if (since !== undefined) return { kind: 'wait', ms: since + input.monitorMs - input.now };
    const startedAt = p.updatedAt ?? input.now;
    if (input.now - startedAt > input.update.deadlineMs) return abandon(p, `replica ${p.replica} on ${p.node} not ready within ${input.update.deadlineMs / 1000} s`);
    return { kind: 'wait', ms: startedAt + input.update.deadlineMs - input.now + 1 };
  }

  const settled: SettledRequest[] = [];
  const ended = step.kind === 'finish' || step.kind === 'abandon' ? step : undefined;
  const remaining = input.requests.filter((r) => {
    const served = ended !== undefined && r.replica === ended.replica && r.from === ended.from;
    if (served) settled.push(ended.kind === 'finish' ? { request: r, outcome: 'moved' } : { request: r, outcome: 'dropped', reason: `move failed: ${ended.reason}` });
    return !served;
  });
  return { step, settled, remaining };
}

/** Why a request can no longer be done as asked, if so. */
function staleRequest(input: MoveInput, originals: MovePlacement[], r: MoveRequest): string | undefined {
  if (input.global) return 'global replicas do not move';
  if (!originals.some((p) => p.replica === r.replica && p.node === r.from)) return `replica ${r.replica} is no longer on ${r.from}`;
  if (input.holdsVolumes) return volumesHeld(r.replica, r.from);
  if (r.to === r.from) return `replica ${r.replica} is on ${r.from} already`;
  // From a draining node the drain moves it, wherever placement picks.
  if (r.to !== undefined && !input.draining.has(r.from)) {
    const why = input.checkTarget(r.to);
    if (why) return `${r.to} cannot take it: ${why}`;
  }
  return undefined;
}

/** With nothing in flight: the next move to start (drained replicas first, then requests), or why none can. */
function nextMove(input: MoveInput, originals: MovePlacement[], requests: MoveRequest[]): MoveStep {
  const drained = originals.filter((p) => input.draining.has(p.node));
  if (input.global) {
    const evict = drained.find((p) => input.draining.get(p.node)!.includeGlobal);
    return evict ? { kind: 'evict', replica: evict.replica, node: evict.node } : { kind: 'idle' };
  }
  const wanted: { p: MovePlacement; to?: string; cause: 'drain' | 'request' }[] = [
    ...drained.map((p) => ({ p, cause: 'drain' as const })),
    ...requests
      .filter((r) => !input.draining.has(r.from))
      .map((r) => ({ p: originals.find((p) => p.replica === r.replica && p.node === r.from)!, ...(r.to !== undefined ? { to: r.to } : {}), cause: 'request' as const })),
  ];
  if (wanted.length === 0) return { kind: 'idle' };
  if (input.holdsVolumes) return { kind: 'blocked', replica: wanted[0]!.p.replica, from: wanted[0]!.p.node, reason: volumesHeld(wanted[0]!.p.replica, wanted[0]!.p.node) };
  if (input.lastAbandonedAt !== undefined && input.now < input.lastAbandonedAt + MOVE_RETRY_MS) {
    return { kind: 'wait', ms: input.lastAbandonedAt + MOVE_RETRY_MS - input.now };
  }
  let blocked: MoveStep | undefined;
  for (const w of wanted) {
    const choice: TargetChoice = w.to !== undefined ? { node: w.to } : input.pickTarget(w.p.replica, w.p.node);
    if ('node' in choice && choice.node !== w.p.node) {
      return { kind: 'start', cause: w.cause, replica: w.p.replica, from: w.p.node, newReplica: freshIndex(input), to: choice.node };
    }
    blocked ??= { kind: 'blocked', replica: w.p.replica, from: w.p.node, reason: 'unschedulable' in choice ? choice.unschedulable : `no node but ${w.p.node} can take it` };
  }
  return blocked!;
}

/** Why a replica with volumes is not moved. */
function volumesHeld(replica: number, node: string): string {
  return `replica ${replica} holds volumes on ${node} (volumeLoss: wait)`;
}

/** The lowest index no placement uses and no replica record holds (a stopping replica's record may outlive its placement). */
function freshIndex(input: MoveInput): number {
  const used = new Set([...input.placements.map((p) => p.replica), ...input.replicas.keys()]);
  let j = 0;
  while (used.has(j)) j++;
  return j;
}
