import { inject, injectable } from 'inversify';
import type { Keys } from '../../api/keys.js';
import { migratedKey } from '../../api/layout-migration.js';
import type { ReconcileResult, Reconciler } from '../../src/controller/controller.js';
import type { KvStore, TxnOp } from '../../src/etcd/kv-store.js';
import { TYPES } from '../../src/ioc/tokens.js';
import type { Logger } from '../../src/logging.js';

/**
 * Moves one host-written key of the old layout to the per-node layout (api/layout-migration.ts),
 * on the same lease, in one transaction guarded by the key's mod revision: a key an old
 * agent rewrites meanwhile is moved again on its next event. Where the new key already
 * exists (the host's upgraded agent wrote it), the new one wins and the old key is deleted.
 * The queue key is the old etcd key itself.
 */
@injectable()
export class LayoutMigratorReconciler implements Reconciler {
  /** Old keys already reported as not movable, so each is logged once. */
  private readonly unmovable = new Set<string>();

  constructor(
    @inject(TYPES.KvStore) private readonly store: KvStore,
    @inject(TYPES.Keys) private readonly keys: Keys,
  ) {}

  async reconcile(key: string, log: Logger): Promise<ReconcileResult> {
    const kv = await this.store.get(key);
    if (!kv) return;
    const to = migratedKey(this.keys, key, kv.value);
    if (!to) {
      if (!this.unmovable.has(key)) log.warn('old-layout key not migrated: its record names no host', { from: key });
      this.unmovable.add(key);
      return;
    }
    if (await this.store.get(to)) {
      await this.store.deleteIfModRevision(key, kv.modRevision);
      log.info('old-layout key dropped: the new layout has it', { from: key, to });
      return;
    }
    const put: TxnOp = { type: 'put', key: to, value: kv.value, ...(kv.lease !== '0' ? { lease: kv.lease } : {}) };
    const moved = await this.store.txn([{ key, modRevision: kv.modRevision }, { key: to, modRevision: 0 }], [put, { type: 'delete', key }]);
    // Changed meanwhile: its change event brings it back, read fresh.
    if (!moved) return { requeueAfterMs: 0 };
    log.info('old-layout key migrated', { from: key, to, lease: kv.lease });
  }
}
