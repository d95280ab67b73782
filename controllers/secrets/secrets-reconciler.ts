import { inject, injectable } from 'inversify';
import type { Keys } from '../../api/keys.js';
import { decodeManifest, secretsUsed } from '../../api/manifest.js';
import { decodeRecord, MaintenanceRecord, NodeRecord, PlacementRecord, PrepullRecord, RegistryRecord, SealedCopyRecord, SecretRecord } from '../../api/records.js';
import type { Config } from '../../src/config.js';
import type { Reconciler } from '../../src/controller/controller.js';
import { KeyFile } from '../../src/crypto/key-file.js';
import { open, seal } from '../../src/crypto/seal.js';
import type { KvStore } from '../../src/etcd/kv-store.js';
import { TYPES } from '../../src/ioc/tokens.js';
import { invalidRecord, type Logger } from '../../src/logging.js';
import { planRegistryCopies, planSealedCopies, registriesNeeded, secretKey } from './sealed-copy-plan.js';

/**
 * Keeps one node's sealed copies (`sealed/<node>/...` of secrets, `sealed-registries/<node>/...`
 * of registry credentials) as sealed-copy-plan.ts decides: it opens each secret or password
 * the node needs with the cluster key (`--cluster-key-file`) and seals it again to the node's
 * own key, and deletes the copies the node no longer needs. Reads
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
    const [nodeKv, placementList] = await Promise.all([this.store.get(this.keys.node(node)), this.store.list(this.keys.nodePlacements(node))]);
    const self = decodeRecord(NodeRecord, nodeKv?.value, invalidRecord(log, this.keys.node(node)));
    const placements = placementList.kvs.flatMap((kv) => decodeRecord(PlacementRecord, kv.value, invalidRecord(log, kv.key)) ?? []);
    // Each kind goes as far as it can (its removals at least) when the other fails.
    const done = await Promise.allSettled([this.secrets(node, self?.sealingKey, placements, log), this.registries(node, self, placements, log)]);
    for (const r of done) if (r.status === 'rejected') throw r.reason;
  }

  private async secrets(node: string, sealingKey: string | undefined, placements: PlacementRecord[], log: Logger): Promise<void> {
    const copyList = await this.store.list(this.keys.nodeSealed(node));
    const used = placements.flatMap((p) => secretsUsed(p.spec).map((name) => ({ app: p.app, name })));
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
      return at ? [{ app: at.app, name: at.name, ...copyState(kv.value) }] : [];
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
      await this.store.put(this.keys.sealedCopy(node, r.app, r.name), sealedCopy(sealingKey!, r.version, value));
      log.info('secret sealed to node', { app: r.app, secret: r.name, version: r.version });
    }
  }

  /** The node's copies of registry credentials (`sealed-registries/<node>/<host>`), the same way. */
  private async registries(node: string, self: NodeRecord | undefined, placements: PlacementRecord[], log: Logger): Promise<void> {
    const [copyList, prepullList, maintenanceKv] = await Promise.all([
      this.store.list(this.keys.nodeSealedRegistries(node)),
      this.store.list(this.keys.prepulls),
      this.store.get(this.keys.nodeMaintenance(node)),
    ]);
    const prepulls = await Promise.all(
      prepullList.kvs.flatMap((kv) => {
        const at = this.keys.parsePrepull(kv.key);
        const request = decodeRecord(PrepullRecord, kv.value, invalidRecord(log, kv.key));
        if (!at || !request) return [];
        return [this.store.get(this.keys.manifest(at.app, at.name)).then((m) => {
          const decoded = m ? decodeManifest(m.value, at.app, at.name) : undefined;
          return { image: request.image, constraints: decoded?.ok ? decoded.spec.constraints : undefined };
        })];
      }),
    );
    const cordoned = decodeRecord(MaintenanceRecord, maintenanceKv?.value)?.cordoned ?? false;
    const used = registriesNeeded({ node: self, cordoned, images: placements.map((p) => p.spec.image), prepulls });
    const registryKvs = await Promise.all(used.map((host) => this.store.get(this.keys.registry(host))));
    const registries = new Map<string, RegistryRecord & { modRevision: number }>();
    for (const [i, host] of used.entries()) {
      const r = decodeRecord(RegistryRecord, registryKvs[i]?.value, invalidRecord(log, this.keys.registry(host)));
      if (r) registries.set(host, { ...r, modRevision: registryKvs[i]!.modRevision });
    }
    const copies = copyList.kvs.flatMap((kv) => {
      const at = this.keys.parseSealedRegistry(kv.key);
      return at ? [{ host: at.host, ...copyState(kv.value) }] : [];
    });
    const sealingKey = self?.sealingKey;
    const plan = planRegistryCopies({ sealingKey, used, versions: new Map([...registries].map(([h, r]) => [h, r.modRevision])), copies });

    for (const host of plan.remove) {
      await this.store.delete(this.keys.sealedRegistry(node, host));
      log.info('registry credentials removed from node', { registry: host });
    }
    if (plan.seal.length === 0) return;
    const clusterKey = await this.clusterKey.read(`node ${node} pulls from registries with credentials`);
    for (const r of plan.seal) {
      const value = open(clusterKey, registries.get(r.host)!.sealed);
      await this.store.put(this.keys.sealedRegistry(node, r.host), sealedCopy(sealingKey!, r.version, value));
      log.info('registry credentials sealed to node', { registry: r.host, version: r.version });
    }
  }
}

/** A stored copy's version and key; an unreadable copy is re-sealed (version -1 never matches). */
function copyState(value: string): { version: number; key: string } {
  const c = decodeRecord(SealedCopyRecord, value);
  return { version: c?.version ?? -1, key: c?.key ?? '' };
}

function sealedCopy(sealingKey: string, version: number, value: Buffer): string {
  const record: SealedCopyRecord = { version, sealed: seal(sealingKey, value), key: sealingKey };
  return JSON.stringify(record);
}
