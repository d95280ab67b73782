import { ContainerModule } from 'inversify';
import { TYPES } from '../../src/ioc/tokens.js';
import { SecretsController } from './secrets-controller.js';
import { SecretsReconciler } from './secrets-reconciler.js';

/** The secrets controller: each secret re-sealed to each node that runs a replica using it. Cluster-wide. */
export const secretsModule = new ContainerModule(({ bind }) => {
  bind(SecretsReconciler).toSelf().inSingletonScope();
  bind(SecretsController).toSelf().inSingletonScope();
  bind(TYPES.LeaderRunnable).toService(SecretsController);
});
