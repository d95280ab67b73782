import { ContainerModule } from 'inversify';
import { TYPES } from '../../src/ioc/tokens.js';
import { EndpointIndexController } from './endpoint-index-controller.js';
import { EndpointIndexReconciler } from './endpoint-index-reconciler.js';

/** The endpoint index: every host's endpoints by service, for the hosts' ambassadors, DNS servers and routers. Cluster-wide. */
export const endpointIndexModule = new ContainerModule(({ bind }) => {
  bind(EndpointIndexReconciler).toSelf().inSingletonScope();
  bind(EndpointIndexController).toSelf().inSingletonScope();
  bind(TYPES.LeaderRunnable).toService(EndpointIndexController);
});
