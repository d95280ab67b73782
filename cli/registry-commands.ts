import { existsSync, writeFileSync } from 'node:fs';
import { isRegistryHost, normalizeRegistryHost } from '../api/image-refs.js';
import { ClusterKeyRecord, decodeRecord, RegistryRecord } from '../api/records.js';
import { BadValueError, type Config } from '../src/config.js';
import { generateSealKeyPair, seal } from '../src/crypto/seal.js';
import { table } from '../src/table.js';
import { UsageError, withStore, type ListOptions } from './client-commands.js';

/** A registry host as given on the command line, checked and normalized (`Docker.io` -> `docker.io`). */
export function registryArgument(value: string): string {
  const host = normalizeRegistryHost(value);
  if (!isRegistryHost(host)) throw new BadValueError(`HOST: expected a registry host (name[:port]), got ${JSON.stringify(value)}`);
  return host;
}

/**
 * `dokkaa cluster-key init --out FILE`: makes the cluster key, writes its private half to
 * FILE (mode 0600, for the agents' --cluster-key-file) and its public half to `cluster-key`.
 * Refuses to replace a key: what was sealed to it could no longer be opened.
 */
export async function clusterKeyInit(options: { out: string }, config: Config): Promise<string> {
  if (existsSync(options.out)) throw new UsageError(`${options.out} exists; not replacing it`);
  return withStore(config, async (store, keys) => {
    if (await store.get(keys.clusterKey)) throw new UsageError('the cluster already has a key (cluster-key); copy its private key file to the agents instead');
    const pair = generateSealKeyPair();
    writeFileSync(options.out, `${pair.privateKey}\n`, { mode: 0o600, flag: 'wx' });
    const record: ClusterKeyRecord = { publicKey: pair.publicKey, createdAt: new Date().toISOString() };
    if (!(await store.putIfModRevision(keys.clusterKey, JSON.stringify(record), 0))) throw new UsageError('the cluster got a key meanwhile; remove ' + options.out);
    return `cluster key written to ${options.out} (give it to every agent: --cluster-key-file ${options.out})`;
  });
}

/** `dokkaa registry login HOST --username U --password-stdin`: stores the password sealed to the cluster key. */
export async function registryLogin(host: string, options: { username: string; password: string }, config: Config): Promise<string> {
  if (!options.password) throw new UsageError('no password on stdin');
  return withStore(config, async (store, keys) => {
    const key = decodeRecord(ClusterKeyRecord, (await store.get(keys.clusterKey))?.value);
    if (!key) throw new UsageError('the cluster has no key to seal credentials with; run dokkaa cluster-key init --out FILE first');
    const record: RegistryRecord = {
      host,
      username: options.username,
      sealed: seal(key.publicKey, JSON.stringify({ password: options.password })),
      updated: new Date().toISOString(),
    };
    await store.put(keys.registry(host), JSON.stringify(record));
    return `credentials for ${host} stored (user ${options.username})`;
  });
}

/** `dokkaa registry logout HOST`. */
export async function registryLogout(host: string, config: Config): Promise<string> {
  return withStore(config, async (store, keys) => {
    if (!(await store.get(keys.registry(host)))) throw new UsageError(`no credentials stored for ${host}`);
    await store.delete(keys.registry(host));
    return `credentials for ${host} removed`;
  });
}

/** `dokkaa registry list [--json]`: hosts and usernames, never passwords. */
export async function registryList(options: ListOptions, config: Config): Promise<string> {
  return withStore(config, async (store, keys) => {
    const rows = (await store.list(keys.registries)).kvs
      .map((kv) => decodeRecord(RegistryRecord, kv.value))
      .filter((r): r is RegistryRecord => r !== undefined)
      .map((r) => ({ host: r.host, username: r.username, updated: r.updated }));
    if (options.json) return JSON.stringify(rows, null, 2);
    return rows.length ? table(['HOST', 'USERNAME', 'UPDATED'], rows.map((r) => [r.host, r.username, r.updated])) : 'no registry credentials stored';
  });
}
