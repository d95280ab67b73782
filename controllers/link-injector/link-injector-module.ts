import { ContainerModule } from 'inversify';
import { manifestId, serviceId, type Keys } from '../../api/keys.js';
import { decodeManifest } from '../../api/manifest.js';
import type { Config } from '../../src/config.js';
import { ControllerFactory, eventKey } from '../../src/controller/sources.js';
import type { KvStore } from '../../src/etcd/kv-store.js';
import { TYPES } from '../../src/ioc/tokens.js';
import type { Runnable } from '../../src/manager.js';
import { LinkInjectorReconciler } from './link-injector-reconciler.js';
import { PortAllocatorReconciler, PORTS_KEY } from './port-allocator-reconciler.js';

/**
 * The link injector: manifests' links, `ports/` and `services/` in, `links/` out; and the
 * port allocator that gives each linked service its ambassador port. Cluster-wide.
 */
export const linkInjectorModule = new ContainerModule(({ bind }) => {
  bind(LinkInjectorReconciler).toSelf().inSingletonScope();
  bind<Runnable>(TYPES.LeaderRunnable)
    .toDynamicValue((ctx) => {
      const keys = ctx.get<Keys>(TYPES.Keys);
      const store = ctx.get<KvStore>(TYPES.KvStore);
      const config = ctx.get<Config>(TYPES.Config);
      const factory = ctx.get(ControllerFactory);
      // `app/service` -> manifests linking to it, so an endpoint change reaches its consumers.
      const consumers = new Map<string, Set<string>>();
      const forget = (id: string) => consumers.forEach((set) => set.delete(id));

      return factory.controller({
        name: 'link-injector',
        reconciler: ctx.get(LinkInjectorReconciler),
        sources: [
          factory.keysOf(keys.apps, (ev) => {
            const m = keys.parseManifest(eventKey(ev));
            if (!m) return [];
            const id = manifestId(m.app, m.name);
            if (ev.type === 'delete') forget(id);
            else {
              const decoded = decodeManifest(ev.kv.value, m.app, m.name);
              if (decoded.ok) {
                forget(id);
                for (const l of decoded.spec.links) {
                  const target = serviceId(l.app, l.service);
                  consumers.set(target, (consumers.get(target) ?? new Set()).add(id));
                }
              }
            }
            return [id];
          }),
          factory.keysOf(keys.services, (ev) => {
            const e = keys.parseEndpoint(eventKey(ev));
            return e ? [...(consumers.get(serviceId(e.app, e.service)) ?? [])] : [];
          }),
          factory.keysOf(keys.ports, (ev) => {
            const p = keys.parsePort(eventKey(ev));
            return p ? [...(consumers.get(serviceId(p.app, p.service)) ?? [])] : [];
          }),
          factory.keysOf(keys.links, (ev) => {
            const l = keys.parseLink(eventKey(ev));
            return l ? [manifestId(l.app, l.name)] : [];
          }),
        ],
        listKeys: async () =>
          (await store.list(keys.apps)).kvs.flatMap((kv) => {
            const m = keys.parseManifest(kv.key);
            return m ? [manifestId(m.app, m.name)] : [];
          }),
        resyncMs: config.resyncSeconds * 1000,
      });
    })
    .inSingletonScope();

  // The port allocator: manifests' links and `links/` in, `ports/` and `portalloc/` out.
  bind(PortAllocatorReconciler).toSelf().inSingletonScope();
  bind<Runnable>(TYPES.LeaderRunnable)
    .toDynamicValue((ctx) => {
      const keys = ctx.get<Keys>(TYPES.Keys);
      const config = ctx.get<Config>(TYPES.Config);
      const factory = ctx.get(ControllerFactory);
      const all = () => [PORTS_KEY];
      return factory.controller({
        name: 'port-allocator',
        reconciler: ctx.get(PortAllocatorReconciler),
        // Every change re-plans every port: one key, so the queue folds bursts into one run.
        sources: [keys.apps, keys.links, keys.ports, keys.portAllocs].map((prefix) => factory.keysOf(prefix, all)),
        listKeys: async () => all(),
        resyncMs: config.resyncSeconds * 1000,
        concurrency: 1,
      });
    })
    .inSingletonScope();
});
