import { Observable } from 'rxjs';
import { backoffDelay, type Clock, type TimerHandle } from '../clock.js';
import { errorField, type Logger } from '../logging.js';
import type { KeyValue, KvStore, WatchHandle } from './kv-store.js';

export type PrefixEvent = { type: 'put'; kv: KeyValue } | { type: 'delete'; key: string };

export interface PrefixWatchOptions {
  clock: Clock;
  log: Logger;
  baseDelayMs?: number;
  maxDelayMs?: number;
}

/**
 * A prefix as a stream: lists it (a put per key), then watches from the listing's revision
 * + 1. If the watch dies (compaction, a lost stream) or the listing fails, it retries with
 * capped backoff and re-lists, emitting puts for keys that changed and deletes for keys
 * that vanished meanwhile, so subscribers never miss a change. It never errors.
 */
export function watchPrefix(store: KvStore, prefix: string, opts: PrefixWatchOptions): Observable<PrefixEvent> {
  const base = opts.baseDelayMs ?? 500;
  const max = opts.maxDelayMs ?? 30_000;
  return new Observable<PrefixEvent>((subscriber) => {
    // What the subscriber has been told: key -> mod revision.
    const known = new Map<string, number>();
    let handle: WatchHandle | undefined;
    let timer: TimerHandle | undefined;
    let attempt = 0;
    let closed = false;

    const retry = (err: unknown) => {
      if (closed) return;
      const delay = backoffDelay(attempt++, base, max);
      opts.log.warn('watch interrupted; re-listing', { prefix, delayMs: delay, error: errorField(err) });
      timer = opts.clock.setTimeout(() => void cycle(), delay);
    };

    const cycle = async () => {
      try {
        const listing = await store.list(prefix);
        if (closed) return;
        const seen = new Set<string>();
        for (const kv of listing.kvs) {
          seen.add(kv.key);
          if (known.get(kv.key) !== kv.modRevision) {
            known.set(kv.key, kv.modRevision);
            subscriber.next({ type: 'put', kv });
          }
        }
        for (const key of [...known.keys()]) {
          if (!seen.has(key)) {
            known.delete(key);
            subscriber.next({ type: 'delete', key });
          }
        }
        handle = await store.watch(prefix, listing.revision + 1, {
          onEvents: (events) => {
            attempt = 0;
            for (const ev of events) {
              if (ev.type === 'put') {
                known.set(ev.kv.key, ev.kv.modRevision);
                subscriber.next(ev);
              } else if (known.delete(ev.key)) {
                subscriber.next({ type: 'delete', key: ev.key });
              }
            }
          },
          onError: (err) => {
            handle = undefined;
            retry(err);
          },
        });
        if (closed) await handle.cancel();
        else attempt = 0;
      } catch (err) {
        retry(err);
      }
    };

    void cycle();
    return () => {
      closed = true;
      if (timer !== undefined) opts.clock.clearTimeout(timer);
      void handle?.cancel();
    };
  });
}
