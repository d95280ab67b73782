import { decodeRecord, VolumeSetRecord } from '../api/records.js';
import type { Keys } from '../api/keys.js';
import type { Config } from '../src/config.js';
import type { KvStore } from '../src/etcd/kv-store.js';
import { table } from '../src/table.js';
import { UsageError, withStore, type ListOptions } from './client-commands.js';

/** One volume of one replica on one node, as `dokkaa volumes` lists it. */
export interface VolumeRow {
  app: string;
  name: string;
  replica: number;
  volume: string;
  node: string;
  /** A placement of the replica on that node: its container mounts (or will mount) the volume. */
  inUse: boolean;
  createdAt: string;
  /** `purging` (delete --purge), `removing` (volume rm), with the agent's word if it waits. */
  state?: string;
}

/** The rows of the volume sets read (key -> record), `placed` telling whether replica R of app/name is placed on a node. Pure. */
export function volumeRows(sets: readonly VolumeSetRecord[], placed: (s: VolumeSetRecord) => boolean): VolumeRow[] {
  const rows = sets.flatMap((s) =>
    s.volumes.map((volume): VolumeRow => {
      const pending = s.purge ? 'purging' : s.remove?.includes(volume) ? 'removing' : undefined;
      const state = pending && s.message ? `${pending}: ${s.message}` : pending;
      return { app: s.app, name: s.name, replica: s.replica, volume, node: s.node, inUse: placed(s), createdAt: s.createdAt, ...(state ? { state } : {}) };
    }),
  );
  return rows.sort((a, b) => a.app.localeCompare(b.app) || a.name.localeCompare(b.name) || a.replica - b.replica || a.volume.localeCompare(b.volume) || a.node.localeCompare(b.node));
}

/** Every volume set (of `app`, if given), with its key's mod revision. */
async function readSets(store: KvStore, keys: Keys, app?: string, name?: string): Promise<{ key: string; modRevision: number; record: VolumeSetRecord }[]> {
  return (await store.list(keys.volumes)).kvs.flatMap((kv) => {
    const record = decodeRecord(VolumeSetRecord, kv.value);
    if (!record || (app && record.app !== app) || (name && record.name !== name)) return [];
    return [{ key: kv.key, modRevision: kv.modRevision, record }];
  });
}

/** `dokkaa volumes [APP] [--json]`. */
export async function volumesList(app: string | undefined, options: ListOptions, config: Config): Promise<string> {
  return withStore(config, async (store, keys) => {
    const sets = await readSets(store, keys, app);
    const placements = new Set((await store.list(keys.placements)).kvs.map((kv) => kv.key));
    const rows = volumeRows(sets.map((s) => s.record), (s) => placements.has(keys.placement(s.node, s.app, s.name, s.replica)));
    if (options.json) return JSON.stringify(rows, null, 2);
    if (rows.length === 0) return app ? `no volumes of app ${app}` : 'no volumes';
    return table(
      ['APP/NAME', 'REPLICA', 'VOLUME', 'NODE', 'IN USE', 'CREATED', 'STATE'],
      rows.map((r) => [`${r.app}/${r.name}`, String(r.replica), r.volume, r.node, r.inUse ? 'yes' : 'no', r.createdAt, r.state ?? '']),
    );
  });
}

/**
 * `dokkaa volume rm APP/NAME/REPLICA/VOLUME [--node NODE]`: asks the agent of the node that
 * holds the volume to remove it (the set's `remove`); refuses while the replica is placed
 * there. The agent removes it once no container of the replica is left on the node.
 */
export async function volumeRemove(target: string | undefined, options: { node?: string }, config: Config): Promise<string> {
  const m = /^([^/]+)\/([^/]+)\/(\d+)\/([^/]+)$/.exec(target ?? '');
  if (!m) throw new UsageError('usage: dokkaa volume rm APP/NAME/REPLICA/VOLUME [--node NODE]');
  const [, app, name, replicaText, volume] = m as unknown as [string, string, string, string, string];
  const replica = Number(replicaText);
  return withStore(config, async (store, keys) => {
    const holding = (await readSets(store, keys, app, name)).filter((s) => s.record.replica === replica && s.record.volumes.includes(volume) && (!options.node || s.record.node === options.node));
    if (holding.length === 0) throw new UsageError(`no volume ${volume} of ${app}/${name} replica ${replica}${options.node ? ` on ${options.node}` : ''}`);
    if (holding.length > 1) throw new UsageError(`volume ${volume} of ${app}/${name} replica ${replica} is on several nodes (${holding.map((s) => s.record.node).join(', ')}): say which with --node`);
    const { key, modRevision, record } = holding[0]!;
    if (await store.get(keys.placement(record.node, app, name, replica))) {
      throw new UsageError(`volume ${volume} of ${app}/${name} replica ${replica} is in use on ${record.node} (the replica is placed there); scale down or delete the manifest first`);
    }
    const updated: VolumeSetRecord = { ...record, remove: [...new Set([...(record.remove ?? []), volume])] };
    if (!(await store.putIfModRevision(key, JSON.stringify(updated), modRevision))) throw new UsageError('the volume set changed meanwhile; try again');
    return `volume ${volume} of ${app}/${name} replica ${replica} will be removed by the agent of ${record.node} (dokkaa volumes shows it until then)`;
  });
}

/** `dokkaa delete APP/NAME --purge`, after the manifest is deleted: marks every volume set of the manifest for removal. How many. */
export async function purgeVolumes(store: KvStore, keys: Keys, app: string, name: string): Promise<number> {
  let marked = 0;
  for (const s of await readSets(store, keys, app, name)) {
    if (s.record.purge) continue;
    // A set the scheduler rewrote meanwhile (the manifest came back) is in use: left alone.
    if (await store.putIfModRevision(s.key, JSON.stringify({ ...s.record, purge: true }), s.modRevision)) marked++;
  }
  return marked;
}

/**
 * `dokkaa delete APP/NAME [--purge]`. Its volumes stay unless `purge`: then each node's
 * agent removes them once the replicas' containers are gone (also when the manifest was
 * deleted before).
 */
export async function remove(target: string | undefined, config: Config, options: { purge?: boolean } = {}): Promise<string> {
  const [app, name] = (target ?? '').split('/');
  if (!app || !name) throw new UsageError('usage: dokkaa delete APP/NAME [--purge]');
  return withStore(config, async (store, keys) => {
    const existing = await store.get(keys.manifest(app, name));
    if (!existing && !options.purge) throw new UsageError(`${app}/${name} not found`);
    if (existing) await store.delete(keys.manifest(app, name));
    const purged = options.purge ? await purgeVolumes(store, keys, app, name) : 0;
    if (!existing && purged === 0) throw new UsageError(`${app}/${name} not found, and no volumes of it to purge`);
    const what = purged ? `; ${purged} replica volume set(s) will be removed by their nodes' agents` : '';
    return `${app}/${name} ${existing ? 'deleted' : 'was deleted before'}${what}`;
  });
}
