import { readFile } from 'node:fs/promises';
import { inject, injectable } from 'inversify';
import type { Subscription } from 'rxjs';
import { endpointDnsLabel } from '../../api/dns-names.js';
import { serviceId, type Keys } from '../../api/keys.js';
import { NodeLease } from '../../src/agent/node-lease.js';
import { DEFAULT_DNS_PORT, type Config } from '../../src/config.js';
import { ControllerFactory } from '../../src/controller/controller-factory.js';
import { Resources } from '../../src/informer/resources.js';
import { TYPES } from '../../src/ioc/tokens.js';
import { errorField, type Logger } from '../../src/logging.js';
import type { Runnable } from '../../src/runnable.js';
import type { DnsDirectory, DnsEndpoint } from './dns-answers.js';
import { DnsResponder, resolvConfServers } from './dns-responder.js';

/**
 * The DNS server for this host's containers (the node runner makes it their resolver): on
 * the Docker bridge gateway, port `--dns-port` (53; 0 turns it off), it answers A and SRV
 * for `<service>.<app>.dokkaa.local` from the `node-endpoints/` watch and forwards other names to
 * the host's resolvers (`--dns-upstream`, else /etc/resolv.conf). If it cannot bind, start
 * fails and the manager retries with backoff.
 */
@injectable()
export class DnsServer implements Runnable, DnsDirectory {
  readonly name = 'dns-server';
  private responder: DnsResponder | undefined;
  private subscription: Subscription | undefined;
  /** `app/service` -> endpoint key -> endpoint. */
  private readonly services = new Map<string, Map<string, DnsEndpoint>>();
  private readonly apps = new Map<string, number>();
  private readonly log: Logger;

  constructor(
    @inject(ControllerFactory) private readonly factory: ControllerFactory,
    @inject(NodeLease) private readonly lease: NodeLease,
    @inject(TYPES.Keys) private readonly keys: Keys,
    @inject(TYPES.Config) private readonly config: Config,
    @inject(TYPES.Logger) log: Logger,
  ) {
    this.log = log.child({ component: 'dns-server' });
  }

  endpoints(app: string, service: string): DnsEndpoint[] {
    return [...(this.services.get(serviceId(app, service))?.values() ?? [])].sort((a, b) => (a.label < b.label ? -1 : 1));
  }

  hasApp(app: string): boolean {
    return (this.apps.get(app) ?? 0) > 0;
  }

  async start(): Promise<void> {
    const port = this.config.dnsPort ?? DEFAULT_DNS_PORT;
    if (port === 0 || this.responder) return;
    const address = this.lease.containerGateway();
    // As before on an engine without a bridge: the node's address, which other hosts reach too.
    if (!this.lease.bridgeGateway()) this.log.warn('no container bridge gateway: DNS listens on the node address, reachable from other hosts', { address, port });
    const upstreams = this.config.dnsUpstream ?? resolvConfServers(await readFile('/etc/resolv.conf', 'utf8').catch(() => ''), [address]);
    const responder = new DnsResponder(this, {
      upstreams,
      onError: (what, err) => this.log.warn('dns error', { what, error: errorField(err) }),
    });
    try {
      await responder.listen(address, port);
    } catch (err) {
      await responder.close();
      throw err;
    }
    this.responder = responder;
    const informer = this.factory.informer(Resources.endpoints(this.keys));
    this.subscription = informer.withCurrent().subscribe((ev) => {
      const key = ev.key;
      const at = (ev.type === 'put' ? ev.obj : ev.old).value.at;
      const id = serviceId(at.app, at.service);
      const endpoints = this.services.get(id) ?? new Map<string, DnsEndpoint>();
      const had = endpoints.size;
      if (ev.type === 'put') {
        const e = ev.obj.value;
        endpoints.set(key, { label: endpointDnsLabel(e.name, e.replica, e.node), host: e.host, port: e.port });
      } else endpoints.delete(key);
      if (endpoints.size > 0) this.services.set(id, endpoints);
      else this.services.delete(id);
      // Count services with endpoints per app, so `<app>.dokkaa.local` exists while it has any.
      const delta = (endpoints.size > 0 ? 1 : 0) - (had > 0 ? 1 : 0);
      if (delta !== 0) this.apps.set(at.app, (this.apps.get(at.app) ?? 0) + delta);
    });
    informer.acquire();
    this.log.info('serving DNS', { address, port, upstreams });
  }

  async stop(): Promise<void> {
    if (this.subscription) await this.factory.informer(Resources.endpoints(this.keys)).release();
    this.subscription?.unsubscribe();
    this.subscription = undefined;
    await this.responder?.close();
    this.responder = undefined;
    this.services.clear();
    this.apps.clear();
  }
}
