import { inject, injectable } from 'inversify';
import type { Keys } from '../../api/keys.js';
import type { Config } from '../config.js';
import { InformerFactory } from '../informer/informer-factory.js';
import { Resources, type Endpoint, type NodePlacement, type Replica } from '../informer/resources.js';
import type { SharedInformer } from '../informer/shared-informer.js';
import { TYPES } from '../ioc/tokens.js';
import { NodeLease } from './node-lease.js';

/**
 * This host's own sections of etcd (its placements, replica records and endpoints) as the
 * agent's shared informers hold them, for the node runner and the registrar, which act on
 * them instead of reading etcd; and the gate before they act.
 *
 * A fresh read of etcd used to fail while the host was cut off from it; a cache answers
 * anyway. So `ready` refuses while the lease is not live (its fence has removed the
 * containers, which must not come back before etcd does), and under each new lease (the
 * last one expired: the scheduler may have moved the host's replicas, and etcd deleted its
 * records) it lists the sections again before anyone acts on them, unless it listed them
 * after the lease was granted.
 */
@injectable()
export class HostCaches {
  readonly placements: SharedInformer<NodePlacement>;
  readonly records: SharedInformer<Replica>;
  readonly endpoints: SharedInformer<Endpoint>;
  /** The lease under which the sections were last listed again, or are being. */
  private relisted: { lease: string; done: Promise<void> } | undefined;

  constructor(
    @inject(InformerFactory) factory: InformerFactory,
    @inject(TYPES.Keys) keys: Keys,
    @inject(TYPES.Config) config: Pick<Config, 'node'>,
    @inject(NodeLease) private readonly lease: Pick<NodeLease, 'live' | 'id' | 'grantRevision'>,
  ) {
    this.placements = factory.informer(Resources.nodePlacements(keys, config.node));
    this.records = factory.informer(Resources.nodeReplicas(keys, config.node));
    this.endpoints = factory.informer(Resources.nodeEndpoints(keys, config.node));
  }

  /**
   * Resolves once the caches may be acted on: the lease is live and the sections have been
   * listed since it was granted. Rejects while the lease is not live, or if a listing fails
   * (the caller's work queue retries).
   */
  async ready(): Promise<void> {
    if (!this.lease.live()) throw new Error('etcd out of reach (the node lease is not being renewed): not acting on cached state');
    const lease = this.lease.id();
    if (this.relisted?.lease !== lease) {
      // A section listed at or after the lease's grant is as fresh as a listing now: the
      // informers' first listings under the first lease are (NodeLease starts first), and
      // listing a thousand hosts' sections again as the first placements land was 3,000
      // range reads at etcd's busiest moment (bench/results/scale.md).
      const since = this.lease.grantRevision();
      const sections = [this.placements, this.records, this.endpoints];
      const done = Promise.all(sections.map((s) => (s.listedAt() >= since ? undefined : s.relist()))).then(() => undefined);
      const relisted = { lease, done };
      this.relisted = relisted;
      // A failed listing is tried again by the next caller.
      done.catch(() => {
        if (this.relisted === relisted) this.relisted = undefined;
      });
    }
    await this.relisted!.done;
  }
}
