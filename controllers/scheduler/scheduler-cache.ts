import { inject, injectable } from 'inversify';
import { map, merge, Subject, type Subscription } from 'rxjs';
import { manifestId, type Keys } from '../../api/keys.js';
import { decodeRecord, NodeRecord, PlacementRecord } from '../../api/records.js';
import type { Clock } from '../../src/clock.js';
import type { SyncedCache } from '../../src/controller/controller.js';
import { NodesAndPlacements, type NodesChange } from '../../src/controller/nodes-and-placements.js';
import type { KeyValue, TxnOp } from '../../src/etcd/kv-store.js';
import { InformerFactory } from '../../src/informer/informer-factory.js';
import type { Placement } from '../../src/informer/resources.js';
import type { Cached } from '../../src/informer/shared-informer.js';
import { TYPES } from '../../src/ioc/tokens.js';

/** A shared informer's placement as the key-value it was decoded from (its value is not needed: the record comes along). */
function asKv(c: Cached<Placement>): KeyValue {
  return { key: c.key, value: '', modRevision: c.modRevision, lease: c.lease };
}

/** One placement as the scheduler needs it (the spec stays in etcd). */
export interface CachedPlacement {
  key: string;
  modRevision: number;
  app: string;
  name: string;
  replica: number;
  node: string;
  templateHash: string;
  revision: number;
  updatedAt?: number;
}

/** What changed in the cache, after it was applied: the scheduler's work sources. */
export type CacheChange = NodesChange | { kind: 'placement'; app: string; name: string };

/** How long a deleted key's revision is remembered against late, older puts. */
const TOMBSTONE_MS = 60_000;

/**
 * The scheduler's cache over the shared `nodes/` and `placements/` informers: every
 * placement with the revision it is known at, and the per-node placement count (the load
 * map) maintained incrementally. It replaces reading all nodes and all
 * placements from etcd on every reconcile, which costs O(placements) per manifest.
 *
 * Why a stale cache cannot double-place: the scheduler is the only writer of placements
 * (only the elected leader runs it, and a work queue runs one reconcile per manifest at a
 * time), and it applies each of its committed transactions here at the transaction's
 * revision (`wrote`) before it looks at that manifest again. Everything is versioned by
 * etcd revision: a watch event or write older than what the cache holds for a key is
 * ignored (deleted keys keep their delete revision for a while), so an event arriving
 * late cannot undo a newer write. Every write remains a transaction on the mod revisions
 * the cache showed (0 for a new key): where the cache is behind, the write fails and the
 * reconcile retries. The cache starts empty with each leadership term and takes what the
 * informers hold, then their changes.
 */
@injectable()
export class SchedulerCache implements SyncedCache {
  private readonly informers: NodesAndPlacements;
  private readonly placements = new Map<string, CachedPlacement>();
  private readonly byManifest = new Map<string, Map<string, CachedPlacement>>();
  private readonly load = new Map<string, number>();
  private readonly tombstones = new Map<string, { revision: number; at: number }>();
  private subscription: Subscription | undefined;
  readonly changes = new Subject<CacheChange>();

  constructor(
    @inject(InformerFactory) factory: InformerFactory,
    @inject(TYPES.Keys) private readonly keys: Keys,
    @inject(TYPES.Clock) private readonly clock: Clock,
  ) {
    this.informers = new NodesAndPlacements(factory, keys);
  }

  /**
   * Starts afresh: empty, then what the shared informers hold (if another consumer already
   * runs them) and every change they apply from now on (in the background, retrying).
   */
  acquire(): void {
    if (this.subscription) return;
    this.placements.clear();
    this.byManifest.clear();
    this.load.clear();
    this.tombstones.clear();
    const placements = this.informers.placements;
    this.subscription = merge(
      placements.events.pipe(map((ev) => () => (ev.type === 'put' ? this.putPlacement(asKv(ev.obj), !ev.initial, ev.obj.value) : this.deletePlacement(ev.key, ev.revision, true)))),
      this.informers.changes.pipe(map((c) => () => this.changes.next(c))),
    ).subscribe((apply) => apply());
    for (const c of placements.list()) this.putPlacement(asKv(c), false, c.value);
    this.informers.acquire();
  }

  /**
   * Stops watching. What it holds stays readable (a reconcile in flight finishes on it,
   * its writes guarded by their transactions); waiters for the first listing are failed.
   */
  async release(): Promise<void> {
    this.subscription?.unsubscribe();
    this.subscription = undefined;
    await this.informers.release();
  }

  /** Resolves once nodes and placements have both been listed since acquire(). */
  synced(): Promise<void> {
    return this.informers.synced();
  }

  liveNodes(): NodeRecord[] {
    return this.informers.liveNodes();
  }

  /** Placements per node, all manifests: read-only, kept current. */
  loadMap(): ReadonlyMap<string, number> {
    return this.load;
  }

  placementsOf(app: string, name: string): CachedPlacement[] {
    return [...(this.byManifest.get(manifestId(app, name))?.values() ?? [])];
  }

  /** Manifests that have placements (some perhaps without a manifest any more). */
  manifestIds(): string[] {
    return [...this.byManifest.keys()];
  }

  /**
   * Our own transaction, committed at `revision`: applied now, before the watch brings it.
   * `records[i]`, if given, is what the put ops[i] holds, parsed.
   */
  wrote(revision: number, ops: TxnOp[], records?: PlacementRecord[]): void {
    ops.forEach((op, i) => {
      if (op.type === 'put') this.putPlacement({ key: op.key, value: op.value, modRevision: revision, lease: op.lease ?? '0' }, false, records?.[i]);
      else this.deletePlacement(op.key, revision, false);
    });
  }

  private putPlacement(kv: KeyValue, notify: boolean, parsed?: PlacementRecord): void {
    const held = this.placements.get(kv.key);
    if (held && held.modRevision >= kv.modRevision) return; // e.g. the watch bringing our own write
    const at = this.keys.parsePlacement(kv.key);
    if (!at) return;
    const tomb = this.tombstones.get(kv.key);
    if (tomb && tomb.revision >= kv.modRevision) return;
    this.tombstones.delete(kv.key);
    const record = parsed ?? decodeRecord(PlacementRecord, kv.value);
    const id = manifestId(at.app, at.name);
    if (!held) this.load.set(at.node, (this.load.get(at.node) ?? 0) + 1);
    if (!record || record.app !== at.app || record.name !== at.name) {
      // Not a placement the scheduler can use (it still counts as load, as before).
      this.placements.set(kv.key, { key: kv.key, modRevision: kv.modRevision, app: at.app, name: at.name, replica: at.replica, node: at.node, templateHash: '', revision: 0 });
      this.byManifest.get(id)?.delete(kv.key);
    } else {
      const p: CachedPlacement = {
        key: kv.key,
        modRevision: kv.modRevision,
        app: at.app,
        name: at.name,
        replica: at.replica,
        node: at.node,
        templateHash: record.templateHash,
        revision: record.revision,
        ...(record.updatedAt !== undefined ? { updatedAt: record.updatedAt } : {}),
      };
      this.placements.set(kv.key, p);
      let mine = this.byManifest.get(id);
      if (!mine) this.byManifest.set(id, (mine = new Map()));
      mine.set(kv.key, p);
    }
    if (notify) this.changes.next({ kind: 'placement', app: at.app, name: at.name });
  }

  private deletePlacement(key: string, revision: number, notify: boolean): void {
    const held = this.placements.get(key);
    if (held && held.modRevision > revision) return; // a newer put already applied
    const tomb = this.tombstones.get(key);
    if (!tomb || tomb.revision < revision) {
      this.tombstones.delete(key); // re-inserted: the map stays in time order
      this.tombstones.set(key, { revision, at: this.clock.now() });
      this.pruneTombstones();
    }
    if (!held) return;
    this.placements.delete(key);
    const left = (this.load.get(held.node) ?? 1) - 1;
    if (left > 0) this.load.set(held.node, left);
    else this.load.delete(held.node);
    const id = manifestId(held.app, held.name);
    const mine = this.byManifest.get(id);
    mine?.delete(key);
    if (mine?.size === 0) this.byManifest.delete(id);
    if (notify) this.changes.next({ kind: 'placement', app: held.app, name: held.name });
  }

  private pruneTombstones(): void {
    const cutoff = this.clock.now() - TOMBSTONE_MS;
    for (const [key, t] of this.tombstones) {
      if (t.at > cutoff) return;
      this.tombstones.delete(key);
    }
  }
}
