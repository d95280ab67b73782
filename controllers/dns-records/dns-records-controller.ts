import { inject, injectable } from 'inversify';
import type { Keys } from '../../api/keys.js';
import { ControllerFactory } from '../../src/controller/controller-factory.js';
import { ControllerRunnable } from '../../src/controller/controller-runnable.js';
import { endpointMirror } from '../../src/controller/mirror.js';
import { dnsRecordsResource, Resources } from '../../src/informer/resources.js';
import { TYPES } from '../../src/ioc/tokens.js';
import { DnsRecordsReconciler } from './dns-records-reconciler.js';

/** The DNS records controller: `node-endpoints/` in, SkyDNS records out. Cluster-wide. */
@injectable()
export class DnsRecordsController extends ControllerRunnable {
  constructor(@inject(ControllerFactory) factory: ControllerFactory, @inject(TYPES.Keys) keys: Keys, @inject(DnsRecordsReconciler) reconciler: DnsRecordsReconciler) {
    super(endpointMirror(factory.builder('dns-records', reconciler), factory.informer(Resources.endpoints(keys)), factory.informer(dnsRecordsResource(reconciler.skydns))).build());
  }
}
