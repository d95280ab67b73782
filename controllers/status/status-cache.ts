import { inject, injectable } from 'inversify';
import { filter, map, merge, type Observable } from 'rxjs';
import { manifestId, type Keys } from '../../api/keys.js';
import type { NodeRecord, PlacementRecord } from '../../api/records.js';
import { NodesAndPlacements, type NodesChange } from '../../src/controller/nodes-and-placements.js';
import { InformerFactory } from '../../src/informer/informer-factory.js';
import { BY_MANIFEST, type Placement } from '../../src/informer/resources.js';
import type { Cached, InformerEvent } from '../../src/informer/shared-informer.js';
import { TYPES } from '../../src/ioc/tokens.js';
import type { SyncedCache } from '../../src/controller/controller.js';

/** What the status needs of a placement; the spec stays in etcd (read when needed). */
export type PlacedReplica = Pick<PlacementRecord, 'app' | 'name' | 'replica' | 'node' | 'templateHash' | 'revision' | 'replaces'> & { key: string };

export type StatusCacheChange = NodesChange | { kind: 'placement'; id: string };

/** A placement readable as one of its manifest's (its record names the manifest of its key). */
function usable(c: Cached<Placement>): boolean {
  return c.value.app === c.value.at.app && c.value.name === c.value.at.name;
}

/**
 * The status controller's view of the shared `nodes/` and `placements/` informers: live
 * nodes, and placements by manifest through the informer's index. Placement keys start with
 * the node, so one manifest's placements have no prefix of their own: without the index,
 * each status reconcile would list every placement in the cluster, O(placements) per
 * manifest. It only reads, so a stale moment costs a status one watch event late, and each
 * change re-queues the manifests it bears on.
 */
@injectable()
export class StatusCache implements SyncedCache {
  private readonly informers: NodesAndPlacements;
  /** What changed, after the informers applied it. */
  readonly changes: Observable<StatusCacheChange>;

  constructor(@inject(InformerFactory) factory: InformerFactory, @inject(TYPES.Keys) keys: Keys) {
    this.informers = new NodesAndPlacements(factory, keys);
    const placementOf = (ev: InformerEvent<Placement>): StatusCacheChange => {
      const at = (ev.type === 'put' ? ev.obj : ev.old).value.at;
      return { kind: 'placement', id: manifestId(at.app, at.name) };
    };
    const placementChanges = this.informers.placements.events.pipe(filter((ev) => !(ev.type === 'put' && ev.initial)));
    this.changes = merge(this.informers.changes, placementChanges.pipe(map(placementOf)));
  }

  acquire(): void {
    this.informers.acquire();
  }

  release(): Promise<void> {
    return this.informers.release();
  }

  synced(): Promise<void> {
    return this.informers.synced();
  }

  liveNodes(): NodeRecord[] {
    return this.informers.liveNodes();
  }

  cordoned(): ReadonlySet<string> {
    return this.informers.cordoned();
  }

  placementsOf(app: string, name: string): PlacedReplica[] {
    return this.informers.placements
      .byIndex(BY_MANIFEST, manifestId(app, name))
      .filter(usable)
      .map(({ key, value: p }) => ({
        key, app: p.app, name: p.name, replica: p.at.replica, node: p.at.node, templateHash: p.templateHash, revision: p.revision,
        ...(p.replaces !== undefined ? { replaces: p.replaces } : {}),
      }));
  }
}
