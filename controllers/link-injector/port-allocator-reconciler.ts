import { inject, injectable } from 'inversify';
import { canonicalJson } from '../../api/canonical-json.js';
import { parseServiceId, serviceId, type Keys } from '../../api/keys.js';
import { parsePortRecord, type PortRecord } from '../../api/records.js';
import { DEFAULT_LINK_PORTS, type Config } from '../../src/config.js';
import type { Reconciler } from '../../src/controller/controller.js';
import type { KvStore, TxnCondition, TxnOp } from '../../src/etcd/kv-store.js';
import { InformerFactory } from '../../src/informer/informer-factory.js';
import { Resources, type Link, type ManifestEntry } from '../../src/informer/resources.js';
import type { SharedInformer } from '../../src/informer/shared-informer.js';
import { TYPES } from '../../src/ioc/tokens.js';
import type { Logger } from '../../src/logging.js';
import { planPorts, wantedPorts, type AllocEntry, type PortAction, type PortEntry } from './port-plan.js';

/** The allocator's only queue key: it plans every port at once, from one reading. */
export const PORTS_KEY = 'ports';

/**
 * Allocates a link port (`ports/<app>/<service>` + `portalloc/<port>`) to every service
 * something links to, and releases the ports nothing links to any more. Each change is one
 * transaction conditioned on the keys being as read, so two allocators (a leader and a
 * deposed one) never hand out a port twice: the loser's transaction fails and it retries
 * from a fresh reading.
 */
@injectable()
export class PortAllocatorReconciler implements Reconciler {
  private readonly manifests: SharedInformer<ManifestEntry>;
  private readonly links: SharedInformer<Link>;

  constructor(
    @inject(TYPES.KvStore) private readonly store: KvStore,
    @inject(TYPES.Keys) private readonly keys: Keys,
    @inject(TYPES.Config) private readonly config: Config,
    @inject(InformerFactory) factory: InformerFactory,
  ) {
    this.manifests = factory.informer(Resources.manifests(keys));
    this.links = factory.informer(Resources.links(keys));
  }

  async reconcile(_key: string, log: Logger): Promise<void> {
    // What is wanted from the caches, decoded once (any change to them runs this again); not
    // a listing of every manifest per run, which with large manifests outlasted the etcd
    // call deadline again and again and stopped link ports cluster-wide (found by fuzzing).
    await Promise.all([this.manifests.synced(), this.links.synced()]);
    // In key order, as etcd lists them: the first manifest providing a service names its protocol.
    const manifests = this.manifests.list().sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const wanted = wantedPorts(manifests.map((c) => c.value), this.links.list().map((c) => c.value));
    // `portalloc/` strictly before `ports/`, fresh (the transactions are conditioned on
    // them): a pair created in between then shows as a record without its reverse key (whose
    // repair fails harmlessly), never as a free port or as a reverse key without its record
    // (which would be dropped).
    const allocs = await this.store.list(this.keys.portAllocs);
    const ports = await this.store.list(this.keys.ports);
    const portEntries: PortEntry[] = ports.kvs.flatMap((kv) => {
      const at = this.keys.parsePort(kv.key);
      return at ? [{ id: serviceId(at.app, at.service), record: parsePortRecord(kv.value), modRevision: kv.modRevision }] : [];
    });
    const allocEntries: AllocEntry[] = allocs.kvs.flatMap((kv) => {
      const port = this.keys.parsePortAlloc(kv.key);
      return port !== undefined ? [{ port, id: kv.value, modRevision: kv.modRevision }] : [];
    });
    const plan = planPorts(wanted, portEntries, allocEntries, this.config.linkPorts ?? DEFAULT_LINK_PORTS);
    for (const action of plan.actions) {
      const { conditions, ops } = this.transaction(action);
      if (!(await this.store.txn(conditions, ops))) {
        // Someone else changed these keys since the reading: plan again from a fresh one.
        throw new Error(`link port ${action.kind} lost a race; retrying`);
      }
      log.info('link port changed', { ...action });
    }
    if (plan.exhausted.length > 0) {
      const range = this.config.linkPorts ?? DEFAULT_LINK_PORTS;
      throw new Error(`no free link port in ${range.min}-${range.max} for ${plan.exhausted.join(', ')}`);
    }
  }

  private transaction(a: PortAction): { conditions: TxnCondition[]; ops: TxnOp[] } {
    const portKey = (id: string) => {
      const s = parseServiceId(id)!;
      return this.keys.port(s.app, s.service);
    };
    const value = (port: number, protocol: PortRecord['protocol']) => canonicalJson({ port, protocol } satisfies PortRecord);
    switch (a.kind) {
      case 'allocate':
        return {
          conditions: [{ key: portKey(a.id), modRevision: 0 }, { key: this.keys.portAlloc(a.port), modRevision: 0 }],
          ops: [
            { type: 'put', key: portKey(a.id), value: value(a.port, a.protocol) },
            { type: 'put', key: this.keys.portAlloc(a.port), value: a.id },
          ],
        };
      case 'repair':
        return {
          conditions: [{ key: portKey(a.id), modRevision: a.portModRevision }, { key: this.keys.portAlloc(a.port), modRevision: 0 }],
          ops: [{ type: 'put', key: this.keys.portAlloc(a.port), value: a.id }],
        };
      case 'protocol':
        return {
          conditions: [{ key: portKey(a.id), modRevision: a.portModRevision }],
          ops: [{ type: 'put', key: portKey(a.id), value: value(a.port, a.protocol) }],
        };
      case 'release':
        return {
          conditions: [
            { key: portKey(a.id), modRevision: a.portModRevision },
            ...(a.alloc ? [{ key: this.keys.portAlloc(a.alloc.port), modRevision: a.alloc.modRevision }] : []),
          ],
          ops: [{ type: 'delete', key: portKey(a.id) }, ...(a.alloc ? [{ type: 'delete' as const, key: this.keys.portAlloc(a.alloc.port) }] : [])],
        };
      case 'drop-alloc':
        return {
          conditions: [{ key: this.keys.portAlloc(a.port), modRevision: a.modRevision }],
          ops: [{ type: 'delete', key: this.keys.portAlloc(a.port) }],
        };
    }
  }
}

