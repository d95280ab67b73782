import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { inject, injectable, multiInject } from 'inversify';
import type { Keys } from '../../api/keys.js';
import type { LeaderRecord } from '../../api/records.js';
import { backoffDelay, type Clock, type TimerHandle } from '../clock.js';
import type { Config } from '../config.js';
import type { KvStore, Lease, WatchHandle } from '../etcd/kv-store.js';
import { KeepaliveTracker } from '../etcd/keepalive-tracker.js';
import { TYPES } from '../ioc/tokens.js';
import { errorField, type Logger } from '../logging.js';
import type { Runnable } from '../runnable.js';

/**
 * Leader election for the cluster-wide controllers. Each candidate holds an etcd lease and
 * tries to create `election/controller` under it (a transaction on "does not exist"), so
 * at most one succeeds. The leader runs every LeaderRunnable; it steps down the moment its
 * lease is lost, the key stops being its own, or no keepalive has been acknowledged for
 * 2/3 of the TTL (so it stops acting before etcd could expire the lease and elect another).
 * Followers watch the key and campaign again when it goes. The etcd3 Election helper is
 * not used: its observe() can report the wrong leader (see STACK.md).
 */
@injectable()
export class LeaderElection implements Runnable {
  readonly name = 'leader-election';
  readonly id = randomUUID();
  private lease: Lease | undefined;
  private leading = false;
  private stopped = true;
  /** The current lease's acknowledgements (kept after the lease goes: silence is what counts). */
  private keepalive: KeepaliveTracker | undefined;
  private checkTimer: TimerHandle | undefined;
  private retryTimer: TimerHandle | undefined;
  private keyWatch: WatchHandle | undefined;
  private attempt = 0;
  private transition: Promise<void> = Promise.resolve();

  constructor(
    @multiInject(TYPES.LeaderRunnable) private readonly runnables: Runnable[],
    @inject(TYPES.KvStore) private readonly store: KvStore,
    @inject(TYPES.Keys) private readonly keys: Keys,
    @inject(TYPES.Config) private readonly config: Config,
    @inject(TYPES.Clock) private readonly clock: Clock,
    @inject(TYPES.Logger) private readonly log: Logger,
  ) {}

  get key(): string {
    return this.keys.leader;
  }

  isLeader(): boolean {
    return this.leading;
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.checkTimer = this.clock.setTimeout(() => this.check(), this.checkEveryMs());
    void this.campaign();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.checkTimer !== undefined) this.clock.clearTimeout(this.checkTimer);
    if (this.retryTimer !== undefined) this.clock.clearTimeout(this.retryTimer);
    await this.keyWatch?.cancel();
    await this.stepDown('shutting down');
    // Revoking deletes the leader key: a standby takes over at once instead of after the TTL.
    await this.lease?.revoke().catch(() => undefined);
    this.lease = undefined;
  }

  private ttlMs(): number {
    return this.config.leaseTtlSeconds * 1000;
  }

  private checkEveryMs(): number {
    return Math.max(100, this.ttlMs() / 10);
  }

  /** Periodic: a leader whose keepalives went unacknowledged too long stops acting. */
  private check(): void {
    if (this.stopped) return;
    if (this.lease) this.keepalive?.tick();
    if (this.leading && (this.keepalive?.sinceAck() ?? 0) > (this.ttlMs() * 2) / 3) {
      this.lease?.release();
      this.lease = undefined;
      void this.stepDown('keepalives not acknowledged; the lease may expire').then(() => this.retry());
    }
    this.checkTimer = this.clock.setTimeout(() => this.check(), this.checkEveryMs());
  }

  private async campaign(): Promise<void> {
    if (this.stopped || this.leading) return;
    try {
      if (!this.lease) {
        const lease = await this.store.grantLease(this.config.leaseTtlSeconds);
        this.keepalive = new KeepaliveTracker(lease, this.clock, this.ttlMs());
        lease.onLost((err) => {
          if (this.lease !== lease) return;
          this.lease = undefined;
          void this.stepDown(`lease lost: ${err.message}`).then(() => this.retry());
        });
        this.lease = lease;
      }
      const record: LeaderRecord = { id: this.id, host: hostname(), pid: process.pid, since: new Date(this.clock.now()).toISOString() };
      const won = await this.store.putIfModRevision(this.key, JSON.stringify(record), 0, { lease: this.lease.id });
      const current = await this.store.get(this.key);
      this.attempt = 0;
      await this.watchKey((current?.modRevision ?? 0) + 1);
      if (won) await this.becomeLeader();
      else if (!current) void this.campaign(); // the leader left between our two reads
    } catch (err) {
      this.log.warn('campaign failed; retrying', { error: errorField(err) });
      this.retry();
    }
  }

  /** Follows the leader key: a follower campaigns when it goes; a leader steps down if it is not its own. */
  private async watchKey(fromRevision: number): Promise<void> {
    await this.keyWatch?.cancel();
    this.keyWatch = await this.store.watch(this.key, fromRevision, {
      onEvents: (events) => {
        for (const ev of events) {
          if (ev.type === 'delete' || (ev.type === 'put' && !ev.kv.value.includes(this.id))) {
            if (this.leading) void this.stepDown('leader key lost').then(() => this.retry());
            else if (ev.type === 'delete') void this.campaign();
          }
        }
      },
      onError: () => this.retry(),
    });
  }

  private retry(): void {
    if (this.stopped) return;
    if (this.retryTimer !== undefined) this.clock.clearTimeout(this.retryTimer);
    this.retryTimer = this.clock.setTimeout(() => void this.campaign(), backoffDelay(this.attempt++, 200, this.retryCapMs()));
  }

  private retryCapMs(): number {
    return Math.max(1000, this.ttlMs() / 2);
  }

  private becomeLeader(): Promise<void> {
    return this.serialize(async () => {
      if (this.leading || this.stopped) return;
      this.leading = true;
      this.log.info('elected leader', { id: this.id, key: this.key });
      for (const r of this.runnables) {
        try {
          await r.start();
        } catch (err) {
          this.log.error('start failed', { component: r.name, error: errorField(err) });
        }
      }
    });
  }

  private stepDown(reason: string): Promise<void> {
    return this.serialize(async () => {
      if (!this.leading) return;
      this.leading = false;
      this.log.warn('stepping down', { id: this.id, reason });
      for (const r of [...this.runnables].reverse()) {
        try {
          await r.stop();
        } catch (err) {
          this.log.error('stop failed', { component: r.name, error: errorField(err) });
        }
      }
    });
  }

  /** Start and stop never interleave. */
  private serialize(fn: () => Promise<void>): Promise<void> {
    this.transition = this.transition.then(fn, fn);
    return this.transition;
  }
}
