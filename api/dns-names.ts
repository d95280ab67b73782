import { createHash } from 'node:crypto';

/** The DNS domain of services: `<service>.<app>.dokkaa.local`. */
export const DNS_DOMAIN = 'dokkaa.local';

/** `<service>.<app>.dokkaa.local`: the name that resolves to every endpoint of a service. */
export function serviceDnsName(app: string, service: string): string {
  return `${service}.${app}.${DNS_DOMAIN}`;
}

/**
 * One endpoint's own DNS label (the SRV target is `<label>.<service>.<app>.dokkaa.local`):
 * `<name>-<replica>-<node>`, lower case, characters outside [a-z0-9-] as "-". The endpoint id
 * (`<name>.<replica>.<node>`) has dots, which would split it into several labels. When the
 * node name had to be changed or the label would exceed 63 characters, a hash of the
 * original keeps labels apart.
 */
export function endpointDnsLabel(name: string, replica: number, node: string): string {
  const raw = `${name}-${replica}-${node}`;
  const clean = raw.toLowerCase().replace(/[^a-z0-9-]/g, '-').replace(/^-+|-+$/g, '');
  if (clean === raw && clean.length <= 63) return clean;
  const hash = createHash('sha256').update(raw).digest('hex').slice(0, 8);
  return `${clean.slice(0, 54).replace(/-+$/, '')}-${hash}`;
}
