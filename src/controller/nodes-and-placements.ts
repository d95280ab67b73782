import type { Keys } from '../../api/keys.js';
import type { NodeRecord } from '../../api/records.js';
import type { Clock } from '../clock.js';
import type { KvStore } from '../etcd/kv-store.js';
import { InformerGroup, PrefixInformer, type InformerHandlers } from '../etcd/prefix-informer.js';
import type { Logger } from '../logging.js';
import { LiveNodes, type NodesChange } from './live-nodes.js';

/**
 * The informers of a placement cache (the scheduler's, the status controller's): live nodes,
 * kept here, and every placement, handed to the cache's own handlers; started and stopped
 * together. A listing after the first one since start() (a lost watch, re-listed) is told
 * as `relisted`, since changes may have been missed; a node put or deleted as `node`.
 */
export class NodesAndPlacements {
  private readonly nodes: LiveNodes;
  private readonly group: InformerGroup;

  constructor(
    private readonly store: KvStore,
    private readonly keys: Keys,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly owner: string,
  ) {
    this.nodes = new LiveNodes(keys);
    this.group = new InformerGroup(['nodes', 'placements'], owner);
  }

  get isRunning(): boolean {
    return this.group.isRunning;
  }

  /** Starts afresh: no nodes, then both prefixes listed and watched (in the background, retrying). */
  start(placements: InformerHandlers, changed: (c: NodesChange) => void): void {
    this.nodes.clear();
    const listed = (part: string) => {
      if (!this.group.mark(part)) changed({ kind: 'relisted' });
    };
    this.group.start([
      new PrefixInformer(this.store, this.keys.nodes, this.clock, this.log, this.owner, {
        reset: (kvs) => {
          this.nodes.reset(kvs);
          listed('nodes');
        },
        put: (kv) => {
          if (this.nodes.put(kv)) changed({ kind: 'node' });
        },
        del: (key) => {
          if (this.nodes.delete(key)) changed({ kind: 'node' });
        },
      }),
      new PrefixInformer(this.store, this.keys.placements, this.clock, this.log, this.owner, {
        reset: (kvs, revision) => {
          placements.reset(kvs, revision);
          listed('placements');
        },
        put: (kv) => placements.put(kv),
        del: (key, revision) => placements.del(key, revision),
      }),
    ]);
  }

  /** Stops watching; waiters for the first listing are failed. */
  stop(): Promise<void> {
    return this.group.stop();
  }

  /** Resolves once nodes and placements have both been listed since start(). */
  ready(): Promise<void> {
    return this.group.ready();
  }

  /** Every live node (the same array until the next change: do not modify it). */
  liveNodes(): NodeRecord[] {
    return this.nodes.all();
  }
}
