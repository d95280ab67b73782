import { inject, injectable } from 'inversify';
import { merge, type Subscription } from 'rxjs';
import type { Keys } from '../../api/keys.js';
import { DEFAULT_RESERVATION } from '../../api/reservation.js';
import type { Amounts } from '../../api/records.js';
import type { Clock, TimerHandle } from '../clock.js';
import type { Config } from '../config.js';
import { InformerFactory } from '../informer/informer-factory.js';
import { Resources, type NodePlacement } from '../informer/resources.js';
import type { SharedInformer } from '../informer/shared-informer.js';
import { TYPES } from '../ioc/tokens.js';
import { errorField, type Logger } from '../logging.js';
import type { Runnable } from '../runnable.js';
import { NodeLease, type Allocated } from './node-lease.js';
import { roundCpus } from './node-capacity.js';

/** Placements come and go in bursts (a scale-up, a rollout): one write a second at most. */
export const ALLOCATED_WRITE_INTERVAL_MS = 1_000;

/** What `placements` reserve together; a placement without `reserved` reserves the default. */
export function allocatedOf(placements: readonly { reserved?: Amounts }[]): Allocated {
  let cpus = 0;
  let memoryBytes = 0;
  for (const p of placements) {
    cpus += (p.reserved ?? DEFAULT_RESERVATION).cpus;
    memoryBytes += (p.reserved ?? DEFAULT_RESERVATION).memoryBytes;
  }
  return { cpus: roundCpus(cpus), memoryBytes, replicas: placements.length };
}

const same = (a: Allocated | undefined, b: Allocated) => !!a && a.cpus === b.cpus && a.memoryBytes === b.memoryBytes && a.replicas === b.replicas;

/**
 * Keeps the node record's `allocated` equal to the sum of this host's placements'
 * reservations (for `dokkaa nodes` and anyone sizing hosts; the scheduler counts from the
 * placements themselves). Reads the agent's shared informer of `placements/<node>/`, and
 * writes only when the sum changed, at most once per ALLOCATED_WRITE_INTERVAL_MS: a host
 * whose placements do not change writes nothing. A failed write is retried a second later.
 */
@injectable()
export class AllocationReporter implements Runnable {
  readonly name = 'allocation-reporter';
  private readonly placements: SharedInformer<NodePlacement>;
  private subscription: Subscription | undefined;
  private timer: TimerHandle | undefined;
  /** What the node record holds, as far as this reporter knows (undefined: unknown). */
  private written: Allocated | undefined;
  private running = false;

  constructor(
    @inject(InformerFactory) informers: InformerFactory,
    @inject(TYPES.Keys) keys: Keys,
    @inject(TYPES.Config) config: Pick<Config, 'node'>,
    @inject(NodeLease) private readonly lease: Pick<NodeLease, 'publishAllocated' | 'changes$'>,
    @inject(TYPES.Clock) private readonly clock: Clock,
    @inject(TYPES.Logger) private readonly log: Logger,
  ) {
    this.placements = informers.informer(Resources.nodePlacements(keys, config.node));
  }

  async start(): Promise<void> {
    this.running = true;
    this.written = undefined;
    this.placements.acquire();
    this.subscription = merge(this.placements.events, this.placements.relists).subscribe(() => this.schedule());
    // A new lease's record may have been written with an older count: count it as unknown.
    this.subscription.add(this.lease.changes$.subscribe(() => {
      this.written = undefined;
      this.schedule();
    }));
    void this.placements.synced().then(() => this.schedule(), () => undefined);
  }

  async stop(): Promise<void> {
    this.running = false;
    this.subscription?.unsubscribe();
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    await this.placements.release();
  }

  private schedule(): void {
    if (!this.running || this.timer !== undefined) return;
    this.timer = this.clock.setTimeout(() => void this.write(), ALLOCATED_WRITE_INTERVAL_MS);
  }

  /** One write at most per timer slot; changes meanwhile (or a failed write) take the next slot. */
  private async write(): Promise<void> {
    try {
      const allocated = this.current();
      if (allocated && !same(this.written, allocated)) {
        await this.lease.publishAllocated(allocated);
        this.written = allocated;
        this.log.debug('node allocation written', { ...allocated });
      }
    } catch (err) {
      this.log.warn('node allocation write failed; retrying', { error: errorField(err) });
    } finally {
      this.timer = undefined;
    }
    const now = this.current();
    if (now && !same(this.written, now)) this.schedule();
  }

  /** The sum now; undefined before the first listing (synced() schedules the first count). */
  private current(): Allocated | undefined {
    return this.running && this.placements.hasSynced() ? allocatedOf(this.placements.list().map((c) => c.value)) : undefined;
  }
}
