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

/**
 * SkyDNS's etcd layout (also read by CoreDNS's etcd plugin): a name's labels reversed as
 * path segments under a prefix, so `x.nginx.shop.dokkaa.local` is
 * `<prefix>/local/dokkaa/shop/nginx/x`, with the value `{"host": ip, "port": p}`.
 */
export class SkyDnsKeys {
  readonly root: string;

  constructor(prefix = '/skydns') {
    this.root = prefix.replace(/\/+$/, '');
  }

  /** Every record of the domain. */
  get domain(): string {
    return `${this.root}/${DNS_DOMAIN.split('.').reverse().join('/')}/`;
  }
  app(app: string): string {
    return `${this.domain}${app}/`;
  }
  endpoint(app: string, service: string, label: string): string {
    return `${this.domain}${app}/${service}/${label}`;
  }
}
