import { readFileSync } from 'node:fs';
import type { Keys } from '../api/keys.js';
import { decodeManifest } from '../api/manifest.js';
import { CertRecord, decodeRecord, EndpointRecord, RouterConfig, RoutesRecord } from '../api/records.js';
import { conflictMessages, routedManifest, routerDomain, routeTable, type Route, type RouteConflict, type RoutedManifest } from '../api/routes.js';
import type { Config } from '../src/config.js';
import type { KvStore } from '../src/etcd/kv-store.js';
import { table } from '../src/table.js';
import { checkCertificate, CertificateError, daysLeft } from './certificates.js';
import { UsageError, withStore, type ListOptions } from './client-commands.js';

/** `dokkaa router set --domain D` (D checked as a DNS name when parsed). */
export async function routerSet(options: { domain: string }, config: Config): Promise<string> {
  return withStore(config, async (store, keys) => {
    const current = decodeRecord(RouterConfig, (await store.get(keys.routerConfig))?.value) ?? {};
    await store.put(keys.routerConfig, JSON.stringify({ ...current, domain: options.domain }));
    return `router domain set to ${options.domain}`;
  });
}

/** `dokkaa router show`: the settings, defaults named. */
export async function routerShow(config: Config): Promise<string> {
  return withStore(config, async (store, keys) => {
    const current = decodeRecord(RouterConfig, (await store.get(keys.routerConfig))?.value);
    return `domain: ${routerDomain(current)}${current?.domain === undefined ? ' (default)' : ''}`;
  });
}

/** What `dokkaa cert add` was given (all required by the parser). */
export interface CertAddOptions {
  cert: string;
  key: string;
}

function readPem(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read the ${what} file ${file}: ${(err as Error).message}`);
  }
}

/** `dokkaa cert add HOST --cert FILE --key FILE`: checks the pair for HOST, then writes certs/HOST. */
export async function certAdd(host: string, options: CertAddOptions, config: Config, now = new Date()): Promise<string> {
  let record: CertRecord;
  try {
    record = checkCertificate(readPem(options.cert, 'certificate'), readPem(options.key, 'key'), host, now);
  } catch (err) {
    if (err instanceof CertificateError) throw new UsageError(`refusing the certificate for ${host}: ${err.message}`);
    throw err;
  }
  return withStore(config, async (store, keys) => {
    const before = await store.get(keys.cert(host));
    await store.put(keys.cert(host), JSON.stringify(record));
    return `certificate for ${host} ${before ? 'replaced' : 'added'} (issuer ${record.issuer}, expires ${record.notAfter})`;
  });
}

/** `dokkaa cert list [--json]`: host, issuer, expiry; never the keys. */
export async function certList(options: ListOptions, config: Config, now = new Date()): Promise<string> {
  return withStore(config, async (store, keys) => {
    const rows = (await store.list(keys.certs)).kvs.flatMap((kv) => {
      const host = keys.parseCert(kv.key);
      const c = decodeRecord(CertRecord, kv.value);
      if (!host || !c) return [];
      return [{ host, issuer: c.issuer ?? '', notAfter: c.notAfter ?? '', ...(c.notAfter ? { daysLeft: daysLeft(c.notAfter, now) } : {}), updated: c.updated ?? '' }];
    });
    if (options.json) return JSON.stringify(rows, null, 2);
    if (rows.length === 0) return 'no certificates';
    return table(
      ['HOST', 'ISSUER', 'EXPIRES'],
      rows.map((r) => [r.host, r.issuer || '-', r.daysLeft === undefined ? '-' : `${r.notAfter} (${r.daysLeft < 0 ? 'expired' : `${r.daysLeft} days left`})`]),
    );
  });
}

/** `dokkaa cert rm HOST`. */
export async function certRemove(host: string, config: Config): Promise<string> {
  return withStore(config, async (store, keys) => {
    if (!(await store.get(keys.cert(host)))) throw new UsageError(`no certificate for ${host}`);
    await store.delete(keys.cert(host));
    return `certificate for ${host} removed`;
  });
}

/** A route with the ready endpoints (`host:port`) of its manifest's service. */
export type ShownRoute = Route & { endpoints: string[] };

export interface RoutesView {
  domain: string;
  routes: ShownRoute[];
  conflicts: RouteConflict[];
}

/**
 * The route table as the routers compute it: the admitted web manifests of routes/ (the
 * route publisher's, each with its manifest key's create revision), the domain from router/config, and each route's endpoints from node-endpoints/
 * (registered only while their replica is ready).
 */
export async function readRoutes(store: KvStore, keys: Keys): Promise<RoutesView> {
  const [published, config, services] = await Promise.all([store.list(keys.routes), store.get(keys.routerConfig), store.list(keys.endpoints)]);
  const manifests = published.kvs.flatMap((kv) => {
    const at = keys.parseRoute(kv.key);
    const r = decodeRecord(RoutesRecord, kv.value);
    const m = at && r && routedManifest(at.app, at.name, r.createRevision, decodeManifest(r.manifest, at.app, at.name));
    return m ? [m] : ([] as RoutedManifest[]);
  });
  const domain = routerDomain(decodeRecord(RouterConfig, config?.value));
  const { routes, conflicts } = routeTable(manifests, domain);
  const endpoints = new Map<string, string[]>();
  for (const kv of services.kvs) {
    const at = keys.parseEndpoint(kv.key);
    const e = decodeRecord(EndpointRecord, kv.value);
    if (!at || !e || e.protocol !== 'tcp') continue;
    const id = `${at.app}/${e.name}/${at.service}`;
    endpoints.set(id, [...(endpoints.get(id) ?? []), `${e.host}:${e.port}`]);
  }
  return { domain, routes: routes.map((r) => ({ ...r, endpoints: (endpoints.get(`${r.app}/${r.name}/${r.service}`) ?? []).sort() })), conflicts };
}

const endpointList = (r: ShownRoute) => r.endpoints.join(',') || 'none ready';

function conflictTable(conflicts: readonly RouteConflict[]): string {
  return table(['HOST', 'APP/NAME', 'SERVICE', 'HELD BY'], conflicts.map((c) => [c.host, `${c.app}/${c.name}`, c.service, `${c.heldBy.app}/${c.heldBy.name} (service ${c.heldBy.service})`]));
}

/** `dokkaa routes [--json]`: the route table, then the names lost to a conflict. */
export async function routes(options: ListOptions, config: Config): Promise<string> {
  return withStore(config, async (store, keys) => {
    const view = await readRoutes(store, keys);
    if (options.json) return JSON.stringify(view, null, 2);
    const lines = [
      view.routes.length
        ? table(['HOST', 'APP/NAME', 'SERVICE', 'ENDPOINTS'], view.routes.map((r) => [r.host, `${r.app}/${r.name}`, r.service, endpointList(r)]))
        : `no routes (no manifest has a service with "role": "web"; domain ${view.domain})`,
    ];
    if (view.conflicts.length) lines.push('', 'Conflicts (the later manifest does not get the name):', conflictTable(view.conflicts));
    return lines.join('\n');
  });
}

/** The `Routes:` section of `dokkaa describe APP/NAME`: its routes, then its conflicts. */
export async function describeRoutes(store: KvStore, keys: Keys, app: string, name: string): Promise<string[]> {
  const view = await readRoutes(store, keys);
  const own = view.routes.filter((r) => r.app === app && r.name === name);
  const lost = conflictMessages(view.conflicts, app, name);
  if (own.length === 0 && lost.length === 0) return ['Routes:', '  <none>'];
  return [
    'Routes:',
    ...(own.length ? [table(['HOST', 'SERVICE', 'ENDPOINTS'], own.map((r) => [r.host, r.service, endpointList(r)]))] : []),
    ...lost.map((m) => `conflict: ${m}`),
  ];
}
