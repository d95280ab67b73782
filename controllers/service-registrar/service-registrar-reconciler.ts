import { inject, injectable } from 'inversify';
import { canonicalJson } from '../../api/canonical-json.js';
import { parseReplicaId, replicaId, type Keys } from '../../api/keys.js';
import type { EndpointRecord } from '../../api/records.js';
import { HostCaches } from '../../src/agent/host-caches.js';
import { NodeLease } from '../../src/agent/node-lease.js';
import type { Reconciler } from '../../src/controller/controller.js';
import type { KvStore } from '../../src/etcd/kv-store.js';
import { BY_REPLICA, withoutAt } from '../../src/informer/resources.js';
import { TYPES } from '../../src/ioc/tokens.js';
import type { Logger } from '../../src/logging.js';

/**
 * Publishes where one replica (`app/name/replica`) of this host serves: an endpoint per
 * service while the replica is ready, none otherwise. Endpoints hang on the host's lease.
 * (The controllers mirror them as SkyDNS records: controllers/dns-records.)
 *
 * Reads the replica's record and this host's endpoints from the agent's informers
 * (HostCaches; its controller watches both, synced before it reconciles, and a reconcile
 * waits for HostCaches.ready). Endpoints are this host's alone: each write or delete is
 * applied to their cache as soon as etcd committed it (assume), so a reconcile right after
 * one compares with it, not with what the watch has brought so far.
 */
@injectable()
export class ServiceRegistrarReconciler implements Reconciler {
  constructor(
    @inject(TYPES.KvStore) private readonly store: KvStore,
    @inject(TYPES.Keys) private readonly keys: Keys,
    @inject(NodeLease) private readonly lease: NodeLease,
    @inject(HostCaches) private readonly caches: HostCaches,
  ) {}

  async reconcile(id: string, log: Logger): Promise<void> {
    const { app, name, replica } = parseReplicaId(id);
    await this.caches.ready();
    const node = this.lease.node;
    const record = this.caches.records.get(this.keys.replica(node, app, name, replica))?.value;
    const desired = new Map<string, EndpointRecord>();
    // Only ready replicas (running and passing their health check) receive traffic; during a
    // start-first update, the previous container serves until the new one is ready.
    const serving = record?.serving ?? (record?.state === 'running' && record.ready && record.containerId ? { containerId: record.containerId, ports: record.ports } : undefined);
    if (record && record.node === node && serving) {
      for (const [service, port] of Object.entries(serving.ports)) {
        const endpoint: EndpointRecord = {
          host: record.address,
          port: port.hostPort,
          protocol: port.protocol,
          node,
          app,
          name,
          replica,
          containerId: serving.containerId,
        };
        desired.set(this.keys.endpoint(node, app, service, this.keys.endpointId(name, replica, node)), endpoint);
      }
    }
    const lease = this.lease.id();
    const ownEndpoints = this.caches.endpoints.byIndex(BY_REPLICA, replicaId(app, name, replica)).filter((c) => c.value.node === node);
    for (const c of ownEndpoints) {
      if (!desired.has(c.key)) {
        await this.caches.endpoints.deleteAt(c.key, c.modRevision);
        log.info('endpoint removed', { endpoint: c.key });
      }
    }
    for (const [key, endpoint] of desired) {
      const value = canonicalJson(endpoint);
      const c = ownEndpoints.find((e) => e.key === key);
      if (c && canonicalJson(withoutAt(c.value)) === value && c.lease === lease) continue;
      const revision = await this.store.putAt(key, value, { lease });
      const at = this.keys.parseEndpoint(key);
      if (at) this.caches.endpoints.assume({ type: 'put', kv: { key, value, modRevision: revision, lease }, value: { ...endpoint, at } });
      log.info('endpoint registered', { endpoint: key });
    }
  }
}
