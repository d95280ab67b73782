import { inject, injectable } from 'inversify';
import { mergeMap } from 'rxjs';
import type { Keys } from '../../api/keys.js';
import { ControllerFactory } from '../../src/controller/controller-factory.js';
import { ControllerRunnable } from '../../src/controller/controller-runnable.js';
import { entryId, eventManifest, manifestOf, Resources } from '../../src/informer/resources.js';
import { TYPES } from '../../src/ioc/tokens.js';
import { RouteConflicts } from './route-conflicts.js';
import { StatusCache, type StatusCacheChange } from './status-cache.js';
import { StatusReconciler } from './status-reconciler.js';

/**
 * How long a change waits before the status reconcile it queues. A status is read by people
 * and the CLI, for whom 25 ms is nothing; in that time a new manifest's placement is written
 * by the scheduler in the same process without this controller's work beside it, and a burst
 * of replica records (a scale-up) makes one reconcile.
 */
const STATUS_SETTLE_MS = 25;

/** The status controller: everything about a manifest in, `status/<app>/<name>` out. */
@injectable()
export class StatusController extends ControllerRunnable {
  constructor(
    @inject(ControllerFactory) factory: ControllerFactory,
    @inject(TYPES.Keys) keys: Keys,
    @inject(StatusReconciler) reconciler: StatusReconciler,
    @inject(StatusCache) cache: StatusCache,
    @inject(RouteConflicts) routes: RouteConflicts,
  ) {
    const manifests = factory.informer(Resources.manifests(keys));
    const statuses = factory.informer(Resources.statuses(keys));
    const all = () => manifests.list().map(entryId);
    super(
      factory
        .builder('status', reconciler)
        .for(manifests, (c) => [entryId(c)])
        .watches(factory.informer(Resources.replicas(keys)), eventManifest)
        .watches(factory.informer(Resources.links(keys)), eventManifest)
        .watches(statuses, eventManifest)
        .watches(factory.informer(Resources.rollouts(keys)), eventManifest)
        // Told after the informers applied the change, so the reconcile sees it; nodes coming
        // and going bear on every manifest (unschedulable reasons).
        .watchesKeys(cache.changes.pipe(mergeMap((c: StatusCacheChange) => (c.kind === 'placement' ? [c.id] : all()))))
        .uses(cache)
        // A web manifest or the router domain changed: the manifests whose conflicts it altered.
        .watchesKeys(routes.changes)
        .uses(routes)
        // A status whose manifest is gone is deleted by its reconcile.
        .resyncsAlso(() => statuses.list().map(manifestOf))
        .settle(STATUS_SETTLE_MS)
        .build(),
    );
  }
}
