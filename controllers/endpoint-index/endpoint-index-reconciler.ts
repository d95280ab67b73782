import { inject, injectable } from 'inversify';
import { parseServiceId, type Keys } from '../../api/keys.js';
import { applyMirror } from '../../src/controller/mirror.js';
import type { Reconciler } from '../../src/controller/controller.js';
import type { KvStore } from '../../src/etcd/kv-store.js';
import { InformerFactory } from '../../src/informer/informer-factory.js';
import { BY_SERVICE, Resources, type Endpoint, type IndexedEndpoint } from '../../src/informer/resources.js';
import type { InformerCache } from '../../src/informer/shared-informer.js';
import { TYPES } from '../../src/ioc/tokens.js';
import type { Logger } from '../../src/logging.js';
import { planEndpointIndex } from './endpoint-index-plan.js';

/**
 * Makes one service's (`app/service`) entries in `service-endpoints/` match its endpoints in
 * `node-endpoints/`. The hosts cannot keep that index themselves: a host's etcd role writes
 * only under its own node's prefixes, and a key by service first cannot be limited to one
 * node's entries.
 */
@injectable()
export class EndpointIndexReconciler implements Reconciler {
  private readonly endpoints: InformerCache<Endpoint>;
  private readonly indexed: InformerCache<IndexedEndpoint>;

  constructor(
    @inject(TYPES.KvStore) private readonly store: KvStore,
    @inject(TYPES.Keys) private readonly keys: Keys,
    @inject(InformerFactory) factory: InformerFactory,
  ) {
    this.endpoints = factory.informer(Resources.endpoints(keys));
    this.indexed = factory.informer(Resources.serviceEndpoints(keys));
  }

  async reconcile(id: string, log: Logger): Promise<void> {
    const at = parseServiceId(id);
    if (!at) return;
    const plan = planEndpointIndex(this.keys, at.app, at.service, this.endpoints.byIndex(BY_SERVICE, id), this.indexed.byIndex(BY_SERVICE, id));
    await applyMirror(this.store, plan, log, 'indexed endpoint');
  }
}
