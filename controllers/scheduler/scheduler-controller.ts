import { inject, injectable } from 'inversify';
import { mergeMap } from 'rxjs';
import { manifestId, type Keys } from '../../api/keys.js';
import { ControllerFactory } from '../../src/controller/controller-factory.js';
import { ControllerRunnable } from '../../src/controller/controller-runnable.js';
import { BY_APP, BY_FILE, entryId, eventManifest, fileId, Resources } from '../../src/informer/resources.js';
import type { InformerEvent } from '../../src/informer/shared-informer.js';
import { TYPES } from '../../src/ioc/tokens.js';
import { ClusterPolicy } from '../../src/policy/cluster-policy.js';
import { SchedulerCache, type CacheChange } from './scheduler-cache.js';
import { SchedulerReconciler } from './scheduler-reconciler.js';

/**
 * The scheduler: manifests and live nodes in, placements out. Nodes and placements come
 * from its SchedulerCache, whose changes are also its sources for them; the cache lives for
 * one leadership term (acquired and synced before the first reconcile).
 */
@injectable()
export class SchedulerController extends ControllerRunnable {
  constructor(
    @inject(ControllerFactory) factory: ControllerFactory,
    @inject(TYPES.Keys) keys: Keys,
    @inject(SchedulerReconciler) reconciler: SchedulerReconciler,
    @inject(SchedulerCache) cache: SchedulerCache,
    @inject(ClusterPolicy) policy: ClusterPolicy,
  ) {
    const manifests = factory.informer(Resources.manifests(keys));
    const ids = () => manifests.list().map(entryId);
    const appIds = (app: string) => manifests.byIndex(BY_APP, app).map(entryId);
    const keysOf = (c: CacheChange): string[] => {
      switch (c.kind) {
        case 'placement':
          return [manifestId(c.app, c.name)];
        case 'room':
          return cache.waitingIds();
        case 'node':
          return ids();
        case 'relisted':
          return [...new Set([...ids(), ...cache.manifestIds()])];
      }
    };
    const usersOf = (kind: 'secret' | 'config') => (ev: InformerEvent<{ at: { app: string; name: string } }>) => {
      const { app, name } = (ev.type === 'put' ? ev.obj : ev.old).value.at;
      return manifests.byIndex(BY_FILE, fileId(kind, app, name)).map(entryId);
    };
    super(
      factory
        .builder('scheduler', reconciler)
        .for(manifests, (c) => [entryId(c)])
        // Told after the cache has applied the change, so the reconcile sees it. A node
        // joining, leaving, changing capacity or cordoned can change where any manifest's
        // replicas belong; a re-list may have missed the deletion of a manifest that still
        // has placements; room made by a placement going re-plans only the manifests waiting
        // for room (not every manifest on every placement event).
        .watchesKeys(cache.changes.pipe(mergeMap((c: CacheChange) => keysOf(c))))
        // A new policy (docs/policy.md): every manifest is admitted again.
        .watches(policy.informer, () => ids())
        // Under a quota, a manifest's placements changing (scaled, deleted) may make or take the
        // room another manifest of its app was refused for: that app's manifests are admitted again.
        .watchesKeys(cache.changes.pipe(mergeMap((c: CacheChange) => (c.kind === 'placement' && policy.quotaCovers(c.app) ? appIds(c.app) : []))))
        // Replica readiness drives rolling updates and moves.
        .watches(factory.informer(Resources.replicas(keys)), eventManifest)
        // A secret or config set or removed: the manifests using it (new versions roll them).
        .watches(factory.informer(Resources.secrets(keys)), usersOf('secret'))
        .watches(factory.informer(Resources.configs(keys)), usersOf('config'))
        // Volume sets marked for purge or removed (`dokkaa volume rm`) change where replicas may go.
        .watches(factory.informer(Resources.volumeSets(keys)), eventManifest)
        // Moves `dokkaa rebalance` asks for.
        .watches(factory.informer(Resources.moves(keys)), eventManifest)
        // `dokkaa rollout restart`: pin again and roll.
        .watches(factory.informer(Resources.restarts(keys)), eventManifest)
        .uses(cache)
        // The rollout tracker reads the records it wrote from here (its own writes are assumed).
        .uses(factory.informer(Resources.rollouts(keys)))
        .resyncsAlso(() => cache.manifestIds())
        // Reconciles wait on etcd round trips, not on the CPU (nothing is listed per
        // reconcile any more): more of them at once let etcd batch their writes.
        .concurrency(16)
        .build(),
    );
  }
}
