import { ContainerModule } from 'inversify';
import { filter, map } from 'rxjs';
import { manifestId, replicaId, type Keys } from '../../api/keys.js';
import { parseRecord, type ReplicaRecord } from '../../api/records.js';
import { NodeLease } from '../../src/agent/node-lease.js';
import type { Config } from '../../src/config.js';
import { allKeysOn, ControllerFactory, eventKey } from '../../src/controller/sources.js';
import type { ContainerEngine } from '../../src/docker/container-engine.js';
import type { KvStore } from '../../src/etcd/kv-store.js';
import { TYPES } from '../../src/ioc/tokens.js';
import type { Runnable } from '../../src/manager.js';
import { LABEL } from './container-template.js';
import { NodeRunnerReconciler } from './node-runner-reconciler.js';
import { ReplicaExecutor } from './replica-executor.js';
import { PartitionFence } from './partition-fence.js';
import { HealthProber } from './health-prober.js';

/** The node runner: this host's placements and containers in, containers and `replicas/` out. */
export const nodeRunnerModule = new ContainerModule(({ bind }) => {
  bind(NodeRunnerReconciler).toSelf().inSingletonScope();
  bind(ReplicaExecutor).toSelf().inSingletonScope();
  bind(HealthProber).toSelf().inSingletonScope();
  bind(PartitionFence).toSelf().inSingletonScope();
  bind(TYPES.Runnable).toService(PartitionFence);
  bind<Runnable>(TYPES.Runnable)
    .toDynamicValue((ctx) => {
      const keys = ctx.get<Keys>(TYPES.Keys);
      const store = ctx.get<KvStore>(TYPES.KvStore);
      const engine = ctx.get<ContainerEngine>(TYPES.ContainerEngine);
      const config = ctx.get<Config>(TYPES.Config);
      const lease = ctx.get(NodeLease);
      const factory = ctx.get(ControllerFactory);
      const node = config.node;
      const mineLabels = { [LABEL.managed]: 'true', [LABEL.cluster]: keys.root, [LABEL.node]: node };
      // manifest -> replica ids placed here, so a link change reaches its replicas.
      const placed = new Map<string, Set<string>>();

      const listKeys = async (): Promise<string[]> => {
        const [placements, containers, replicas] = await Promise.all([
          store.list(keys.nodePlacements(node)),
          engine.list(mineLabels),
          store.list(keys.replicas),
        ]);
        const ids = new Set<string>();
        for (const kv of placements.kvs) {
          const p = keys.parsePlacement(kv.key);
          if (p) ids.add(replicaId(p.app, p.name, p.replica));
        }
        for (const c of containers) ids.add(replicaId(c.labels[LABEL.app]!, c.labels[LABEL.name]!, Number(c.labels[LABEL.replica])));
        for (const kv of replicas.kvs) {
          const r = parseRecord<ReplicaRecord>(kv.value);
          if (r?.node === node) ids.add(replicaId(r.app, r.name, r.replica));
        }
        return [...ids];
      };

      const controller = factory.controller({
        name: 'node-runner',
        reconciler: ctx.get(NodeRunnerReconciler),
        sources: [
          factory.keysOf(keys.nodePlacements(node), (ev) => {
            const p = keys.parsePlacement(eventKey(ev));
            if (!p) return [];
            const id = replicaId(p.app, p.name, p.replica);
            const set = placed.get(manifestId(p.app, p.name)) ?? new Set<string>();
            if (ev.type === 'put') set.add(id);
            else set.delete(id);
            placed.set(manifestId(p.app, p.name), set);
            return [id];
          }),
          factory.keysOf(keys.links, (ev) => {
            const l = keys.parseLink(eventKey(ev));
            return l ? [...(placed.get(manifestId(l.app, l.name)) ?? [])] : [];
          }),
          engine.events(mineLabels).pipe(
            filter((ev) => ev.labels[LABEL.app] !== undefined && ev.labels[LABEL.replica] !== undefined),
            map((ev) => replicaId(ev.labels[LABEL.app]!, ev.labels[LABEL.name]!, Number(ev.labels[LABEL.replica]))),
          ),
          // A new lease means every record must be written again under it.
          allKeysOn(lease.changes$, listKeys),
        ],
        listKeys,
        resyncMs: config.resyncSeconds * 1000,
      });
      // A health verdict that changes is a reason to reconcile that replica.
      ctx.get(HealthProber).setListener((id) => controller.enqueue(id));
      return controller;
    })
    .inSingletonScope();
});
