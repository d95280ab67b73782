import { inject, injectable } from 'inversify';
import type { Keys } from '../../api/keys.js';
import { ControllerFactory } from '../../src/controller/controller-factory.js';
import { ControllerRunnable } from '../../src/controller/controller-runnable.js';
import { entryId, eventManifest, manifestOf, Resources, targetChanged } from '../../src/informer/resources.js';
import { TYPES } from '../../src/ioc/tokens.js';
import { RoutePublisherReconciler } from './route-publisher-reconciler.js';

/** The route publisher: `apps/` and `rollouts/` in, `routes/` out. Cluster-wide. */
@injectable()
export class RoutePublisherController extends ControllerRunnable {
  constructor(@inject(ControllerFactory) factory: ControllerFactory, @inject(TYPES.Keys) keys: Keys, @inject(RoutePublisherReconciler) reconciler: RoutePublisherReconciler) {
    const routes = factory.informer(Resources.routes(keys));
    super(
      factory
        .builder('route-publisher', reconciler)
        .for(factory.informer(Resources.manifests(keys)), (c) => [entryId(c)])
        .watches(factory.informer(Resources.rollouts(keys)), targetChanged)
        // A record changed or deleted by someone else is put back; one of a gone manifest goes.
        .watches(routes, eventManifest)
        .resyncsAlso(() => routes.list().map(manifestOf))
        .build(),
    );
  }
}
