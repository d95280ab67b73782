import { inject, injectable, optional } from 'inversify';
import { filter, map, merge, type Subscription } from 'rxjs';
import { parseServiceId, serviceId, type Keys } from '../../api/keys.js';
import type { PortRecord } from '../../api/records.js';
import { backoffDelay, type Clock, type TimerHandle } from '../../src/clock.js';
import { ControllerFactory } from '../../src/controller/controller-factory.js';
import { Resources, type NodePlacement, type Port } from '../../src/informer/resources.js';
import type { InformerEvent, SharedInformer } from '../../src/informer/shared-informer.js';
import { AppEndpoints } from '../../src/agent/app-endpoints.js';
import { HostCaches } from '../../src/agent/host-caches.js';
import { NodeLease } from '../../src/agent/node-lease.js';
import { TYPES } from '../../src/ioc/tokens.js';
import { errorField, type Logger } from '../../src/logging.js';
import type { Runnable } from '../../src/runnable.js';
import { DEFAULT_TCP_CONGESTION, type Config, type SpliceMode } from '../../src/config.js';
import { EndpointPicker, type Upstream } from './endpoint-picker.js';
import { CongestionControl } from './congestion.js';
import { loadSplicePump, SplicePump, type NativePump } from './splice-pump.js';
import { TcpForwarder } from './tcp-forwarder.js';
import { UdpForwarder } from './udp-forwarder.js';

const ANY_ADDRESS = '0.0.0.0';

interface Listener {
  id: string;
  protocol: PortRecord['protocol'];
  forwarder: TcpForwarder | UdpForwarder | undefined;
  attempt: number;
  retry: TimerHandle | undefined;
}

/**
 * The ambassador, one per host: for every allocated link port (`ports/`) it listens on
 * <bridge gateway>:<port> in the agent's network namespace (where this host's containers,
 * and nothing beyond the host, reach it; every address only on an engine without a bridge,
 * with a warning) and forwards each connection (TCP) or
 * client (UDP) to one of the service's current endpoints, round-robin, skipping endpoints
 * that refuse. Both come from etcd watches: nothing is looked up per connection. Of the
 * endpoints it watches only the apps this host's replicas link to (AppEndpoints; without
 * the host's placements, in unit tests, every app with a link port). A port it cannot bind
 * (in use on this host) is retried with backoff. Bytes of established TCP connections move
 * in the kernel (one splice pump for all ports) unless `--splice off` or the native module
 * is missing; its own sockets use `--tcp-congestion`.
 */
@injectable()
export class Ambassador implements Runnable {
  readonly name = 'ambassador';
  private subscription: Subscription | undefined;
  /** `app/service` -> its link port. */
  private readonly ports = new Map<string, PortRecord>();
  private readonly pickers = new Map<string, EndpointPicker>();
  /** port -> what listens there. */
  private readonly listeners = new Map<number, Listener>();
  private readonly log: Logger;
  private pump: SplicePump | undefined;
  private congestion: CongestionControl | undefined;
  private listenHost = ANY_ADDRESS;

  constructor(
    @inject(ControllerFactory) private readonly factory: ControllerFactory,
    @inject(TYPES.Keys) private readonly keys: Keys,
    @inject(TYPES.Clock) private readonly clock: Clock,
    @inject(TYPES.Logger) log: Logger,
    @inject(TYPES.Config) private readonly config: Pick<Config, 'splice' | 'tcpCongestion' | 'linkListeners'>,
    @inject(AppEndpoints) private readonly appEndpoints: AppEndpoints,
    // Absent in unit tests, which listen on every address.
    @inject(NodeLease) @optional() private readonly lease?: Pick<NodeLease, 'bridgeGateway'>,
    @inject(HostCaches) @optional() private readonly host?: Pick<HostCaches, 'placements'>,
  ) {
    this.log = log.child({ component: 'ambassador' });
  }

  async start(): Promise<void> {
    if (this.subscription) return;
    const mode = this.config.splice ?? 'auto';
    const algorithm = this.config.tcpCongestion ?? DEFAULT_TCP_CONGESTION;
    const native = this.loadNative(mode, algorithm);
    this.pump = native && mode !== 'off' ? new SplicePump(native) : undefined;
    this.congestion = native && algorithm !== 'system' ? this.congestionControl(native, algorithm) : undefined;
    this.listenHost = this.listenAddress();
    this.log.info('data path', { dataPath: this.pump ? 'splice' : 'copy', tcpCongestion: this.congestion?.algorithm ?? 'system' });
    const ports = this.portsInformer();
    this.subscription = merge(
      ports.withCurrent().pipe(map((ev) => () => this.onPort(ev))),
      this.appEndpoints.changes.pipe(map((c) => () => this.pickers.get(serviceId(c.app, c.service))?.changed())),
      // Only a placement whose links differ from its last version's changes the apps linked to.
      ...(this.host ? [this.host.placements.withCurrent().pipe(filter(linksChanged), map(() => () => this.holdLinked()))] : []),
    ).subscribe((apply) => apply());
    ports.acquire();
    this.host?.placements.acquire();
  }

  /** The apps this host's replicas link to: their endpoints are the ones its containers reach. */
  private holdLinked(): void {
    if (!this.host) return;
    this.appEndpoints.hold(this.name, linkedApps(this.host.placements.list().map((c) => c.value)));
  }

  /** The bridge gateway; every address (as before) when the engine has none, which a host's other interfaces then expose. */
  private listenAddress(): string {
    if (!this.lease) return ANY_ADDRESS;
    const gateway = this.lease.bridgeGateway();
    if (gateway) return gateway;
    this.log.warn('no container bridge gateway: link ports listen on every address of the host, reachable from other hosts', { address: ANY_ADDRESS });
    return ANY_ADDRESS;
  }

  /** The agent's shared informer of link ports. */
  private portsInformer(): SharedInformer<Port> {
    return this.factory.informer(Resources.ports(this.keys));
  }

  async stop(): Promise<void> {
    if (this.subscription) {
      this.appEndpoints.hold(this.name, []);
      await Promise.all([this.portsInformer().release(), this.host?.placements.release()]);
    }
    this.subscription?.unsubscribe();
    this.subscription = undefined;
    const closing = [...this.listeners.keys()].map((port) => this.close(port));
    await Promise.all(closing);
    // After the forwarders: each takes its connections back from the pump before closing them.
    this.pump?.close();
    this.pump = undefined;
    this.congestion = undefined;
    this.ports.clear();
    this.pickers.clear();
  }

  /** The native module, when splicing or the congestion control needs it. */
  private loadNative(mode: SpliceMode, algorithm: string): NativePump | undefined {
    if (mode === 'off' && algorithm === 'system') return undefined;
    const native = loadSplicePump();
    if (!(native instanceof Error)) return native;
    if (mode === 'on') throw native;
    const lost = [mode === 'off' ? undefined : 'copying connections in Node instead of splicing them', algorithm === 'system' ? undefined : `its sockets keep the host's congestion control instead of ${algorithm}`];
    this.log.error(`ambassador without its native module: ${lost.filter(Boolean).join('; ')} (less throughput)`, { error: errorField(native) });
    return undefined;
  }

  private congestionControl(native: NativePump, algorithm: string): CongestionControl {
    return new CongestionControl(native, algorithm, (error) =>
      this.log.warn(`the kernel refused TCP congestion control ${algorithm} for the ambassador's sockets: they keep the host's default`, {
        error,
        hint: 'ENOENT: not built into this kernel (modprobe tcp_<name>); EPERM: not in net.ipv4.tcp_allowed_congestion_control; not tried again until the agent restarts',
      }),
    );
  }

  private onPort(ev: InformerEvent<Port>): void {
    const at = (ev.type === 'put' ? ev.obj : ev.old).value.at;
    const id = serviceId(at.app, at.service);
    if (ev.type === 'put') this.ports.set(id, { port: ev.obj.value.port, protocol: ev.obj.value.protocol === 'udp' ? 'udp' : 'tcp' });
    else this.ports.delete(id);
    this.syncListeners();
    if (!this.host) this.appEndpoints.hold(this.name, [...this.ports.keys()].map((k) => parseServiceId(k)!.app));
  }

  private picker(id: string): EndpointPicker {
    let picker = this.pickers.get(id);
    if (!picker) {
      // Endpoints are read from the app's index when a connection needs them; a change only marks the picker.
      picker = new EndpointPicker();
      const { app, service } = parseServiceId(id)!;
      picker.follow(() => this.appEndpoints.endpoints(app, service));
      this.pickers.set(id, picker);
    }
    return picker;
  }

  private syncListeners(): void {
    const wanted = new Map([...this.ports].map(([id, r]) => [r.port, { id, protocol: r.protocol }]));
    for (const [port, l] of this.listeners) {
      const w = wanted.get(port);
      if (!w || w.id !== l.id || w.protocol !== l.protocol) void this.close(port);
    }
    for (const [port, w] of wanted) {
      if (!this.listeners.has(port)) {
        const l: Listener = { ...w, forwarder: undefined, attempt: 0, retry: undefined };
        this.listeners.set(port, l);
        void this.open(port, l);
      }
    }
    // Pickers of services that no longer have a port are not needed.
    const ids = new Set([...this.ports.keys()]);
    for (const id of [...this.pickers.keys()]) if (!ids.has(id)) this.pickers.delete(id);
  }

  private async open(port: number, l: Listener): Promise<void> {
    if (this.config.linkListeners === false) return; // bookkeeping only (hollow hosts)
    const onEndpointFailed = (u: Upstream, err: Error) =>
      this.log.warn('endpoint failed; trying the next', { service: l.id, port, endpoint: `${u.host}:${u.port}`, error: errorField(err) });
    const forwarder = l.protocol === 'udp' ? new UdpForwarder(this.picker(l.id), { onEndpointFailed }) : new TcpForwarder(this.picker(l.id), { onEndpointFailed, pump: this.pump, tuneSocket: this.congestion?.apply });
    try {
      await forwarder.listen(port, this.listenHost);
    } catch (err) {
      await forwarder.close().catch(() => undefined);
      if (this.listeners.get(port) !== l) return;
      const delay = backoffDelay(l.attempt++, 1_000, 30_000);
      this.log.warn('cannot listen on link port; retrying', { service: l.id, port, protocol: l.protocol, retryInMs: delay, error: errorField(err) });
      l.retry = this.clock.setTimeout(() => {
        l.retry = undefined;
        if (this.listeners.get(port) === l) void this.open(port, l);
      }, delay);
      return;
    }
    if (this.listeners.get(port) !== l) {
      // Released while binding.
      await forwarder.close();
      return;
    }
    l.forwarder = forwarder;
    this.log.info('listening', { service: l.id, address: this.listenHost, port, protocol: l.protocol });
  }

  private async close(port: number): Promise<void> {
    const l = this.listeners.get(port);
    if (!l) return;
    this.listeners.delete(port);
    if (l.retry !== undefined) this.clock.clearTimeout(l.retry);
    if (l.forwarder) {
      await l.forwarder.close().catch(() => undefined);
      this.log.info('stopped listening', { service: l.id, port });
    }
  }
}

/** The apps of the services these placements link to. */
export function linkedApps(placements: readonly Pick<NodePlacement, 'spec'>[]): string[] {
  return [...new Set(placements.flatMap((p) => p.spec.links.map((l) => l.app)))].sort();
}

/** Whether a change of a placement changes the apps it links to (a new one, a deleted one, other links). */
function linksChanged(ev: InformerEvent<NodePlacement>): boolean {
  const apps = (p: NodePlacement | undefined) => (p ? linkedApps([p]).join(' ') : '');
  return ev.type === 'delete' ? apps(ev.old.value) !== '' : apps(ev.obj.value) !== apps(ev.old?.value);
}
