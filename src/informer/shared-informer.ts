import { concat, defer, from, Subject, type Observable } from 'rxjs';
import { backoffDelay, type Clock, type TimerHandle } from '../clock.js';
import type { KeyValue, KvStore, WatchHandle } from '../etcd/kv-store.js';
import { errorField, type Logger } from '../logging.js';

/** One decoded record as the cache holds it. */
export interface Cached<T> {
  key: string;
  value: T;
  modRevision: number;
  /** The revision that created the key (the mod revision where the store does not tell). */
  createRevision: number;
  /** Lease id holding the key, "0" for none. */
  lease: string;
}

/**
 * A change to the cache, after it was applied. `put` is an add (`old` undefined) or an
 * update; `initial` marks the adds of the first listing since start (client-go's
 * isInInitialList), which a controller need not map: it resyncs once synced; `delete` carries the last object the cache held, so a consumer can map it to the
 * keys it owned (client-go's DeletedFinalStateUnknown is not needed: a relist emits the
 * deletes of what vanished, with their last objects).
 */
export type InformerEvent<T> =
  | { type: 'put'; key: string; obj: Cached<T>; old: Cached<T> | undefined; initial?: true; assumed?: true }
  | { type: 'delete'; key: string; old: Cached<T>; revision: number; assumed?: true };

/** A write of the process's own, applied before its watch event comes (see assume). */
export type AssumedWrite<T> = { type: 'put'; kv: KeyValue; value: T } | { type: 'delete'; key: string; revision: number };

/** How long a deleted key's revision is remembered against late, older puts. */
const TOMBSTONE_MS = 60_000;

/** Turns one key's value into a record, or undefined with the reason it cannot be read. */
export type Decoder<T> = (kv: KeyValue) => { ok: true; value: T } | { ok: false; error: string };

/** Named index functions: each maps a record to the values it is found under. */
export type Indexers<T> = Record<string, (obj: Cached<T>) => readonly string[]>;

/** What a consumer reads: the cache, its indexes, and whether it has listed yet. */
export interface InformerCache<T> {
  readonly prefix: string;
  get(key: string): Cached<T> | undefined;
  list(): Cached<T>[];
  byIndex(index: string, value: string): Cached<T>[];
  hasSynced(): boolean;
}

/**
 * One prefix of etcd, listed and then watched, decoded once into a cache that every consumer
 * in the process shares (client-go's SharedIndexInformer, the Kubernetes JavaScript client's
 * ListWatch). Started by the first consumer that acquires it and stopped when the last one
 * releases it; each start begins from an empty cache.
 *
 * If the watch is lost (compaction, a broken stream) or a listing fails, it lists again
 * after a capped backoff and applies the difference as puts and deletes, so consumers never
 * miss a change; then it tells `relists`. A value that does not decode is logged once per
 * key and revision and left out (a key that held a readable record and now does not is a
 * delete). Events are emitted after the cache has applied them, in etcd order; a put whose
 * mod revision the cache already holds is dropped.
 */
export class SharedInformer<T> implements InformerCache<T> {
  private readonly items = new Map<string, Cached<T>>();
  private readonly indexes = new Map<string, Map<string, Set<string>>>();
  private readonly events$ = new Subject<InformerEvent<T>>();
  private readonly relists$ = new Subject<void>();
  private readonly undecodable = new Map<string, number>();
  /** Deleted keys' revisions, oldest first, kept TOMBSTONE_MS. */
  private readonly tombstones = new Map<string, { revision: number; at: number }>();
  private readonly indexers: Indexers<T> = {};
  private handle: WatchHandle | undefined;
  private timer: TimerHandle | undefined;
  private attempt = 0;
  private users = 0;
  private generation = 0;
  private listed = false;
  /** The etcd revision of the last full listing (0: none since the informer started). */
  private listedRevision = 0;
  private waiters: { resolve: () => void; reject: (err: Error) => void }[] = [];
  /** Watches opened since construction (for the runtime's count of watches per prefix). */
  watchesOpened = 0;

  constructor(
    private readonly store: KvStore,
    readonly prefix: string,
    private readonly decode: Decoder<T>,
    indexers: Indexers<T>,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {
    this.addIndexers(indexers);
  }

  /** Changes after they were applied. Subscribing does not start the informer. */
  get events(): Observable<InformerEvent<T>> {
    return this.events$;
  }

  /**
   * What the cache holds now, as puts, then every change: for a consumer that keeps state of
   * its own and may subscribe after the informer has synced (no gap: both happen in one turn).
   */
  withCurrent(): Observable<InformerEvent<T>> {
    return defer(() => concat(from(this.list().map((obj): InformerEvent<T> => ({ type: 'put', key: obj.key, obj, old: undefined }))), this.events$));
  }

  /** Each completed listing after the first since start: changes may have been missed meanwhile. */
  get relists(): Observable<void> {
    return this.relists$;
  }

  /** Adds index functions (before or after start: existing items are indexed at once). */
  addIndexers(more: Indexers<T>): void {
    for (const [name, fn] of Object.entries(more)) {
      if (this.indexes.has(name)) continue;
      this.indexers[name] = fn;
      const index = new Map<string, Set<string>>();
      this.indexes.set(name, index);
      for (const item of this.items.values()) for (const v of fn(item)) (index.get(v) ?? index.set(v, new Set()).get(v)!).add(item.key);
    }
  }

  /** Starts listing and watching for the first user; later users share it. */
  acquire(): void {
    if (this.users++ > 0) return;
    this.generation++;
    this.listed = false;
    this.attempt = 0;
    this.clear();
    void this.cycle(this.generation);
  }

  /** The last user stops the watch; waiters for the first listing are failed. */
  async release(): Promise<void> {
    if (this.users === 0 || --this.users > 0) return;
    this.generation++;
    this.listed = false;
    // Nothing is watched any more, so nothing stays readable: a consumer that seeds itself
    // from list() before the next acquire must not take an earlier term's records as current.
    this.clear();
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    for (const w of this.waiters.splice(0)) w.reject(new Error(`informer ${this.prefix} stopped`));
    const handle = this.handle;
    this.handle = undefined;
    await handle?.cancel();
  }

  get running(): boolean {
    return this.users > 0;
  }

  hasSynced(): boolean {
    return this.listed;
  }

  /**
   * The etcd revision at which the prefix was last listed in full (0 before the first
   * listing): the cache holds every change up to it, whatever its watch has brought since.
   */
  listedAt(): number {
    return this.listed ? this.listedRevision : 0;
  }

  /** Resolves once the prefix has been listed since the informer started; fails if it stops first. */
  synced(): Promise<void> {
    if (this.listed) return Promise.resolve();
    if (!this.running) return Promise.reject(new Error(`informer ${this.prefix} not running`));
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  get(key: string): Cached<T> | undefined {
    return this.items.get(key);
  }

  list(): Cached<T>[] {
    return [...this.items.values()];
  }

  keys(): string[] {
    return [...this.items.keys()];
  }

  byIndex(index: string, value: string): Cached<T>[] {
    const at = this.indexes.get(index);
    if (!at) throw new Error(`informer ${this.prefix} has no index ${index}`);
    return [...(at.get(value) ?? [])].map((k) => this.items.get(k)!);
  }

  /** The values an index has now (e.g. every manifest that has a placement). */
  indexValues(index: string): string[] {
    const at = this.indexes.get(index);
    if (!at) throw new Error(`informer ${this.prefix} has no index ${index}`);
    return [...at.keys()];
  }

  /**
   * Applies a write this process committed at its revision now, before the watch brings it
   * (client-go's mutation cache): a writer that reads the cache next sees its own write.
   * Everything is versioned by revision, so the watch event of the same write is then dropped
   * unread, and an event older than what the cache holds for a key (or than a delete it
   * remembers) cannot undo a newer write. Told to consumers with `assumed`.
   */
  assume(write: AssumedWrite<T>): void {
    if (!this.running) return;
    if (write.type === 'put') this.apply(write.kv, false, { value: write.value });
    else this.remove(write.key, write.revision, true);
  }

  /**
   * Deletes `key` if etcd still holds it at `modRevision`, and applies the delete to the
   * cache at once (assume); whether it deleted. For a writer that acts on this cache.
   */
  async deleteAt(key: string, modRevision: number): Promise<boolean> {
    const revision = await this.store.txnAt([{ key, modRevision }], [{ type: 'delete', key }]);
    if (revision === undefined) return false;
    this.assume({ type: 'delete', key, revision });
    return true;
  }

  /**
   * Lists the prefix again now and applies the difference (told as changes, then `relists`),
   * the watch going on: for a consumer that must not act on a cache that may have fallen
   * behind etcd (its host was cut off). Every record is versioned, so a watch event older
   * than the listing changes nothing after it. Resolves at once if the informer is not
   * running or has not listed yet (its first listing is to come); rejects if the listing fails.
   */
  async relist(): Promise<void> {
    if (!this.listed) return;
    const generation = this.generation;
    const listing = await this.store.list(this.prefix);
    if (generation !== this.generation) return;
    this.replace(listing.kvs, listing.revision, false);
    this.listedRevision = listing.revision;
    this.relists$.next();
  }

  private clear(): void {
    this.items.clear();
    this.tombstones.clear();
    this.undecodable.clear();
    for (const index of this.indexes.values()) index.clear();
  }

  private retry(generation: number, err: unknown): void {
    if (generation !== this.generation) return;
    const delay = backoffDelay(this.attempt++, 500, 30_000);
    this.log.warn('informer watch interrupted; re-listing', { prefix: this.prefix, delayMs: delay, error: errorField(err) });
    this.timer = this.clock.setTimeout(() => void this.cycle(generation), delay);
  }

  private async cycle(generation: number): Promise<void> {
    try {
      const listing = await this.store.list(this.prefix);
      if (generation !== this.generation) return;
      const first = !this.listed;
      this.replace(listing.kvs, listing.revision, first);
      this.listed = true;
      this.listedRevision = listing.revision;
      if (first) for (const w of this.waiters.splice(0)) w.resolve();
      else this.relists$.next();
      this.watchesOpened++;
      const handle = await this.store.watch(this.prefix, listing.revision + 1, {
        onEvents: (events) => {
          if (generation !== this.generation) return;
          this.attempt = 0;
          for (const ev of events) {
            if (ev.type === 'put') this.apply(ev.kv);
            else this.remove(ev.key, ev.modRevision);
          }
        },
        onError: (err) => {
          if (generation !== this.generation) return;
          this.handle = undefined;
          this.retry(generation, err);
        },
      });
      if (generation !== this.generation) {
        await handle.cancel();
      } else {
        this.handle = handle;
        this.attempt = 0; // watching again: the next interruption backs off from the base delay
      }
    } catch (err) {
      this.retry(generation, err);
    }
  }

  /** A complete listing: the cache becomes exactly it, telling each difference. */
  private replace(kvs: KeyValue[], revision: number, initial: boolean): void {
    const seen = new Set<string>();
    for (const kv of kvs) {
      seen.add(kv.key);
      this.apply(kv, initial);
    }
    for (const key of [...this.items.keys()]) if (!seen.has(key)) this.remove(key, revision);
  }

  private apply(kv: KeyValue, initial = false, assumed?: { value: T }): void {
    const old = this.items.get(kv.key);
    // Same or older than what is held: a duplicate (our own write's event) or a late event.
    if (old && old.modRevision >= kv.modRevision) return;
    const tomb = this.tombstones.get(kv.key);
    if (tomb && tomb.revision >= kv.modRevision) return;
    this.tombstones.delete(kv.key);
    const decoded: ReturnType<Decoder<T>> = assumed ? { ok: true, value: assumed.value } : this.decodeSafely(kv);
    if (!decoded.ok) {
      if (old) this.remove(kv.key, kv.modRevision);
      if (this.undecodable.get(kv.key) !== kv.modRevision) {
        this.undecodable.set(kv.key, kv.modRevision);
        this.log.warn('record does not decode; left out', { prefix: this.prefix, key: kv.key, modRevision: kv.modRevision, error: decoded.error });
      }
      return;
    }
    this.undecodable.delete(kv.key);
    const obj: Cached<T> = { key: kv.key, value: decoded.value, modRevision: kv.modRevision, createRevision: kv.createRevision ?? kv.modRevision, lease: kv.lease };
    if (old) this.unindex(old);
    this.items.set(kv.key, obj);
    this.index(obj);
    this.events$.next(initial ? { type: 'put', key: kv.key, obj, old, initial } : assumed ? { type: 'put', key: kv.key, obj, old, assumed: true } : { type: 'put', key: kv.key, obj, old });
  }

  /**
   * A decoder that throws on some value is a bug, but the value is still one bad record:
   * left out like any other, not an exception out of the watch callback (which would end the
   * process) or out of every re-list (which would stall the whole prefix).
   */
  private decodeSafely(kv: KeyValue): ReturnType<Decoder<T>> {
    try {
      return this.decode(kv);
    } catch (err) {
      return { ok: false, error: `the decoder failed: ${err instanceof Error ? err.message : String(err)}` };
    }
  }

  /** `revision`: the delete's (or the listing's that found the key gone). */
  private remove(key: string, revision: number, assumed = false): void {
    this.undecodable.delete(key);
    const old = this.items.get(key);
    // Held at a newer revision than the delete (our own later write): it stays.
    if (old && old.modRevision > revision) return;
    this.remember(key, revision);
    if (!old) return;
    this.items.delete(key);
    this.unindex(old);
    this.events$.next(assumed ? { type: 'delete', key, old, revision, assumed: true } : { type: 'delete', key, old, revision });
  }

  private remember(key: string, revision: number): void {
    const tomb = this.tombstones.get(key);
    if (tomb && tomb.revision >= revision) return;
    this.tombstones.delete(key); // re-inserted: the map stays in time order
    const now = this.clock.now();
    this.tombstones.set(key, { revision, at: now });
    for (const [k, t] of this.tombstones) {
      if (t.at > now - TOMBSTONE_MS) break;
      this.tombstones.delete(k);
    }
  }

  private index(obj: Cached<T>): void {
    for (const [name, fn] of Object.entries(this.indexers)) {
      const index = this.indexes.get(name)!;
      for (const v of fn(obj)) (index.get(v) ?? index.set(v, new Set()).get(v)!).add(obj.key);
    }
  }

  private unindex(obj: Cached<T>): void {
    for (const [name, fn] of Object.entries(this.indexers)) {
      const index = this.indexes.get(name)!;
      for (const v of fn(obj)) {
        const keys = index.get(v);
        keys?.delete(obj.key);
        if (keys?.size === 0) index.delete(v);
      }
    }
  }
}
