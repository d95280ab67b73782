import { ContainerModule } from 'inversify';
import { TYPES } from '../../src/ioc/tokens.js';
import { ServiceRegistrarController } from './service-registrar-controller.js';
import { ServiceRegistrarReconciler } from './service-registrar-reconciler.js';

/** The service registrar, one per host: this host's `node-replicas/<node>/` in, `node-endpoints/<node>/` out. */
export const serviceRegistrarModule = new ContainerModule(({ bind }) => {
  bind(ServiceRegistrarReconciler).toSelf().inSingletonScope();
  bind(ServiceRegistrarController).toSelf().inSingletonScope();
  bind(TYPES.Runnable).toService(ServiceRegistrarController);
});
