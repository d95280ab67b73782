import type { KvStore } from '../etcd/kv-store.js';
import type { Cached } from '../informer/shared-informer.js';
import type { Logger } from '../logging.js';

/** What to change in a controller's copy of some records. */
export interface MirrorPlan {
  /** Records to write, on no lease. */
  puts: { key: string; value: string }[];
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
    plan.puts.push({ key, value });
  }
  return plan;
}

/** Applies a plan: each delete only if the record is as read, then the puts. `what` names the records in the log. */
export async function applyMirror(store: KvStore, plan: MirrorPlan, log: Logger, what: string): Promise<void> {
  for (const d of plan.deletes) {
    if (await store.deleteIfModRevision(d.key, d.modRevision)) log.info(`${what} removed`, { record: d.key });
  }
  for (const p of plan.puts) {
    await store.put(p.key, p.value);
    log.info(`${what} registered`, { record: p.key });
  }
}
