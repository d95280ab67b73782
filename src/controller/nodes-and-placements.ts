import { filter, map, merge, type Observable } from 'rxjs';
import { canonicalJson } from '../../api/canonical-json.js';
import type { Keys } from '../../api/keys.js';
import type { MaintenanceRecord, NodeRecord } from '../../api/records.js';
import type { InformerFactory } from '../informer/informer-factory.js';
import { Resources, type Maintenance, type Node, type Placement } from '../informer/resources.js';
import type { InformerEvent, SharedInformer } from '../informer/shared-informer.js';
import type { SyncedCache } from './controller.js';

/** What a placement cache tells its controller about nodes: one changed, or all listed again after a lost watch (changes may have been missed). */
export type NodesChange = { kind: 'node' } | { kind: 'relisted' };

/**
 * A node put that changes nothing placement reads: only `allocated` (what the agent last
 * counted, a report) differs. Without this, every agent's count would re-plan every manifest.
 */
export function allocationOnly(ev: InformerEvent<Node>): boolean {
  if (ev.type !== 'put' || !ev.old) return false;
  const { allocated: _a, ...now } = ev.obj.value;
  const { allocated: _b, ...before } = ev.old.value;
  return canonicalJson(now) === canonicalJson(before);
}

/**
 * The shared informers a placement cache reads (the scheduler's, the status controller's):
 * live nodes, their maintenance holds (cordon, drain) and every placement, started, synced
 * and stopped together.
 */
export class NodesAndPlacements implements SyncedCache {
  readonly nodes: SharedInformer<Node>;
  readonly maintenance: SharedInformer<Maintenance>;
  readonly placements: SharedInformer<Placement>;
  private live: NodeRecord[] | undefined;
  private cordonedNodes: Set<string> | undefined;

  constructor(informers: InformerFactory, keys: Keys) {
    this.nodes = informers.informer(Resources.nodes(keys));
    this.maintenance = informers.informer(Resources.maintenance(keys));
    this.placements = informers.informer(Resources.placements(keys));
    this.nodes.events.subscribe(() => (this.live = undefined));
    this.maintenance.events.subscribe(() => (this.cordonedNodes = undefined));
  }

  /** A node put (other than a new allocation count) or deleted, a cordon or drain changed, and re-lists of any prefix. */
  get changes(): Observable<NodesChange> {
    return merge(
      merge(this.nodes.events.pipe(filter((ev) => !allocationOnly(ev))), this.maintenance.events).pipe(
        filter((ev) => !(ev.type === 'put' && ev.initial)),
        map((): NodesChange => ({ kind: 'node' })),
      ),
      merge(this.nodes.relists, this.maintenance.relists, this.placements.relists).pipe(map((): NodesChange => ({ kind: 'relisted' }))),
    );
  }

  acquire(): void {
    this.live = undefined;
    this.cordonedNodes = undefined;
    this.nodes.acquire();
    this.maintenance.acquire();
    this.placements.acquire();
  }

  async release(): Promise<void> {
    await Promise.all([this.nodes.release(), this.maintenance.release(), this.placements.release()]);
  }

  /** Resolves once nodes, maintenance and placements have all been listed since they started. */
  async synced(): Promise<void> {
    await Promise.all([this.nodes.synced(), this.maintenance.synced(), this.placements.synced()]);
  }

  /** Every live node (the same array until the next change: do not modify it). */
  liveNodes(): NodeRecord[] {
    return (this.live ??= this.nodes.list().map(({ value: { at: _name, ...record } }) => record));
  }

  /** Nodes that take no new placements (the same set until the next change: do not modify it). */
  cordoned(): ReadonlySet<string> {
    return (this.cordonedNodes ??= new Set(this.maintenance.list().filter((c) => c.value.cordoned).map((c) => c.value.at)));
  }

  /** Nodes being drained, with their hold (for the drain mover and `dokkaa nodes`). */
  draining(): Map<string, MaintenanceRecord> {
    return new Map(this.maintenance.list().filter((c) => c.value.draining).map(({ value: { at, ...record } }) => [at, record]));
  }
}
