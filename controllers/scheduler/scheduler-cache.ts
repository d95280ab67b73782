import { inject, injectable } from 'inversify';
import { map, merge, Subject, type Subscription } from 'rxjs';
import { manifestId, type Keys } from '../../api/keys.js';
import { decodeRecord, type Amounts, type MaintenanceRecord, NodeRecord, PlacementSummary } from '../../api/records.js';
import type { SyncedCache } from '../../src/controller/controller.js';
import { NodesAndPlacements, type NodesChange } from '../../src/controller/nodes-and-placements.js';
import type { TxnOp } from '../../src/etcd/kv-store.js';
import { InformerFactory } from '../../src/informer/informer-factory.js';
import { BY_MANIFEST, Resources, type Placement, type VolumeSet } from '../../src/informer/resources.js';
import type { InformerEvent, SharedInformer } from '../../src/informer/shared-informer.js';
import type { VolumeSetRecord } from '../../api/records.js';
import { TYPES } from '../../src/ioc/tokens.js';
import { reservedOf, type Allocation } from '../../src/placement/node-fit.js';

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
  reserved?: Amounts;
  replaces?: number;
}

/** A volume set as the scheduler reads it (volumes/<node>/<app>/<name>/<replica>). */
export interface CachedVolumeSet {
  key: string;
  modRevision: number;
  record: VolumeSetRecord;
}

/**
 * What changed in the cache, after it was applied: the scheduler's work sources. `room`:
 * a placement went or shrank (ours included), so manifests waiting for room may fit now.
 */
export type CacheChange = NodesChange | { kind: 'placement'; app: string; name: string } | { kind: 'room' };

/**
 * The scheduler's view of the shared `nodes/` and `placements/` informers: every placement
 * with the revision it is known at, by manifest (the informer's index), the per-node
 * reservations (the allocation map: CPUs, memory and count) maintained incrementally, the
 * nodes' maintenance holds, and the manifests waiting for room. It replaces reading all nodes
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
 * fails and the reconcile retries. The allocation map starts empty with each leadership term
 * and takes what the informers hold, then their changes.
 */
@injectable()
export class SchedulerCache implements SyncedCache {
  private readonly informers: NodesAndPlacements;
  /** Where replicas' volumes are: read when placing, written when a replica with volumes is first placed on a node. */
  private readonly volumes: SharedInformer<VolumeSet>;
  private readonly allocation = new Map<string, Allocation>();
  /** Manifests with replicas that fit nowhere or a resize that does not fit: re-planned when room appears. */
  private readonly waiting = new Set<string>();
  private roomPending = false;
  private subscription: Subscription | undefined;
  readonly changes = new Subject<CacheChange>();

  constructor(
    @inject(InformerFactory) factory: InformerFactory,
    @inject(TYPES.Keys) private readonly keys: Keys,
  ) {
    this.informers = new NodesAndPlacements(factory, keys);
    this.volumes = factory.informer(Resources.volumeSets(keys));
  }

  /** Starts afresh: the allocation of what the informers hold (if already running), then their changes. */
  acquire(): void {
    if (this.subscription) return;
    this.allocation.clear();
    this.waiting.clear();
    const placements = this.informers.placements;
    this.subscription = merge(
      placements.events.pipe(map((ev) => () => this.placementChanged(ev))),
      this.informers.changes.pipe(map((c) => () => this.changes.next(c))),
    ).subscribe((apply) => apply());
    for (const c of placements.list()) this.count(c.value.at.node, reservedOf(c.value), 1);
    this.informers.acquire();
    this.volumes.acquire();
  }

  /**
   * Stops watching. What it holds stays readable (a reconcile in flight finishes on it,
   * its writes guarded by their transactions); waiters for the first listing are failed.
   */
  async release(): Promise<void> {
    this.subscription?.unsubscribe();
    this.subscription = undefined;
    await Promise.all([this.informers.release(), this.volumes.release()]);
  }

  /** Resolves once nodes, placements and volume sets have been listed since acquire(). */
  async synced(): Promise<void> {
    await Promise.all([this.informers.synced(), this.volumes.synced()]);
  }

  /** The volume sets of one manifest, on every node. */
  volumeSetsOf(app: string, name: string): CachedVolumeSet[] {
    return this.volumes.byIndex(BY_MANIFEST, manifestId(app, name)).map(({ key, modRevision, value: { at: _at, ...record } }) => ({ key, modRevision, record }));
  }

  /** Our own write of a volume set, committed at `revision`: applied now, before the watch brings it. */
  wroteVolumeSet(revision: number, key: string, value: string, record: VolumeSetRecord): void {
    const at = this.keys.parseVolumeSet(key);
    if (at) this.volumes.assume({ type: 'put', kv: { key, value, modRevision: revision, lease: '0' }, value: { ...record, at } });
  }

  liveNodes(): NodeRecord[] {
    return this.informers.liveNodes();
  }

  /** What placements reserve per node, all manifests: read-only, kept current. */
  allocated(): ReadonlyMap<string, Allocation> {
    return this.allocation;
  }

  /** Nodes that take no new placements. */
  cordoned(): ReadonlySet<string> {
    return this.informers.cordoned();
  }

  /** Nodes being drained, with their maintenance record (the drain mover reads this). */
  draining(): Map<string, MaintenanceRecord> {
    return this.informers.draining();
  }

  /** Marks a manifest as waiting for room (or no longer): `room` changes re-queue it. */
  setWaiting(id: string, waiting: boolean): void {
    if (waiting) this.waiting.add(id);
    else this.waiting.delete(id);
  }

  waitingIds(): string[] {
    return [...this.waiting];
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
        ...(p.reserved !== undefined ? { reserved: p.reserved } : {}),
        ...(p.replaces !== undefined ? { replaces: p.replaces } : {}),
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
      const { app, name, replica, node, templateHash, revision: specRevision, updatedAt, reserved, replaces } = record;
      const value: Placement = {
        app, name, replica, node, templateHash, revision: specRevision,
        ...(updatedAt !== undefined ? { updatedAt } : {}),
        ...(reserved !== undefined ? { reserved } : {}),
        ...(replaces !== undefined ? { replaces } : {}),
        at,
      };
      placements.assume({ type: 'put', kv: { key: op.key, value: op.value, modRevision: revision, lease: op.lease ?? '0' }, value });
    });
  }

  /**
   * A placement added, replaced or removed (ours included): the allocation; `room` if it
   * freed some while manifests wait for it; and a change of its manifest unless it was ours.
   */
  private placementChanged(ev: InformerEvent<Placement>): void {
    let freed = false;
    if (ev.old) {
      const before = reservedOf(ev.old.value);
      this.count(ev.old.value.at.node, before, -1);
      const after = ev.type === 'put' ? reservedOf(ev.obj.value) : undefined;
      freed = !after || after.cpus < before.cpus || after.memoryBytes < before.memoryBytes;
    }
    if (ev.type === 'put') this.count(ev.obj.value.at.node, reservedOf(ev.obj.value), 1);
    if (freed && !(ev.type === 'put' && ev.initial)) this.roomMade();
    if ((ev.type === 'put' && (ev.initial || ev.assumed)) || (ev.type === 'delete' && ev.assumed)) return;
    const at = (ev.type === 'put' ? ev.obj : ev.old).value.at;
    this.changes.next({ kind: 'placement', app: at.app, name: at.name });
  }

  /** One `room` change per burst of deletions (a scale-down of thousands), not one per placement. */
  private roomMade(): void {
    if (this.waiting.size === 0 || this.roomPending) return;
    this.roomPending = true;
    queueMicrotask(() => {
      this.roomPending = false;
      this.changes.next({ kind: 'room' });
    });
  }

  private count(node: string, amounts: Amounts, sign: 1 | -1): void {
    const a = this.allocation.get(node) ?? { cpus: 0, memoryBytes: 0, replicas: 0 };
    a.cpus += sign * amounts.cpus;
    a.memoryBytes += sign * amounts.memoryBytes;
    a.replicas += sign;
    if (a.replicas > 0) this.allocation.set(node, a);
    else this.allocation.delete(node);
  }
}
