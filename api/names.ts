import * as t from 'io-ts';

/** RFC 1123 label: what Kubernetes accepts as a DNS label (lower case, digits, '-', <= 63). */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export interface DnsLabelBrand {
  readonly DnsLabel: unique symbol;
}

/** App, manifest and service names: DNS labels, so they can become DNS names later. */
export const DnsLabel = t.brand(
  t.string,
  (s): s is t.Branded<string, DnsLabelBrand> => DNS_LABEL.test(s),
  'DnsLabel',
);
export type DnsLabel = t.TypeOf<typeof DnsLabel>;

export function isDnsLabel(s: string): s is DnsLabel {
  return DNS_LABEL.test(s);
}

/** Env var name fragment for a service: upper case, '-' as '_' (SERVICE_<NAME>_ADDR). */
export function envName(service: string): string {
  return service.toUpperCase().replace(/-/g, '_');
}

/**
 * A host name a route answers for: DNS labels joined by dots (any case, at most 253
 * characters), at least two labels, optionally `*.` in front (a wildcard for one label).
 */
export function isHostName(s: string): boolean {
  const lower = s.toLowerCase();
  const name = lower.startsWith('*.') ? lower.slice(2) : lower;
  const labels = name.split('.');
  return name.length <= 253 && labels.length >= 2 && labels.every((l) => DNS_LABEL.test(l));
}

export const HostName = new t.Type<string, string, unknown>(
  'a DNS name',
  (u): u is string => typeof u === 'string' && isHostName(u),
  (u, c) => (typeof u === 'string' && isHostName(u) ? t.success(u) : t.failure(u, c, 'a DNS name')),
  t.identity,
);
