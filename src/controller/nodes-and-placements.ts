import { filter, map, merge, type Observable } from 'rxjs';
import type { Keys } from '../../api/keys.js';
import type { NodeRecord } from '../../api/records.js';
import type { InformerFactory } from '../informer/informer-factory.js';
import { Resources, type Node, type Placement } from '../informer/resources.js';
import type { SharedInformer } from '../informer/shared-informer.js';
import type { SyncedCache } from './controller.js';

/** What a placement cache tells its controller about nodes: one changed, or all listed again after a lost watch (changes may have been missed). */
export type NodesChange = { kind: 'node' } | { kind: 'relisted' };

/**
 * The two shared informers a placement cache reads (the scheduler's, the status
 * controller's): live nodes and every placement, started, synced and stopped together.
 */
export class NodesAndPlacements implements SyncedCache {
  readonly nodes: SharedInformer<Node>;
  readonly placements: SharedInformer<Placement>;
  private live: NodeRecord[] | undefined;

  constructor(informers: InformerFactory, keys: Keys) {
    this.nodes = informers.informer(Resources.nodes(keys));
    this.placements = informers.informer(Resources.placements(keys));
    this.nodes.events.subscribe(() => (this.live = undefined));
  }

  /** A node put or deleted, and re-lists of either prefix. */
  get changes(): Observable<NodesChange> {
    return merge(
      this.nodes.events.pipe(
        filter((ev) => !(ev.type === 'put' && ev.initial)),
        map((): NodesChange => ({ kind: 'node' })),
      ),
      merge(this.nodes.relists, this.placements.relists).pipe(map((): NodesChange => ({ kind: 'relisted' }))),
    );
  }

  acquire(): void {
    this.live = undefined;
    this.nodes.acquire();
    this.placements.acquire();
  }

  async release(): Promise<void> {
    await Promise.all([this.nodes.release(), this.placements.release()]);
  }

  /** Resolves once nodes and placements have both been listed since they started. */
  async synced(): Promise<void> {
    await Promise.all([this.nodes.synced(), this.placements.synced()]);
  }

  /** Every live node (the same array until the next change: do not modify it). */
  liveNodes(): NodeRecord[] {
    return (this.live ??= this.nodes.list().map(({ value: { at: _name, ...record } }) => record));
  }
}
