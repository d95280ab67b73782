import { inject, injectable, optional } from 'inversify';
import { Subject, type Observable } from 'rxjs';
import type { Keys } from '../../api/keys.js';
import type { NodeRecord } from '../../api/records.js';
import { nodeAmounts } from './node-capacity.js';
import { SealingKey } from './sealing-key.js';
import { backoffDelay, sleep, type Clock, type TimerHandle } from '../clock.js';
import { DEFAULT_DNS_PORT, type Config } from '../config.js';
import type { ContainerEngine } from '../docker/container-engine.js';
import type { KvStore, Lease } from '../etcd/kv-store.js';
import { KeepaliveTracker } from '../etcd/keepalive-tracker.js';
import { TYPES } from '../ioc/tokens.js';
import { errorField, type Logger } from '../logging.js';
import type { Runnable } from '../runnable.js';
import { VERSION } from '../version.js';

/** What the placements on a host reserve (NodeRecord `allocated`). */
export type Allocated = NonNullable<NodeRecord['allocated']>;

/**
 * This host's membership: `nodes/<node>` under an etcd lease kept alive by the client.
 * Everything the host writes about itself hangs on this lease, so it all vanishes when the
 * host does. If etcd reports the lease lost, a new one is granted and `changes$` tells the
 * host's controllers to write their keys again. The record carries the host's capacity,
 * allocatable amounts and (once counted, see AllocationReporter) what is allocated.
 */
@injectable()
export class NodeLease implements Runnable {
  readonly name = 'node-lease';
  private lease: Lease | undefined;
  /** See grantRevision. */
  private grantedAt = 0;
  private resolvedAddress = '';
  private resolvedGateway = '';
  private stopped = false;
  private readonly changes = new Subject<string>();
  /** Emits the new lease id each time one is granted. */
  readonly changes$: Observable<string> = this.changes.asObservable();
  private readonly expiring = new Subject<void>();
  /**
   * Emits once when no keepalive has been acknowledged for 2/3 of the TTL (they go every 1/3,
   * so one at least went unanswered; the leader election steps down at 2/3 too): etcd is about to
   * expire the lease and the scheduler to place this host's replicas elsewhere.
   */
  readonly expiring$: Observable<void> = this.expiring.asObservable();
  /** The current lease's acknowledgements; the last lease's until a new one is granted (its silence counts). */
  private keepalive: KeepaliveTracker | undefined;
  private expiringSignalled = false;
  /** A keepalive asked for after a stall, whose answer decides the fence. */
  private verifying = false;
  private checkTimer: TimerHandle | undefined;
  /** The record as last written (or about to be), without `allocated`. */
  private base: NodeRecord | undefined;
  private allocated: Allocated | undefined;

  constructor(
    @inject(TYPES.Config) private readonly config: Config,
    @inject(TYPES.KvStore) private readonly store: KvStore,
    @inject(TYPES.ContainerEngine) private readonly engine: ContainerEngine,
    @inject(TYPES.Keys) private readonly keys: Keys,
    @inject(TYPES.Clock) private readonly clock: Clock,
    @inject(TYPES.Logger) private readonly log: Logger,
    @inject(SealingKey) @optional() private readonly sealing?: SealingKey,
  ) {}

  get node(): string {
    return this.config.node;
  }

  /** The current lease id; throws while there is none (callers retry with backoff). */
  id(): string {
    if (!this.lease) throw new Error('node lease not held');
    return this.lease.id;
  }

  /**
   * The etcd revision at which the current lease's node record was written: a cache listed
   * at or after it has seen everything etcd did to the host's keys before this lease (the
   * last lease's expiry included). Throws while there is no lease, like `id`.
   */
  grantRevision(): number {
    if (!this.lease) throw new Error('node lease not held');
    return this.grantedAt;
  }

  /**
   * Whether the lease is held and etcd acknowledged it within 2/3 of the TTL, where
   * `expiring$` fires and the fence removes this host's containers: beyond, etcd may be
   * out of reach, and what the host's caches say about it may be behind.
   */
  live(): boolean {
    return this.lease !== undefined && (this.keepalive?.sinceAck() ?? 0) <= (this.config.leaseTtlSeconds * 1000 * 2) / 3;
  }

  /** The address other hosts' containers use to reach this host's published ports. */
  address(): string {
    return this.resolvedAddress;
  }

  /**
   * The address at which this host's containers reach the host itself: the Docker bridge's
   * gateway (where the ambassador and the DNS server answer them), else `address()`.
   */
  containerGateway(): string {
    return this.resolvedGateway || this.resolvedAddress;
  }

  /**
   * The Docker bridge's gateway, where only this host (and its containers) can reach the
   * agent's listeners; undefined when the engine has none.
   */
  bridgeGateway(): string | undefined {
    return this.resolvedGateway || undefined;
  }

  /** The resolver for this host's containers: the agent's DNS server, if it serves them on port 53. */
  containerResolver(): string | undefined {
    return (this.config.dnsPort ?? DEFAULT_DNS_PORT) === 53 && this.resolvedGateway ? this.resolvedGateway : undefined;
  }

  async start(): Promise<void> {
    this.stopped = false;
    // An engine without a default bridge has no gateway; that must not keep the host out.
    this.resolvedGateway = (await this.engine.bridgeGateway().catch((err: unknown) => {
      this.log.warn('no Docker bridge gateway', { error: errorField(err) });
      return undefined;
    })) ?? '';
    this.resolvedAddress = this.config.address || this.resolvedGateway || '127.0.0.1';
    await this.acquire();
    this.scheduleCheck();
  }

  private scheduleCheck(): void {
    const ttlMs = this.config.leaseTtlSeconds * 1000;
    const periodMs = Math.max(100, ttlMs / 20);
    const due = this.clock.now() + periodMs;
    this.checkTimer = this.clock.setTimeout(() => {
      if (this.stopped) return;
      // 2/3, not later: the check period (TTL/20) and stopping the containers must still fit
      // before etcd expires the lease (at 90% the fence often finished after the expiry).
      if (this.lease) this.keepalive?.tick();
      const sinceAck = this.keepalive?.sinceAck() ?? 0;
      if (!this.expiringSignalled && !this.verifying && sinceAck > (ttlMs * 2) / 3) {
        const stalledMs = this.clock.now() - due;
        if (stalledMs > periodMs && this.keepalive) void this.verify(this.keepalive, sinceAck, stalledMs, ttlMs);
        else this.signalExpiring(sinceAck);
      }
      this.scheduleCheck();
    }, periodMs);
  }

  /**
   * The check ran late by more than its period: this process did not run (a CPU-starved
   * host, a long collection), so it sent no keepalives either, and the silence is its own,
   * not etcd's. One keepalive asked now, bounded by what is left of the TTL since the last
   * ack, decides: answered, the lease lives on and nothing is removed; not, the fence goes
   * as it would have. Removing every container of a host for a pause of its own agent is
   * the worse outcome of the two.
   */
  private async verify(keepalive: KeepaliveTracker, sinceAck: number, stalledMs: number, ttlMs: number): Promise<void> {
    this.verifying = true;
    try {
      const answered = await keepalive.probe(ttlMs - sinceAck - ttlMs / 10);
      if (this.stopped || keepalive !== this.keepalive || this.expiringSignalled) return;
      if (answered) this.log.info('node lease renewed after a stall', { node: this.config.node, stalledMs, sinceLastAckMs: sinceAck });
      // The lease's own keepalive may have been answered while the probe waited (seen at
      // 5,000 hosts: fenced 2.9 s after an answer): renewed then, nothing to fence.
      else if (keepalive.sinceAck() > (ttlMs * 2) / 3) this.signalExpiring(keepalive.sinceAck());
    } finally {
      this.verifying = false;
    }
  }

  private signalExpiring(sinceAck: number): void {
    this.expiringSignalled = true;
    this.log.warn('node lease expiring: etcd unreachable', { node: this.config.node, sinceLastAckMs: sinceAck });
    this.expiring.next();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.checkTimer !== undefined) this.clock.clearTimeout(this.checkTimer);
    const lease = this.lease;
    this.lease = undefined;
    // Revoking deletes every key the host holds: the scheduler sees the node leave at once.
    await lease?.revoke().catch((err: unknown) => this.log.warn('lease revoke failed', { error: errorField(err) }));
  }

  private async acquire(): Promise<void> {
    const info = await this.engine.info();
    const lease = await this.store.grantLease(this.config.leaseTtlSeconds);
    this.base = {
      name: this.config.node,
      address: this.resolvedAddress,
      labels: this.config.labels,
      docker: this.config.docker,
      ...nodeAmounts({ cpus: info.cpus, memoryBytes: info.memoryBytes }, this.config),
      version: VERSION,
      startedAt: new Date(this.clock.now()).toISOString(),
      ...this.sealingKey(),
    };
    const grantedAt = await this.store.putAt(this.keys.node(this.config.node), this.recordText(), { lease: lease.id });
    lease.onLost((err) => void this.reacquire(err));
    this.keepalive = new KeepaliveTracker(lease, this.clock, this.config.leaseTtlSeconds * 1000);
    this.lease = lease;
    this.grantedAt = grantedAt;
    this.expiringSignalled = false;
    this.log.info('node lease granted', { node: this.config.node, lease: lease.id, ttlSeconds: this.config.leaseTtlSeconds });
    this.changes.next(lease.id);
  }

  /**
   * The host's public sealing key, if it has one: a key that cannot be read or made (an
   * unwritable --state-dir) must not keep the host out; its replicas that use secrets then
   * wait for them, and the log says why.
   */
  private sealingKey(): Pick<NodeRecord, 'sealingKey'> {
    if (!this.sealing) return {};
    try {
      return { sealingKey: this.sealing.publicKey() };
    } catch (err) {
      this.log.error('no sealing key: secrets cannot reach this host', { file: this.sealing.file, error: errorField(err) });
      return {};
    }
  }

  /**
   * Rewrites the node record with what the host's placements now reserve. Without a lease
   * (starting, or between leases) it is only kept: the next grant writes it. Rejects if the
   * write fails (the caller retries); a lease lost meanwhile is the next grant's to write.
   */
  async publishAllocated(allocated: Allocated): Promise<void> {
    this.allocated = allocated;
    const lease = this.lease;
    if (!lease || !this.base) return;
    await this.store.put(this.keys.node(this.config.node), this.recordText(), { lease: lease.id });
  }

  private recordText(): string {
    const record: NodeRecord = { ...this.base!, ...(this.allocated ? { allocated: this.allocated } : {}) };
    return JSON.stringify(record);
  }

  private async reacquire(err: Error): Promise<void> {
    if (this.stopped) return;
    this.log.warn('node lease lost; granting a new one', { node: this.config.node, error: errorField(err) });
    this.lease = undefined;
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        await this.acquire();
        return;
      } catch (e) {
        this.log.warn('node lease grant failed', { node: this.config.node, attempt, error: errorField(e) });
        await sleep(this.clock, backoffDelay(attempt, 500, 5_000));
      }
    }
  }
}
