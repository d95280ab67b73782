import { readFileSync } from 'node:fs';
import * as t from 'io-ts';
import { configsUsed, decodeManifest, secretsUsed } from '../api/manifest.js';
import { isDnsLabel } from '../api/names.js';
import { ClusterKeyRecord, ConfigRecord, decodeRecord, SecretRecord } from '../api/records.js';
import type { Keys } from '../api/keys.js';
import type { Config } from '../src/config.js';
import { seal } from '../src/crypto/seal.js';
import type { KvStore } from '../src/etcd/kv-store.js';
import { table } from '../src/table.js';
import { UsageError, withStore, type ListOptions } from './client-commands.js';

/**
 * `dokkaa secret set|list|rm` and `dokkaa config set|list|rm`: one implementation, two kinds.
 * A secret's value is sealed to the cluster key before it leaves the CLI; a config's is
 * stored in the clear (base64). Neither list shows values.
 */
export type FileKind = 'secret' | 'config';

/** Where `set` takes the value from: exactly one of them. */
export interface ValueSource {
  fromFile?: string;
  fromLiteral?: string;
  fromStdin?: boolean;
}

/** `APP/NAME`, both DNS labels. */
export function parseTarget(kind: FileKind, target: string | undefined): { app: string; name: string } {
  const [app, name, ...rest] = (target ?? '').split('/');
  if (!app || !name || rest.length || !isDnsLabel(app) || !isDnsLabel(name)) {
    throw new UsageError(`APP/NAME: expected a ${kind} as app/name (DNS labels: a-z, 0-9 and "-"), got ${JSON.stringify(target ?? '')}`);
  }
  return { app, name };
}

/** The value `set` stores, from the one source given (stdin as read, byte for byte). */
export function valueOf(kind: FileKind, source: ValueSource, stdin: () => Promise<Buffer>): Promise<Buffer> {
  const given = [source.fromFile !== undefined, source.fromLiteral !== undefined, !!source.fromStdin].filter(Boolean).length;
  if (given !== 1) return Promise.reject(new UsageError(`usage: dokkaa ${kind} set APP/NAME --from-file F | --from-literal V | --from-stdin (exactly one)`));
  if (source.fromFile !== undefined) return Promise.resolve(readFileSync(source.fromFile));
  if (source.fromLiteral !== undefined) return Promise.resolve(Buffer.from(source.fromLiteral));
  return stdin();
}

const keyOf = (keys: Keys, kind: FileKind, app: string, name: string) => (kind === 'secret' ? keys.secret(app, name) : keys.config(app, name));

/** What list and set read of either kind (SecretRecord, ConfigRecord): its version, size and when it was set. */
const Stored = t.type({ version: t.number, size: t.number, updated: t.string });

/** Stores a new version (1, 2, ...): the manifests using it roll their replicas. */
export async function fileSet(kind: FileKind, target: string | undefined, value: Buffer, config: Config): Promise<string> {
  const { app, name } = parseTarget(kind, target);
  return withStore(config, async (store, keys) => {
    const key = keyOf(keys, kind, app, name);
    const clusterKey = kind === 'secret' ? decodeRecord(ClusterKeyRecord, (await store.get(keys.clusterKey))?.value) : undefined;
    if (kind === 'secret' && !clusterKey) throw new UsageError('the cluster has no key to seal secrets with; run dokkaa cluster-key init --out FILE first (and give it to the controllers: --cluster-key-file)');
    // Compare-and-set on the version read: two concurrent sets make two versions, not one.
    for (;;) {
      const before = await store.get(key);
      const version = (decodeRecord(Stored, before?.value)?.version ?? 0) + 1;
      const updated = new Date().toISOString();
      const record: SecretRecord | ConfigRecord = kind === 'secret'
        ? { version, size: value.length, sealed: seal(clusterKey!.publicKey, value), updated }
        : { version, size: value.length, data: value.toString('base64'), updated };
      if (await store.putIfModRevision(key, JSON.stringify(record), before?.modRevision ?? 0)) return `${kind} ${app}/${name} version ${version} stored (${value.length} bytes)`;
    }
  });
}

/** Removes it; the replicas using it keep their files, new ones wait for it (Pending, naming it). */
export async function fileRemove(kind: FileKind, target: string | undefined, config: Config): Promise<string> {
  const { app, name } = parseTarget(kind, target);
  return withStore(config, async (store, keys) => {
    const key = keyOf(keys, kind, app, name);
    if (!(await store.get(key))) throw new UsageError(`no ${kind} ${name} in app ${app}`);
    await store.delete(key);
    const users = (await usersByName(store, keys, kind, app)).get(name) ?? [];
    return `${kind} ${app}/${name} removed${users.length ? ` (still named by ${users.join(', ')}: running replicas keep it, new ones wait for it)` : ''}`;
  });
}

/** Names, versions, sizes and the manifests using each; never values. */
export async function fileList(kind: FileKind, app: string | undefined, options: ListOptions, config: Config): Promise<string> {
  if (app !== undefined && !isDnsLabel(app)) throw new UsageError(`APP: expected a DNS label, got ${JSON.stringify(app)}`);
  return withStore(config, async (store, keys) => {
    const prefix = kind === 'secret' ? keys.secrets : keys.configs;
    const rows: { app: string; name: string; version: number; size: number; updated: string; users: string[] }[] = [];
    const users = new Map<string, Map<string, string[]>>();
    for (const kv of (await store.list(app ? `${prefix}${app}/` : prefix)).kvs) {
      const at = kind === 'secret' ? keys.parseSecret(kv.key) : keys.parseConfig(kv.key);
      const r = decodeRecord(Stored, kv.value);
      if (!at || !r) continue;
      if (!users.has(at.app)) users.set(at.app, await usersByName(store, keys, kind, at.app));
      rows.push({ app: at.app, name: at.name, version: r.version, size: r.size, updated: r.updated, users: users.get(at.app)!.get(at.name) ?? [] });
    }
    if (options.json) return JSON.stringify(rows, null, 2);
    if (!rows.length) return `no ${kind}s${app ? ` in app ${app}` : ''}`;
    return table(['APP', 'NAME', 'VERSION', 'SIZE', 'UPDATED', 'USED BY'], rows.map((r) => [r.app, r.name, String(r.version), `${r.size} B`, r.updated, r.users.join(',') || '-']));
  });
}

/** Name -> the manifests (`app/name`) of `app` that use a secret or config of that name. */
async function usersByName(store: KvStore, keys: Keys, kind: FileKind, app: string): Promise<Map<string, string[]>> {
  const users = new Map<string, string[]>();
  for (const kv of (await store.list(`${keys.apps}${app}/`)).kvs) {
    const at = keys.parseManifest(kv.key);
    const decoded = at && decodeManifest(kv.value, at.app, at.name);
    if (!at || !decoded?.ok) continue;
    for (const n of kind === 'secret' ? secretsUsed(decoded.spec) : configsUsed(decoded.spec)) users.set(n, [...(users.get(n) ?? []), `${at.app}/${at.name}`]);
  }
  return users;
}
