import { readFileSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { Keys } from '../api/keys.js';
import { decodeManifest } from '../api/manifest.js';
import { isDnsLabel } from '../api/names.js';
import { decodeRecord, MaintenanceRecord, NodeRecord, StatusRecord, type Amounts } from '../api/records.js';
import { allocatableOf, formatCpus, formatMemory } from '../api/reservation.js';
import { roundCpus } from '../src/agent/node-capacity.js';
import type { Config } from '../src/config.js';
import { Etcd3KvStore } from '../src/etcd/etcd3-kv-store.js';
import { etcdClientOptions, explainEtcdError } from '../src/etcd/etcd-tls.js';
import type { KvStore } from '../src/etcd/kv-store.js';
import { table } from '../src/table.js';

/** A user-facing failure: printed as one line, exit code 1. */
export class UsageError extends Error {}

/**
 * Runs `fn` with a store on the configured etcd, closed afterwards. Bad TLS files fail
 * before any call, and a refused TLS handshake fails naming the file to fix (EtcdTlsError).
 */
export async function withStore<T>(config: Config, fn: (store: KvStore, keys: Keys) => Promise<T>): Promise<T> {
  const store = new Etcd3KvStore(etcdClientOptions(config, new Date()));
  try {
    return await fn(store, new Keys(config.prefix));
  } catch (err) {
    throw explainEtcdError(err, config);
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

/** A live node as `dokkaa nodes` shows it. */
export interface NodeView extends NodeRecord {
  /** What replicas may reserve (the record's, or its capacity for an agent from before resources). */
  allocatable: Amounts;
  /** allocatable less allocated (negative: over-allocated, e.g. after the host was made smaller); absent until the agent has counted. */
  free?: Amounts;
  /** From maintenance/<node>: `draining` and `cordoned` take no new replicas. */
  state: 'ready' | 'cordoned' | 'draining';
}

/** The live nodes with what is allocated and free on each, and their maintenance state. */
export async function readNodes(store: KvStore, keys: Keys): Promise<NodeView[]> {
  const [nodeKvs, maintenanceKvs] = await Promise.all([store.list(keys.nodes), store.list(keys.maintenance)]);
  const maintenance = new Map(maintenanceKvs.kvs.flatMap((kv) => {
    const node = keys.parseMaintenance(kv.key);
    const m = decodeRecord(MaintenanceRecord, kv.value);
    return node && m ? [[node, m] as const] : [];
  }));
  return nodeKvs.kvs.flatMap((kv) => {
    const n = decodeRecord(NodeRecord, kv.value);
    if (!n) return [];
    const allocatable = allocatableOf(n);
    const m = maintenance.get(n.name);
    return [{
      ...n,
      allocatable,
      ...(n.allocated ? { free: { cpus: roundCpus(allocatable.cpus - n.allocated.cpus), memoryBytes: allocatable.memoryBytes - n.allocated.memoryBytes } } : {}),
      state: m?.draining ? 'draining' : m?.cordoned ? 'cordoned' : 'ready',
    }];
  });
}

/** `0.5/1Gi`: CPUs and memory in one column. */
const amounts = (a: Amounts | undefined) => (a ? `${formatCpus(a.cpus)}/${formatMemory(a.memoryBytes)}` : '-');

/** The `dokkaa nodes` table: CPUS and MEMORY are allocatable; ALLOCATED and FREE are CPUs/memory. */
export function formatNodes(views: readonly NodeView[]): string {
  if (views.length === 0) return 'no live nodes';
  return table(
    ['NAME', 'ADDRESS', 'CPUS', 'MEMORY', 'ALLOCATED', 'FREE', 'REPLICAS', 'STATE', 'VERSION', 'LABELS'],
    views.map((n) => [
      n.name,
      n.address,
      formatCpus(n.allocatable.cpus),
      formatMemory(n.allocatable.memoryBytes),
      amounts(n.allocated),
      amounts(n.free),
      n.allocated ? String(n.allocated.replicas) : '-',
      n.state,
      n.version,
      Object.entries(n.labels).map(([k, v]) => `${k}=${v}`).join(',') || '-',
    ]),
  );
}

/** `dokkaa nodes [--json]`. */
export async function nodes(options: ListOptions, config: Config): Promise<string> {
  return withStore(config, async (store, keys) => {
    const views = await readNodes(store, keys);
    return options.json ? JSON.stringify(views, null, 2) : formatNodes(views);
  });
}
