/** One key as read from the store. */
export interface KeyValue {
  key: string;
  value: string;
  modRevision: number;
  /** The revision that created the key (absent from stores that do not tell it). */
  createRevision?: number;
  /** Lease id holding the key, "0" for none. */
  lease: string;
}

export interface ListResult {
  kvs: KeyValue[];
  /** The store revision the listing was read at: watch from revision + 1. */
  revision: number;
}

export type WatchEvent =
  | { type: 'put'; kv: KeyValue }
  | { type: 'delete'; key: string; modRevision: number };

export interface WatchHandlers {
  /** A batch of events, in order, and the revision they bring the watcher to. */
  onEvents(events: WatchEvent[], revision: number): void;
  /** The watch ended for good (e.g. its start revision was compacted): re-list and watch again. */
  onError(err: Error): void;
}

export interface WatchHandle {
  cancel(): Promise<void>;
}

export interface Lease {
  readonly id: string;
  /** Called once if etcd reports the lease gone (expired or revoked elsewhere). */
  onLost(fn: (err: Error) => void): void;
  /** Called after each keepalive etcd acknowledged: the lease is good for a TTL from then. */
  onKeepalive(fn: () => void): void;
  /**
   * Sends one keepalive now on a stream of its own (to whichever member the client picks),
   * besides the regular ones; resolves once etcd acknowledged it. Rejects after `timeoutMs`,
   * on a transport error, or if the lease is gone (onLost is then called too).
   */
  keepaliveOnce(timeoutMs: number): Promise<void>;
  /** Revokes the lease: every key it holds is deleted. */
  revoke(): Promise<void>;
  /** Stops keepalives without revoking (keys expire after the TTL). */
  release(): void;
}

export interface PutOptions {
  lease?: string;
}

/** A transaction's condition on one key: its mod revision is still this (0: it does not exist). */
export interface TxnCondition {
  key: string;
  modRevision: number;
}

export type TxnOp = { type: 'put'; key: string; value: string; lease?: string } | { type: 'delete'; key: string };

/**
 * The narrow face of etcd the controllers use. Calls reject on any transport error
 * (e.g. etcd unreachable); callers retry through their work queue's backoff.
 */
export interface KvStore {
  get(key: string): Promise<KeyValue | undefined>;
  list(prefix: string): Promise<ListResult>;
  put(key: string, value: string, opts?: PutOptions): Promise<void>;
  /** As put, resolving the revision it committed at (the key's new mod revision): for an informer's assume(). */
  putAt(key: string, value: string, opts?: PutOptions): Promise<number>;
  /** Puts only if the key's mod revision is still `expectedModRevision` (0: must not exist). */
  putIfModRevision(key: string, value: string, expectedModRevision: number, opts?: PutOptions): Promise<boolean>;
  delete(key: string): Promise<void>;
  /** Deletes only if the key's mod revision is still `expectedModRevision`. */
  deleteIfModRevision(key: string, expectedModRevision: number): Promise<boolean>;
  deletePrefix(prefix: string): Promise<void>;
  /**
   * Applies every op in one transaction if every condition holds (at least one condition);
   * resolves false, changing nothing, if any does not.
   */
  txn(conditions: TxnCondition[], ops: TxnOp[]): Promise<boolean>;
  /** As txn, resolving the revision it committed at (every op's mod revision), undefined if a condition did not hold. */
  txnAt(conditions: TxnCondition[], ops: TxnOp[]): Promise<number | undefined>;
  /** Watches a prefix from a revision; events are never skipped, reconnects are internal. */
  watch(prefix: string, fromRevision: number, handlers: WatchHandlers): Promise<WatchHandle>;
  /** Grants a lease, kept alive unless `keepalive` is false (it then expires after the TTL). */
  grantLease(ttlSeconds: number, opts?: { keepalive?: boolean }): Promise<Lease>;
  close(): void;
}
