import { inject, injectable } from 'inversify';
import { matchesConstraints } from '../../api/constraints.js';
import type { Keys } from '../../api/keys.js';
import type { ManifestSpec } from '../../api/manifest.js';
import { decodeRecord, PlacementRecord, type ReplicaRecord } from '../../api/records.js';
import { InformerFactory } from '../../src/informer/informer-factory.js';
import { manifestReplicas, Resources, type Moves, type Replica } from '../../src/informer/resources.js';
import type { SharedInformer } from '../../src/informer/shared-informer.js';
import { allocatableOf } from '../../api/reservation.js';
import type { Clock } from '../../src/clock.js';
import type { ReconcileResult } from '../../src/controller/controller.js';
import type { KvStore, TxnCondition, TxnOp } from '../../src/etcd/kv-store.js';
import { EventRecorder } from '../../src/events/event-recorder.js';
import { TYPES } from '../../src/ioc/tokens.js';
import { invalidRecord, type Logger } from '../../src/logging.js';
import { freeOf, shortfall } from '../../src/placement/node-fit.js';
import { holdsVolumes } from '../../api/volumes.js';
import { planMoves, type MoveInput, type MoveStep, type TargetChoice } from './move-plan.js';
import { planPlacements, type PlanInput } from './placement-plan.js';
import { ReadySince } from './ready-since.js';
import { MONITOR_MS } from './rollout-tracker.js';
import { SchedulerCache, type CachedPlacement } from './scheduler-cache.js';

/** Writes ops in transactions on their conditions, applying each to the scheduler cache (the reconciler's commit). */
export type Commit = (conditions: TxnCondition[], ops: TxnOp[], conflict: string, records?: PlacementRecord[]) => Promise<void>;

export interface MoveContext {
  app: string;
  name: string;
  spec: ManifestSpec;
  /** The placement planner's input for this manifest, as the reconciler just planned it (placements aside). */
  plan: Omit<PlanInput, 'placed' | 'allocated' | 'cordoned'>;
  /** A new placement record of this manifest's current spec. */
  record: (replica: number, node: string) => PlacementRecord;
  commit: Commit;
}

/** A blocked move is looked at again this often (node changes also wake it). */
const BLOCKED_RETRY_MS = 10_000;

/**
 * Carries out one manifest's moves (drain and `dokkaa rebalance`) one step per reconcile:
 * reads what the pure move plan needs (the cache's placements and maintenance holds, the
 * manifest's replica records from the shared `replicas` informer, its MovesRecord), and
 * writes the step it decides. Remembers, per manifest, when each replacement was first seen
 * ready (ReadySince) and when a move was abandoned (a new leader starts over: it waits one
 * more monitor period).
 */
@injectable()
export class MoveRunner {
  private readonly readySince = new ReadySince();
  private readonly abandonedAt = new Map<string, number>();
  private readonly blockedSaid = new Map<string, string>();
  /** `moves/` and `node-replicas/` (the controller watches both, so they are acquired and current). */
  private readonly moves: SharedInformer<Moves>;
  private readonly replicaRecords: SharedInformer<Replica>;

  constructor(
    @inject(TYPES.KvStore) private readonly store: KvStore,
    @inject(TYPES.Keys) private readonly keys: Keys,
    @inject(TYPES.Clock) private readonly clock: Clock,
    @inject(EventRecorder) private readonly events: EventRecorder,
    @inject(SchedulerCache) private readonly cache: SchedulerCache,
    @inject(InformerFactory) factory: InformerFactory,
  ) {
    this.moves = factory.informer(Resources.moves(keys));
    this.replicaRecords = factory.informer(Resources.replicas(keys));
  }

  async step(ctx: MoveContext, log: Logger): Promise<ReconcileResult> {
    const { app, name, spec } = ctx;
    const id = `${app}/${name}`;
    const mine = this.cache.placementsOf(app, name);
    const draining = new Map([...this.cache.draining()].filter(([, m]) => m.draining).map(([node, m]) => [node, { includeGlobal: m.draining!.includeGlobal ?? false }]));
    const movesKv = this.moves.get(this.keys.manifestMoves(app, name));
    // Nothing to move: no replacement in flight, nothing on a draining node, no request.
    if (!movesKv && !mine.some((p) => p.replaces !== undefined || draining.has(p.node))) {
      this.forgetManifest(id);
      return undefined;
    }
    const moves = movesKv?.value;
    const replicas = this.replicas(app, name, mine);
    const now = this.clock.now();
    this.trackReady(id, mine, replicas, now);

    const input: MoveInput = {
      placements: mine.map((p) => ({ replica: p.replica, node: p.node, templateHash: p.templateHash, ...(p.updatedAt !== undefined ? { updatedAt: p.updatedAt } : {}), ...(p.replaces !== undefined ? { replaces: p.replaces } : {}) })),
      replicas,
      now,
      update: spec.update,
      monitorMs: MONITOR_MS,
      readySince: (i) => this.readySince.get(`${id}/${i}`),
      global: spec.mode === 'global',
      draining,
      requests: moves?.moves ?? [],
      pickTarget: (replica, exclude) => this.pickTarget(ctx, mine, replica, exclude),
      checkTarget: (node) => this.checkTarget(ctx, mine, node),
      ...(this.abandonedAt.has(id) ? { lastAbandonedAt: this.abandonedAt.get(id)! } : {}),
      holdsVolumes: holdsVolumes(spec),
    };
    const decision = planMoves(input);
    const result = await this.perform(ctx, decision.step, mine, log);
    if (decision.settled.length && movesKv) {
      for (const s of decision.settled) log.info(s.outcome === 'moved' ? 'move request done' : 'move request dropped', { replica: s.request.replica, from: s.request.from, ...(s.reason ? { reason: s.reason } : {}) });
      const key = this.keys.manifestMoves(app, name);
      const { at: _at, ...record } = moves!;
      const op: TxnOp = decision.remaining.length ? { type: 'put', key, value: JSON.stringify({ ...record, moves: decision.remaining }) } : { type: 'delete', key };
      // On the revision read: a newer `dokkaa rebalance` replaced the record, and wins.
      await this.store.txnAt([{ key, modRevision: movesKv.modRevision }], [op]);
    }
    return result;
  }

  private async perform(ctx: MoveContext, step: MoveStep, mine: CachedPlacement[], log: Logger): Promise<ReconcileResult> {
    const { app, name } = ctx;
    const id = `${app}/${name}`;
    const kvOf = (replica: number, node: string | undefined) => mine.find((p) => p.replica === replica && p.node === node);
    if (step.kind !== 'blocked') this.blockedSaid.delete(id);
    switch (step.kind) {
      case 'start': {
        const record: PlacementRecord = { ...ctx.record(step.newReplica, step.to), replaces: step.replica };
        const key = this.keys.placement(step.to, app, name, step.newReplica);
        await ctx.commit([{ key, modRevision: 0 }], [{ type: 'put', key, value: JSON.stringify(record) }], 'placement exists already', [record]);
        log.info('move started', { replica: step.replica, from: step.from, to: step.to, newReplica: step.newReplica, cause: step.cause });
        this.event(app, name, 'Normal', 'Moving', `replica ${step.replica} moving from ${step.from} to ${step.to} (as replica ${step.newReplica}; ${step.cause === 'drain' ? `${step.from} is draining` : 'rebalance'})`, step.newReplica, step.to);
        return { requeueAfterMs: 1_000 };
      }
      case 'finish': {
        const nowKv = kvOf(step.newReplica, step.to);
        if (!nowKv) throw new Error(`placement ${step.newReplica}@${step.to} changed meanwhile; retrying with fresh state`);
        const stored = await this.store.get(nowKv.key);
        const current = decodeRecord(PlacementRecord, stored?.value, invalidRecord(log, nowKv.key));
        if (!current || stored!.modRevision !== nowKv.modRevision) throw new Error(`placement ${nowKv.key} changed meanwhile; retrying with fresh state`);
        // The same spec and hash: its container keeps running; it is an ordinary replica now.
        const { replaces: _replaces, ...settled } = current;
        const old = step.from !== undefined ? kvOf(step.replica, step.from) : undefined;
        await ctx.commit(
          [...(old ? [{ key: old.key, modRevision: old.modRevision }] : []), { key: nowKv.key, modRevision: nowKv.modRevision }],
          [...(old ? [{ type: 'delete' as const, key: old.key }] : []), { type: 'put', key: nowKv.key, value: JSON.stringify(settled) }],
          'placement changed meanwhile',
          [...(old ? [settled] : []), settled],
        );
        this.readySince.delete(`${id}/${step.newReplica}`);
        log.info('move finished', { replica: step.replica, from: step.from, to: step.to, newReplica: step.newReplica });
        this.event(app, name, 'Normal', 'Moved', `replica ${step.replica} moved from ${step.from ?? 'a node'} to ${step.to} (now replica ${step.newReplica})`, step.newReplica, step.to);
        return undefined;
      }
      case 'abandon': {
        const surge = kvOf(step.newReplica, step.to);
        if (surge) await ctx.commit([{ key: surge.key, modRevision: surge.modRevision }], [{ type: 'delete', key: surge.key }], 'placement changed meanwhile');
        this.abandonedAt.set(id, this.clock.now());
        log.warn('move abandoned', { replica: step.replica, from: step.from, to: step.to, reason: step.reason });
        this.event(app, name, 'Warning', 'MoveFailed', `replica ${step.replica} not moved to ${step.to}: ${step.reason}; it keeps running on ${step.from ?? 'its node'}`, step.replica, step.from);
        return { requeueAfterMs: 1_000 };
      }
      case 'evict': {
        const p = kvOf(step.replica, step.node);
        if (p) await ctx.commit([{ key: p.key, modRevision: p.modRevision }], [{ type: 'delete', key: p.key }], 'placement changed meanwhile');
        log.info('global replica removed from a draining node', { replica: step.replica, node: step.node });
        this.event(app, name, 'Normal', 'Drained', `replica ${step.replica} removed from ${step.node}, which is draining`, step.replica, step.node);
        return undefined;
      }
      case 'wait':
        return { requeueAfterMs: Math.max(100, Math.min(step.ms, 30_000)) };
      case 'blocked':
        if (this.blockedSaid.get(id) !== step.reason) {
          this.blockedSaid.set(id, step.reason);
          log.warn('move blocked', { replica: step.replica, from: step.from, reason: step.reason });
          this.event(app, name, 'Warning', 'MoveBlocked', `replica ${step.replica} cannot move off ${step.from}: ${step.reason}`, step.replica, step.from);
        }
        return { requeueAfterMs: BLOCKED_RETRY_MS };
      case 'idle':
        return undefined;
    }
  }

  /** Where placement would put one more replica of this manifest, with `exclude` (its current node) and every cordoned node out. */
  private pickTarget(ctx: MoveContext, mine: CachedPlacement[], replica: number, exclude: string): TargetChoice {
    const placed = mine.filter((p) => p.replaces === undefined && !(p.replica === replica && p.node === exclude));
    const plan = planPlacements({
      ...ctx.plan,
      placed: placed.map((p) => ({ replica: p.replica, node: p.node, templateHash: p.templateHash, ...(p.reserved ? { reserved: p.reserved } : {}) })),
      allocated: this.cache.allocated(),
      cordoned: new Set([...this.cache.cordoned(), exclude]),
    });
    const add = plan.add[0];
    if (add) return { node: add.node };
    return { unschedulable: plan.unschedulable[0]?.reason ?? 'no node can take it' };
  }

  /** Why `node` cannot take one more replica of this manifest now, if so. */
  private checkTarget(ctx: MoveContext, mine: CachedPlacement[], node: string): string | undefined {
    const n = this.cache.liveNodes().find((x) => x.name === node);
    if (!n) return `${node} is not a live node`;
    if (this.cache.cordoned().has(node)) return `${node} is cordoned`;
    if (!matchesConstraints(n, ctx.spec.constraints)) return `${node} does not match constraints ${JSON.stringify(ctx.spec.constraints)}`;
    const max = ctx.plan.maxPerNode;
    if (max !== undefined && mine.filter((p) => p.node === node).length >= max) return `maxPerNode ${max} reached on ${node}`;
    return shortfall(freeOf(allocatableOf(n), this.cache.allocated().get(node)), ctx.plan.need);
  }

  /** When each replacement was first seen running and ready on its node at its placement's hash. */
  private trackReady(id: string, mine: CachedPlacement[], replicas: ReadonlyMap<number, ReplicaRecord>, now: number): void {
    for (const p of mine) {
      if (p.replaces === undefined) continue;
      const r = replicas.get(p.replica);
      this.readySince.see(`${id}/${p.replica}`, !!r && r.node === p.node && r.templateHash === p.templateHash && r.state === 'running' && r.ready, now);
    }
  }

  private forgetManifest(id: string): void {
    this.readySince.forgetManifest(id);
    this.blockedSaid.delete(id);
  }

  /** Each index's record, that of the host it is placed on where two hosts report one (a move in flight). */
  private replicas(app: string, name: string, mine: CachedPlacement[]): Map<number, ReplicaRecord> {
    const byIndex = new Map<number, ReplicaRecord>();
    for (const r of manifestReplicas(this.replicaRecords, app, name)) {
      if (!byIndex.has(r.replica) || mine.some((p) => p.replica === r.replica && p.node === r.node)) byIndex.set(r.replica, r);
    }
    return byIndex;
  }

  private event(app: string, name: string, type: 'Normal' | 'Warning', reason: string, message: string, replica: number, node: string | undefined): void {
    void this.events.record(app, name, { type, reason, message, replica, ...(node ? { node } : {}) });
  }
}
