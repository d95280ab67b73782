import { backoffDelay, type Clock, type TimerHandle } from '../clock.js';
import { errorField, type Logger } from '../logging.js';
import type { KeyValue, KvStore, WatchHandle } from './kv-store.js';

export interface InformerHandlers {
  /** A complete listing at `revision` (the first, or after a lost watch). */
  reset(kvs: KeyValue[], revision: number): void;
  put(kv: KeyValue): void;
  del(key: string, revision: number): void;
}

/**
 * List a prefix, then watch it from the listing's revision + 1; if the watch dies
 * (compaction, a lost stream) or the listing fails, list again after a capped backoff.
 */
export class PrefixInformer {
  private handle: WatchHandle | undefined;
  private timer: TimerHandle | undefined;
  private attempt = 0;
  private closed = false;

  constructor(
    private readonly store: KvStore,
    private readonly prefix: string,
    private readonly clock: Clock,
    private readonly log: Logger,
    /** Whose cache this feeds, for the logs. */
    private readonly owner: string,
    private readonly handlers: InformerHandlers,
  ) {}

  start(): void {
    void this.cycle();
  }

  async stop(): Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    await this.handle?.cancel();
  }

  private retry(err: unknown): void {
    if (this.closed) return;
    const delay = backoffDelay(this.attempt++, 500, 30_000);
    this.log.warn('cache watch interrupted; re-listing', { cache: this.owner, prefix: this.prefix, delayMs: delay, error: errorField(err) });
    this.timer = this.clock.setTimeout(() => void this.cycle(), delay);
  }

  private async cycle(): Promise<void> {
    try {
      const listing = await this.store.list(this.prefix);
      if (this.closed) return;
      this.handlers.reset(listing.kvs, listing.revision);
      const handle = await this.store.watch(this.prefix, listing.revision + 1, {
        onEvents: (events) => {
          if (this.closed) return;
          this.attempt = 0;
          for (const ev of events) {
            if (ev.type === 'put') this.handlers.put(ev.kv);
            else this.handlers.del(ev.key, ev.modRevision);
          }
        },
        onError: (err) => {
          this.handle = undefined;
          this.retry(err);
        },
      });
      if (this.closed) await handle.cancel();
      else this.handle = handle;
    } catch (err) {
      this.retry(err);
    }
  }
}

/**
 * A cache's informers, started and stopped together, and whether each has listed once since
 * the start: `ready()` resolves then, and fails if the cache stops first (or is not running).
 */
export class InformerGroup {
  private readonly listed = new Set<string>();
  private waiters: { resolve: () => void; reject: (err: Error) => void }[] = [];
  private informers: PrefixInformer[] = [];
  private running = false;

  constructor(
    private readonly parts: readonly string[],
    private readonly owner: string,
  ) {}

  get isRunning(): boolean {
    return this.running;
  }

  start(informers: PrefixInformer[]): void {
    this.running = true;
    this.listed.clear();
    this.informers = informers;
    for (const i of informers) i.start();
  }

  async stop(): Promise<void> {
    this.running = false;
    const informers = this.informers;
    this.informers = [];
    for (const w of this.waiters.splice(0)) w.reject(new Error(`${this.owner} stopped`));
    await Promise.all(informers.map((i) => i.stop()));
  }

  /** Marks `part` listed; true the first time since start() (later listings are re-lists). */
  mark(part: string): boolean {
    const first = !this.listed.has(part);
    this.listed.add(part);
    if (this.done()) for (const w of this.waiters.splice(0)) w.resolve();
    return first;
  }

  ready(): Promise<void> {
    if (!this.running) return Promise.reject(new Error(`${this.owner} not running`));
    if (this.done()) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  private done(): boolean {
    return this.parts.every((p) => this.listed.has(p));
  }
}
