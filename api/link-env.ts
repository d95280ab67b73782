import type { LinkRecord } from './records.js';

/** The env a host gives a consumer: SERVICE_<NAME>_ADDR (its ambassador) and SERVICE_<NAME>_PORT. */
export function linkEnv(links: LinkRecord['links'], ambassadorAddress: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, link] of Object.entries(links)) {
    env[`SERVICE_${name}_ADDR`] = ambassadorAddress;
    env[`SERVICE_${name}_PORT`] = String(link.port);
  }
  return env;
}
