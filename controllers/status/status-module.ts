import { ContainerModule } from 'inversify';
import { TYPES } from '../../src/ioc/tokens.js';
import { RouteConflicts } from './route-conflicts.js';
import { StatusCache } from './status-cache.js';
import { StatusController } from './status-controller.js';
import { StatusReconciler } from './status-reconciler.js';

/**
 * The status controller: everything about a manifest in, `status/<app>/<name>` out.
 * Cluster-wide. Nodes and placements come from its StatusCache, host-name conflicts from
 * RouteConflicts, both for one leadership term.
 */
export const statusModule = new ContainerModule(({ bind }) => {
  bind(StatusReconciler).toSelf().inSingletonScope();
  bind(StatusCache).toSelf().inSingletonScope();
  bind(RouteConflicts).toSelf().inSingletonScope();
  bind(StatusController).toSelf().inSingletonScope();
  bind(TYPES.LeaderRunnable).toService(StatusController);
});
