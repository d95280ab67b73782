import { inject, injectable } from 'inversify';
import type { Keys } from '../../api/keys.js';
import { parseManifestId } from '../../api/keys.js';
import { decodeManifest, templateHash, type ManifestSpec } from '../../api/manifest.js';
import { parseRecord, type NodeRecord, type PlacementRecord } from '../../api/records.js';
import type { Reconciler } from '../../src/controller/controller.js';
import type { KeyValue, KvStore } from '../../src/etcd/kv-store.js';
import { TYPES } from '../../src/ioc/tokens.js';
import type { Logger } from '../../src/logging.js';
import { planPlacements, type Placed } from './placement-plan.js';
import { RolloutTracker } from './rollout-tracker.js';
import { EventRecorder } from '../../src/events/event-recorder.js';
import type { Clock } from '../../src/clock.js';
import type { ReconcileResult } from '../../src/controller/controller.js';

/**
 * Reconciles one manifest (`app/name`) into placements. Reads the manifest, the live nodes
 * and every placement fresh; writes with transactions on mod revision, so a concurrent
 * writer makes this attempt fail and retry instead of both succeeding.
 */
@injectable()
export class SchedulerReconciler implements Reconciler {
  private readonly invalidLogged = new Map<string, number>();

  constructor(
    @inject(TYPES.KvStore) private readonly store: KvStore,
    @inject(TYPES.Keys) private readonly keys: Keys,
    @inject(TYPES.Clock) private readonly clock: Clock,
    @inject(RolloutTracker) private readonly rollouts: RolloutTracker,
    @inject(EventRecorder) private readonly events: EventRecorder,
  ) {}

  async reconcile(id: string, log: Logger): Promise<ReconcileResult> {
    const { app, name } = parseManifestId(id);
    const [manifest, nodesList, placementsList] = await Promise.all([
      this.store.get(this.keys.manifest(app, name)),
      this.store.list(this.keys.nodes),
      this.store.list(this.keys.placements),
    ]);
    const mine = placementsList.kvs
      .map((kv) => ({ kv, p: parseRecord<PlacementRecord>(kv.value) }))
      .filter((x): x is { kv: KeyValue; p: PlacementRecord } => !!x.p && x.p.app === app && x.p.name === name);

    if (!manifest) {
      for (const { kv } of mine) await this.store.deleteIfModRevision(kv.key, kv.modRevision);
      if (mine.length) log.info('placements removed with their manifest', { count: mine.length });
      await this.rollouts.forget(app, name);
      return;
    }

    const decoded = decodeManifest(manifest.value, app, name);
    let spec: ManifestSpec;
    let revision: number;
    if (decoded.ok) {
      this.invalidLogged.delete(id);
      spec = decoded.spec;
      revision = manifest.modRevision;
    } else {
      // The last good spec keeps running: keep its replicas placed (moving them off dead nodes).
      if (this.invalidLogged.get(id) !== manifest.modRevision) {
        this.invalidLogged.set(id, manifest.modRevision);
        log.warn('invalid manifest; keeping the last valid version', { errors: decoded.errors, revision: manifest.modRevision });
      }
      const last = mine.reduce<PlacementRecord | undefined>((a, { p }) => (!a || p.revision > a.revision ? p : a), undefined);
      if (!last) return;
      spec = { ...last.spec, scale: Math.max(...mine.map(({ p }) => p.replica)) + 1 };
      revision = last.revision;
    }

    const liveNodes = nodesList.kvs.map((kv) => parseRecord<NodeRecord>(kv.value)).filter((n): n is NodeRecord => !!n);
    const load = new Map<string, number>();
    for (const kv of placementsList.kvs) {
      const at = this.keys.parsePlacement(kv.key);
      if (at) load.set(at.node, (load.get(at.node) ?? 0) + 1);
    }
    const hash = templateHash(spec);
    const plan = planPlacements({
      scale: spec.scale,
      templateHash: hash,
      constraints: spec.constraints,
      placed: mine.map(({ p }): Placed => ({ replica: p.replica, node: p.node, templateHash: p.templateHash })),
      liveNodes,
      load,
    });

    const now = this.clock.now();
    const record = (replica: number, node: string): string =>
      JSON.stringify({ app, name, replica, node, spec, templateHash: hash, revision, updatedAt: now } satisfies PlacementRecord);
    const kvOf = (p: Placed) => mine.find(({ p: q }) => q.replica === p.replica && q.node === p.node)!.kv;

    const liveNames = new Set(liveNodes.map((n) => n.name));
    for (const p of plan.remove) {
      await this.expect(this.store.deleteIfModRevision(kvOf(p).key, kvOf(p).modRevision), 'placement changed meanwhile');
      log.info('replica unplaced', { replica: p.replica, node: p.node });
    }
    for (const a of plan.add) {
      const key = this.keys.placement(a.node, app, name, a.replica);
      await this.expect(this.store.putIfModRevision(key, record(a.replica, a.node), 0), 'placement exists already');
      const moved = plan.remove.find((p) => p.replica === a.replica && !liveNames.has(p.node));
      log.info('replica placed', { replica: a.replica, node: a.node, ...(moved ? { from: moved.node } : {}) });
      void this.events.record(app, name, moved
        ? { type: 'Warning', reason: 'Rescheduled', message: `replica ${a.replica} moved from lost node ${moved.node} to ${a.node}`, replica: a.replica, node: a.node }
        : { type: 'Normal', reason: 'Scheduled', message: `replica ${a.replica} placed on ${a.node}`, replica: a.replica, node: a.node });
    }

    // Spec changes roll out gradually; an invalid manifest changes no spec at all.
    let result: ReconcileResult = undefined;
    if (decoded.ok) {
      const removed = new Set(plan.remove);
      const kept = mine
        .map(({ p }) => ({ replica: p.replica, node: p.node, templateHash: p.templateHash, ...(p.updatedAt !== undefined ? { updatedAt: p.updatedAt } : {}) }))
        .filter((p) => ![...removed].some((r) => r.replica === p.replica && r.node === p.node))
        // New placements count too: a rollout is complete when every replica is ready.
        .concat(plan.add.map((a) => ({ replica: a.replica, node: a.node, templateHash: hash, updatedAt: now })));
      const decision = await this.rollouts.step(
        { app, name, targetHash: hash, targetRevision: revision, manifestText: manifest.value, update: spec.update, kept },
        log,
      );
      for (const p of decision.toUpdate) {
        const kv = kvOf(p);
        await this.expect(this.store.putIfModRevision(kv.key, record(p.replica, p.node), kv.modRevision), 'placement changed meanwhile');
        log.info('replica spec updated', { replica: p.replica, node: p.node, templateHash: hash });
      }
      // While a rollout runs, look again soon: deadlines and monitor periods pass without events.
      if (!decision.done && !decision.stalled) result = { requeueAfterMs: Math.max(100, Math.min(decision.waitMs ?? 1000, 1000)) };
    }
    if (plan.unschedulable.length) {
      log.warn('replicas unschedulable', { replicas: plan.unschedulable.map((u) => u.replica), reason: plan.unschedulable[0]!.reason });
    }
    return result;
  }

  private async expect(write: Promise<boolean>, conflict: string): Promise<void> {
    if (!(await write)) throw new Error(`write conflict: ${conflict}; retrying with fresh state`);
  }
}
