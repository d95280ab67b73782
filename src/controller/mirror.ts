import { serviceId } from '../../api/keys.js';
import type { KvStore, TxnCondition, TxnOp } from '../etcd/kv-store.js';
import { eventService, type Endpoint } from '../informer/resources.js';
import type { Cached, SharedInformer } from '../informer/shared-informer.js';
import type { Logger } from '../logging.js';
import type { ControllerBuilder } from './controller-builder.js';

/**
 * How long an endpoint's change waits before its service's copy is made again: a service's
 * endpoints come in bursts (a scale-up, a host's start), and each burst makes one
 * transaction. It adds to the time a replica's arrival or departure takes to reach the
 * copy's readers, well within the 1 s a stopping replica keeps serving after its endpoint
 * goes (DRAIN_MS of the node runner).
 */
const MIRROR_SETTLE_MS = 50;

/**
 * Describes a controller that keeps a copy of every host's endpoints by service (the
 * endpoint index, the SkyDNS records): keyed `app/service`, for `node-endpoints/`; a copy
 * written or deleted by someone else is put back, one left over is deleted.
 */
export function endpointMirror<T extends { at: { app: string; service: string } }>(builder: ControllerBuilder, endpoints: SharedInformer<Endpoint>, copy: SharedInformer<T>): ControllerBuilder {
  const copied = () => copy.list().map((c) => serviceId(c.value.at.app, c.value.at.service));
  return builder
    .for(endpoints, (c) => [serviceId(c.value.at.app, c.value.at.service)])
    .watches(copy, eventService)
    .watchesRelists(copy, copied)
    .resyncsAlso(copied)
    .settle(MIRROR_SETTLE_MS);
}

/** What to change in a controller's copy of some records. */
export interface MirrorPlan {
  /** Records to write, on no lease, if unchanged since read (mod revision 0: absent). */
  puts: { key: string; value: string; modRevision: number }[];
  /** Records to delete, if unchanged since read. */
  deletes: { key: string; modRevision: number }[];
}

/**
 * Makes a copy kept by the controllers (`have`, as stored) hold exactly `desired` (key ->
 * text), on no lease: a key on a host's lease that the host may not write would stop the
 * host from revoking its lease (etcd checks every key of a lease on revoke), and from
 * putting anything more on it. So a dead host's entries go when its own records expire and
 * a controller sees it, as Kubernetes' endpoints controller does. A copy on a lease (an
 * older agent's) is written again without. Pure.
 */
export function planMirror(desired: ReadonlyMap<string, string>, have: readonly Cached<{ text: string }>[]): MirrorPlan {
  const plan: MirrorPlan = { puts: [], deletes: [] };
  const byKey = new Map(have.map((r) => [r.key, r]));
  for (const [key, r] of byKey) if (!desired.has(key)) plan.deletes.push({ key, modRevision: r.modRevision });
  for (const [key, value] of desired) {
    const r = byKey.get(key);
    if (r && r.value.text === value && r.lease === '0') continue;
    plan.puts.push({ key, value, modRevision: r?.modRevision ?? 0 });
  }
  return plan;
}

/** Operations per transaction: etcd's default limit (`--max-txn-ops`). */
const MIRROR_TXN_OPS = 128;

/** Records named one by one in a log line; more are counted. */
const LOG_EACH = 10;

/**
 * Applies a plan in transactions of at most MIRROR_TXN_OPS operations, each on a record
 * unchanged since it was read (if one changed, nothing of that transaction is applied and the
 * reconcile fails, to be retried from a fresh reading): one transaction for a service's
 * hundred endpoints, not a hundred writes. `what` names the records in the log.
 */
export async function applyMirror(store: KvStore, plan: MirrorPlan, log: Logger, what: string): Promise<void> {
  const changes: { condition: TxnCondition; op: TxnOp }[] = [
    ...plan.deletes.map((d) => ({ condition: d, op: { type: 'delete' as const, key: d.key } })),
    ...plan.puts.map((p) => ({ condition: p, op: { type: 'put' as const, key: p.key, value: p.value } })),
  ];
  for (let i = 0; i < changes.length; i += MIRROR_TXN_OPS) {
    const batch = changes.slice(i, i + MIRROR_TXN_OPS);
    const done = await store.txn(batch.map((c) => ({ key: c.condition.key, modRevision: c.condition.modRevision })), batch.map((c) => c.op));
    if (!done) throw new Error(`${what}s changed meanwhile; retrying with fresh state`);
    const removed = batch.filter((c) => c.op.type === 'delete').map((c) => c.op.key);
    const written = batch.filter((c) => c.op.type === 'put').map((c) => c.op.key);
    if (removed.length) log.info(`${what}s removed`, named(removed));
    if (written.length) log.info(`${what}s written`, named(written));
  }
}

function named(keys: string[]): { count: number; records?: string } {
  return keys.length > LOG_EACH ? { count: keys.length } : { count: keys.length, records: keys.join(' ') };
}
