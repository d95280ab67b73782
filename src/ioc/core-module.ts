import { ContainerModule } from 'inversify';
import { Keys } from '../../api/keys.js';
import { SystemClock, type Clock } from '../clock.js';
import type { Config } from '../config.js';
import { ControllerFactory } from '../controller/controller-factory.js';
import { InformerFactory } from '../informer/informer-factory.js';
import { DockerodeEngine } from '../docker/dockerode-engine.js';
import { Etcd3KvStore } from '../etcd/etcd3-kv-store.js';
import { etcdClientOptions } from '../etcd/etcd-tls.js';
import type { Logger } from '../logging.js';
import { Manager } from '../manager.js';
import { ClusterPolicy } from '../policy/cluster-policy.js';
import { EventRecorder } from '../events/event-recorder.js';
import { RegistryCredentials } from '../registry/registry-credentials.js';
import { RegistryDigestResolver } from '../registry/digest-resolver.js';
import { TYPES } from './tokens.js';

/**
 * What every Dokkaa process shares: config, logger, clock, the etcd store and (resolved only
 * where asked for) the Docker engine. Tests swap the edges by rebinding these tokens.
 */
export function coreModule(config: Config, logger: Logger): ContainerModule {
  return new ContainerModule(({ bind }) => {
    bind(TYPES.Config).toConstantValue(config);
    bind(TYPES.Logger).toConstantValue(logger);
    bind(TYPES.Clock).to(SystemClock).inSingletonScope();
    bind(TYPES.Keys).toConstantValue(new Keys(config.prefix));
    bind(TYPES.KvStore)
      .toDynamicValue((ctx) => new Etcd3KvStore(etcdClientOptions(config, new Date(ctx.get<Clock>(TYPES.Clock).now()))))
      .inSingletonScope()
      .onDeactivation((store) => store.close());
    bind(TYPES.ContainerEngine)
      .toDynamicValue((ctx) => new DockerodeEngine(config.docker, ctx.get<Clock>(TYPES.Clock), logger))
      .inSingletonScope();
    bind(InformerFactory).toSelf().inSingletonScope();
    bind(ControllerFactory).toSelf().inSingletonScope();
    bind(Manager).toSelf().inSingletonScope();
    bind(EventRecorder).toSelf().inSingletonScope();
    // The scheduler admits by it; agents refuse `dokkaa pull` requests it does not allow.
    bind(ClusterPolicy).toSelf().inSingletonScope();
    // Agents pull with these; the scheduler resolves image digests with them.
    bind(RegistryCredentials).toSelf().inSingletonScope();
    bind(TYPES.DigestResolver)
      .toDynamicValue((ctx) => {
        const credentials = ctx.get(RegistryCredentials);
        return new RegistryDigestResolver({ credentials: (image) => credentials.authFor(image), insecure: config.insecureRegistries ?? [] });
      })
      .inSingletonScope();
  });
}
