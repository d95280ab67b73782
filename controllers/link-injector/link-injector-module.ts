import { ContainerModule } from 'inversify';
import { manifestId, type Keys } from '../../api/keys.js';
import { ControllerFactory } from '../../src/controller/controller-factory.js';
import { TYPES } from '../../src/ioc/tokens.js';
import type { Runnable } from '../../src/runnable.js';
import { eventManifest, Resources } from '../../src/informer/resources.js';
import { endpointConsumers, portConsumers } from './link-maps.js';
import { LinkInjectorReconciler } from './link-injector-reconciler.js';
import { PortAllocatorReconciler, PORTS_KEY } from './port-allocator-reconciler.js';

/**
 * The link injector: manifests' links, `ports/` and `services/` in, `links/` out; and the
 * port allocator that gives each linked service its ambassador port. Cluster-wide.
 */
export const linkInjectorModule = new ContainerModule(({ bind }) => {
  bind(LinkInjectorReconciler).toSelf().inSingletonScope();
  bind(PortAllocatorReconciler).toSelf().inSingletonScope();
  bind<Runnable>(TYPES.LeaderRunnable)
    .toDynamicValue((ctx) => {
      const keys = ctx.get<Keys>(TYPES.Keys);
      const factory = ctx.get(ControllerFactory);
      const manifests = factory.informer(Resources.manifests(keys));
      return factory
        .builder('link-injector', ctx.get(LinkInjectorReconciler))
        .for(manifests, (c) => [manifestId(c.value.app, c.value.name)])
        .watches(factory.informer(Resources.endpoints(keys)), (ev) => endpointConsumers(manifests, ev))
        .watches(factory.informer(Resources.ports(keys)), (ev) => portConsumers(manifests, ev))
        .watches(factory.informer(Resources.links(keys)), eventManifest)
        .build();
    })
    .inSingletonScope();
  // Every change re-plans every port: one key, so the queue folds bursts into one run.
  bind<Runnable>(TYPES.LeaderRunnable)
    .toDynamicValue((ctx) => {
      const keys = ctx.get<Keys>(TYPES.Keys);
      const factory = ctx.get(ControllerFactory);
      const all = () => [PORTS_KEY];
      return factory
        .builder('port-allocator', ctx.get(PortAllocatorReconciler))
        .for(factory.informer(Resources.manifests(keys)), all)
        .watches(factory.informer(Resources.links(keys)), all)
        .watches(factory.informer(Resources.ports(keys)), all)
        .watches(factory.informer(Resources.portAllocs(keys)), all)
        .resyncsAlso(all)
        .concurrency(1)
        .build();
    })
    .inSingletonScope();
});
