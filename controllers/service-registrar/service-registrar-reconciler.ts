import { inject, injectable } from 'inversify';
import { canonicalJson } from '../../api/canonical-json.js';
import { parseReplicaId, type Keys } from '../../api/keys.js';
import { decodeRecord, EndpointRecord, ReplicaRecord } from '../../api/records.js';
import { NodeLease } from '../../src/agent/node-lease.js';
import type { Reconciler } from '../../src/controller/controller.js';
import type { KvStore } from '../../src/etcd/kv-store.js';
import { TYPES } from '../../src/ioc/tokens.js';
import { invalidRecord, type Logger } from '../../src/logging.js';

/**
 * Publishes where one replica (`app/name/replica`) of this host serves: an endpoint per
 * service while the replica is ready, none otherwise. Endpoints hang on the host's lease.
 * (The controllers mirror them as SkyDNS records: controllers/dns-records.)
 */
@injectable()
export class ServiceRegistrarReconciler implements Reconciler {
  constructor(
    @inject(TYPES.KvStore) private readonly store: KvStore,
    @inject(TYPES.Keys) private readonly keys: Keys,
    @inject(NodeLease) private readonly lease: NodeLease,
  ) {}

  async reconcile(id: string, log: Logger): Promise<void> {
    const { app, name, replica } = parseReplicaId(id);
    const node = this.lease.node;
    const [recordKv, existing] = await Promise.all([
      this.store.get(this.keys.replica(node, app, name, replica)),
      this.store.list(this.keys.nodeAppEndpoints(node, app)),
    ]);
    const record = decodeRecord(ReplicaRecord, recordKv?.value, invalidRecord(log, this.keys.replica(node, app, name, replica)));
    const desired = new Map<string, string>();
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
        desired.set(this.keys.endpoint(node, app, service, this.keys.endpointId(name, replica, node)), canonicalJson(endpoint));
      }
    }
    const lease = this.lease.id();
    const ownEndpoints = existing.kvs.filter((kv) => {
      const e = decodeRecord(EndpointRecord, kv.value);
      return e?.node === node && e.name === name && e.replica === replica;
    });
    for (const kv of ownEndpoints) {
      if (!desired.has(kv.key)) {
        await this.store.deleteIfModRevision(kv.key, kv.modRevision);
        log.info('endpoint removed', { endpoint: kv.key });
      }
    }
    for (const [key, value] of desired) {
      const kv = ownEndpoints.find((e) => e.key === key);
      if (kv && kv.value === value && kv.lease === lease) continue;
      await this.store.put(key, value, { lease });
      log.info('endpoint registered', { endpoint: key });
    }
  }
}
