import { inject, injectable } from 'inversify';
import { replicaId, type Keys } from '../../api/keys.js';
import { NodeLease } from '../../src/agent/node-lease.js';
import type { Config } from '../../src/config.js';
import { allKeysOn } from '../../src/controller/controller-builder.js';
import { ControllerFactory } from '../../src/controller/controller-factory.js';
import { ControllerRunnable } from '../../src/controller/controller-runnable.js';
import { BY_NODE, replicaOf, Resources } from '../../src/informer/resources.js';
import { TYPES } from '../../src/ioc/tokens.js';
import { endpointOwner, replicaConcerns } from './registrar-maps.js';
import { ServiceRegistrarReconciler } from './service-registrar-reconciler.js';

/** The service registrar, one per host: this host's `node-replicas/<node>/` in, `node-endpoints/<node>/` out. */
@injectable()
export class ServiceRegistrarController extends ControllerRunnable {
  constructor(
    @inject(ControllerFactory) factory: ControllerFactory,
    @inject(TYPES.Keys) keys: Keys,
    @inject(TYPES.Config) config: Pick<Config, 'node'>,
    @inject(NodeLease) lease: NodeLease,
    @inject(ServiceRegistrarReconciler) reconciler: ServiceRegistrarReconciler,
  ) {
    const node = config.node;
    // Only this host's own sections: its etcd role reads no other host's replicas.
    const replicas = factory.informer(Resources.nodeReplicas(keys, node));
    const endpoints = factory.informer(Resources.nodeEndpoints(keys, node));
    const mine = async () => [
      ...replicas.byIndex(BY_NODE, node).map(replicaOf),
      ...endpoints.byIndex(BY_NODE, node).map((c) => replicaId(c.value.app, c.value.name, c.value.replica)),
    ];
    super(
      factory
        .builder('service-registrar', reconciler)
        // Deletes too: a record gone (even another host's) may leave our endpoints stale.
        .watches(replicas, (ev) => replicaConcerns(node, endpoints, ev))
        // An endpoint of this host changed or deleted by someone else is put back.
        .watches(endpoints, (ev) => endpointOwner(node, ev))
        .watchesKeys(allKeysOn(lease.changes$, mine))
        .resyncsAlso(mine)
        .build(),
    );
  }
}
