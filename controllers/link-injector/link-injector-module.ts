import { ContainerModule } from 'inversify';
import { TYPES } from '../../src/ioc/tokens.js';
import { LinkInjectorController, PortAllocatorController } from './link-injector-controller.js';
import { LinkInjectorReconciler } from './link-injector-reconciler.js';
import { PortAllocatorReconciler } from './port-allocator-reconciler.js';

/** The link injector and the port allocator that gives each linked service its ambassador port. Cluster-wide. */
export const linkInjectorModule = new ContainerModule(({ bind }) => {
  bind(LinkInjectorReconciler).toSelf().inSingletonScope();
  bind(LinkInjectorController).toSelf().inSingletonScope();
  bind(TYPES.LeaderRunnable).toService(LinkInjectorController);
  bind(PortAllocatorReconciler).toSelf().inSingletonScope();
  bind(PortAllocatorController).toSelf().inSingletonScope();
  bind(TYPES.LeaderRunnable).toService(PortAllocatorController);
});
