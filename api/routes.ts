import { manifestId } from './keys.js';
import type { DecodeResult, ServiceSpec } from './manifest.js';
import { DEFAULT_ROUTER_DOMAIN, type RouterConfig } from './records.js';

/**
 * Routes from outside: which host name reaches which service. A service whose role is
 * "web" answers at `<service>.<app>.<domain>`, at `<app>.<domain>` when it is its app's only
 * web service (the original dokkaa-web-router's rule), and at each of its `hosts`. A name
 * claimed twice goes to the manifest created first (lowest etcd create revision; then by
 * `app/name`); the later claim is a conflict its status reports. Pure: every router and the
 * status controller compute the same table from the same manifests.
 */

export interface RoutedManifest {
  app: string;
  name: string;
  /** etcd create revision of the manifest key: who claimed a name first. */
  createRevision: number;
  services: Record<string, ServiceSpec>;
}

export interface Route {
  /** Lower case; `*.example.com` for a wildcard (one label). */
  host: string;
  app: string;
  /** The manifest. */
  name: string;
  service: string;
  /** The container port (endpoints carry where it is published). */
  port: number;
  httpsRedirect: boolean;
  proxyProtocol: boolean;
}

export interface RouteConflict {
  host: string;
  app: string;
  name: string;
  service: string;
  /** Who holds the name. */
  heldBy: { app: string; name: string; service: string };
}

export interface RouteTable {
  /** By host, sorted. */
  routes: Route[];
  conflicts: RouteConflict[];
}

export function isWebService(s: ServiceSpec): boolean {
  return s.role === 'web' && s.protocol === 'tcp';
}

export function routeTable(manifests: readonly RoutedManifest[], domain: string): RouteTable {
  const ordered = [...manifests].sort((a, b) => a.createRevision - b.createRevision || manifestId(a.app, a.name).localeCompare(manifestId(b.app, b.name)));
  const webPerApp = new Map<string, number>();
  for (const m of ordered) for (const s of Object.values(m.services)) if (isWebService(s)) webPerApp.set(m.app, (webPerApp.get(m.app) ?? 0) + 1);
  const held = new Map<string, Route>();
  const conflicts: RouteConflict[] = [];
  for (const m of ordered) {
    for (const [service, s] of Object.entries(m.services).sort(([a], [b]) => a.localeCompare(b))) {
      if (!isWebService(s)) continue;
      const names = [`${service}.${m.app}.${domain}`, ...(webPerApp.get(m.app) === 1 ? [`${m.app}.${domain}`] : []), ...(s.hosts ?? [])];
      for (const host of [...new Set(names.map((h) => h.toLowerCase()))]) {
        const holder = held.get(host);
        if (holder) {
          if (holder.app !== m.app || holder.name !== m.name || holder.service !== service) {
            conflicts.push({ host, app: m.app, name: m.name, service, heldBy: { app: holder.app, name: holder.name, service: holder.service } });
          }
          continue;
        }
        held.set(host, { host, app: m.app, name: m.name, service, port: s.port, httpsRedirect: s.httpsRedirect === true, proxyProtocol: s.proxyProtocol === true });
      }
    }
  }
  return { routes: [...held.values()].sort((a, b) => a.host.localeCompare(b.host)), conflicts };
}

/** The message a manifest's status carries for its conflicts (empty: none). */
export function conflictMessages(conflicts: readonly RouteConflict[], app: string, name: string): string[] {
  return conflicts
    .filter((c) => c.app === app && c.name === name)
    .map((c) => `services.${c.service}: host ${c.host} is already routed to ${c.heldBy.app}/${c.heldBy.name} (service ${c.heldBy.service}); this service does not get it`);
}

/** A manifest as the route table reads it: none for one that does not decode (it claims no name). */
export function routedManifest(app: string, name: string, createRevision: number, result: DecodeResult): RoutedManifest | undefined {
  return result.ok ? { app, name, createRevision, services: result.spec.services } : undefined;
}

/** Whether a manifest declares a web service (its changes may move route names). */
export function hasWebService(result: DecodeResult): boolean {
  return result.ok && Object.values(result.spec.services).some(isWebService);
}

/** The domain routes are named under: router/config's, or the default. */
export function routerDomain(config: RouterConfig | undefined): string {
  return config?.domain ?? DEFAULT_ROUTER_DOMAIN;
}
