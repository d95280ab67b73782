import { ContainerModule } from 'inversify';
import { mergeMap } from 'rxjs';
import { manifestId, type Keys } from '../../api/keys.js';
import type { Config } from '../../src/config.js';
import { withCache } from '../../src/controller/controller.js';
import { ControllerFactory, eventKey } from '../../src/controller/sources.js';
import type { KvStore } from '../../src/etcd/kv-store.js';
import { TYPES } from '../../src/ioc/tokens.js';
import type { Runnable } from '../../src/manager.js';
import { SchedulerReconciler } from './scheduler-reconciler.js';
import { RolloutTracker } from './rollout-tracker.js';
import { SchedulerCache, type CacheChange } from './scheduler-cache.js';

/**
 * The scheduler: manifests and live nodes in, placements out. Cluster-wide. Nodes and
 * placements come from its SchedulerCache, whose watches are also its sources for them;
 * the cache lives for one leadership term (started before the controller, stopped with it).
 */
export const schedulerModule = new ContainerModule(({ bind }) => {
  bind(SchedulerReconciler).toSelf().inSingletonScope();
  bind(RolloutTracker).toSelf().inSingletonScope();
  bind(SchedulerCache).toSelf().inSingletonScope();
  bind<Runnable>(TYPES.LeaderRunnable)
    .toDynamicValue((ctx) => {
      const keys = ctx.get<Keys>(TYPES.Keys);
      const store = ctx.get<KvStore>(TYPES.KvStore);
      const config = ctx.get<Config>(TYPES.Config);
      const factory = ctx.get(ControllerFactory);
      const cache = ctx.get(SchedulerCache);
      const allManifests = async () =>
        (await store.list(keys.apps)).kvs.flatMap((kv) => {
          const m = keys.parseManifest(kv.key);
          return m ? [manifestId(m.app, m.name)] : [];
        });
      const known = new Set<string>();
      const controller = factory.controller({
        name: 'scheduler',
        reconciler: ctx.get(SchedulerReconciler),
        sources: [
          factory.keysOf(keys.apps, (ev) => {
            const m = keys.parseManifest(eventKey(ev));
            if (!m) return [];
            const id = manifestId(m.app, m.name);
            if (ev.type === 'put') known.add(id);
            return [id];
          }),
          // Told after the cache has applied the change, so the reconcile sees it. A node
          // joining or leaving can change where any manifest's replicas belong.
          cache.changes.pipe(
            mergeMap((c: CacheChange) =>
              c.kind === 'placement' ? [manifestId(c.app, c.name)] : c.kind === 'node' ? [...known] : [...new Set([...known, ...cache.manifestIds()])],
            ),
          ),
          // Replica readiness drives rolling updates.
          factory.keysOf(keys.replicas, (ev) => {
            const r = keys.parseReplica(eventKey(ev));
            return r ? [manifestId(r.app, r.name)] : [];
          }),
        ],
        listKeys: async () => {
          const ids = await allManifests();
          for (const id of ids) known.add(id);
          await cache.ready();
          return [...new Set([...ids, ...cache.manifestIds()])];
        },
        resyncMs: config.resyncSeconds * 1000,
        // Reconciles wait on etcd round trips, not on the CPU (nothing is listed per
        // reconcile any more): more of them at once let etcd batch their writes.
        concurrency: 16,
      });
      return withCache(controller, cache);
    })
    .inSingletonScope();
});
