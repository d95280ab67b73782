import type { KeyValue, KvStore, Lease, ListResult, PutOptions, TxnCondition, TxnOp, WatchEvent, WatchHandle, WatchHandlers } from '../../src/etcd/kv-store.js';

interface Watcher {
  prefix: string;
  fromRevision: number;
  handlers: WatchHandlers;
  cancelled: boolean;
}

/**
 * An in-memory KvStore for unit tests: revisions like etcd's, watches delivered
 * synchronously on each write. Tests can fail the next listings and kill a watch as a
 * compaction would. Leases hold keys (revoke deletes them) but never expire on their own.
 */
export class FakeKvStore implements KvStore {
  private readonly data = new Map<string, KeyValue>();
  private rev = 1;
  readonly watchers: Watcher[] = [];
  /** How many of the next list() calls reject. */
  failLists = 0;
  /** How many of the next watch() calls reject. */
  failWatches = 0;
  listCalls = 0;
  /** The prefix of every list() call, in order. */
  readonly listed: string[] = [];
  /** The key of every get() call, in order. */
  readonly got: string[] = [];
  /** Prefixes whose watch events wait for `lag`'s release. */
  private readonly lagging: { prefix: string; held: (() => void)[] }[] = [];

  get revision(): number {
    return this.rev;
  }

  /** Writes without notifying watchers: a change made while no watch was listening. */
  setQuietly(key: string, value: string, lease = '0'): void {
    const rev = ++this.rev;
    this.data.set(key, { key, value, modRevision: rev, createRevision: this.data.get(key)?.createRevision ?? rev, lease });
  }

  deleteQuietly(key: string): void {
    this.data.delete(key);
    this.rev++;
  }

  /** The watches that are live (not cancelled, not ended by an error). */
  liveWatchers(): Watcher[] {
    return this.watchers.filter((w) => !w.cancelled);
  }

  /**
   * Holds the watch events of keys under `prefix` until the function returned delivers them,
   * in order: a watch running behind the writes, as etcd's may.
   */
  lag(prefix: string): () => void {
    const lagging = { prefix, held: [] as (() => void)[] };
    this.lagging.push(lagging);
    return () => {
      this.lagging.splice(this.lagging.indexOf(lagging), 1);
      for (const deliver of lagging.held.splice(0)) deliver();
    };
  }

  /** Ends every live watch with an error, as etcd does when its start revision is compacted. */
  compact(): void {
    for (const w of this.liveWatchers()) {
      w.cancelled = true;
      w.handlers.onError(new Error('etcdserver: mvcc: required revision has been compacted'));
    }
  }

  async get(key: string): Promise<KeyValue | undefined> {
    this.got.push(key);
    return this.data.get(key);
  }

  async list(prefix: string): Promise<ListResult> {
    this.listCalls++;
    this.listed.push(prefix);
    if (this.failLists > 0) {
      this.failLists--;
      throw new Error('14 UNAVAILABLE: etcd unreachable');
    }
    const kvs = [...this.data.values()].filter((kv) => kv.key.startsWith(prefix)).sort((a, b) => a.key.localeCompare(b.key));
    return { kvs: kvs.map((kv) => ({ ...kv })), revision: this.rev };
  }

  async put(key: string, value: string, opts?: PutOptions): Promise<void> {
    await this.putAt(key, value, opts);
  }

  async putAt(key: string, value: string, opts?: PutOptions): Promise<number> {
    this.setQuietly(key, value, opts?.lease);
    const kv = { ...this.data.get(key)! };
    this.notify({ type: 'put', kv });
    return kv.modRevision;
  }

  async putIfModRevision(key: string, value: string, expected: number, opts?: PutOptions): Promise<boolean> {
    if ((this.data.get(key)?.modRevision ?? 0) !== expected) return false;
    await this.put(key, value, opts);
    return true;
  }

  async delete(key: string): Promise<void> {
    if (!this.data.has(key)) return;
    this.deleteQuietly(key);
    this.notify({ type: 'delete', key, modRevision: this.rev });
  }

  async deleteIfModRevision(key: string, expected: number): Promise<boolean> {
    if (this.data.get(key)?.modRevision !== expected) return false;
    await this.delete(key);
    return true;
  }

  async deletePrefix(prefix: string): Promise<void> {
    for (const key of [...this.data.keys()]) if (key.startsWith(prefix)) await this.delete(key);
  }

  async txn(conditions: TxnCondition[], ops: TxnOp[]): Promise<boolean> {
    if (conditions.length === 0) throw new Error('txn: at least one condition is required');
    if (!conditions.every((c) => (this.data.get(c.key)?.modRevision ?? 0) === c.modRevision)) return false;
    for (const op of ops) {
      if (op.type === 'put') await this.put(op.key, op.value, op.lease ? { lease: op.lease } : undefined);
      else await this.delete(op.key);
    }
    return true;
  }

  /** Like etcd: all ops at one new revision, watchers told after the whole transaction. */
  async txnAt(conditions: TxnCondition[], ops: TxnOp[]): Promise<number | undefined> {
    if (conditions.length === 0) throw new Error('txn: at least one condition is required');
    if (!conditions.every((c) => (this.data.get(c.key)?.modRevision ?? 0) === c.modRevision)) return undefined;
    const rev = ++this.rev;
    const events: WatchEvent[] = [];
    for (const op of ops) {
      if (op.type === 'put') {
        this.data.set(op.key, { key: op.key, value: op.value, modRevision: rev, lease: op.lease ?? '0' });
        events.push({ type: 'put', kv: { ...this.data.get(op.key)! } });
      } else if (this.data.delete(op.key)) {
        events.push({ type: 'delete', key: op.key, modRevision: rev });
      }
    }
    for (const ev of events) this.notify(ev);
    return rev;
  }

  async watch(prefix: string, fromRevision: number, handlers: WatchHandlers): Promise<WatchHandle> {
    if (this.failWatches > 0) {
      this.failWatches--;
      throw new Error('14 UNAVAILABLE: etcd unreachable');
    }
    const w: Watcher = { prefix, fromRevision, handlers, cancelled: false };
    this.watchers.push(w);
    return {
      cancel: async () => {
        w.cancelled = true;
      },
    };
  }

  private leases = 0;

  grantLease(): Promise<Lease> {
    const id = String(++this.leases);
    return Promise.resolve({
      id,
      onLost: () => undefined,
      onKeepalive: () => undefined,
      keepaliveOnce: async () => undefined,
      revoke: async () => {
        for (const kv of [...this.data.values()]) if (kv.lease === id) await this.delete(kv.key);
      },
      release: () => undefined,
    });
  }

  close(): void {}

  private notify(ev: WatchEvent): void {
    const key = ev.type === 'put' ? ev.kv.key : ev.key;
    const rev = this.rev;
    const lagging = this.lagging.find((l) => key.startsWith(l.prefix));
    for (const w of this.liveWatchers()) {
      if (!key.startsWith(w.prefix)) continue;
      const deliver = () => void (w.cancelled || w.handlers.onEvents([ev], rev));
      if (lagging) lagging.held.push(deliver);
      else deliver();
    }
  }
}

/**
 * A fake node lease's grant revisions: each lease id is granted at the revision after the
 * store's when first asked, as NodeLease writes the node record at its grant
 * (NodeLease.grantRevision).
 */
export function grantRevisions(store: FakeKvStore): (leaseId: string) => number {
  const granted = new Map<string, number>();
  return (leaseId) => {
    if (!granted.has(leaseId)) granted.set(leaseId, store.revision + 1);
    return granted.get(leaseId)!;
  };
}
