import { inject, injectable } from 'inversify';
import type { Keys } from '../../api/keys.js';
import { ControllerFactory } from '../../src/controller/controller-factory.js';
import { ControllerRunnable } from '../../src/controller/controller-runnable.js';
import { endpointMirror } from '../../src/controller/mirror.js';
import { Resources } from '../../src/informer/resources.js';
import { TYPES } from '../../src/ioc/tokens.js';
import { EndpointIndexReconciler } from './endpoint-index-reconciler.js';

/** The endpoint index: `node-endpoints/` in, `service-endpoints/` out. Cluster-wide. */
@injectable()
export class EndpointIndexController extends ControllerRunnable {
  constructor(@inject(ControllerFactory) factory: ControllerFactory, @inject(TYPES.Keys) keys: Keys, @inject(EndpointIndexReconciler) reconciler: EndpointIndexReconciler) {
    super(
      endpointMirror(factory.builder('endpoint-index', reconciler), factory.informer(Resources.endpoints(keys)), factory.informer(Resources.serviceEndpoints(keys)))
        // Endpoints are the data path: a replica that became ready, or one that is going.
        .concurrency(8)
        .build(),
    );
  }
}
