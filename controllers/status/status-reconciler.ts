import { inject, injectable } from 'inversify';
import { canonicalJson } from '../../api/canonical-json.js';
import { parseManifestId, type Keys } from '../../api/keys.js';
import { decodeManifest } from '../../api/manifest.js';
import { decodeRecord, LinkRecord, PlacementRecord, RolloutRecord } from '../../api/records.js';
import type { Reconciler } from '../../src/controller/controller.js';
import type { KvStore } from '../../src/etcd/kv-store.js';
import { InformerFactory } from '../../src/informer/informer-factory.js';
import { manifestReplicas, Resources, type Replica } from '../../src/informer/resources.js';
import type { SharedInformer } from '../../src/informer/shared-informer.js';
import { TYPES } from '../../src/ioc/tokens.js';
import { invalidRecord, type Logger } from '../../src/logging.js';
import { RouteConflicts } from './route-conflicts.js';
import { StatusCache } from './status-cache.js';
import { forbiddenOf, summarize, type Placed } from './status-summary.js';

/**
 * Writes `status/<app>/<name>` from everything that bears on it: nodes and placements from
 * its cache, the manifest's replica records from the shared `replicas` informer (by its
 * manifest index), host-name conflicts from the route table of the manifests informer, the
 * rest fresh.
 */
@injectable()
export class StatusReconciler implements Reconciler {
  /** Every host's replica records (the controller watches it, so it is acquired and synced before a reconcile). */
  private readonly replicas: SharedInformer<Replica>;

  constructor(
    @inject(TYPES.KvStore) private readonly store: KvStore,
    @inject(TYPES.Keys) private readonly keys: Keys,
    @inject(StatusCache) private readonly cache: StatusCache,
    @inject(RouteConflicts) private readonly routes: RouteConflicts,
    @inject(InformerFactory) factory: InformerFactory,
  ) {
    this.replicas = factory.informer(Resources.replicas(keys));
  }

  async reconcile(id: string, log: Logger): Promise<void> {
    const { app, name } = parseManifestId(id);
    const statusKey = this.keys.status(app, name);
    // Nodes, placements and replica records from the caches (neither placements nor replica
    // records have a per-manifest prefix: a listing would read every host's); the manifest's
    // own keys fresh from etcd. A change of a replica record queues its manifest after the
    // informer applied it, so a reconcile never misses the last one.
    await Promise.all([this.cache.synced(), this.routes.synced()]);
    const [manifest, current, link, rollout] = await Promise.all([
      this.store.get(this.keys.manifest(app, name)),
      this.store.get(statusKey),
      this.store.get(this.keys.link(app, name)),
      this.store.get(this.keys.rollout(app, name)),
    ]);
    if (!manifest) {
      if (current) await this.store.delete(statusKey);
      return;
    }
    const decoded = decodeManifest(manifest.value, app, name);
    const rolloutRecord = decodeRecord(RolloutRecord, rollout?.value, invalidRecord(log, this.keys.rollout(app, name)));
    const cached = this.cache.placementsOf(app, name);
    let placements: Placed[] = cached;
    if ((!decoded.ok || forbiddenOf({ decoded, revision: manifest.modRevision, rollout: rolloutRecord })) && cached.length > 0) {
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
      link: decodeRecord(LinkRecord, link?.value, invalidRecord(log, this.keys.link(app, name))),
      liveNodes: this.cache.liveNodes(),
      cordoned: this.cache.cordoned(),
      rollout: rolloutRecord,
      routeConflicts: this.routes.messagesFor(app, name),
    });
    const value = canonicalJson(status);
    if (current?.value === value) return;
    await this.store.put(statusKey, value);
    log.info('status updated', { phase: status.phase, running: status.running, desired: status.desired });
  }
}
