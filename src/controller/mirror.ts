import type { KvStore, TxnOp } from '../etcd/kv-store.js';
import type { Cached } from '../informer/shared-informer.js';
import type { Logger } from '../logging.js';

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
  const changes = [...plan.deletes.map((d) => ({ ...d, op: { type: 'delete', key: d.key } as TxnOp })), ...plan.puts.map((p) => ({ ...p, op: { type: 'put', key: p.key, value: p.value } as TxnOp }))];
  for (let i = 0; i < changes.length; i += MIRROR_TXN_OPS) {
    const batch = changes.slice(i, i + MIRROR_TXN_OPS);
    const done = await store.txn(batch.map((c) => ({ key: c.key, modRevision: c.modRevision })), batch.map((c) => c.op));
    if (!done) throw new Error(`${what}s changed meanwhile; retrying with fresh state`);
    const removed = batch.filter((c) => c.op.type === 'delete').map((c) => c.key);
    const written = batch.filter((c) => c.op.type === 'put').map((c) => c.key);
    if (removed.length) log.info(`${what}s removed`, named(removed));
    if (written.length) log.info(`${what}s written`, named(written));
  }
}

function named(keys: string[]): { count: number; records?: string } {
  return keys.length > LOG_EACH ? { count: keys.length } : { count: keys.length, records: keys.join(' ') };
}
