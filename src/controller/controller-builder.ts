import { filter, from, mergeMap, type Observable } from 'rxjs';
import type { Cached, InformerEvent, SharedInformer } from '../informer/shared-informer.js';
import type { Controller, ControllerSpec, Reconciler, SyncedCache } from './controller.js';

/** Keys to reconcile for a change of an informer's prefix (pure: reads its arguments and caches only). */
export type EventMap<T> = (ev: InformerEvent<T>) => readonly string[];

/** Keys to reconcile for one record of the primary informer. */
export type ObjectMap<T> = (obj: Cached<T>) => readonly string[];

/**
 * Describes a controller the way controller-runtime's builder does:
 * `for(primary, map).watches(other, map)...`. The primary's records map to keys on every
 * change and at every resync; watched informers map their changes; every informer named is
 * started with the controller and synced before its first reconcile.
 */
export class ControllerBuilder {
  private readonly sources: Observable<string>[] = [];
  private readonly caches: SyncedCache[] = [];
  private readonly listers: (() => readonly string[] | Promise<readonly string[]>)[] = [];
  private workers: number | (() => number) | undefined;
  private settleMs: number | undefined;

  constructor(
    private readonly name: string,
    private readonly reconciler: Reconciler,
    private readonly resyncMs: number,
    private readonly make: (spec: ControllerSpec) => Controller,
  ) {}

  /**
   * The primary resource: each record maps to the keys it concerns, now and at every resync.
   * `matters` drops changes the reconciler does not read (resyncs and re-lists still see all).
   */
  for<T>(informer: SharedInformer<T>, toKeys: ObjectMap<T>, matters: (ev: InformerEvent<T>) => boolean = () => true): this {
    this.uses(informer);
    this.sources.push(changes(informer).pipe(mergeMap((ev) => (!matters(ev) ? [] : ev.type === 'put' ? toKeys(ev.obj) : toKeys(ev.old)))));
    this.listers.push(() => informer.list().flatMap(toKeys));
    return this.watchesRelists(informer, () => informer.list().flatMap(toKeys));
  }

  /** Another resource whose changes bear on some keys. */
  watches<T>(informer: SharedInformer<T>, map: EventMap<T>): this {
    this.uses(informer);
    this.sources.push(changes(informer).pipe(mergeMap(map)));
    return this;
  }

  /** After a re-list (changes may have been missed), these keys. */
  watchesRelists<T>(informer: SharedInformer<T>, keys: () => readonly string[]): this {
    this.sources.push(informer.relists.pipe(mergeMap(keys)));
    return this;
  }

  /** Keys from elsewhere (Docker events, a lease change, a cache's own changes). Must not error. */
  watchesKeys(keys: Observable<string>): this {
    this.sources.push(keys);
    return this;
  }

  /** A cache the reconciler reads: started with the controller and synced before it works. */
  uses(cache: SyncedCache): this {
    if (!this.caches.includes(cache)) this.caches.push(cache);
    return this;
  }

  /** More keys for every resync, beside the primary's (e.g. containers found on the engine). */
  resyncsAlso(list: () => readonly string[] | Promise<readonly string[]>): this {
    this.listers.push(list);
    return this;
  }

  /** Keys handled at once: a number, or a function read before each start (an adaptive limit). */
  concurrency(workers: number | (() => number)): this {
    this.workers = workers;
    return this;
  }

  /**
   * Keys from the sources wait this long before their reconcile (client-go's AddAfter): a
   * burst of changes makes one reconcile, and work off the critical path (a status) leaves
   * the process's event loop to the work on it (the scheduler) for that long. Resyncs and
   * requeues are not delayed.
   */
  settle(ms: number): this {
    this.settleMs = ms;
    return this;
  }

  build() {
    const listers = this.listers;
    return this.make({
      name: this.name,
      reconciler: this.reconciler,
      sources: this.sources,
      caches: this.caches,
      listKeys: async () => [...new Set((await Promise.all(listers.map((l) => l()))).flat())],
      resyncMs: this.resyncMs,
      ...(this.workers !== undefined ? { concurrency: this.workers } : {}),
      ...(this.settleMs !== undefined ? { settleMs: this.settleMs } : {}),
    });
  }
}

/** An informer's changes after its first listing (the first resync covers what that listing brought). */
function changes<T>(informer: SharedInformer<T>): Observable<InformerEvent<T>> {
  return informer.events.pipe(filter((ev) => !(ev.type === 'put' && ev.initial)));
}

/** Every key of `listKeys()` each time `trigger` emits (e.g. a new lease); listing errors yield none. */
export function allKeysOn(trigger: Observable<unknown>, listKeys: () => Promise<readonly string[]>): Observable<string> {
  return trigger.pipe(
    mergeMap(() => from(listKeys().catch(() => [] as string[]))),
    mergeMap((ids) => ids),
  );
}
