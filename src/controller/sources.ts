import { inject, injectable } from 'inversify';
import { filter, from, map, mergeMap, type Observable } from 'rxjs';
import type { Clock } from '../clock.js';
import { TYPES } from '../ioc/tokens.js';
import type { Logger } from '../logging.js';
import type { KvStore } from '../etcd/kv-store.js';
import { watchPrefix, type PrefixEvent } from '../etcd/prefix-watch.js';
import { Controller, type ControllerSpec } from './controller.js';

/** Builds controllers and their etcd streams with the process's clock, store and logger. */
@injectable()
export class ControllerFactory {
  constructor(
    @inject(TYPES.KvStore) private readonly store: KvStore,
    @inject(TYPES.Clock) private readonly clock: Clock,
    @inject(TYPES.Logger) private readonly log: Logger,
  ) {}

  /** A prefix as a never-failing stream of puts and deletes (list, then watch). */
  watch(prefix: string): Observable<PrefixEvent> {
    return watchPrefix(this.store, prefix, { clock: this.clock, log: this.log });
  }

  /** Keys of a prefix's changes, each mapped by `toKeys` (which may yield none). */
  keysOf(prefix: string, toKeys: (ev: PrefixEvent) => string[]): Observable<string> {
    return this.watch(prefix).pipe(
      map(toKeys),
      filter((keys) => keys.length > 0),
      mergeMap((keys) => keys),
    );
  }

  controller(spec: ControllerSpec): Controller {
    return new Controller(spec, this.clock, this.log);
  }
}

/** The etcd key of a prefix event. */
export function eventKey(ev: PrefixEvent): string {
  return ev.type === 'put' ? ev.kv.key : ev.key;
}

/** Every key of `listKeys()` each time `trigger` emits (e.g. a new lease); listing errors yield none. */
export function allKeysOn(trigger: Observable<unknown>, listKeys: () => Promise<string[]>): Observable<string> {
  return trigger.pipe(
    mergeMap(() => from(listKeys().catch(() => [] as string[]))),
    mergeMap((ids) => ids),
  );
}
