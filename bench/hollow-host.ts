import 'reflect-metadata';
import { join } from 'node:path';
import type { Container } from 'inversify';
import { AGENT_MODULES, buildContainer } from '../cli/process-container.js';
import { SystemClock, type Clock } from '../src/clock.js';
import type { Config } from '../src/config.js';
import type { EngineInfo } from '../src/docker/container-engine.js';
import { MemoryEngine, type MemoryEngineDelays } from '../src/docker/memory-engine.js';
import type { KvStore } from '../src/etcd/kv-store.js';
import { InformerFactory, type ResourceSpec } from '../src/informer/informer-factory.js';
import type { SharedInformer } from '../src/informer/shared-informer.js';
import { TYPES } from '../src/ioc/tokens.js';
import type { Logger } from '../src/logging.js';
import { Manager } from '../src/manager.js';

/**
 * A hollow host (kubemark's hollow node for Dokkaa): the real agent, built from the same
 * modules as `dokkaa agent` (node lease, allocation reporter, node runner with its
 * executor, prober and fence, volume keeper, prepull, service registrar, ambassador, DNS
 * server, web router), with only the edges swapped:
 *
 * - the Docker engine is a MemoryEngine (LAB.md's measured delays, events);
 * - the etcd client is shared by the hosts of one process (closing it is the process's);
 * - informers of cluster-wide prefixes (replicas, endpoints, ports, links...) are shared by
 *   the hosts of one process when `sharedWatches` (see HollowInformerFactory), per host
 *   otherwise; a host's own prefixes (its placements, sealed copies) are always its own;
 * - what touches the machine for real is off: link-port listeners (bookkeeping only), the
 *   DNS server (port 0), the web router (ports 0); state and secret files go to a scratch dir.
 */

export interface HollowHostOptions {
  node: string;
  /** What the node record advertises (never dialled: the engine is in memory). */
  address: string;
  etcd: string[];
  prefix: string;
  store: KvStore;
  /** The process's informers of cluster-wide prefixes; undefined: every host watches on its own. */
  shared?: InformerFactory;
  leaseTtlSeconds: number;
  resyncSeconds: number;
  /** Scratch directory: `<dir>/state/<node>`, `<dir>/secrets/<node>`. */
  dir: string;
  log: Logger;
  capacity: EngineInfo;
  delays?: Partial<MemoryEngineDelays>;
  labels?: Record<string, string>;
  clock?: Clock;
}

export interface HollowHost {
  node: string;
  engine: MemoryEngine;
  container: Container;
  manager: Manager;
}

export function hollowConfig(o: HollowHostOptions): Config {
  return {
    etcd: o.etcd,
    prefix: o.prefix,
    docker: 'memory://hollow',
    node: o.node,
    address: o.address,
    labels: o.labels ?? {},
    leaseTtlSeconds: o.leaseTtlSeconds,
    resyncSeconds: o.resyncSeconds,
    logLevel: o.log.level,
    fence: true,
    dnsPort: 0,
    routerHttpPort: 0,
    routerHttpsPort: 0,
    linkListeners: false,
    splice: 'off',
    tcpCongestion: 'system',
    stateDir: join(o.dir, 'state'),
    secretsDir: join(o.dir, 'secrets'),
  };
}

/**
 * A host's informers: its own for prefixes under its node name, the process's shared ones
 * for cluster-wide prefixes. A shared informer starts with its first consumer and stops with
 * its last (SharedInformer's acquire/release), so hosts come and go independently.
 */
export class HollowInformerFactory extends InformerFactory {
  constructor(
    store: KvStore,
    clock: Clock,
    log: Logger,
    private readonly node: string,
    private readonly shared: InformerFactory,
  ) {
    super(store, clock, log);
  }

  override informer<T>(spec: ResourceSpec<T>): SharedInformer<T> {
    return isNodePrefix(spec.prefix, this.node) ? super.informer(spec) : this.shared.informer(spec);
  }

  override discard(prefix: string): void {
    if (isNodePrefix(prefix, this.node)) super.discard(prefix);
    else this.shared.discard(prefix);
  }
}

/** Whether a prefix is one node's own (`.../<node>/...` or ending in `/<node>`). */
export function isNodePrefix(prefix: string, node: string): boolean {
  return prefix.split('/').includes(node);
}

/** Builds a hollow host; `manager.start()` starts it. */
export function hollowHost(o: HollowHostOptions): HollowHost {
  const clock = o.clock ?? new SystemClock();
  const container = buildContainer(hollowConfig(o), o.log, AGENT_MODULES);
  const engine = new MemoryEngine({ clock, ...(o.delays ? { delays: o.delays } : {}), info: o.capacity, bridgeGateway: '172.17.0.1' });
  container.rebind(TYPES.KvStore).toConstantValue(o.store);
  container.rebind(TYPES.ContainerEngine).toConstantValue(engine);
  if (o.shared) container.rebind(InformerFactory).toConstantValue(new HollowInformerFactory(o.store, clock, o.log, o.node, o.shared));
  return { node: o.node, engine, container, manager: container.get(Manager) };
}
