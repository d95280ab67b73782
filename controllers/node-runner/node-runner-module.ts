import { ContainerModule } from 'inversify';
import { filter, map } from 'rxjs';
import { replicaId, type Keys } from '../../api/keys.js';
import { NodeLease } from '../../src/agent/node-lease.js';
import type { Config } from '../../src/config.js';
import { allKeysOn } from '../../src/controller/controller-builder.js';
import { ControllerFactory } from '../../src/controller/controller-factory.js';
import type { ContainerEngine } from '../../src/docker/container-engine.js';
import { BY_MANIFEST, BY_NODE, manifestOf, replicaOf, Resources } from '../../src/informer/resources.js';
import { TYPES } from '../../src/ioc/tokens.js';
import type { Runnable } from '../../src/runnable.js';
import { LABEL } from './container-template.js';
import { NodeRunnerReconciler } from './node-runner-reconciler.js';
import { ReplicaExecutor } from './replica-executor.js';
import { PartitionFence } from './partition-fence.js';
import { HealthProber } from './health-prober.js';

/** The node runner: this host's placements and containers in, containers and `replicas/` out. */
export const nodeRunnerModule = new ContainerModule(({ bind }) => {
  bind(NodeRunnerReconciler).toSelf().inSingletonScope();
  bind(ReplicaExecutor).toSelf().inSingletonScope();
  bind(HealthProber).toSelf().inSingletonScope();
  bind(PartitionFence).toSelf().inSingletonScope();
  bind(TYPES.Runnable).toService(PartitionFence);
  bind<Runnable>(TYPES.Runnable)
    .toDynamicValue((ctx) => {
      const keys = ctx.get<Keys>(TYPES.Keys);
      const engine = ctx.get<ContainerEngine>(TYPES.ContainerEngine);
      const node = ctx.get<Config>(TYPES.Config).node;
      const lease = ctx.get(NodeLease);
      const factory = ctx.get(ControllerFactory);
      const mineLabels = { [LABEL.managed]: 'true', [LABEL.cluster]: keys.root, [LABEL.node]: node };
      const placements = factory.informer(Resources.nodePlacements(keys, node));
      const replicas = factory.informer(Resources.replicas(keys));
      // Beside what is placed here: containers found on the engine and records this host
      // wrote, so that what is no longer placed here is removed.
      const leftovers = async (): Promise<string[]> => [
        ...(await engine.list(mineLabels)).map((c) => replicaId(c.labels[LABEL.app]!, c.labels[LABEL.name]!, Number(c.labels[LABEL.replica]))),
        ...replicas.byIndex(BY_NODE, node).map(replicaOf),
      ];
      const allHere = async () => [...placements.list().map(replicaOf), ...(await leftovers())];
      const controller = factory
        .builder('node-runner', ctx.get(NodeRunnerReconciler))
        .for(placements, (c) => [replicaOf(c)])
        // A link change reaches the replicas of its manifest placed here.
        .watches(factory.informer(Resources.links(keys)), (ev) => placements.byIndex(BY_MANIFEST, manifestOf(ev.type === 'put' ? ev.obj : ev.old)).map(replicaOf))
        .watchesKeys(
          engine.events(mineLabels).pipe(
            filter((ev) => ev.labels[LABEL.app] !== undefined && ev.labels[LABEL.replica] !== undefined),
            map((ev) => replicaId(ev.labels[LABEL.app]!, ev.labels[LABEL.name]!, Number(ev.labels[LABEL.replica]))),
          ),
        )
        // A new lease means every record must be written again under it.
        .watchesKeys(allKeysOn(lease.changes$, allHere))
        .uses(replicas)
        .resyncsAlso(leftovers)
        .build();
      // A health verdict that changes is a reason to reconcile that replica.
      ctx.get(HealthProber).setListener((id) => controller.enqueue(id));
      return controller;
    })
    .inSingletonScope();
});
