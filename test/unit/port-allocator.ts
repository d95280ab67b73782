import type { Keys } from '../../api/keys.js';
import { PortAllocatorReconciler } from '../../controllers/link-injector/port-allocator-reconciler.js';
import type { Config } from '../../src/config.js';
import { InformerFactory } from '../../src/informer/informer-factory.js';
import { Resources } from '../../src/informer/resources.js';
import { createLogger, type Logger } from '../../src/logging.js';
import { FakeClock, flush } from './fake-clock.js';
import type { FakeKvStore } from './fake-kv-store.js';

/**
 * The allocator with the manifests and links informers on `store` started, as its
 * controller starts them; each run first lets the informers take in what was written
 * (a controller's run follows the informer event that queued it).
 */
export async function allocatorOn(store: FakeKvStore, keys: Keys, config: Config): Promise<PortAllocatorReconciler> {
  const factory = new InformerFactory(store, new FakeClock(), createLogger('error', true));
  factory.informer(Resources.manifests(keys)).acquire();
  factory.informer(Resources.links(keys)).acquire();
  await flush(); // listed and watching before the test writes
  return new (class extends PortAllocatorReconciler {
    override async reconcile(key: string, log: Logger): Promise<void> {
      await flush();
      return super.reconcile(key, log);
    }
  })(store, keys, config, factory);
}
