import { canonicalJson } from '../../api/canonical-json.js';
import type { Keys } from '../../api/keys.js';
import { planMirror, type MirrorPlan } from '../../src/controller/mirror.js';
import type { Endpoint, IndexedEndpoint } from '../../src/informer/resources.js';
import type { Cached } from '../../src/informer/shared-informer.js';

/**
 * One service's entries in the index by service (`service-endpoints/<app>/<service>/<endpoint>`):
 * each of its endpoints (`node-endpoints/<node>/<app>/<service>/<endpoint>`), the same record
 * at the same `<endpoint>`, on no lease (planMirror says why). Pure.
 */
export function planEndpointIndex(keys: Keys, app: string, service: string, endpoints: readonly Cached<Endpoint>[], indexed: readonly Cached<IndexedEndpoint>[]): MirrorPlan {
  const desired = new Map<string, string>();
  for (const e of endpoints) {
    const { at, ...record } = e.value;
    if (at.app !== app || at.service !== service) continue;
    desired.set(keys.serviceEndpoint(app, service, at.endpoint), canonicalJson(record));
  }
  return planMirror(desired, indexed.filter((r) => r.value.at.app === app && r.value.at.service === service));
}
