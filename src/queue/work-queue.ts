import { backoffDelay, type Clock, type TimerHandle } from '../clock.js';

export interface WorkQueueOptions {
  /** First retry delay after a failure; doubles per consecutive failure of the key. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** How many different keys may be processed at once: a number, or read before each start (an adaptive limit). */
  concurrency: number | (() => number);
}

/** The worker a handler runs on. */
export interface WorkerSlot {
  /**
   * Gives the worker back while `work` runs (a wait that needs no worker, such as an image
   * pull another caller started), so that other keys proceed; takes a worker again before
   * it settles, ahead of keys not yet begun. The key stays in hand: it is not handled twice
   * at once. Settles as `work` does.
   */
  idle<T>(work: Promise<T>): Promise<T>;
}

export type KeyHandler = (key: string, worker: WorkerSlot) => Promise<void>;

/**
 * A keyed work queue in the manner of client-go's: a key waiting is held once however
 * often it is added; a key is handled by one worker at a time, and a key added while it is
 * being handled runs again once that handling ends. Failures back off per key.
 */
export class WorkQueue {
  private readonly waiting = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly timers = new Map<string, { due: number; handle: TimerHandle }>();
  private readonly failures = new Map<string, number>();
  /** Handlers holding a worker (those idling in WorkerSlot.idle hold none). */
  private active = 0;
  /** Handlers whose idle wait is over, waiting for a worker again. */
  private readonly resumers: (() => void)[] = [];
  private handler: KeyHandler | undefined;
  private shuttingDown = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly clock: Clock,
    private readonly opts: WorkQueueOptions,
  ) {}

  /** Starts handing keys to `handler`; keys added before this wait. */
  run(handler: KeyHandler): void {
    this.handler = handler;
    this.pump();
  }

  add(key: string): void {
    if (this.shuttingDown) return;
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    this.waiting.add(key);
    this.pump();
  }

  /** Adds the key after a delay; an earlier pending add of the same key wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) return this.add(key);
    const due = this.clock.now() + delayMs;
    const existing = this.timers.get(key);
    if (existing && existing.due <= due) return;
    if (existing) this.clock.clearTimeout(existing.handle);
    const handle = this.clock.setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, delayMs);
    this.timers.set(key, { due, handle });
  }

  /** Adds the key after its backoff, and counts one more failure for it. Returns the delay. */
  addRateLimited(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    const delay = backoffDelay(n, this.opts.baseDelayMs, this.opts.maxDelayMs);
    this.addAfter(key, delay);
    return delay;
  }

  /** Clears the key's failure count (after a success). */
  forget(key: string): void {
    this.failures.delete(key);
  }

  numFailures(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  get length(): number {
    return this.waiting.size;
  }

  /** Stops taking work and resolves once every handling in flight has finished. */
  async shutdown(): Promise<void> {
    this.shuttingDown = true;
    this.waiting.clear();
    this.dirty.clear();
    for (const { handle } of this.timers.values()) this.clock.clearTimeout(handle);
    this.timers.clear();
    if (this.processing.size === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private limit(): number {
    const c = this.opts.concurrency;
    return Math.max(1, typeof c === 'number' ? c : c());
  }

  private pump(): void {
    const handler = this.handler;
    if (!handler) return;
    while (this.resumers.length > 0 && this.active < this.limit()) this.resumers.shift()!();
    for (const key of this.waiting) {
      if (this.active >= this.limit()) return;
      this.waiting.delete(key);
      this.processing.add(key);
      this.active++;
      void handler(key, this.slot())
        .catch(() => undefined) // handlers report their own errors; the queue must not die
        .finally(() => this.done(key));
    }
  }

  private slot(): WorkerSlot {
    let idling = 0;
    return {
      idle: async <T>(work: Promise<T>): Promise<T> => {
        if (idling++ === 0) {
          this.active--;
          this.pump();
        }
        try {
          return await work;
        } finally {
          if (--idling === 0) await this.reacquire();
        }
      },
    };
  }

  private reacquire(): Promise<void> {
    if (this.active < this.limit() && this.resumers.length === 0) {
      this.active++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => this.resumers.push(() => {
      this.active++;
      resolve();
    }));
  }

  private done(key: string): void {
    this.processing.delete(key);
    this.active--;
    if (this.dirty.delete(key) && !this.shuttingDown) this.waiting.add(key);
    if (this.shuttingDown && this.processing.size === 0) {
      for (const w of this.idleWaiters.splice(0)) w();
    }
    this.pump();
  }
}
