import 'reflect-metadata';
import { Container, type ContainerModule } from 'inversify';
import { ambassadorModule } from '../controllers/ambassador/ambassador-module.js';
import { dnsRecordsModule } from '../controllers/dns-records/dns-records-module.js';
import { endpointIndexModule } from '../controllers/endpoint-index/endpoint-index-module.js';
import { routePublisherModule } from '../controllers/route-publisher/route-publisher-module.js';
import { layoutMigratorModule } from '../controllers/migrator/layout-migrator-module.js';
import { linkInjectorModule } from '../controllers/link-injector/link-injector-module.js';
import { nodeRunnerModule } from '../controllers/node-runner/node-runner-module.js';
import { routerModule } from '../controllers/router/router-module.js';
import { schedulerModule } from '../controllers/scheduler/scheduler-module.js';
import { secretsModule } from '../controllers/secrets/secrets-module.js';
import { serviceRegistrarModule } from '../controllers/service-registrar/service-registrar-module.js';
import { statusModule } from '../controllers/status/status-module.js';
import { agentModule } from '../src/agent/agent-module.js';
import { leaderModule } from '../src/controller/leader-module.js';
import type { Config } from '../src/config.js';
import type { Logger } from '../src/logging.js';
import { coreModule } from '../src/ioc/core-module.js';

/** The per-host part: membership, node runner, service registrar, ambassador and DNS, web router. */
export const AGENT_MODULES: readonly ContainerModule[] = [agentModule, nodeRunnerModule, serviceRegistrarModule, ambassadorModule, routerModule];
/** The cluster-wide part: scheduler, link injector, status, secrets, layout migrator, run by the elected leader only. */
export const CONTROLLER_MODULES: readonly ContainerModule[] = [leaderModule, schedulerModule, linkInjectorModule, statusModule, secretsModule, dnsRecordsModule, endpointIndexModule, routePublisherModule, layoutMigratorModule];

/** A process's container: the core plus the feature modules it runs. */
export function buildContainer(config: Config, logger: Logger, modules: readonly ContainerModule[]): Container {
  const container = new Container();
  container.load(coreModule(config, logger), ...modules);
  return container;
}
