import type { IPolicy } from 'cockatiel';
import { Etcd3, type IKeyValue, type IOptions, type IWatchResponse } from 'etcd3';
import { etcdFaultHandling, readRetry } from './fault-handling.js';
import { keepReadyChannels } from './ready-channels.js';
import type { KeyValue, KvStore, Lease, ListResult, PutOptions, TxnCondition, TxnOp, WatchHandle, WatchHandlers, WatchEvent } from './kv-store.js';

/**
 * The etcd3 client every Dokkaa process and command uses, from options made by
 * etcdClientOptions (src/etcd/etcd-tls.ts: endpoints, TLS) and, in tests, `auth` for a
 * password user standing in for a certificate's CN; this adds its own timeouts.
 */
export function etcdClient(options: IOptions): Etcd3 {
  // No cap on received messages: gRPC's default (4 MB) fails the listing of a prefix
  // beyond about 9,000 placements with RESOURCE_EXHAUSTED. etcd bounds what it sends.
  const client = new Etcd3({
    ...options,
    dialTimeout: 3000,
    grpcOptions: { ...options.grpcOptions, 'grpc.max_receive_message_length': -1 },
    // A call to an unreachable etcd fails after 10 s instead of hanging until it is back;
    // the caller's work queue retries it. Streams (watches, keepalives) have no deadline.
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + 10_000 }),
    // No circuit breaker: a slow etcd must not become an outage (fault-handling.ts says why).
    faultHandling: etcdFaultHandling(),
  });
  // A failed call must not make every client of the member anew (ready-channels.ts).
  keepReadyChannels(client);
  return client;
}

/**
 * A channel option of the clients that hold leases. grpc-js shares one connection between
 * the clients of a process whose channel options are equal; a different option gives lease
 * keepalives a connection of their own. On the shared one, the answer to a keepalive is read
 * after every byte etcd queued before it (watch events, answers to calls). At 1,000 hollow
 * hosts every host fenced itself 7 s after the manifests were written, while etcd answered
 * an idle client's keepalives within 1.3 s; with this, two of three host processes kept
 * every lease through the first minute (bench/results/scale.md).
 */
export const LEASE_CHANNEL_OPTION = 'dokkaa.channel-for-leases';

/** KvStore on the etcd3 client. Owns the client: construct one per process. */
export class Etcd3KvStore implements KvStore {
  private readonly client: Etcd3;
  /** For leases only (LEASE_CHANNEL_OPTION), made on the first grant. */
  private leaseClient: Etcd3 | undefined;
  /** Reads are idempotent: a transient failure is retried here (fault-handling.ts). */
  private readonly reads: IPolicy = readRetry();

  constructor(private readonly options: IOptions) {
    this.client = etcdClient(options);
  }

  async get(key: string): Promise<KeyValue | undefined> {
    const res = await this.reads.execute(() => this.client.get(key).exec());
    const kv = res.kvs[0];
    return kv ? toKeyValue(kv) : undefined;
  }

  async list(prefix: string): Promise<ListResult> {
    const res = await this.reads.execute(() => this.client.getAll().prefix(prefix).exec());
    return { kvs: res.kvs.map(toKeyValue), revision: Number(res.header.revision) };
  }

  async put(key: string, value: string, opts: PutOptions = {}): Promise<void> {
    await this.putAt(key, value, opts);
  }

  async putAt(key: string, value: string, opts: PutOptions = {}): Promise<number> {
    const put = this.client.put(key).value(value);
    if (opts.lease) put.lease(opts.lease);
    return Number((await put.exec()).header.revision);
  }

  async putIfModRevision(key: string, value: string, expected: number, opts: PutOptions = {}): Promise<boolean> {
    const put = this.client.put(key).value(value);
    if (opts.lease) put.lease(opts.lease);
    const res = await this.client.if(key, 'Mod', '==', expected).then(put).commit();
    return res.succeeded;
  }

  async delete(key: string): Promise<void> {
    await this.client.delete().key(key).exec();
  }

  async deleteIfModRevision(key: string, expected: number): Promise<boolean> {
    const res = await this.client.if(key, 'Mod', '==', expected).then(this.client.delete().key(key)).commit();
    return res.succeeded;
  }

  async deletePrefix(prefix: string): Promise<void> {
    await this.client.delete().prefix(prefix).exec();
  }

  async txn(conditions: TxnCondition[], ops: TxnOp[]): Promise<boolean> {
    return (await this.txnAt(conditions, ops)) !== undefined;
  }

  async txnAt(conditions: TxnCondition[], ops: TxnOp[]): Promise<number | undefined> {
    const [first, ...rest] = conditions;
    if (!first) throw new Error('txn: at least one condition is required');
    const txn = this.client.if(first.key, 'Mod', '==', first.modRevision);
    for (const c of rest) txn.and(c.key, 'Mod', '==', c.modRevision);
    const res = await txn
      .then(
        ...ops.map((op) => {
          if (op.type === 'delete') return this.client.delete().key(op.key);
          const put = this.client.put(op.key).value(op.value);
          if (op.lease) put.lease(op.lease);
          return put;
        }),
      )
      .commit();
    return res.succeeded ? Number(res.header.revision) : undefined;
  }

  async watch(prefix: string, fromRevision: number, handlers: WatchHandlers): Promise<WatchHandle> {
    const watcher = await this.client.watch().prefix(prefix).startRevision(String(fromRevision)).create();
    let ended = false;
    watcher.on('data', (res: IWatchResponse) => {
      if (ended || res.events.length === 0) return;
      const events: WatchEvent[] = res.events.map((ev) =>
        ev.type === 'Put'
          ? { type: 'put', kv: toKeyValue(ev.kv) }
          : { type: 'delete', key: ev.kv.key.toString(), modRevision: Number(ev.kv.mod_revision) },
      );
      handlers.onEvents(events, Number(res.header.revision));
    });
    // etcd3 reconnects a dropped stream by itself, resuming from the last revision it saw;
    // 'error' means the watch was cancelled (compaction) and cannot resume.
    watcher.on('error', (err: Error) => {
      if (ended) return;
      ended = true;
      void watcher.cancel().catch(() => undefined);
      handlers.onError(err);
    });
    return {
      cancel: async () => {
        ended = true;
        await watcher.cancel().catch(() => undefined);
      },
    };
  }

  async grantLease(ttlSeconds: number, opts: { keepalive?: boolean } = {}): Promise<Lease> {
    this.leaseClient ??= etcdClient({ ...this.options, grpcOptions: { ...this.options.grpcOptions, [LEASE_CHANNEL_OPTION]: 1 } });
    const lease = this.leaseClient.lease(ttlSeconds, { autoKeepAlive: opts.keepalive ?? true });
    const id = await lease.grant();
    let lostFns: ((err: Error) => void)[] = [];
    let keepaliveFns: (() => void)[] = [];
    lease.on('keepaliveSucceeded', () => {
      for (const fn of keepaliveFns) fn();
    });
    let lost = false;
    lease.on('lost', (err: Error) => {
      if (lost) return;
      lost = true;
      for (const fn of lostFns) fn(err);
    });
    return {
      id,
      onLost: (fn) => {
        lostFns = [...lostFns, fn];
      },
      onKeepalive: (fn) => {
        keepaliveFns = [...keepaliveFns, fn];
      },
      keepaliveOnce: async (timeoutMs) => {
        // A deadline on the stream itself: a member that cannot be reached must not leave it open.
        await lease.keepaliveOnce({ deadline: Date.now() + timeoutMs });
        for (const fn of keepaliveFns) fn();
      },
      revoke: () => lease.revoke(),
      release: () => lease.release(),
    };
  }

  close(): void {
    this.client.close();
    this.leaseClient?.close();
  }
}

function toKeyValue(kv: IKeyValue): KeyValue {
  return {
    key: kv.key.toString(),
    value: kv.value.toString(),
    modRevision: Number(kv.mod_revision),
    createRevision: Number(kv.create_revision),
    lease: String(kv.lease ?? '0'),
  };
}
