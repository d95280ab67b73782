import { inject, injectable } from 'inversify';
import { canonicalJson } from '../../api/canonical-json.js';
import { parseManifestId, type Keys } from '../../api/keys.js';
import { decodeManifest } from '../../api/manifest.js';
import { parseRecord, type LinkRecord, type NodeRecord, type PlacementRecord, type ReplicaRecord, type RolloutRecord } from '../../api/records.js';
import type { Reconciler } from '../../src/controller/controller.js';
import type { KvStore } from '../../src/etcd/kv-store.js';
import { TYPES } from '../../src/ioc/tokens.js';
import type { Logger } from '../../src/logging.js';
import { summarize } from './status-summary.js';

/** Writes `status/<app>/<name>` from fresh reads of everything that bears on it. */
@injectable()
export class StatusReconciler implements Reconciler {
  constructor(
    @inject(TYPES.KvStore) private readonly store: KvStore,
    @inject(TYPES.Keys) private readonly keys: Keys,
  ) {}

  async reconcile(id: string, log: Logger): Promise<void> {
    const { app, name } = parseManifestId(id);
    const statusKey = this.keys.status(app, name);
    const [manifest, current, placements, replicas, link, nodes, rollout] = await Promise.all([
      this.store.get(this.keys.manifest(app, name)),
      this.store.get(statusKey),
      this.store.list(this.keys.placements),
      this.store.list(this.keys.manifestReplicas(app, name)),
      this.store.get(this.keys.link(app, name)),
      this.store.list(this.keys.nodes),
      this.store.get(this.keys.rollout(app, name)),
    ]);
    if (!manifest) {
      if (current) await this.store.delete(statusKey);
      return;
    }
    const status = summarize({
      decoded: decodeManifest(manifest.value, app, name),
      revision: manifest.modRevision,
      placements: placements.kvs
        .map((kv) => parseRecord<PlacementRecord>(kv.value))
        .filter((p): p is PlacementRecord => !!p && p.app === app && p.name === name),
      replicas: replicas.kvs.map((kv) => parseRecord<ReplicaRecord>(kv.value)).filter((r): r is ReplicaRecord => !!r),
      link: parseRecord<LinkRecord>(link?.value),
      liveNodes: nodes.kvs.map((kv) => parseRecord<NodeRecord>(kv.value)).filter((n): n is NodeRecord => !!n),
      rollout: parseRecord<RolloutRecord>(rollout?.value),
    });
    const value = canonicalJson(status);
    if (current?.value === value) return;
    await this.store.put(statusKey, value);
    log.info('status updated', { phase: status.phase, running: status.running, desired: status.desired });
  }
}
