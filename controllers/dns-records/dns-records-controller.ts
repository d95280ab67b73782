import { inject, injectable } from 'inversify';
import { serviceId, type Keys } from '../../api/keys.js';
import { ControllerFactory } from '../../src/controller/controller-factory.js';
import { ControllerRunnable } from '../../src/controller/controller-runnable.js';
import { dnsRecordsResource, eventService, Resources } from '../../src/informer/resources.js';
import { TYPES } from '../../src/ioc/tokens.js';
import { DnsRecordsReconciler } from './dns-records-reconciler.js';

/** The DNS records controller: `node-endpoints/` in, SkyDNS records out. Cluster-wide. */
@injectable()
export class DnsRecordsController extends ControllerRunnable {
  constructor(@inject(ControllerFactory) factory: ControllerFactory, @inject(TYPES.Keys) keys: Keys, @inject(DnsRecordsReconciler) reconciler: DnsRecordsReconciler) {
    const endpoints = factory.informer(Resources.endpoints(keys));
    const records = factory.informer(dnsRecordsResource(reconciler.skydns));
    const recorded = () => records.list().map((c) => serviceId(c.value.at.app, c.value.at.service));
    super(
      factory
        .builder('dns-records', reconciler)
        .for(endpoints, (c) => [serviceId(c.value.at.app, c.value.at.service)])
        // A record written or deleted by someone else is put back; one left over is deleted.
        .watches(records, eventService)
        .watchesRelists(records, recorded)
        .resyncsAlso(recorded)
        // A service's endpoints come in bursts: one transaction for each burst.
        .settle(50)
        .build(),
    );
  }
}
