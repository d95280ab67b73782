import { inject, injectable } from 'inversify';
import type { Keys } from '../../api/keys.js';
import { parseManifestId } from '../../api/keys.js';
import { templateHash, type ManifestSpec } from '../../api/manifest.js';
import { decodeRecord, type Amounts, type NodeRecord, PlacementRecord } from '../../api/records.js';
import { allocatableOf, placementOf, reservationOf } from '../../api/reservation.js';
import { freeOf } from '../../src/placement/node-fit.js';
import { standingIndices } from '../../src/placement/replica-indices.js';
import type { Reconciler } from '../../src/controller/controller.js';
import type { KvStore, TxnCondition, TxnOp } from '../../src/etcd/kv-store.js';
import { TYPES } from '../../src/ioc/tokens.js';
import { invalidRecord, type Logger } from '../../src/logging.js';
import { planPlacements, type Placed } from './placement-plan.js';
import { withFileVersions, withheld } from './file-versions.js';
import { RolloutTracker } from './rollout-tracker.js';
import { MoveRunner } from './move-runner.js';
import { ImagePinner, type PinResult } from './image-pinner.js';
import { SchedulerCache, type CachedPlacement } from './scheduler-cache.js';
import { EventRecorder } from '../../src/events/event-recorder.js';
import type { Clock } from '../../src/clock.js';
import type { ReconcileResult } from '../../src/controller/controller.js';
import { namedVolumes } from '../../api/volumes.js';
import { planVolumeSets, volumeHolders, type VolumeSetWrite } from './volume-sets.js';
import { admit, type Violation } from '../../api/admission.js';
import { matchesConstraints } from '../../api/constraints.js';
import { InformerFactory } from '../../src/informer/informer-factory.js';
import { BY_APP, Resources, type ManifestEntry } from '../../src/informer/resources.js';
import type { SharedInformer } from '../../src/informer/shared-informer.js';
import { ClusterPolicy } from '../../src/policy/cluster-policy.js';
import { addUsage, placedUsage } from './placed-usage.js';

/** A node that left has no room at all. */
function allocatableOfNode(n: NodeRecord | undefined): Amounts {
  return n ? allocatableOf(n) : { cpus: 0, memoryBytes: 0 };
}

/** Most ops in one transaction (etcd refuses more than --max-txn-ops, 128 by default; compares are counted apart). */
const TXN_OPS = 128;
/** Up to this many replicas placed or unplaced at once get a log line each; more get one line. */
const LOG_EACH = 10;

/**
 * Reconciles one manifest (`app/name`) into placements. Reads the manifest fresh, the
 * live nodes, the placements and the per-node load from the SchedulerCache (an informer
 * fed by watches: no listing of every placement per reconcile); writes in transactions on
 * the mod revisions it saw (0 for a new key), batched, so a concurrent writer or a cache
 * that is behind makes this attempt fail and retry instead of both succeeding. Each
 * committed transaction is applied to the cache at once.
 */
@injectable()
export class SchedulerReconciler implements Reconciler {
  private readonly invalidLogged = new Map<string, number>();
  /** The manifest revision each manifest's policy was last read from etcd for (ClusterPolicy.refresh). */
  private readonly policyReadFor = new Map<string, number>();
  private readonly manifests: SharedInformer<ManifestEntry>;

  constructor(
    @inject(TYPES.KvStore) private readonly store: KvStore,
    @inject(TYPES.Keys) private readonly keys: Keys,
    @inject(TYPES.Clock) private readonly clock: Clock,
    @inject(RolloutTracker) private readonly rollouts: RolloutTracker,
    @inject(EventRecorder) private readonly events: EventRecorder,
    @inject(SchedulerCache) private readonly cache: SchedulerCache,
    @inject(MoveRunner) private readonly moves: MoveRunner,
    @inject(ImagePinner) private readonly pins: ImagePinner,
    @inject(ClusterPolicy) private readonly policy: ClusterPolicy,
    @inject(InformerFactory) factory: InformerFactory,
  ) {
    this.manifests = factory.informer(Resources.manifests(keys));
  }

  async reconcile(id: string, log: Logger): Promise<ReconcileResult> {
    const { app } = parseManifestId(id);
    // A quota counts what the app's other manifests placed: admit and place them one at a time.
    return this.policy.quotaCovers(app, log) ? this.policy.serialized(app, () => this.reconcileManifest(id, log)) : this.reconcileManifest(id, log);
  }

  private async reconcileManifest(id: string, log: Logger): Promise<ReconcileResult> {
    const { app, name } = parseManifestId(id);
    await this.cache.synced();
    // From the informer the controller is for: a change queues the manifest after it applied it.
    const cachedManifest = this.manifests.get(this.keys.manifest(app, name));
    const mine = this.cache.placementsOf(app, name);

    if (!cachedManifest) {
      if (mine.length) {
        await this.commit(mine.map((p) => ({ key: p.key, modRevision: p.modRevision })), mine.map((p) => ({ type: 'delete', key: p.key })), 'placement changed meanwhile');
        log.info('placements removed with their manifest', { count: mine.length });
      }
      await this.rollouts.forget(app, name);
      this.pins.forget(app, name);
      this.policyReadFor.delete(id);
      this.cache.setWaiting(id, false);
      return;
    }

    const manifest = { value: cachedManifest.value.text, modRevision: cachedManifest.modRevision };
    const decoded = cachedManifest.value.result;
    // Before anything is placed or pinned (pinning asks the image's registry): the cluster policy,
    // read from etcd once per revision (the informer may not have the policy written just before).
    if (decoded.ok && this.policyReadFor.get(id) !== manifest.modRevision) {
      await this.policy.refresh(this.store);
      this.policyReadFor.set(id, manifest.modRevision);
    }
    const violations = decoded.ok ? this.admission(app, name, decoded.spec, log) : [];
    const admitted = decoded.ok && violations.length === 0;
    // The image is pinned to a digest once per spec; outside the planners (it asks a registry).
    const pinned: PinResult | undefined = admitted ? await this.pins.pin(app, name, decoded.spec, log) : undefined;
    const usable = admitted && pinned?.ok === true;
    let spec: ManifestSpec;
    let revision: number;
    // A missing secret or config: nothing new is placed or updated until it exists.
    let missing: string | undefined;
    if (pinned?.ok) {
      this.invalidLogged.delete(id);
      const files = await withFileVersions(this.store, this.keys, app, pinned.spec);
      spec = files.ok ? files.spec : pinned.spec;
      if (!files.ok) missing = files.reason;
      revision = manifest.modRevision;
    } else {
      // The last good spec keeps running: keep its replicas placed (moving them off dead nodes).
      if (!decoded.ok && this.invalidLogged.get(id) !== manifest.modRevision) {
        this.invalidLogged.set(id, manifest.modRevision);
        log.warn('invalid manifest; keeping the last valid version', { errors: decoded.errors, revision: manifest.modRevision });
      }
      if (decoded.ok && violations.length) await this.rollouts.noteForbidden(app, name, templateHash(decoded.spec), { revision: manifest.modRevision, violations }, log);
      if (pinned && !pinned.ok) await this.rollouts.notePinError(app, name, pinned.baseHash, pinned.message, manifest.modRevision);
      const retry = pinned && !pinned.ok ? { requeueAfterMs: pinned.retryAfterMs } : undefined;
      const lastAt = mine.reduce<CachedPlacement | undefined>((a, p) => (!a || p.revision > a.revision ? p : a), undefined);
      if (!lastAt) return retry;
      // The cache keeps no specs: read the newest placement's.
      const lastKv = await this.store.get(lastAt.key);
      const last = decodeRecord(PlacementRecord, lastKv?.value, invalidRecord(log, lastAt.key));
      if (!last || lastKv!.modRevision !== lastAt.modRevision) throw new Error(`placement ${lastAt.key} changed meanwhile; retrying with fresh state`);
      // As many as are placed (indices need not be contiguous after moves), surges aside.
      spec = { ...last.spec, scale: standingIndices(mine).present.length };
      revision = last.revision;
    }

    const liveNodes = this.cache.liveNodes();
    // Replicas with named volumes stay with them (docs/volumes.md); global ones have none.
    const volumes = spec.mode === 'global' ? [] : namedVolumes(spec);
    const volumeSets = volumes.length ? this.cache.volumeSetsOf(app, name) : [];
    const hash = templateHash(spec);
    const need = reservationOf(spec);
    const planBase = {
      scale: spec.scale,
      ...(spec.mode === 'global' ? { global: true } : {}),
      ...placementOf(spec),
      templateHash: hash,
      constraints: spec.constraints,
      need,
      liveNodes,
    };
    const planned = planPlacements({
      ...planBase,
      placed: mine.map((p): Placed => ({
        replica: p.replica,
        node: p.node,
        templateHash: p.templateHash,
        ...(p.reserved ? { reserved: p.reserved } : {}),
        ...(p.replaces !== undefined ? { replaces: p.replaces } : {}),
      })),
      allocated: this.cache.allocated(),
      cordoned: this.cache.cordoned(),
      ...(volumes.length ? { volumeHolders: volumeHolders(volumeSets.map((s) => s.record)), volumeLoss: spec.volumeLoss ?? 'wait' } : {}),
    });
    const plan = missing === undefined ? planned : withheld(planned, missing);

    const now = this.clock.now();
    const record = (replica: number, node: string): PlacementRecord => ({ app, name, replica, node, spec, templateHash: hash, revision, updatedAt: now, reserved: need });
    const kvOf = (p: Placed) => mine.find((q) => q.replica === p.replica && q.node === p.node)!;

    const liveNames = new Set(liveNodes.map((n) => n.name));
    if (plan.remove.length) {
      const gone = plan.remove.map(kvOf);
      await this.commit(gone.map((p) => ({ key: p.key, modRevision: p.modRevision })), gone.map((p) => ({ type: 'delete', key: p.key })), 'placement changed meanwhile');
      if (plan.remove.length > LOG_EACH) log.info('replicas unplaced', { count: plan.remove.length, replicas: plan.remove.map((p) => `${p.replica}@${p.node}`).join(' ') });
      else for (const p of plan.remove) log.info('replica unplaced', { replica: p.replica, node: p.node });
    }
    if (plan.add.length) {
      const keys = plan.add.map((a) => this.keys.placement(a.node, app, name, a.replica));
      const records = plan.add.map((a) => record(a.replica, a.node));
      await this.commit(keys.map((key) => ({ key, modRevision: 0 })), records.map((r, i) => ({ type: 'put', key: keys[i]!, value: JSON.stringify(r) })), 'placement exists already', records);
    }
    if (plan.add.length > LOG_EACH) log.info('replicas placed', { count: plan.add.length, replicas: plan.add.map((a) => `${a.replica}@${a.node}`).join(' ') });
    const placedEvents = plan.add.map((a) => {
      const moved = plan.remove.find((p) => p.replica === a.replica && !liveNames.has(p.node));
      if (plan.add.length <= LOG_EACH) log.info('replica placed', { replica: a.replica, node: a.node, ...(moved ? { from: moved.node } : {}) });
      return moved
        ? { type: 'Warning' as const, reason: 'Rescheduled', message: `replica ${a.replica} moved from lost node ${moved.node} to ${a.node}`, replica: a.replica, node: a.node }
        : { type: 'Normal' as const, reason: 'Scheduled', message: `replica ${a.replica} placed on ${a.node}`, replica: a.replica, node: a.node };
    });
    void this.events.recordMany(app, name, placedEvents);
    if (volumes.length) {
      const unplaced = new Set(plan.remove.map((p) => `${p.replica}@${p.node}`));
      const placed = [...mine.filter((p) => !unplaced.has(`${p.replica}@${p.node}`)), ...plan.add];
      await this.writeVolumeSets(planVolumeSets({ app, name, volumes, placed, sets: volumeSets, now: new Date(now).toISOString() }), log);
      for (const l of plan.volumesLost ?? []) log.warn('replica placed without its volumes', { replica: l.replica, node: l.node, holder: l.holder });
      void this.events.recordMany(app, name, (plan.volumesLost ?? []).map((l) => ({
        type: 'Warning' as const,
        reason: 'VolumesLost',
        message: `replica ${l.replica} starts on ${l.node} with empty volumes; its volumes stay on ${l.holder} (volumeLoss: reschedule)`,
        replica: l.replica,
        node: l.node,
      })));
    }

    // Spec changes roll out gradually; an invalid manifest changes no spec at all.
    let result: ReconcileResult = undefined;
    let blocked = false;
    if (usable) {
      const removed = new Set(plan.remove.map((r) => `${r.replica}@${r.node}`));
      const kept = mine
        // A move's replacement is the mover's to switch, not the rollout's.
        .filter((p) => p.replaces === undefined && !removed.has(`${p.replica}@${p.node}`))
        .map((p) => ({ replica: p.replica, node: p.node, templateHash: p.templateHash, ...(p.updatedAt !== undefined ? { updatedAt: p.updatedAt } : {}), ...(p.reserved ? { reserved: p.reserved } : {}) }))
        // New placements count too: a rollout is complete when every replica is ready.
        .concat(plan.add.map((a) => ({ replica: a.replica, node: a.node, templateHash: hash, updatedAt: now, reserved: need })));
      // Room per node as the commits above left it (the cache applied them).
      const allocated = this.cache.allocated();
      const allocatable = new Map(liveNodes.map((n) => [n.name, n]));
      const decision = await this.rollouts.step(
        {
          app, name, targetHash: hash, targetRevision: revision, manifestText: manifest.value, update: spec.update, kept,
          resize: { need, free: (node) => freeOf(allocatableOfNode(allocatable.get(node)), allocated.get(node)) },
          unschedulable: plan.unschedulable,
          ...(pinned?.ok ? { pin: pinned.pin } : {}),
        },
        log,
      );
      blocked = (decision.blocked?.length ?? 0) > 0;
      if (decision.toUpdate.length && missing === undefined) {
        const kvs = decision.toUpdate.map(kvOf);
        const records = decision.toUpdate.map((p) => record(p.replica, p.node));
        await this.commit(
          kvs.map((kv) => ({ key: kv.key, modRevision: kv.modRevision })),
          records.map((r, i) => ({ type: 'put', key: kvs[i]!.key, value: JSON.stringify(r) })),
          'placement changed meanwhile',
          records,
        );
        for (const p of decision.toUpdate) log.info('replica spec updated', { replica: p.replica, node: p.node, templateHash: hash });
      }
      // While a rollout runs, look again soon: deadlines and monitor periods pass without
      // events. Not while only waiting for new replicas to become ready with no old ones
      // left (e.g. a first deployment): readiness arrives as an event (replicas/), and no
      // deadline applies; polling each such manifest every second would cost a reconcile
      // per second per manifest being deployed.
      const timed = decision.waitMs !== undefined || decision.updated < decision.total;
      if (!decision.done && !decision.stalled && timed) result = { requeueAfterMs: Math.max(100, Math.min(decision.waitMs ?? 1000, 1000)) };
      // Progress held back by the record's pacing: written when it may be.
      if (decision.recordDueMs !== undefined) result = earliest(result, { requeueAfterMs: decision.recordDueMs });
    }
    if (plan.unschedulable.length) {
      log.warn('replicas unschedulable', { replicas: plan.unschedulable.map((u) => u.replica), reason: plan.unschedulable[0]!.reason });
    }
    this.cache.setWaiting(id, plan.unschedulable.length > 0 || blocked);
    // Drains and requested moves, one step at a time, after the plan's own writes.
    const moved = missing !== undefined ? undefined : await this.moves.step({ app, name, spec, plan: planBase, record, commit: (c, o, why, r) => this.commit(c, o, why, r) }, log);
    return earliest(earliest(result, moved), pinned && !pinned.ok ? { requeueAfterMs: pinned.retryAfterMs } : undefined);
  }

  /** The rules of the cluster policy the spec breaks (none: admitted), counting the app's other manifests' placements. */
  private admission(app: string, name: string, spec: ManifestSpec, log: Logger): Violation[] {
    const policy = this.policy.current(log);
    if (policy.kind === 'none') return [];
    const cordoned = this.cache.cordoned();
    const replicas = spec.mode === 'global'
      ? this.cache.liveNodes().filter((n) => !cordoned.has(n.name) && matchesConstraints(n, spec.constraints)).length
      : spec.scale;
    const siblings = this.manifests.byIndex(BY_APP, app).filter((c) => c.value.name !== name);
    const others = addUsage(siblings.map((c) => placedUsage(this.cache.placementsOf(app, c.value.name))));
    return admit({ app, spec, replicas, others, current: placedUsage(this.cache.placementsOf(app, name)), policy });
  }

  /** Creates or replaces volume sets, each on the revision it was read at (0: new), applying each to the cache. */
  private async writeVolumeSets(writes: VolumeSetWrite[], log: Logger): Promise<void> {
    for (const w of writes) {
      const key = this.keys.volumeSet(w.node, w.record.app, w.record.name, w.replica);
      const value = JSON.stringify(w.record);
      const revision = await this.store.txnAt([{ key, modRevision: w.modRevision }], [{ type: 'put', key, value }]);
      if (revision === undefined) throw new Error(`write conflict: volume set ${key} changed meanwhile; retrying with fresh state`);
      this.cache.wroteVolumeSet(revision, key, value, w.record);
      log.info('volume set recorded', { replica: w.replica, node: w.node, volumes: w.record.volumes.join(',') });
    }
  }

  /**
   * Writes `ops` in transactions of at most TXN_OPS, each on its part of `conditions`
   * (conditions[i] guards ops[i]), applying each committed one to the cache (with the
   * records the puts hold, if given, so that it need not parse them back). A condition
   * that fails throws: the reconcile retries on the cache as it then is.
   */
  private async commit(conditions: TxnCondition[], ops: TxnOp[], conflict: string, records?: PlacementRecord[]): Promise<void> {
    for (let i = 0; i < ops.length; i += TXN_OPS) {
      const batch = ops.slice(i, i + TXN_OPS);
      const revision = await this.store.txnAt(conditions.slice(i, i + TXN_OPS), batch);
      if (revision === undefined) throw new Error(`write conflict: ${conflict}; retrying with fresh state`);
      this.cache.wrote(revision, batch, records?.slice(i, i + TXN_OPS));
    }
  }
}

/** Of two reconcile results, the one that looks again sooner. */
function earliest(a: ReconcileResult, b: ReconcileResult): ReconcileResult {
  if (!a?.requeueAfterMs) return b?.requeueAfterMs ? b : a;
  if (!b?.requeueAfterMs) return a;
  return a.requeueAfterMs <= b.requeueAfterMs ? a : b;
}
