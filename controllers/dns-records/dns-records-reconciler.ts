import { inject, injectable } from 'inversify';
import { parseServiceId, SkyDnsKeys, type Keys } from '../../api/keys.js';
import { DEFAULT_SKYDNS_PREFIX, type Config } from '../../src/config.js';
import type { Reconciler } from '../../src/controller/controller.js';
import type { KvStore } from '../../src/etcd/kv-store.js';
import { InformerFactory } from '../../src/informer/informer-factory.js';
import { BY_SERVICE, dnsRecordsResource, Resources, type DnsRecord, type Endpoint } from '../../src/informer/resources.js';
import type { InformerCache } from '../../src/informer/shared-informer.js';
import { TYPES } from '../../src/ioc/tokens.js';
import type { Logger } from '../../src/logging.js';
import { planDnsRecords } from './dns-records-plan.js';
import { applyMirror } from '../../src/controller/mirror.js';

/**
 * Makes one service's (`app/service`) SkyDNS records match its endpoints. The agents do not
 * write them: SkyDNS names a record by service and replica, so an agent allowed to write its
 * own would be allowed to write every service's.
 */
@injectable()
export class DnsRecordsReconciler implements Reconciler {
  readonly skydns: SkyDnsKeys;
  private readonly endpoints: InformerCache<Endpoint>;
  private readonly records: InformerCache<DnsRecord>;

  constructor(
    @inject(TYPES.KvStore) private readonly store: KvStore,
    @inject(TYPES.Keys) keys: Keys,
    @inject(TYPES.Config) config: Pick<Config, 'skydnsPrefix'>,
    @inject(InformerFactory) factory: InformerFactory,
  ) {
    this.skydns = new SkyDnsKeys(config.skydnsPrefix ?? DEFAULT_SKYDNS_PREFIX);
    this.endpoints = factory.informer(Resources.endpoints(keys));
    this.records = factory.informer(dnsRecordsResource(this.skydns));
  }

  async reconcile(id: string, log: Logger): Promise<void> {
    const at = parseServiceId(id);
    if (!at) return;
    const plan = planDnsRecords(this.skydns, at.app, at.service, this.endpoints.byIndex(BY_SERVICE, id), this.records.byIndex(BY_SERVICE, id));
    await applyMirror(this.store, plan, log, 'dns record');
  }
}
