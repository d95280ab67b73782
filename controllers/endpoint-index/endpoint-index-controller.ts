import { inject, injectable } from 'inversify';
import { serviceId, type Keys } from '../../api/keys.js';
import { ControllerFactory } from '../../src/controller/controller-factory.js';
import { ControllerRunnable } from '../../src/controller/controller-runnable.js';
import { eventService, Resources } from '../../src/informer/resources.js';
import { TYPES } from '../../src/ioc/tokens.js';
import { EndpointIndexReconciler } from './endpoint-index-reconciler.js';

/**
 * How long an endpoint's change waits before its service is indexed again. It adds to the
 * time a replica's arrival or departure takes to reach the ambassadors, well within the 1 s
 * a stopping replica keeps serving after its endpoint goes (DRAIN_MS of the node runner).
 */
const ENDPOINT_INDEX_SETTLE_MS = 50;

/** The endpoint index: `node-endpoints/` in, `service-endpoints/` out. Cluster-wide. */
@injectable()
export class EndpointIndexController extends ControllerRunnable {
  constructor(@inject(ControllerFactory) factory: ControllerFactory, @inject(TYPES.Keys) keys: Keys, @inject(EndpointIndexReconciler) reconciler: EndpointIndexReconciler) {
    const endpoints = factory.informer(Resources.endpoints(keys));
    const indexed = factory.informer(Resources.serviceEndpoints(keys));
    const services = () => indexed.list().map((c) => serviceId(c.value.at.app, c.value.at.service));
    super(
      factory
        .builder('endpoint-index', reconciler)
        .for(endpoints, (c) => [serviceId(c.value.at.app, c.value.at.service)])
        // An entry written or deleted by someone else is put back; one left over is deleted.
        .watches(indexed, eventService)
        .watchesRelists(indexed, services)
        .resyncsAlso(services)
        // Endpoints are the data path: a replica that became ready, or one that is going.
        .concurrency(8)
        // A service's endpoints come in bursts (a scale-up, a host's start): one transaction for each burst.
        .settle(ENDPOINT_INDEX_SETTLE_MS)
        .build(),
    );
  }
}
