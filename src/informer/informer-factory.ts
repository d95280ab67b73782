import { inject, injectable } from 'inversify';
import type { Clock } from '../clock.js';
import type { KvStore } from '../etcd/kv-store.js';
import { TYPES } from '../ioc/tokens.js';
import type { Logger } from '../logging.js';
import { SharedInformer, type Decoder, type Indexers } from './shared-informer.js';

/** What an informer is of: a prefix, how its values decode, and the indexes a consumer reads. */
export interface ResourceSpec<T> {
  /** Names the decoder: two specs of one prefix must agree on it. */
  kind: string;
  prefix: string;
  decode: Decoder<T>;
  indexers?: Indexers<T>;
}

/** One row of the runtime's count of informers (and so of watches) per prefix. */
export interface InformerCount {
  prefix: string;
  kind: string;
  running: boolean;
  /** Watches opened since the process started (a re-list opens a new one). */
  watchesOpened: number;
}

/**
 * The process's informers, one per prefix whatever the number of consumers (client-go's
 * SharedInformerFactory). A second consumer of a prefix gets the same informer, with its
 * index functions added; an index is named after what it computes, so where two specs name
 * the same index the first one's function serves both.
 */
@injectable()
export class InformerFactory {
  private readonly informers = new Map<string, { kind: string; informer: SharedInformer<unknown> }>();

  constructor(
    @inject(TYPES.KvStore) private readonly store: KvStore,
    @inject(TYPES.Clock) private readonly clock: Clock,
    @inject(TYPES.Logger) private readonly log: Logger,
  ) {}

  informer<T>(spec: ResourceSpec<T>): SharedInformer<T> {
    const held = this.informers.get(spec.prefix);
    if (held) {
      if (held.kind !== spec.kind) throw new Error(`informer ${spec.prefix} decodes ${held.kind}, asked for ${spec.kind}`);
      const informer = held.informer as SharedInformer<T>;
      if (spec.indexers) informer.addIndexers(spec.indexers);
      return informer;
    }
    const informer = new SharedInformer<T>(this.store, spec.prefix, spec.decode, spec.indexers ?? {}, this.clock, this.log);
    this.informers.set(spec.prefix, { kind: spec.kind, informer: informer as SharedInformer<unknown> });
    return informer;
  }

  /**
   * Forgets the informer of a prefix if no one uses it: for prefixes made on demand (one
   * app's endpoints), which would otherwise pile up. A later `informer()` makes a new one.
   */
  discard(prefix: string): void {
    if (this.informers.get(prefix)?.informer.running === false) this.informers.delete(prefix);
  }

  counts(): InformerCount[] {
    return [...this.informers.entries()].map(([prefix, { kind, informer }]) => ({ prefix, kind, running: informer.running, watchesOpened: informer.watchesOpened }));
  }
}
