import { ContainerModule } from 'inversify';
import { TYPES } from '../../src/ioc/tokens.js';
import { Ambassador } from './ambassador.js';
import { DnsServer } from './dns-server.js';

/** Per host: the ambassador (link ports -> endpoints) and the DNS server for the host's containers. */
export const ambassadorModule = new ContainerModule(({ bind }) => {
  bind(Ambassador).toSelf().inSingletonScope();
  bind(TYPES.Runnable).toService(Ambassador);
  bind(DnsServer).toSelf().inSingletonScope();
  bind(TYPES.Runnable).toService(DnsServer);
});
