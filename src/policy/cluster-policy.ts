import { inject, injectable } from 'inversify';
import type { PolicyView } from '../../api/admission.js';
import type { Keys } from '../../api/keys.js';
import { PolicyRecord, quotaOf } from '../../api/policy.js';
import { checkRecord } from '../../api/records.js';
import type { KvStore } from '../etcd/kv-store.js';
import { InformerFactory } from '../informer/informer-factory.js';
import { Resources, type PolicyEntry } from '../informer/resources.js';
import type { SharedInformer } from '../informer/shared-informer.js';
import { TYPES } from '../ioc/tokens.js';
import type { Logger } from '../logging.js';

/**
 * The cluster policy as the scheduler (admission) and the agents (`dokkaa pull`) go by it
 * (docs/policy.md), from the shared informer of the `policy` key. A record that does not decode (written behind the CLI's back) does
 * not change the policy: the last valid state this process read stays in force, a policy
 * or no key at all (no policy); with neither seen since it started (a process starting on
 * a broken record), nothing new is admitted (fail closed). A deleted key is no policy.
 */
@injectable()
export class ClusterPolicy {
  readonly informer: SharedInformer<PolicyEntry>;
  /** The last valid state read: a policy, or none (no key). */
  private lastValid: PolicyView | undefined;
  private warnedAt = -1;
  /** The tail of each app's admissions in progress (see `serialized`). */
  private readonly appTails = new Map<string, Promise<unknown>>();
  /**
   * The key as `refresh` read it while the informer had not caught up (null: absent), and the
   * informer's mod revision then: in force until the informer's changes.
   */
  private fresh: { kv: { modRevision: number; value: string } | null; cachedAt: number } | undefined;

  constructor(
    @inject(InformerFactory) factory: InformerFactory,
    @inject(TYPES.Keys) private readonly keys: Keys,
  ) {
    this.informer = factory.informer(Resources.policy(keys));
  }

  /**
   * Reads the key itself: a policy written an instant before a manifest may reach the
   * informer after it (two watches), and the scheduler must not admit the manifest under the
   * policy before. The scheduler calls this once per manifest revision it admits.
   */
  async refresh(store: Pick<KvStore, 'get'>): Promise<void> {
    const kv = await store.get(this.keys.policy);
    const cachedAt = this.informer.get(this.keys.policy)?.modRevision ?? 0;
    this.fresh = (kv?.modRevision ?? 0) === cachedAt ? undefined : { kv: kv ? { modRevision: kv.modRevision, value: kv.value } : null, cachedAt };
  }

  /** The policy key as known now: the informer's, unless `refresh` read a change it has not seen yet. */
  private entry(): { modRevision: number; value: PolicyEntry } | undefined {
    const cached = this.informer.get(this.keys.policy);
    if (this.fresh && (cached?.modRevision ?? 0) !== this.fresh.cachedAt) this.fresh = undefined;
    if (!this.fresh) return cached;
    const { kv } = this.fresh;
    return kv ? { modRevision: kv.modRevision, value: { at: this.keys.policy, result: checkRecord(PolicyRecord, kv.value) } } : undefined;
  }

  /** The policy in force now; logs an invalid record once per revision (with `log`). */
  current(log?: Logger): PolicyView {
    const cached = this.entry();
    if (!cached) {
      this.lastValid = { kind: 'none' };
      return this.lastValid;
    }
    const { result } = cached.value;
    if (result.ok) {
      this.lastValid = { kind: 'policy', policy: result.value };
      return this.lastValid;
    }
    if (log && this.warnedAt !== cached.modRevision) {
      this.warnedAt = cached.modRevision;
      log.error('invalid cluster policy record; keeping the last valid one', { error: result.error, revision: cached.modRevision, failClosed: !this.lastValid });
    }
    return this.lastValid ?? { kind: 'broken', error: result.error };
  }

  /** Whether a quota of the policy in force covers `app`. */
  quotaCovers(app: string, log?: Logger): boolean {
    const view = this.current(log);
    return view.kind === 'policy' && quotaOf(view.policy, app) !== undefined;
  }

  /**
   * Runs `work` after every earlier `serialized` work of the same app has ended: a quota
   * counts what the app's other manifests placed, so two of them admitted at once must not
   * each miss the other's placements.
   */
  async serialized<T>(app: string, work: () => Promise<T>): Promise<T> {
    const before = this.appTails.get(app) ?? Promise.resolve();
    const run = before.then(work, work);
    const tail = run.catch(() => undefined);
    this.appTails.set(app, tail);
    try {
      return await run;
    } finally {
      if (this.appTails.get(app) === tail) this.appTails.delete(app);
    }
  }
}
