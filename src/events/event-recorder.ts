import { inject, injectable } from 'inversify';
import type { Keys } from '../../api/keys.js';
import type { EventRecord } from '../../api/records.js';
import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import type { KvStore, Lease, TxnOp } from '../etcd/kv-store.js';
import { TYPES } from '../ioc/tokens.js';
import { errorField, type Logger } from '../logging.js';

/** How long events live in etcd. */
export const EVENT_TTL_SECONDS = 3600;
/** A fresh lease this often, so no event outlives the TTL by more than this. */
const LEASE_ROTATE_MS = 5 * 60_000;

/** The least time between two event writes of one process (see EventRecorder). */
export const EVENT_WRITE_INTERVAL_MS = 1_000;

/** etcd's default --max-txn-ops: the most puts one transaction may carry. */
const MAX_TXN_OPS = 128;

type EventPut = Extract<TxnOp, { type: 'put' }>;

/**
 * Writes events (Scheduled, Pulled, Started, Killed, Unhealthy, BackOff, Rescheduled,
 * RolledBack...) to `node-events/<source>/<app>/<name>/<time>-<seq>` (`<source>`: this
 * process's node name, so that an agent writes under its own prefix only), on a lease without keepalive so
 * they expire by themselves after about an hour. Best effort: a failed write is logged and
 * dropped, never retried, never fails the caller's reconcile.
 *
 * Group commit: at most one write a second (`EVENT_WRITE_INTERVAL_MS`). An event recorded
 * a second or more after the last write is written at once; those recorded sooner, or while
 * a write is in flight, wait for the second to be up and go together, in transactions of up
 * to 128 puts. A host starting its share of 100 replicas starts one or two a second on a
 * small engine: written as they came, each cost a transaction of its own (two per replica,
 * Started and Killing, the agent's most frequent etcd write); now the events of a second
 * share one. Each keeps the time it was recorded at.
 */
@injectable()
export class EventRecorder {
  private lease: { lease: Lease; grantedAt: number } | undefined;
  private seq = 0;
  private pending: { puts: EventPut[]; written: (err?: unknown) => void }[] = [];
  /** A write is in flight or due (its timer set). */
  private writing = false;
  /** When the last write began. */
  private lastWrite: number | undefined;

  constructor(
    @inject(TYPES.KvStore) private readonly store: KvStore,
    @inject(TYPES.Keys) private readonly keys: Keys,
    @inject(TYPES.Clock) private readonly clock: Clock,
    @inject(TYPES.Config) private readonly config: Config,
    @inject(TYPES.Logger) private readonly log: Logger,
  ) {}

  async record(app: string, name: string, event: Omit<EventRecord, 'time' | 'source'>): Promise<void> {
    try {
      await this.write(await this.puts(app, name, [event]));
    } catch (err) {
      this.log.warn('event not recorded', { app, name, reason: event.reason, error: errorField(err) });
    }
  }

  /** Several events of one manifest (a reconcile that places many replicas at once). */
  async recordMany(app: string, name: string, events: Omit<EventRecord, 'time' | 'source'>[]): Promise<void> {
    if (events.length === 0) return;
    try {
      await this.write(await this.puts(app, name, events));
    } catch (err) {
      this.log.warn('events not recorded', { app, name, count: events.length, reason: events[0]!.reason, error: errorField(err) });
    }
  }

  private async puts(app: string, name: string, events: Omit<EventRecord, 'time' | 'source'>[]): Promise<EventPut[]> {
    const now = this.clock.now();
    const lease = await this.currentLease(now);
    const time = new Date(now).toISOString();
    return events.map((event) => {
      const record: EventRecord = { ...event, time, source: this.config.node };
      const id = this.keys.eventId(now, this.config.node, this.seq++);
      return { type: 'put', key: this.keys.event(this.config.node, app, name, id), value: JSON.stringify(record), lease: lease.id };
    });
  }

  /** Resolves once `puts` are written, with whatever else was waiting (rejects if that failed). */
  private write(puts: EventPut[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ puts, written: (err) => (err === undefined ? resolve() : reject(err)) });
      if (!this.writing) this.schedule();
    });
  }

  /** The next write: now if the last began a second ago or more, else when that second is up. */
  private schedule(): void {
    this.writing = true;
    const wait = this.lastWrite === undefined ? 0 : this.lastWrite + EVENT_WRITE_INTERVAL_MS - this.clock.now();
    if (wait <= 0) void this.drain();
    else this.clock.setTimeout(() => void this.drain(), wait);
  }

  private async drain(): Promise<void> {
    this.lastWrite = this.clock.now();
    const batch = this.pending.splice(0);
    const ops = batch.flatMap((b) => b.puts);
    let failed: unknown;
    try {
      for (let i = 0; i < ops.length; i += MAX_TXN_OPS) {
        const chunk = ops.slice(i, i + MAX_TXN_OPS);
        // Event keys are new (time and sequence number): "does not exist" always holds.
        await this.store.txn([{ key: chunk[0]!.key, modRevision: 0 }], chunk);
      }
    } catch (err) {
      failed = err ?? new Error('event write failed');
    }
    for (const b of batch) b.written(failed);
    if (this.pending.length > 0) this.schedule();
    else this.writing = false;
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
