import { inject, injectable } from 'inversify';
import { mergeMap } from 'rxjs';
import type { Keys } from '../../api/keys.js';
import { NodeLease } from '../../src/agent/node-lease.js';
import type { Config } from '../../src/config.js';
import { allKeysOn } from '../../src/controller/controller-builder.js';
import { ControllerFactory } from '../../src/controller/controller-factory.js';
import { ControllerRunnable } from '../../src/controller/controller-runnable.js';
import { BY_MANIFEST, BY_NODE, manifestOf, replicaOf, Resources } from '../../src/informer/resources.js';
import type { InformerEvent } from '../../src/informer/shared-informer.js';
import { TYPES } from '../../src/ioc/tokens.js';
import { replicaOfLabels } from './container-template.js';
import { CreateLimit } from './create-limit.js';
import { HealthProber } from './health-prober.js';
import { NodeRunnerReconciler } from './node-runner-reconciler.js';
import { OwnEvents } from './own-events.js';
import { ContainerCache } from './container-cache.js';
import { SecretFileStore } from './secret-file-store.js';

/** The node runner: this host's placements and containers in, containers and `node-replicas/<node>/` out. */
@injectable()
export class NodeRunnerController extends ControllerRunnable {
  constructor(
    @inject(ControllerFactory) factory: ControllerFactory,
    @inject(TYPES.Keys) keys: Keys,
    @inject(TYPES.Config) config: Pick<Config, 'node'>,
    @inject(NodeLease) lease: NodeLease,
    @inject(HealthProber) prober: HealthProber,
    @inject(NodeRunnerReconciler) reconciler: NodeRunnerReconciler,
    @inject(SecretFileStore) files: SecretFileStore,
    @inject(CreateLimit) limit: CreateLimit,
    @inject(OwnEvents) own: OwnEvents,
    @inject(ContainerCache) containers: ContainerCache,
  ) {
    const node = config.node;
    const placements = factory.informer(Resources.nodePlacements(keys, node));
    const replicas = factory.informer(Resources.nodeReplicas(keys, node));
    // Beside what is placed here: containers found on the engine and records this host
    // wrote, so that what is no longer placed here is removed.
    const leftovers = async (): Promise<string[]> => [
      ...containers.replicaIds(),
      ...replicas.byIndex(BY_NODE, node).map(replicaOf),
      // Secret files of a replica that left while the agent was down.
      ...(await files.replicaIds()),
    ];
    // A secret sealed to this node, or a config, that changed: the replicas of its app here.
    const ofApp = (ev: InformerEvent<{ at: { app: string } }>) => {
      const app = (ev.type === 'put' ? ev.obj : ev.old).value.at.app;
      return placements.list().filter((p) => p.value.at.app === app).map(replicaOf);
    };
    const allHere = async () => [...placements.list().map(replicaOf), ...(await leftovers())];
    super(
      factory
        .builder('node-runner', reconciler)
        .for(placements, (c) => [replicaOf(c)])
        // A link change reaches the replicas of its manifest placed here.
        .watches(factory.informer(Resources.links(keys)), (ev) => placements.byIndex(BY_MANIFEST, manifestOf(ev.type === 'put' ? ev.obj : ev.old)).map(replicaOf))
        .watches(factory.informer(Resources.nodeSealed(keys, node)), ofApp)
        .watches(factory.informer(Resources.configs(keys)), ofApp)
        // Registry credentials sealed to this node: every replica here may wait for them.
        .watches(factory.informer(Resources.nodeSealedRegistries(keys, node)), () => placements.list().map(replicaOf))
        .watchesKeys(
          containers.events.pipe(
            // What the node runner did itself was inspected by the reconcile that did it.
            mergeMap((ev) => {
              const id = replicaOfLabels(ev.labels);
              return id !== undefined && !own.caused(ev) ? [id] : [];
            }),
          ),
        )
        // A new lease means every record must be written again under it.
        .watchesKeys(allKeysOn(lease.changes$, allHere))
        .uses(replicas)
        .uses(containers)
        // The resync lists the engine's containers again: a torn event line is lost otherwise.
        .resyncsAlso(async () => {
          await containers.relist();
          return leftovers();
        })
        // As many at once as the engine creates and starts containers without queueing them (create-limit.ts).
        .concurrency(() => limit.current)
        .build(),
    );
    // A health verdict that changes is a reason to reconcile that replica.
    prober.setListener((id) => this.enqueue(id));
  }
}
