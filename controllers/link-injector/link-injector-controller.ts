import { inject, injectable } from 'inversify';
import type { Keys } from '../../api/keys.js';
import { ControllerFactory } from '../../src/controller/controller-factory.js';
import { ControllerRunnable } from '../../src/controller/controller-runnable.js';
import { entryId, eventManifest, Resources, targetChanged } from '../../src/informer/resources.js';
import { TYPES } from '../../src/ioc/tokens.js';
import { endpointConsumers, portConsumers } from './link-maps.js';
import { LinkInjectorReconciler } from './link-injector-reconciler.js';
import { PortAllocatorReconciler, PORTS_KEY } from './port-allocator-reconciler.js';
import { portBearing } from './port-plan.js';

/** The link injector: manifests' links, `ports/` and `node-endpoints/` in, `links/` out. */
@injectable()
export class LinkInjectorController extends ControllerRunnable {
  constructor(@inject(ControllerFactory) factory: ControllerFactory, @inject(TYPES.Keys) keys: Keys, @inject(LinkInjectorReconciler) reconciler: LinkInjectorReconciler) {
    const manifests = factory.informer(Resources.manifests(keys));
    const endpoints = factory.informer(Resources.endpoints(keys));
    super(
      factory
        .builder('link-injector', reconciler)
        .for(manifests, (c) => [entryId(c)])
        .watches(endpoints, (ev) => endpointConsumers(manifests, endpoints, ev))
        .watches(factory.informer(Resources.ports(keys)), (ev) => portConsumers(manifests, ev))
        .watches(factory.informer(Resources.links(keys)), eventManifest)
        // A new admitted version (its rollout's target) may link other services.
        .watches(factory.informer(Resources.rollouts(keys)), targetChanged)
        .build(),
    );
  }
}

/**
 * The port allocator: manifests' links and `links/` in, `ports/` and `portalloc/` out.
 * Every change re-plans every port: one key, so the queue folds bursts into one run.
 */
@injectable()
export class PortAllocatorController extends ControllerRunnable {
  constructor(@inject(ControllerFactory) factory: ControllerFactory, @inject(TYPES.Keys) keys: Keys, @inject(PortAllocatorReconciler) reconciler: PortAllocatorReconciler) {
    const all = () => [PORTS_KEY];
    super(
      factory
        .builder('port-allocator', reconciler)
        .for(factory.informer(Resources.manifests(keys)), all, (ev) => portBearing(ev.type === 'put' ? ev.obj.value : undefined) !== portBearing(ev.old?.value))
        .watches(factory.informer(Resources.links(keys)), all)
        .watches(factory.informer(Resources.ports(keys)), all)
        .watches(factory.informer(Resources.portAllocs(keys)), all)
        .resyncsAlso(all)
        .concurrency(1)
        .build(),
    );
  }
}
