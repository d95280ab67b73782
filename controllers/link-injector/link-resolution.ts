import { envName } from '../../api/names.js';
import type { LinkSpec } from '../../api/manifest.js';
import type { EndpointRecord, LinkRecord } from '../../api/records.js';

/**
 * Resolves links to SERVICE_<NAME>_ADDR / SERVICE_<NAME>_PORT. Pure. Sticky: an endpoint
 * already handed out stays chosen while it exists, so a scale change or a new replica
 * elsewhere never changes a running container's env (which would replace it).
 */
export function resolveLinks(
  links: LinkSpec[],
  endpointsOf: (link: LinkSpec) => EndpointRecord[],
  previous: Record<string, string>,
): Pick<LinkRecord, 'env' | 'missing'> {
  const env: Record<string, string> = {};
  const missing: string[] = [];
  for (const link of links) {
    const addrVar = `SERVICE_${envName(link.service)}_ADDR`;
    const portVar = `SERVICE_${envName(link.service)}_PORT`;
    const endpoints = endpointsOf(link);
    if (endpoints.length === 0) {
      missing.push(`${link.app}/${link.service}`);
      continue;
    }
    const chosen =
      endpoints.find((e) => e.host === previous[addrVar] && String(e.port) === previous[portVar]) ?? endpoints[0]!;
    env[addrVar] = chosen.host;
    env[portVar] = String(chosen.port);
  }
  return { env, missing };
}
