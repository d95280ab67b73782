import { serviceId } from '../../api/keys.js';
import { envName } from '../../api/names.js';
import type { LinkSpec } from '../../api/manifest.js';
import type { LinkRecord, PortRecord } from '../../api/records.js';

/** What the link injector knows about one linked service. */
export interface LinkedService {
  /** The link port allocated to the service (`ports/<app>/<service>`), if any yet. */
  port: PortRecord | undefined;
  /** Whether the service has at least one endpoint now. */
  hasEndpoint: boolean;
}

/**
 * Resolves links to the ambassador port of each linked service. Pure. A link resolves once
 * its service has a port and, the first time, an endpoint (so a new consumer does not start
 * before its service ever ran). After that it stays resolved while the port stays the same,
 * endpoints or not: the ambassador refuses connections while there are none, and the env,
 * hence the consumer's container, never changes when the service moves, scales or dies.
 * Of two links whose services share a name (`nginx`, `other/nginx`), the first listed gets
 * SERVICE_NGINX_*; the other has no env (its service is still reachable by DNS).
 */
export function resolveLinks(
  links: LinkSpec[],
  serviceOf: (link: LinkSpec) => LinkedService,
  previous: LinkRecord['links'],
): Pick<LinkRecord, 'links' | 'missing'> {
  const resolved: LinkRecord['links'] = {};
  const missing: string[] = [];
  const owner = new Map<string, string>(); // env name -> the link that has it
  for (const link of links) {
    const name = envName(link.service);
    const id = serviceId(link.app, link.service);
    // `nginx` and `other/nginx` would both be SERVICE_NGINX_*: the first link listed has it.
    if ((owner.get(name) ?? id) !== id) continue;
    owner.set(name, id);
    const { port, hasEndpoint } = serviceOf(link);
    const before = previous[name];
    const resolvedBefore = !!port && before?.app === link.app && before.service === link.service && before.port === port.port;
    if (port && (hasEndpoint || resolvedBefore)) {
      resolved[name] = { app: link.app, service: link.service, port: port.port, protocol: port.protocol };
    } else if (!missing.includes(id)) {
      missing.push(id);
    }
  }
  return { links: resolved, missing };
}
