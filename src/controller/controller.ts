import { merge, type Observable, type Subscription } from 'rxjs';
import type { Clock, TimerHandle } from '../clock.js';
import { errorField, type Logger } from '../logging.js';
import type { Runnable } from '../runnable.js';
import { WorkQueue, type WorkerSlot } from '../queue/work-queue.js';
import { isPermissionDenied } from '../etcd/permission-denied.js';

/** What a reconcile asks for next; nothing means "done until something changes". */
export type ReconcileResult = { requeueAfterMs: number } | void;

/** An error that retrying cannot fix: logged, not retried until the key changes again. */
export class TerminalError extends Error {}

export interface Reconciler {
  /**
   * Reads desired and actual state fresh for `key` and makes them match. Idempotent; may
   * throw to be retried with backoff. Logs on `log`, which carries {controller, key}.
   * `worker` lets it give its worker back while it waits on something that needs none.
   */
  reconcile(key: string, log: Logger, worker?: WorkerSlot): Promise<ReconcileResult>;
}

/** A cache a controller reads: started with it, and synced before its workers run. */
export interface SyncedCache {
  acquire(): void;
  release(): Promise<void>;
  synced(): Promise<void>;
}

export interface ControllerSpec {
  name: string;
  reconciler: Reconciler;
  /** Streams of keys to reconcile (mapped from etcd and Docker events). Must not error. */
  sources: Observable<string>[];
  /**
   * The informers and caches the sources and the reconciler read: acquired on start (in
   * order), released on stop; no key is reconciled before every one has synced.
   */
  caches?: SyncedCache[];
  /** Every key that may need reconciling, for the periodic resync. */
  listKeys: () => Promise<string[]>;
  resyncMs: number;
  /** Keys handled at once (default 4): a number, or a function read before each start. */
  concurrency?: number | (() => number);
  /** How long a key from the sources waits before its reconcile (ControllerBuilder.settle); 0 by default. */
  settleMs?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** The etcd user this process logs in as (its certificate's CN), for the log of a refusal. */
  etcdUser?: string;
}

/**
 * The controller loop: sources feed a keyed work queue; each key is reconciled by one
 * worker at a time; failures back off per key; every key is re-queued each resync period.
 */
export class Controller implements Runnable {
  readonly name: string;
  private queue: WorkQueue;
  /** Keys whose last reconcile etcd refused for lack of permission: logged once until one succeeds. */
  private readonly denied = new Set<string>();
  private subscription: Subscription | undefined;
  private resyncTimer: TimerHandle | undefined;
  private stopped = true;
  /** Bumped by each start(): a resync whose listing began before a stop/start pair must not
   * schedule a second resync loop when its listing returns. */
  private generation = 0;

  constructor(
    private readonly spec: ControllerSpec,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {
    this.name = spec.name;
    this.queue = this.newQueue();
  }

  private newQueue(): WorkQueue {
    return new WorkQueue(this.clock, {
      baseDelayMs: this.spec.baseDelayMs ?? 250,
      maxDelayMs: this.spec.maxDelayMs ?? 30_000,
      concurrency: this.spec.concurrency ?? 4,
    });
  }

  /** Enqueue a key from outside the sources (e.g. a lease change). */
  enqueue(key: string): void {
    this.queue.add(key);
  }

  /**
   * Starts (or, after stop(), restarts with a fresh queue and fresh watches). Keys queue up
   * at once; the workers and the first resync start once every cache has synced
   * (client-go's WaitForCacheSync), in the background: start() does not wait for etcd.
   */
  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    const generation = ++this.generation;
    this.queue = this.newQueue();
    const caches = this.spec.caches ?? [];
    const settleMs = this.spec.settleMs ?? 0;
    this.subscription = merge(...this.spec.sources).subscribe({
      next: (key) => this.queue.addAfter(key, settleMs),
      error: (err: unknown) => this.log.error('source failed', { controller: this.name, error: errorField(err) }),
    });
    for (const c of caches) c.acquire();
    const queue = this.queue;
    void Promise.all(caches.map((c) => c.synced())).then(
      () => {
        if (this.stopped || generation !== this.generation) return;
        queue.run((key, worker) => this.handle(key, worker));
        this.scheduleResync(0);
      },
      (err: unknown) => {
        if (!this.stopped && generation === this.generation) this.log.error('caches did not sync', { controller: this.name, error: errorField(err) });
      },
    );
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.subscription?.unsubscribe();
    if (this.resyncTimer !== undefined) this.clock.clearTimeout(this.resyncTimer);
    await this.queue.shutdown();
    await Promise.all((this.spec.caches ?? []).map((c) => c.release()));
  }

  private scheduleResync(delayMs: number): void {
    const generation = this.generation;
    this.resyncTimer = this.clock.setTimeout(() => void this.resync(generation), delayMs);
  }

  private async resync(generation: number): Promise<void> {
    const current = () => !this.stopped && generation === this.generation;
    if (!current()) return;
    try {
      const keys = await this.spec.listKeys();
      if (current()) for (const key of keys) this.queue.add(key);
    } catch (err) {
      this.log.warn('resync listing failed', { controller: this.name, error: errorField(err) });
    }
    if (current()) this.scheduleResync(this.spec.resyncMs);
  }

  private async handle(key: string, worker: WorkerSlot): Promise<void> {
    const log = this.log.child({ controller: this.name, key });
    try {
      const result = await this.spec.reconciler.reconcile(key, log, worker);
      this.queue.forget(key);
      this.denied.delete(key);
      if (result && result.requeueAfterMs >= 0) this.queue.addAfter(key, result.requeueAfterMs);
    } catch (err) {
      if (err instanceof TerminalError) {
        this.queue.forget(key);
        log.error('reconcile failed for good', { error: errorField(err) });
        return;
      }
      if (isPermissionDenied(err)) {
        // Retrying soon cannot help (only a grant can): once per key in the log, then the
        // longest wait, so a role short of a right costs no hot loop.
        const delay = this.spec.maxDelayMs ?? 30_000;
        if (!this.denied.has(key)) log.warn('etcd refused: permission denied; retrying slowly', { error: errorField(err), etcdUser: this.spec.etcdUser ?? 'unknown', retryInMs: delay });
        this.denied.add(key);
        this.queue.addAfter(key, delay);
        return;
      }
      const delay = this.queue.addRateLimited(key);
      log.warn('reconcile failed; will retry', { error: errorField(err), retryInMs: delay, attempt: this.queue.numFailures(key) });
    }
  }
}
