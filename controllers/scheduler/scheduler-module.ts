import { ContainerModule } from 'inversify';
import { TYPES } from '../../src/ioc/tokens.js';
import { MoveRunner } from './move-runner.js';
import { ImagePinner } from './image-pinner.js';
import { RolloutTracker } from './rollout-tracker.js';
import { SchedulerCache } from './scheduler-cache.js';
import { SchedulerController } from './scheduler-controller.js';
import { SchedulerReconciler } from './scheduler-reconciler.js';

/** The scheduler: manifests and live nodes in, placements out. Cluster-wide. */
export const schedulerModule = new ContainerModule(({ bind }) => {
  bind(SchedulerReconciler).toSelf().inSingletonScope();
  bind(RolloutTracker).toSelf().inSingletonScope();
  bind(MoveRunner).toSelf().inSingletonScope();
  bind(ImagePinner).toSelf().inSingletonScope();
  bind(SchedulerCache).toSelf().inSingletonScope();
  bind(SchedulerController).toSelf().inSingletonScope();
  bind(TYPES.LeaderRunnable).toService(SchedulerController);
});
