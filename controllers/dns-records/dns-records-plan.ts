import { canonicalJson } from '../../api/canonical-json.js';
import { endpointDnsLabel } from '../../api/dns-names.js';
import type { SkyDnsKeys } from '../../api/keys.js';
import type { SkyDnsRecord } from '../../api/records.js';
import type { DnsRecord, Endpoint } from '../../src/informer/resources.js';
import type { Cached } from '../../src/informer/shared-informer.js';

/** What to change in one service's SkyDNS records. */
export interface DnsRecordsPlan {
  /** Records to write, on no lease. */
  puts: { key: string; value: string }[];
  /** Records to delete, if unchanged since read. */
  deletes: { key: string; modRevision: number }[];
}

/**
 * One service's SkyDNS records (`<skydns>/local/dokkaa/<app>/<service>/<label>` =
 * `{"host", "port"}`, what CoreDNS's etcd plugin serves) from its endpoints: one per
 * endpoint. On no lease: a key on a host's lease that the host may not write would stop the
 * host from revoking its lease (etcd checks every key of a lease on revoke). So a dead host's
 * records go when its endpoints expire and a controller sees it, as Kubernetes' endpoints
 * controller does. Records an older agent wrote on its lease are written again without. Pure.
 */
export function planDnsRecords(skydns: SkyDnsKeys, app: string, service: string, endpoints: readonly Cached<Endpoint>[], existing: readonly Cached<DnsRecord>[]): DnsRecordsPlan {
  const desired = new Map<string, string>();
  for (const e of endpoints) {
    if (e.value.at.app !== app || e.value.at.service !== service) continue;
    const key = skydns.endpoint(app, service, endpointDnsLabel(e.value.name, e.value.replica, e.value.node));
    desired.set(key, canonicalJson({ host: e.value.host, port: e.value.port } satisfies SkyDnsRecord));
  }
  const have = new Map(existing.filter((r) => r.value.at.app === app && r.value.at.service === service).map((r) => [r.key, r]));
  const plan: DnsRecordsPlan = { puts: [], deletes: [] };
  for (const [key, r] of have) if (!desired.has(key)) plan.deletes.push({ key, modRevision: r.modRevision });
  for (const [key, value] of desired) {
    const r = have.get(key);
    if (r && r.value.text === value && r.lease === '0') continue;
    plan.puts.push({ key, value });
  }
  return plan;
}
