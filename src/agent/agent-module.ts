import { ContainerModule } from 'inversify';
import { TYPES } from '../ioc/tokens.js';
import { AllocationReporter } from './allocation-reporter.js';
import { AppEndpoints } from './app-endpoints.js';
import { HostCaches } from './host-caches.js';
import { NodeLease } from './node-lease.js';
import { SealingKey } from './sealing-key.js';

/**
 * The host's membership lease, bound first so it starts before the host's controllers, and
 * the count of what its placements reserve, kept in its node record; its sealing key; the
 * caches of its own sections of etcd its controllers act on (HostCaches); the endpoints of
 * the apps its ambassador, DNS server and router need (AppEndpoints).
 */
export const agentModule = new ContainerModule(({ bind }) => {
  bind(SealingKey).toSelf().inSingletonScope();
  bind(NodeLease).toSelf().inSingletonScope();
  bind(TYPES.Runnable).toService(NodeLease);
  bind(AllocationReporter).toSelf().inSingletonScope();
  bind(TYPES.Runnable).toService(AllocationReporter);
  bind(HostCaches).toSelf().inSingletonScope();
  bind(AppEndpoints).toSelf().inSingletonScope();
});
