import { ContainerModule } from 'inversify';
import { manifestId, type Keys } from '../../api/keys.js';
import type { Config } from '../../src/config.js';
import { ControllerFactory, eventKey } from '../../src/controller/sources.js';
import type { KvStore } from '../../src/etcd/kv-store.js';
import { TYPES } from '../../src/ioc/tokens.js';
import type { Runnable } from '../../src/manager.js';
import { SchedulerReconciler } from './scheduler-reconciler.js';
import { RolloutTracker } from './rollout-tracker.js';

/** The scheduler: manifests and live nodes in, placements out. Cluster-wide. */
export const schedulerModule = new ContainerModule(({ bind }) => {
  bind(SchedulerReconciler).toSelf().inSingletonScope();
  bind(RolloutTracker).toSelf().inSingletonScope();
  bind<Runnable>(TYPES.LeaderRunnable)
    .toDynamicValue((ctx) => {
      const keys = ctx.get<Keys>(TYPES.Keys);
      const store = ctx.get<KvStore>(TYPES.KvStore);
      const config = ctx.get<Config>(TYPES.Config);
      const factory = ctx.get(ControllerFactory);
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
          // A node joining or leaving can change where any manifest's replicas belong.
          factory.keysOf(keys.nodes, () => [...known]),
          factory.keysOf(keys.placements, (ev) => {
            const p = keys.parsePlacement(eventKey(ev));
            return p ? [manifestId(p.app, p.name)] : [];
          }),
          // Replica readiness drives rolling updates.
          factory.keysOf(keys.replicas, (ev) => {
            const r = keys.parseReplica(eventKey(ev));
            return r ? [manifestId(r.app, r.name)] : [];
          }),
        ],
        listKeys: async () => {
          const ids = await allManifests();
          for (const id of ids) known.add(id);
          const placed = (await store.list(keys.placements)).kvs.flatMap((kv) => {
            const p = keys.parsePlacement(kv.key);
            return p ? [manifestId(p.app, p.name)] : [];
          });
          return [...new Set([...ids, ...placed])];
        },
        resyncMs: config.resyncSeconds * 1000,
      });
      return controller;
    })
    .inSingletonScope();
});
