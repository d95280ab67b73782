import { inject, injectable } from 'inversify';
import { map, merge, Subject, type Subscription } from 'rxjs';
import { manifestId, type Keys } from '../../api/keys.js';
import { decodeRecord, NodeRecord, PlacementSummary } from '../../api/records.js';
import type { SyncedCache } from '../../src/controller/controller.js';
import { NodesAndPlacements, type NodesChange } from '../../src/controller/nodes-and-placements.js';
import type { TxnOp } from '../../src/etcd/kv-store.js';
import { InformerFactory } from '../../src/informer/informer-factory.js';
import { BY_MANIFEST, type Placement } from '../../src/informer/resources.js';
import type { InformerEvent } from '../../src/informer/shared-informer.js';
import { TYPES } from '../../src/ioc/tokens.js';

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

/**
 * The scheduler's view of the shared `nodes/` and `placements/` informers: every placement
 * with the revision it is known at, by manifest (the informer's index), and the per-node
 * placement count (the load map) maintained incrementally. It replaces reading all nodes
 * and all placements from etcd on every reconcile, which costs O(placements) per manifest.
 *
 * Why a stale cache cannot double-place: the scheduler is the only writer of placements
 * (only the elected leader runs it, and a work queue runs one reconcile per manifest at a
 * time), and it applies each of its committed transactions to the informer at the
 * transaction's revision (`wrote`, the informer's `assume`) before it looks at that manifest
 * again. Everything is versioned by etcd revision: a watch event older than what the
 * informer holds for a key is ignored (deleted keys keep their delete revision for a while),
 * so an event arriving late cannot undo a newer write. Every write remains a transaction on
 * the mod revisions the cache showed (0 for a new key): where the cache is behind, the write
 * fails and the reconcile retries. The load map starts empty with each leadership term and
 * takes what the informers hold, then their changes.
 */
@injectable()
export class SchedulerCache implements SyncedCache {
  private readonly informers: NodesAndPlacements;
  private readonly load = new Map<string, number>();
  private subscription: Subscription | undefined;
  readonly changes = new Subject<CacheChange>();

  constructor(
    @inject(InformerFactory) factory: InformerFactory,
    @inject(TYPES.Keys) private readonly keys: Keys,
  ) {
    this.informers = new NodesAndPlacements(factory, keys);
  }

  /** Starts afresh: the load of what the informers hold (if already running), then their changes. */
  acquire(): void {
    if (this.subscription) return;
    this.load.clear();
    const placements = this.informers.placements;
    this.subscription = merge(
      placements.events.pipe(map((ev) => () => this.placementChanged(ev))),
      this.informers.changes.pipe(map((c) => () => this.changes.next(c))),
    ).subscribe((apply) => apply());
    for (const c of placements.list()) this.count(c.value.at.node, 1);
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
    return this.informers.placements
      .byIndex(BY_MANIFEST, manifestId(app, name))
      // A record that names another manifest than its key is not one the scheduler can use (it still counts as load).
      .filter((c) => c.value.app === app && c.value.name === name)
      .map(({ key, modRevision, value: p }) => ({
        key,
        modRevision,
        app,
        name,
        replica: p.at.replica,
        node: p.at.node,
        templateHash: p.templateHash,
        revision: p.revision,
        ...(p.updatedAt !== undefined ? { updatedAt: p.updatedAt } : {}),
      }));
  }

  /** Manifests that have placements (some perhaps without a manifest any more). */
  manifestIds(): string[] {
    return this.informers.placements.indexValues(BY_MANIFEST);
  }

  /**
   * Our own transaction, committed at `revision`: applied now, before the watch brings it.
   * `records[i]`, if given, is what the put ops[i] holds, parsed.
   */
  wrote(revision: number, ops: TxnOp[], records?: PlacementSummary[]): void {
    const placements = this.informers.placements;
    ops.forEach((op, i) => {
      if (op.type === 'delete') return placements.assume({ type: 'delete', key: op.key, revision });
      const at = this.keys.parsePlacement(op.key);
      const record = records?.[i] ?? decodeRecord(PlacementSummary, op.value);
      if (!at || !record) return;
      const { app, name, replica, node, templateHash, revision: specRevision, updatedAt } = record;
      const value: Placement = { app, name, replica, node, templateHash, revision: specRevision, ...(updatedAt !== undefined ? { updatedAt } : {}), at };
      placements.assume({ type: 'put', kv: { key: op.key, value: op.value, modRevision: revision, lease: op.lease ?? '0' }, value });
    });
  }

  /** A placement added, replaced or removed (ours included): the load, and a change unless it was ours. */
  private placementChanged(ev: InformerEvent<Placement>): void {
    if (ev.type === 'put' && !ev.old) this.count(ev.obj.value.at.node, 1);
    if (ev.type === 'delete') this.count(ev.old.value.at.node, -1);
    if ((ev.type === 'put' && (ev.initial || ev.assumed)) || (ev.type === 'delete' && ev.assumed)) return;
    const at = (ev.type === 'put' ? ev.obj : ev.old).value.at;
    this.changes.next({ kind: 'placement', app: at.app, name: at.name });
  }

  private count(node: string, delta: number): void {
    const n = (this.load.get(node) ?? 0) + delta;
    if (n > 0) this.load.set(node, n);
    else this.load.delete(node);
  }
}
