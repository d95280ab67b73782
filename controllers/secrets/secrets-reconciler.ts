import { inject, injectable } from 'inversify';
import type { Keys } from '../../api/keys.js';
import { secretsUsed } from '../../api/manifest.js';
import { decodeRecord, NodeRecord, PlacementRecord, SealedCopyRecord, SecretRecord } from '../../api/records.js';
import type { Config } from '../../src/config.js';
import type { Reconciler } from '../../src/controller/controller.js';
import { KeyFile } from '../../src/crypto/key-file.js';
import { open, seal } from '../../src/crypto/seal.js';
import type { KvStore } from '../../src/etcd/kv-store.js';
import { TYPES } from '../../src/ioc/tokens.js';
import { invalidRecord, type Logger } from '../../src/logging.js';
import { planSealedCopies, secretKey, type SecretRef } from './sealed-copy-plan.js';

/**
 * Keeps one node's sealed copies (`sealed/<node>/...`) as sealed-copy-plan.ts decides: it
 * opens each secret the node needs with the cluster key (`--cluster-key-file`) and seals it
 * again to the node's own key, and deletes the copies the node no longer needs. Reads
 * everything fresh from etcd. Without the cluster key it still deletes, and throws (retried
 * with backoff) when there is something to seal.
 */
@injectable()
export class SecretsReconciler implements Reconciler {
  private readonly clusterKey: KeyFile;

  constructor(
    @inject(TYPES.KvStore) private readonly store: KvStore,
    @inject(TYPES.Keys) private readonly keys: Keys,
    @inject(TYPES.Config) config: Pick<Config, 'clusterKeyFile'>,
  ) {
    this.clusterKey = new KeyFile(config.clusterKeyFile, '--cluster-key-file');
  }

  async reconcile(node: string, log: Logger): Promise<void> {
    const [nodeKv, placementList, copyList] = await Promise.all([
      this.store.get(this.keys.node(node)),
      this.store.list(this.keys.nodePlacements(node)),
      this.store.list(this.keys.nodeSealed(node)),
    ]);
    const sealingKey = decodeRecord(NodeRecord, nodeKv?.value, invalidRecord(log, this.keys.node(node)))?.sealingKey;
    const used: SecretRef[] = [];
    for (const kv of placementList.kvs) {
      const p = decodeRecord(PlacementRecord, kv.value, invalidRecord(log, kv.key));
      if (p) used.push(...secretsUsed(p.spec).map((name) => ({ app: p.app, name })));
    }
    const distinct = [...new Map(used.map((r) => [secretKey(r), r])).values()];
    const secretKvs = await Promise.all(distinct.map((r) => this.store.get(this.keys.secret(r.app, r.name))));
    // Versions are the records' mod revisions, as the scheduler puts them in the placements' specs.
    const secrets = new Map<string, SecretRecord & { modRevision: number }>();
    for (const [i, r] of distinct.entries()) {
      const s = decodeRecord(SecretRecord, secretKvs[i]?.value, invalidRecord(log, this.keys.secret(r.app, r.name)));
      if (s) secrets.set(secretKey(r), { ...s, modRevision: secretKvs[i]!.modRevision });
    }
    const copies = copyList.kvs.flatMap((kv) => {
      const at = this.keys.parseSealedCopy(kv.key);
      const c = decodeRecord(SealedCopyRecord, kv.value);
      // An unreadable copy is re-sealed (version -1 never matches).
      return at ? [{ app: at.app, name: at.name, version: c?.version ?? -1, key: c?.key ?? '' }] : [];
    });
    const plan = planSealedCopies({ sealingKey, used: distinct, versions: new Map([...secrets].map(([k, s]) => [k, s.modRevision])), copies });

    for (const r of plan.remove) {
      await this.store.delete(this.keys.sealedCopy(node, r.app, r.name));
      log.info('sealed copy removed', { app: r.app, secret: r.name });
    }
    if (plan.seal.length === 0) return;
    const clusterKey = await this.clusterKey.read(`node ${node} needs secrets`);
    for (const r of plan.seal) {
      const value = open(clusterKey, secrets.get(secretKey(r))!.sealed);
      const record: SealedCopyRecord = { version: r.version, sealed: seal(sealingKey!, value), key: sealingKey! };
      await this.store.put(this.keys.sealedCopy(node, r.app, r.name), JSON.stringify(record));
      log.info('secret sealed to node', { app: r.app, secret: r.name, version: r.version });
    }
  }
}
