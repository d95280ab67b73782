import { ContainerModule } from 'inversify';
import { mergeMap } from 'rxjs';
import { manifestId, type Keys } from '../../api/keys.js';
import { ControllerFactory } from '../../src/controller/controller-factory.js';
import { eventManifest, manifestOf, Resources } from '../../src/informer/resources.js';
import { TYPES } from '../../src/ioc/tokens.js';
import type { Runnable } from '../../src/runnable.js';
import { StatusCache, type StatusCacheChange } from './status-cache.js';
import { StatusReconciler } from './status-reconciler.js';

/**
 * The status controller: everything about a manifest in, `status/<app>/<name>` out.
 * Cluster-wide. Nodes and placements come from its StatusCache, for one leadership term.
 */
export const statusModule = new ContainerModule(({ bind }) => {
  bind(StatusReconciler).toSelf().inSingletonScope();
  bind(StatusCache).toSelf().inSingletonScope();
  bind<Runnable>(TYPES.LeaderRunnable)
    .toDynamicValue((ctx) => {
      const keys = ctx.get<Keys>(TYPES.Keys);
      const factory = ctx.get(ControllerFactory);
      const cache = ctx.get(StatusCache);
      const manifests = factory.informer(Resources.manifests(keys));
      const statuses = factory.informer(Resources.statuses(keys));
      const all = () => manifests.list().map((c) => manifestId(c.value.app, c.value.name));
      return factory
        .builder('status', ctx.get(StatusReconciler))
        .for(manifests, (c) => [manifestId(c.value.app, c.value.name)])
        .watches(factory.informer(Resources.replicas(keys)), eventManifest)
        .watches(factory.informer(Resources.links(keys)), eventManifest)
        .watches(statuses, eventManifest)
        .watches(factory.informer(Resources.rollouts(keys)), eventManifest)
        // Told after the informers applied the change, so the reconcile sees it; nodes coming
        // and going bear on every manifest (unschedulable reasons).
        .watchesKeys(cache.changes.pipe(mergeMap((c: StatusCacheChange) => (c.kind === 'placement' ? [c.id] : all()))))
        .uses(cache)
        // A status whose manifest is gone is deleted by its reconcile.
        .resyncsAlso(() => statuses.list().map(manifestOf))
        .build();
    })
    .inSingletonScope();
});
