import { readFile } from 'node:fs/promises';
import { inject, injectable } from 'inversify';
import { endpointDnsLabel } from '../../api/dns-names.js';
import { serviceId, type Keys } from '../../api/keys.js';
import { NodeLease } from '../../src/agent/node-lease.js';
import { DEFAULT_DNS_PORT, type Config } from '../../src/config.js';
import { ControllerFactory } from '../../src/controller/controller-factory.js';
import { BY_SERVICE, Resources, serviceEndpoints, type Endpoint } from '../../src/informer/resources.js';
import type { SharedInformer } from '../../src/informer/shared-informer.js';
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
  /** The agent's shared endpoints informer, while serving: answers read its index, so the host keeps no copy of every endpoint. */
  private informer: SharedInformer<Endpoint> | undefined;
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
    if (!this.informer) return [];
    return serviceEndpoints(this.informer, app, service)
      .map((e) => ({ label: endpointDnsLabel(e.name, e.replica, e.node), host: e.host, port: e.port }))
      .sort((a, b) => (a.label < b.label ? -1 : 1));
  }

  /** `<app>.dokkaa.local` exists while a service of the app has an endpoint (the index drops services without). */
  hasApp(app: string): boolean {
    const prefix = serviceId(app, '');
    return this.informer?.indexValues(BY_SERVICE).some((id) => id.startsWith(prefix)) ?? false;
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
    this.informer = this.factory.informer(Resources.endpoints(this.keys));
    this.informer.acquire();
    this.log.info('serving DNS', { address, port, upstreams });
  }

  async stop(): Promise<void> {
    const informer = this.informer;
    this.informer = undefined;
    await informer?.release();
    await this.responder?.close();
    this.responder = undefined;
  }
}
