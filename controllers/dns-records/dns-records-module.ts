import { ContainerModule } from 'inversify';
import { TYPES } from '../../src/ioc/tokens.js';
import { DnsRecordsController } from './dns-records-controller.js';
import { DnsRecordsReconciler } from './dns-records-reconciler.js';

/** The DNS records controller: every service's endpoints mirrored as SkyDNS records. Cluster-wide. */
export const dnsRecordsModule = new ContainerModule(({ bind }) => {
  bind(DnsRecordsReconciler).toSelf().inSingletonScope();
  bind(DnsRecordsController).toSelf().inSingletonScope();
  bind(TYPES.LeaderRunnable).toService(DnsRecordsController);
});
