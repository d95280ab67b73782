import { inject, injectable } from 'inversify';
import type { Subscription } from 'rxjs';
import { NodeLease } from '../../src/agent/node-lease.js';
import type { Config } from '../../src/config.js';
import type { ContainerEngine } from '../../src/docker/container-engine.js';
import { TYPES } from '../../src/ioc/tokens.js';
import { errorField, type Logger } from '../../src/logging.js';
import type { Runnable } from '../../src/runnable.js';
import { hostLabels } from './container-template.js';
import type { Keys } from '../../api/keys.js';

/**
 * Self-fencing: when this host cannot renew its lease (cut off from etcd), its replicas
 * are about to be placed elsewhere, so it removes its own containers before the lease
 * expires. That bounds the time a replica may run twice to the lease TTL. The price: an
 * etcd outage longer than the TTL stops every replica (`--fence false` turns this off).
 * When the host reconnects, the node runner recreates whatever is still placed here.
 */
@injectable()
export class PartitionFence implements Runnable {
  readonly name = 'partition-fence';
  private subscription: Subscription | undefined;
  private running: Promise<void> = Promise.resolve();

  constructor(
    @inject(NodeLease) private readonly lease: NodeLease,
    @inject(TYPES.ContainerEngine) private readonly engine: ContainerEngine,
    @inject(TYPES.Config) private readonly config: Config,
    @inject(TYPES.Keys) private readonly keys: Keys,
    @inject(TYPES.Logger) private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    if (!this.config.fence) return;
    this.subscription = this.lease.expiring$.subscribe(() => {
      this.running = this.running.then(() => this.fence());
    });
  }

  async stop(): Promise<void> {
    this.subscription?.unsubscribe();
    await this.running;
  }

  private async fence(): Promise<void> {
    try {
      const containers = await this.engine.list(hostLabels(this.keys.root, this.config.node));
      this.log.warn('fencing: removing this host\'s containers before its lease expires', { node: this.config.node, count: containers.length });
      // In parallel and with a short grace: the whole point is to be gone before the TTL.
      await Promise.all(containers.map(async (c) => {
        await this.engine.stop(c.id, 1);
        await this.engine.remove(c.id);
      }));
    } catch (err) {
      this.log.error('fencing failed', { node: this.config.node, error: errorField(err) });
    }
  }
}
