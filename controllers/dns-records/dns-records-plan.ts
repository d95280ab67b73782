import { canonicalJson } from '../../api/canonical-json.js';
import { endpointDnsLabel } from '../../api/dns-names.js';
import type { SkyDnsKeys } from '../../api/keys.js';
import type { SkyDnsRecord } from '../../api/records.js';
import type { DnsRecord, Endpoint } from '../../src/informer/resources.js';
import type { Cached } from '../../src/informer/shared-informer.js';
import { planMirror, type MirrorPlan } from '../../src/controller/mirror.js';

/**
 * One service's SkyDNS records (`<skydns>/local/dokkaa/<app>/<service>/<label>` =
 * `{"host", "port"}`, what CoreDNS's etcd plugin serves) from its endpoints: one per
 * endpoint, on no lease (planMirror says why). Pure.
 */
export function planDnsRecords(skydns: SkyDnsKeys, app: string, service: string, endpoints: readonly Cached<Endpoint>[], existing: readonly Cached<DnsRecord>[]): MirrorPlan {
  const desired = new Map<string, string>();
  for (const e of endpoints) {
    if (e.value.at.app !== app || e.value.at.service !== service) continue;
    const key = skydns.endpoint(app, service, endpointDnsLabel(e.value.name, e.value.replica, e.value.node));
    desired.set(key, canonicalJson({ host: e.value.host, port: e.value.port } satisfies SkyDnsRecord));
  }
  return planMirror(desired, existing.filter((r) => r.value.at.app === app && r.value.at.service === service));
}
