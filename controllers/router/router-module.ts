import { ContainerModule } from 'inversify';
import { TYPES } from '../../src/ioc/tokens.js';
import { Router } from './router.js';

/** Per host: the web router (haproxy, host names -> web services' ready endpoints). */
export const routerModule = new ContainerModule(({ bind }) => {
  bind(Router).toSelf().inSingletonScope();
  bind(TYPES.Runnable).toService(Router);
});
