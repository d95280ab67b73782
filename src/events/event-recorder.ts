import { inject, injectable } from 'inversify';
import type { Keys } from '../../api/keys.js';
import type { EventRecord } from '../../api/records.js';
import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import type { KvStore, Lease } from '../etcd/kv-store.js';
import { TYPES } from '../ioc/tokens.js';
import { errorField, type Logger } from '../logging.js';

/** How long events live in etcd. */
export const EVENT_TTL_SECONDS = 3600;
/** A fresh lease this often, so no event outlives the TTL by more than this. */
const LEASE_ROTATE_MS = 5 * 60_000;

/**
 * Writes events (Scheduled, Pulled, Started, Killed, Unhealthy, BackOff, Rescheduled,
 * RolledBack...) to `node-events/<source>/<app>/<name>/<time>-<seq>` (`<source>`: this
 * process's node name, so that an agent writes under its own prefix only), on a lease without keepalive so
 * they expire by themselves after about an hour. Best effort: a failed write is logged and
 * dropped, never retried, never fails the caller's reconcile.
 */
@injectable()
export class EventRecorder {
  private lease: { lease: Lease; grantedAt: number } | undefined;
  private seq = 0;

  constructor(
    @inject(TYPES.KvStore) private readonly store: KvStore,
    @inject(TYPES.Keys) private readonly keys: Keys,
    @inject(TYPES.Clock) private readonly clock: Clock,
    @inject(TYPES.Config) private readonly config: Config,
    @inject(TYPES.Logger) private readonly log: Logger,
  ) {}

  async record(app: string, name: string, event: Omit<EventRecord, 'time' | 'source'>): Promise<void> {
    try {
      const now = this.clock.now();
      const lease = await this.currentLease(now);
      const record: EventRecord = { ...event, time: new Date(now).toISOString(), source: this.config.node };
      const id = this.keys.eventId(now, this.config.node, this.seq++);
      await this.store.put(this.keys.event(this.config.node, app, name, id), JSON.stringify(record), { lease: lease.id });
    } catch (err) {
      this.log.warn('event not recorded', { app, name, reason: event.reason, error: errorField(err) });
    }
  }

  /**
   * Several events of one manifest, written in transactions of up to 128 (etcd's default
   * --max-txn-ops; one etcd write each instead of one per event): for a reconcile that
   * places many replicas at once.
   */
  async recordMany(app: string, name: string, events: Omit<EventRecord, 'time' | 'source'>[]): Promise<void> {
    if (events.length === 0) return;
    try {
      const now = this.clock.now();
      const lease = await this.currentLease(now);
      const time = new Date(now).toISOString();
      const puts = events.map((event) => {
        const record: EventRecord = { ...event, time, source: this.config.node };
        const id = this.keys.eventId(now, this.config.node, this.seq++);
        return { type: 'put' as const, key: this.keys.event(this.config.node, app, name, id), value: JSON.stringify(record), lease: lease.id };
      });
      for (let i = 0; i < puts.length; i += 128) {
        const batch = puts.slice(i, i + 128);
        // Event keys are new (time and sequence number): "does not exist" always holds.
        await this.store.txn([{ key: batch[0]!.key, modRevision: 0 }], batch);
      }
    } catch (err) {
      this.log.warn('events not recorded', { app, name, count: events.length, reason: events[0]!.reason, error: errorField(err) });
    }
  }

  private async currentLease(now: number): Promise<Lease> {
    if (!this.lease || now - this.lease.grantedAt > LEASE_ROTATE_MS) {
      // No keepalive: the lease, and the events on it, expire after the TTL.
      const lease = await this.store.grantLease(EVENT_TTL_SECONDS, { keepalive: false });
      this.lease = { lease, grantedAt: now };
    }
    return this.lease.lease;
  }
}
