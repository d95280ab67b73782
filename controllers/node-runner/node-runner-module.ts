import { ContainerModule } from 'inversify';
import { TYPES } from '../../src/ioc/tokens.js';
import { HealthProber } from './health-prober.js';
import { NodeRunnerController } from './node-runner-controller.js';
import { NodeRunnerReconciler } from './node-runner-reconciler.js';
import { PartitionFence } from './partition-fence.js';
import { ReplicaExecutor } from './replica-executor.js';

/** The node runner: this host's placements and containers in, containers and `replicas/` out. */
export const nodeRunnerModule = new ContainerModule(({ bind }) => {
  bind(NodeRunnerReconciler).toSelf().inSingletonScope();
  bind(ReplicaExecutor).toSelf().inSingletonScope();
  bind(HealthProber).toSelf().inSingletonScope();
  bind(PartitionFence).toSelf().inSingletonScope();
  bind(TYPES.Runnable).toService(PartitionFence);
  bind(NodeRunnerController).toSelf().inSingletonScope();
  bind(TYPES.Runnable).toService(NodeRunnerController);
});
