import { inject, injectable } from 'inversify';
import { Subject } from 'rxjs';
import { manifestId, type Keys } from '../../api/keys.js';
import { decodeRecord, NodeRecord, PlacementRecord } from '../../api/records.js';
import type { Clock } from '../../src/clock.js';
import type { KeyValue, KvStore } from '../../src/etcd/kv-store.js';
import type { NodesChange } from '../../src/controller/live-nodes.js';
import { NodesAndPlacements } from '../../src/controller/nodes-and-placements.js';
import { TYPES } from '../../src/ioc/tokens.js';
import type { Logger } from '../../src/logging.js';

/** What the status needs of a placement; the spec stays in etcd (read when needed). */
export type PlacedReplica = Pick<PlacementRecord, 'app' | 'name' | 'replica' | 'node' | 'templateHash' | 'revision'> & { key: string };

export type StatusCacheChange = NodesChange | { kind: 'placement'; id: string };

/**
 * The status controller's informer: live nodes and a slim copy of every placement, by
 * manifest, listed once and kept current by watches on `nodes/` and `placements/`.
 * Placement keys start with the node, so one manifest's placements have no prefix of their
 * own: without this, each status reconcile would list every placement in the cluster,
 * O(placements) per manifest, and past ~9,000 of them the listing outgrows gRPC's 4 MB
 * message limit. It only reads, so a stale moment costs a status one watch event late,
 * and each change re-queues the manifests it bears on.
 */
@injectable()
export class StatusCache {
  private readonly informers: NodesAndPlacements;
  private readonly byManifest = new Map<string, Map<string, PlacedReplica>>();
  private readonly manifestOfKey = new Map<string, string>();
  readonly changes = new Subject<StatusCacheChange>();

  constructor(
    @inject(TYPES.KvStore) store: KvStore,
    @inject(TYPES.Keys) private readonly keys: Keys,
    @inject(TYPES.Clock) clock: Clock,
    @inject(TYPES.Logger) log: Logger,
  ) {
    this.informers = new NodesAndPlacements(store, keys, clock, log, 'status cache');
  }

  start(): void {
    if (this.informers.isRunning) return;
    this.byManifest.clear();
    this.manifestOfKey.clear();
    this.informers.start(
      {
        reset: (kvs) => this.listedPlacements(kvs),
        put: (kv) => this.putPlacement(kv, true),
        del: (key) => this.deletePlacement(key, true),
      },
      (c) => this.changes.next(c),
    );
  }

  stop(): Promise<void> {
    return this.informers.stop();
  }

  /** Resolves once nodes and placements have both been listed since start(). */
  ready(): Promise<void> {
    return this.informers.ready();
  }

  liveNodes(): NodeRecord[] {
    return this.informers.liveNodes();
  }

  placementsOf(app: string, name: string): PlacedReplica[] {
    return [...(this.byManifest.get(manifestId(app, name))?.values() ?? [])];
  }

  private listedPlacements(kvs: KeyValue[]): void {
    this.byManifest.clear();
    this.manifestOfKey.clear();
    for (const kv of kvs) this.putPlacement(kv, false);
  }

  private putPlacement(kv: KeyValue, notify: boolean): void {
    const at = this.keys.parsePlacement(kv.key);
    if (!at) return;
    const id = manifestId(at.app, at.name);
    const record = decodeRecord(PlacementRecord, kv.value);
    if (!record || record.app !== at.app || record.name !== at.name) {
      // Not a placement of this manifest any more (unreadable): as if deleted.
      this.deletePlacement(kv.key, notify);
      return;
    }
    let mine = this.byManifest.get(id);
    if (!mine) this.byManifest.set(id, (mine = new Map()));
    mine.set(kv.key, { key: kv.key, app: at.app, name: at.name, replica: at.replica, node: at.node, templateHash: record.templateHash, revision: record.revision });
    this.manifestOfKey.set(kv.key, id);
    if (notify) this.changes.next({ kind: 'placement', id });
  }

  private deletePlacement(key: string, notify: boolean): void {
    const id = this.manifestOfKey.get(key);
    if (id === undefined) return;
    this.manifestOfKey.delete(key);
    const mine = this.byManifest.get(id);
    mine?.delete(key);
    if (mine?.size === 0) this.byManifest.delete(id);
    if (notify) this.changes.next({ kind: 'placement', id });
  }
}
