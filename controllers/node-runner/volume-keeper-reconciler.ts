import { inject, injectable } from 'inversify';
import { parseReplicaId, type Keys } from '../../api/keys.js';
import { decodeRecord, VolumeSetRecord } from '../../api/records.js';
import type { Config } from '../../src/config.js';
import type { ReconcileResult, Reconciler } from '../../src/controller/controller.js';
import { statusCode, type ContainerEngine } from '../../src/docker/container-engine.js';
import type { KvStore } from '../../src/etcd/kv-store.js';
import { TYPES } from '../../src/ioc/tokens.js';
import { invalidRecord, type Logger } from '../../src/logging.js';
import { hostLabels, LABEL, volumeName } from './container-template.js';

/** How soon a removal that waits for a container to go looks again. */
export const IN_USE_RETRY_MS = 2_000;

/** What a volume set asks of this node: which Docker volumes go, and what becomes of its record after. */
export interface VolumeRemoval {
  /** Volume names (as the manifest names them) to remove; `all`: every volume of the replica, found by its labels. */
  volumes: string[] | 'all';
  /** The record afterwards: deleted, or put with these volumes left. */
  after: { delete: true } | { delete: false; volumes: string[] };
}

/** What a set's `purge` and `remove` ask for, if anything. Pure. */
export function planVolumeRemoval(set: VolumeSetRecord): VolumeRemoval | undefined {
  if (set.purge) return { volumes: 'all', after: { delete: true } };
  if (!set.remove?.length) return undefined;
  const left = set.volumes.filter((v) => !set.remove!.includes(v));
  return { volumes: [...set.remove], after: left.length ? { delete: false, volumes: left } : { delete: true } };
}

/**
 * Removes the Docker volumes of this node's volume sets that `dokkaa delete --purge` or
 * `dokkaa volume rm` marked (volumes/<node>/...), once no container of the replica is
 * left here: a placement or a container of the replica means in use, and the removal waits
 * (the record says so). The node runner never removes volumes with containers: only this.
 */
@injectable()
export class VolumeKeeperReconciler implements Reconciler {
  constructor(
    @inject(TYPES.KvStore) private readonly store: KvStore,
    @inject(TYPES.ContainerEngine) private readonly engine: ContainerEngine,
    @inject(TYPES.Keys) private readonly keys: Keys,
    @inject(TYPES.Config) private readonly config: Pick<Config, 'node'>,
  ) {}

  async reconcile(id: string, log: Logger): Promise<ReconcileResult> {
    const { app, name, replica } = parseReplicaId(id);
    const node = this.config.node;
    const key = this.keys.volumeSet(node, app, name, replica);
    const kv = await this.store.get(key);
    const set = decodeRecord(VolumeSetRecord, kv?.value, invalidRecord(log, key));
    const removal = set && planVolumeRemoval(set);
    if (!kv || !set || !removal) return undefined;

    const labels = { ...hostLabels(this.keys.root, node), [LABEL.app]: app, [LABEL.name]: name, [LABEL.replica]: String(replica) };
    const [placement, containers] = await Promise.all([this.store.get(this.keys.placement(node, app, name, replica)), this.engine.list(labels)]);
    if (placement || containers.length) return this.inUse(key, kv.modRevision, set, `in use by replica ${replica} on ${node}`);

    const names = removal.volumes === 'all' ? (await this.engine.listVolumes(labels)).map((v) => v.name) : removal.volumes.map((v) => volumeName(app, name, replica, v));
    for (const volume of names) {
      try {
        await this.engine.removeVolume(volume);
        log.info('volume removed', { volume });
      } catch (err) {
        if (statusCode(err) !== 409) throw err;
        return this.inUse(key, kv.modRevision, set, `volume ${volume} is in use by a container on ${node}`);
      }
    }
    if (removal.after.delete) await this.store.deleteIfModRevision(key, kv.modRevision);
    else {
      const { remove: _remove, message: _message, ...rest } = set;
      await this.store.putIfModRevision(key, JSON.stringify({ ...rest, volumes: removal.after.volumes }), kv.modRevision);
    }
    return undefined;
  }

  /** Says why the removal waits (once), and looks again soon. */
  private async inUse(key: string, modRevision: number, set: VolumeSetRecord, message: string): Promise<ReconcileResult> {
    if (set.message !== message) await this.store.putIfModRevision(key, JSON.stringify({ ...set, message }), modRevision);
    return { requeueAfterMs: IN_USE_RETRY_MS };
  }
}
