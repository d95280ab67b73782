import { ContainerModule } from 'inversify';
import { TYPES } from '../ioc/tokens.js';
import { NodeLease } from './node-lease.js';

/** The host's membership lease; bound first so it starts before the host's controllers. */
export const agentModule = new ContainerModule(({ bind }) => {
  bind(NodeLease).toSelf().inSingletonScope();
  bind(TYPES.Runnable).toService(NodeLease);
});
