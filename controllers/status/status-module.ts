import { ContainerModule } from 'inversify';
import { mergeMap } from 'rxjs';
import { manifestId, type Keys } from '../../api/keys.js';
import type { Config } from '../../src/config.js';
import { withCache } from '../../src/controller/controller.js';
import { ControllerFactory, eventKey } from '../../src/controller/sources.js';
import type { KvStore } from '../../src/etcd/kv-store.js';
import { TYPES } from '../../src/ioc/tokens.js';
import type { Runnable } from '../../src/manager.js';
import { StatusCache, type StatusCacheChange } from './status-cache.js';
import { StatusReconciler } from './status-reconciler.js';

/**
 * The status controller: everything about a manifest in, `status/<app>/<name>` out.
 * Cluster-wide. Nodes and placements come from its StatusCache, for one leadership term.
 */
export const statusModule = new ContainerModule(({ bind }) => {
  bind(StatusReconciler).toSelf().inSingletonScope();
  bind(StatusCache).toSelf().inSingletonScope();
  bind<Runnable>(TYPES.LeaderRunnable)
    .toDynamicValue((ctx) => {
      const keys = ctx.get<Keys>(TYPES.Keys);
      const store = ctx.get<KvStore>(TYPES.KvStore);
      const config = ctx.get<Config>(TYPES.Config);
      const factory = ctx.get(ControllerFactory);
      const cache = ctx.get(StatusCache);
      const known = new Set<string>();
      const byManifest = (parse: (key: string) => { app: string; name: string } | undefined) => (ev: Parameters<typeof eventKey>[0]) => {
        const m = parse(eventKey(ev));
        return m ? [manifestId(m.app, m.name)] : [];
      };
      const controller = factory.controller({
        name: 'status',
        reconciler: ctx.get(StatusReconciler),
        sources: [
          factory.keysOf(keys.apps, (ev) => {
            const ids = byManifest((k) => keys.parseManifest(k))(ev);
            for (const id of ids) ev.type === 'put' ? known.add(id) : known.delete(id);
            return ids;
          }),
          factory.keysOf(keys.replicas, byManifest((k) => keys.parseReplica(k))),
          factory.keysOf(keys.links, byManifest((k) => keys.parseLink(k))),
          factory.keysOf(keys.statuses, byManifest((k) => keys.parseStatus(k))),
          factory.keysOf(keys.rollouts, byManifest((k) => keys.parseRollout(k))),
          // Told after the cache has applied the change, so the reconcile sees it; nodes
          // coming and going bear on every manifest (unschedulable reasons).
          cache.changes.pipe(mergeMap((c: StatusCacheChange) => (c.kind === 'placement' ? [c.id] : [...known]))),
        ],
        listKeys: async () => {
          const [apps, statuses] = await Promise.all([store.list(keys.apps), store.list(keys.statuses)]);
          const ids = new Set<string>();
          for (const kv of apps.kvs) {
            const m = keys.parseManifest(kv.key);
            if (m) ids.add(manifestId(m.app, m.name)), known.add(manifestId(m.app, m.name));
          }
          for (const kv of statuses.kvs) {
            const s = keys.parseStatus(kv.key);
            if (s) ids.add(manifestId(s.app, s.name));
          }
          return [...ids];
        },
        resyncMs: config.resyncSeconds * 1000,
      });
      return withCache(controller, cache);
    })
    .inSingletonScope();
});
