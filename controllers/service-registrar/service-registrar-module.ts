import { ContainerModule } from 'inversify';
import { replicaId, type Keys } from '../../api/keys.js';
import { decodeRecord, EndpointRecord, ReplicaRecord } from '../../api/records.js';
import { NodeLease } from '../../src/agent/node-lease.js';
import type { Config } from '../../src/config.js';
import { allKeysOn, ControllerFactory, eventKey } from '../../src/controller/sources.js';
import type { KvStore } from '../../src/etcd/kv-store.js';
import { TYPES } from '../../src/ioc/tokens.js';
import type { Runnable } from '../../src/manager.js';
import { ServiceRegistrarReconciler } from './service-registrar-reconciler.js';

/** The service registrar, one per host: this host's `replicas/` in, `services/` endpoints out. */
export const serviceRegistrarModule = new ContainerModule(({ bind }) => {
  bind(ServiceRegistrarReconciler).toSelf().inSingletonScope();
  bind<Runnable>(TYPES.Runnable)
    .toDynamicValue((ctx) => {
      const keys = ctx.get<Keys>(TYPES.Keys);
      const store = ctx.get<KvStore>(TYPES.KvStore);
      const config = ctx.get<Config>(TYPES.Config);
      const lease = ctx.get(NodeLease);
      const factory = ctx.get(ControllerFactory);
      const node = config.node;
      // endpoint key -> replica id, so an endpoint deleted by someone else is put back.
      const endpointOwner = new Map<string, string>();

      const listKeys = async (): Promise<string[]> => {
        const [replicas, services] = await Promise.all([store.list(keys.replicas), store.list(keys.services)]);
        const ids = new Set<string>();
        for (const kv of replicas.kvs) {
          const r = decodeRecord(ReplicaRecord, kv.value);
          if (r?.node === node) ids.add(replicaId(r.app, r.name, r.replica));
        }
        for (const kv of services.kvs) {
          const e = decodeRecord(EndpointRecord, kv.value);
          if (e?.node === node) ids.add(replicaId(e.app, e.name, e.replica));
        }
        return [...ids];
      };

      return factory.controller({
        name: 'service-registrar',
        reconciler: ctx.get(ServiceRegistrarReconciler),
        sources: [
          // Deletes too: a record gone (even another host's) may leave our endpoints stale.
          factory.keysOf(keys.replicas, (ev) => {
            const r = keys.parseReplica(eventKey(ev));
            return r ? [replicaId(r.app, r.name, r.replica)] : [];
          }),
          factory.keysOf(keys.services, (ev) => {
            if (ev.type === 'put') {
              const e = decodeRecord(EndpointRecord, ev.kv.value);
              if (e?.node !== node) return [];
              const id = replicaId(e.app, e.name, e.replica);
              endpointOwner.set(ev.kv.key, id);
              return [id];
            }
            const id = endpointOwner.get(ev.key);
            endpointOwner.delete(ev.key);
            return id ? [id] : [];
          }),
          allKeysOn(lease.changes$, listKeys),
        ],
        listKeys,
        resyncMs: config.resyncSeconds * 1000,
      });
    })
    .inSingletonScope();
});
