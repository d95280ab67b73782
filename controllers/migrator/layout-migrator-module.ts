import { ContainerModule } from 'inversify';
import { TYPES } from '../../src/ioc/tokens.js';
import { LayoutMigratorController } from './layout-migrator-controller.js';
import { LayoutMigratorReconciler } from './layout-migrator-reconciler.js';

/** Moves what hosts wrote in the old layout to the per-node one (docs/keys.md, "Upgrading"). Cluster-wide. */
export const layoutMigratorModule = new ContainerModule(({ bind }) => {
  bind(LayoutMigratorReconciler).toSelf().inSingletonScope();
  bind(LayoutMigratorController).toSelf().inSingletonScope();
  bind(TYPES.LeaderRunnable).toService(LayoutMigratorController);
});
