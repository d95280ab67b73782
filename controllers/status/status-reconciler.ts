import { inject, injectable } from 'inversify';
import { canonicalJson } from '../../api/canonical-json.js';
import { parseManifestId, type Keys } from '../../api/keys.js';
import { decodeRecord, PlacementRecord } from '../../api/records.js';
import type { Clock } from '../../src/clock.js';
import type { ReconcileResult, Reconciler } from '../../src/controller/controller.js';
import type { KvStore } from '../../src/etcd/kv-store.js';
import { InformerFactory } from '../../src/informer/informer-factory.js';
import { manifestReplicas, Resources, type Link, type ManifestEntry, type Replica, type Rollout, type Status } from '../../src/informer/resources.js';
import type { SharedInformer } from '../../src/informer/shared-informer.js';
import { TYPES } from '../../src/ioc/tokens.js';
import type { Logger } from '../../src/logging.js';
import { RouteConflicts } from './route-conflicts.js';
import { StatusCache } from './status-cache.js';
import { StatusPacer } from './status-pacer.js';
import { forbiddenOf, summarize, type Placed } from './status-summary.js';

/**
 * Writes `status/<app>/<name>` from everything that bears on it: nodes and placements from
 * its cache, the manifest's replica records from the shared `replicas` informer (by its
 * manifest index), host-name conflicts from the route table of the manifests informer, the
 * manifest, its status, link and rollout from their informers; only the spec an invalid or
 * forbidden manifest keeps running is read fresh. Progress is paced (status-pacer.ts).
 */
@injectable()
export class StatusReconciler implements Reconciler {
  /** Every host's replica records (the controller watches it, so it is acquired and synced before a reconcile). */
  private readonly replicas: SharedInformer<Replica>;
  private readonly manifests: SharedInformer<ManifestEntry>;
  private readonly statuses: SharedInformer<Status>;
  private readonly links: SharedInformer<Link>;
  private readonly rollouts: SharedInformer<Rollout>;
  private readonly pacer: StatusPacer;

  constructor(
    @inject(TYPES.KvStore) private readonly store: KvStore,
    @inject(TYPES.Keys) private readonly keys: Keys,
    @inject(StatusCache) private readonly cache: StatusCache,
    @inject(RouteConflicts) private readonly routes: RouteConflicts,
    @inject(InformerFactory) factory: InformerFactory,
    @inject(TYPES.Clock) clock: Clock,
  ) {
    this.pacer = new StatusPacer(clock);
    this.replicas = factory.informer(Resources.replicas(keys));
    this.manifests = factory.informer(Resources.manifests(keys));
    this.statuses = factory.informer(Resources.statuses(keys));
    this.links = factory.informer(Resources.links(keys));
    this.rollouts = factory.informer(Resources.rollouts(keys));
  }

  async reconcile(id: string, log: Logger): Promise<ReconcileResult> {
    const { app, name } = parseManifestId(id);
    const statusKey = this.keys.status(app, name);
    // Everything from the caches: the controller watches each of these informers, so a change
    // queues the manifest after the informer applied it and a reconcile never misses the
    // last one. An etcd read per key per reconcile cost more CPU than all the rest.
    await Promise.all([this.cache.synced(), this.routes.synced()]);
    const manifest = this.manifests.get(this.keys.manifest(app, name));
    const current = this.statuses.get(statusKey);
    if (!manifest) {
      this.pacer.forget(statusKey);
      if (current) await this.store.delete(statusKey);
      return;
    }
    const decoded = manifest.value.result;
    const rollout = this.rollouts.get(this.keys.rollout(app, name))?.value;
    const link = this.links.get(this.keys.link(app, name))?.value;
    const cached = this.cache.placementsOf(app, name);
    let placements: Placed[] = cached;
    if ((!decoded.ok || forbiddenOf({ decoded, revision: manifest.modRevision, rollout })) && cached.length > 0) {
      // An invalid or forbidden manifest keeps running its last placed spec: read that one placement.
      const newest = cached.reduce((x, p) => (p.revision > x.revision ? p : x));
      const spec = decodeRecord(PlacementRecord, (await this.store.get(newest.key))?.value)?.spec;
      if (spec) placements = cached.map((p) => (p === newest ? { ...p, spec } : p));
    }
    const status = summarize({
      decoded,
      revision: manifest.modRevision,
      placements,
      replicas: manifestReplicas(this.replicas, app, name),
      link,
      liveNodes: this.cache.liveNodes(),
      cordoned: this.cache.cordoned(),
      rollout,
      routeConflicts: this.routes.messagesFor(app, name),
    });
    // Progress is written at most once a second per manifest; what is held back is queued
    // again. Asked before serializing: while 100 replicas start, most reconciles are held
    // back, and the status's canonical JSON (every replica's row) cost as much as the summary.
    const delayMs = this.pacer.delayMs(statusKey, current?.value, status);
    if (delayMs > 0) return { requeueAfterMs: delayMs };
    const value = canonicalJson(status);
    if (current?.value.text === value) return;
    await this.store.put(statusKey, value);
    this.pacer.wrote(statusKey);
    log.info('status updated', { phase: status.phase, running: status.running, desired: status.desired });
  }
}
