import { readFileSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { Keys } from '../api/keys.js';
import { decodeManifest } from '../api/manifest.js';
import { isDnsLabel } from '../api/names.js';
import { decodeRecord, NodeRecord, StatusRecord } from '../api/records.js';
import type { Config } from '../src/config.js';
import { Etcd3KvStore } from '../src/etcd/etcd3-kv-store.js';
import type { KvStore } from '../src/etcd/kv-store.js';
import { table } from '../src/table.js';

/** A user-facing failure: printed as one line, exit code 1. */
export class UsageError extends Error {}

/** Runs `fn` with a store on the configured etcd, closed afterwards. */
export async function withStore<T>(config: Config, fn: (store: KvStore, keys: Keys) => Promise<T>): Promise<T> {
  const store = new Etcd3KvStore(config.etcd);
  try {
    return await fn(store, new Keys(config.prefix));
  } finally {
    store.close();
  }
}

/** What `dokkaa apply` was given; apply itself reports a missing file or app (exit 1, as always). */
export interface ApplyOptions {
  file?: string;
  app?: string;
  /** Default: the file's name without its extension. */
  name?: string;
}

/** `dokkaa apply -f FILE --app APP [--name NAME]`: validates, then writes the manifest. */
export async function apply(options: ApplyOptions, config: Config): Promise<string> {
  const { file, app } = options;
  if (!file || !app) throw new UsageError('usage: dokkaa apply -f FILE --app APP [--name NAME]');
  const name = options.name ?? basename(file, extname(file));
  for (const [what, value] of [['app', app], ['name', name]] as const) {
    if (!isDnsLabel(value)) throw new UsageError(`${what}: expected a DNS label (a-z, 0-9 and "-"), got ${JSON.stringify(value)}`);
  }
  const text = readFileSync(file, 'utf8');
  const decoded = decodeManifest(text, app);
  if (!decoded.ok) throw new UsageError(`${file} is not a valid manifest:\n  ${decoded.errors.join('\n  ')}`);
  return withStore(config, async (store, keys) => {
    const key = keys.manifest(app, name);
    const before = await store.get(key);
    if (before?.value === text.trim()) return `${app}/${name} unchanged`;
    await store.put(key, text.trim());
    return `${app}/${name} ${before ? 'configured' : 'created'}`;
  });
}

/** `dokkaa delete APP/NAME`. */
export async function remove(target: string | undefined, config: Config): Promise<string> {
  const [app, name] = (target ?? '').split('/');
  if (!app || !name) throw new UsageError('usage: dokkaa delete APP/NAME');
  return withStore(config, async (store, keys) => {
    const existing = await store.get(keys.manifest(app, name));
    if (!existing) throw new UsageError(`${app}/${name} not found`);
    await store.delete(keys.manifest(app, name));
    return `${app}/${name} deleted`;
  });
}

/** How `status` and `nodes` print: a table, or the records as JSON. */
export interface ListOptions {
  json: boolean;
}

/** `dokkaa status [APP[/NAME]] [--json]`. */
export async function status(target: string | undefined, options: ListOptions, config: Config): Promise<string> {
  const [app, name] = (target ?? '').split('/');
  return withStore(config, async (store, keys) => {
    const listing = await store.list(keys.statuses);
    const rows = listing.kvs.flatMap((kv) => {
      const at = keys.parseStatus(kv.key);
      const s = decodeRecord(StatusRecord, kv.value);
      if (!at || !s || (app && at.app !== app) || (name && at.name !== name)) return [];
      return [{ ...at, status: s }];
    });
    if (options.json) {
      return JSON.stringify(name && rows.length === 1 ? rows[0] : rows, null, 2);
    }
    if (rows.length === 0) return app ? `no status for ${target}` : 'no manifests';
    return table(
      ['APP', 'NAME', 'PHASE', 'READY', 'REVISION', 'MESSAGE'],
      rows.map((r) => [r.app, r.name, r.status.phase, `${r.status.running}/${r.status.desired}`, String(r.status.observedRevision), r.status.message]),
    );
  });
}

/** `dokkaa nodes [--json]`. */
export async function nodes(options: ListOptions, config: Config): Promise<string> {
  return withStore(config, async (store, keys) => {
    const records = (await store.list(keys.nodes)).kvs.map((kv) => decodeRecord(NodeRecord, kv.value)).filter((n): n is NodeRecord => !!n);
    if (options.json) return JSON.stringify(records, null, 2);
    if (records.length === 0) return 'no live nodes';
    return table(
      ['NAME', 'ADDRESS', 'CPUS', 'MEMORY', 'VERSION', 'LABELS'],
      records.map((n) => [
        n.name,
        n.address,
        String(n.capacity.cpus),
        `${(n.capacity.memoryBytes / 2 ** 30).toFixed(1)}Gi`,
        n.version,
        Object.entries(n.labels).map(([k, v]) => `${k}=${v}`).join(',') || '-',
      ]),
    );
  });
}
