import { inject, injectable } from 'inversify';
import type { Keys } from '../../api/keys.js';
import type { Config } from '../../src/config.js';
import { ControllerFactory } from '../../src/controller/controller-factory.js';
import { ControllerRunnable } from '../../src/controller/controller-runnable.js';
import { manifestOf, Resources } from '../../src/informer/resources.js';
import { TYPES } from '../../src/ioc/tokens.js';
import { ClusterPolicy } from '../../src/policy/cluster-policy.js';
import { PrepullReconciler } from './prepull-reconciler.js';

/**
 * `dokkaa pull` on this host: prepull/ requests in, pulls and node-prepulled/ answers out. Apart
 * from the node runner's queue, so a long pre-pull holds none of its workers.
 */
@injectable()
export class PrepullController extends ControllerRunnable {
  constructor(
    @inject(ControllerFactory) factory: ControllerFactory,
    @inject(TYPES.Keys) keys: Keys,
    @inject(TYPES.Config) config: Pick<Config, 'node'>,
    @inject(PrepullReconciler) reconciler: PrepullReconciler,
    @inject(ClusterPolicy) policy: ClusterPolicy,
  ) {
    const requests = factory.informer(Resources.prepulls(keys));
    super(
      factory
        .builder('prepull', reconciler)
        .for(requests, (c) => [manifestOf(c)])
        // Registry credentials sealed to this node: a request may wait for them.
        .watches(factory.informer(Resources.nodeSealedRegistries(keys, config.node)), () => requests.list().map(manifestOf))
        // The registries rule applies to requests (PrepullReconciler).
        .uses(policy.informer)
        // Pre-pulls of different manifests' images go on side by side.
        .concurrency(4)
        .build(),
    );
  }
}
