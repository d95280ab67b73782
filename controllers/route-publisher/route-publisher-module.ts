import { ContainerModule } from 'inversify';
import { TYPES } from '../../src/ioc/tokens.js';
import { RoutePublisherController } from './route-publisher-controller.js';
import { RoutePublisherReconciler } from './route-publisher-reconciler.js';

/** The route publisher: each manifest's admitted web version in `routes/`, for the routers. Cluster-wide. */
export const routePublisherModule = new ContainerModule(({ bind }) => {
  bind(RoutePublisherReconciler).toSelf().inSingletonScope();
  bind(RoutePublisherController).toSelf().inSingletonScope();
  bind(TYPES.LeaderRunnable).toService(RoutePublisherController);
});
