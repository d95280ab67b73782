import type { ServiceIdentifier } from 'inversify';
import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import type { Logger } from '../logging.js';
import type { KvStore } from '../etcd/kv-store.js';
import type { ContainerEngine } from '../docker/container-engine.js';
import type { Keys } from '../../api/keys.js';
import type { Runnable } from '../runnable.js';
import type { DigestResolver } from '../registry/digest-resolver.js';

/** Service identifiers for the container; interfaces have no runtime value to bind to. */
export const TYPES = {
  Config: Symbol.for('dokkaa.Config') as ServiceIdentifier<Config>,
  Logger: Symbol.for('dokkaa.Logger') as ServiceIdentifier<Logger>,
  Clock: Symbol.for('dokkaa.Clock') as ServiceIdentifier<Clock>,
  KvStore: Symbol.for('dokkaa.KvStore') as ServiceIdentifier<KvStore>,
  ContainerEngine: Symbol.for('dokkaa.ContainerEngine') as ServiceIdentifier<ContainerEngine>,
  Keys: Symbol.for('dokkaa.Keys') as ServiceIdentifier<Keys>,
  /** Everything the manager starts and stops: controllers, leases, elections. */
  Runnable: Symbol.for('dokkaa.Runnable') as ServiceIdentifier<Runnable>,
  /** Cluster-wide parts that must run in one process only: started by the elected leader. */
  LeaderRunnable: Symbol.for('dokkaa.LeaderRunnable') as ServiceIdentifier<Runnable>,
  /** Tags to digests at registries (the scheduler's image pins); tests bind a fake. */
  DigestResolver: Symbol.for('dokkaa.DigestResolver') as ServiceIdentifier<DigestResolver>,
};
