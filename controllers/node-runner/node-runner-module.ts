import { ContainerModule } from 'inversify';
import type { Clock } from '../../src/clock.js';
import type { ContainerEngine } from '../../src/docker/container-engine.js';
import { PullCoordinator } from '../../src/docker/pull-coordinator.js';
import { TYPES } from '../../src/ioc/tokens.js';
import type { Logger } from '../../src/logging.js';
import { NodeRegistryCredentials } from '../../src/registry/node-registry-credentials.js';
import { CreateLimit } from './create-limit.js';
import { OwnEvents } from './own-events.js';
import { ContainerCache } from './container-cache.js';
import { ImagesPresent } from './images-present.js';
import { HealthProber } from './health-prober.js';
import { NodeRunnerController } from './node-runner-controller.js';
import { NodeRunnerReconciler } from './node-runner-reconciler.js';
import { PartitionFence } from './partition-fence.js';
import { PrepullController } from './prepull-controller.js';
import { PrepullReconciler } from './prepull-reconciler.js';
import { ReplicaExecutor } from './replica-executor.js';
import { SecretFileStore } from './secret-file-store.js';
import { VolumeKeeperController } from './volume-keeper-controller.js';
import { VolumeKeeperReconciler } from './volume-keeper-reconciler.js';

/** The node runner: this host's placements and containers in, containers and `node-replicas/<node>/` out. */
export const nodeRunnerModule = new ContainerModule(({ bind }) => {
  bind(NodeRunnerReconciler).toSelf().inSingletonScope();
  bind(ReplicaExecutor).toSelf().inSingletonScope();
  bind(CreateLimit).toSelf().inSingletonScope();
  bind(OwnEvents).toSelf().inSingletonScope();
  bind(ContainerCache).toSelf().inSingletonScope();
  bind(ImagesPresent).toSelf().inSingletonScope();
  bind(SecretFileStore).toSelf().inSingletonScope();
  bind(NodeRegistryCredentials).toSelf().inSingletonScope();
  bind(PullCoordinator)
    .toDynamicValue((ctx) => {
      // This node's sealed copies of registry credentials: agents hold no cluster key.
      const credentials = ctx.get(NodeRegistryCredentials);
      const log = ctx.get<Logger>(TYPES.Logger).child({ component: 'pulls' });
      return new PullCoordinator(ctx.get<ContainerEngine>(TYPES.ContainerEngine), ctx.get<Clock>(TYPES.Clock), (ref) => credentials.authFor(ref), log);
    })
    .inSingletonScope();
  bind(HealthProber).toSelf().inSingletonScope();
  bind(PartitionFence).toSelf().inSingletonScope();
  bind(TYPES.Runnable).toService(PartitionFence);
  bind(NodeRunnerController).toSelf().inSingletonScope();
  bind(TYPES.Runnable).toService(NodeRunnerController);
  bind(VolumeKeeperReconciler).toSelf().inSingletonScope();
  bind(VolumeKeeperController).toSelf().inSingletonScope();
  bind(TYPES.Runnable).toService(VolumeKeeperController);
  bind(PrepullReconciler).toSelf().inSingletonScope();
  bind(PrepullController).toSelf().inSingletonScope();
  bind(TYPES.Runnable).toService(PrepullController);
});
