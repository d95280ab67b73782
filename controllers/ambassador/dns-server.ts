import { readFile } from 'node:fs/promises';
import { inject, injectable } from 'inversify';
import { endpointDnsLabel } from '../../api/dns-names.js';
import { AppEndpoints } from '../../src/agent/app-endpoints.js';
import { NodeLease } from '../../src/agent/node-lease.js';
import { DEFAULT_DNS_PORT, type Config } from '../../src/config.js';
import { TYPES } from '../../src/ioc/tokens.js';
import { errorField, type Logger } from '../../src/logging.js';
import type { Runnable } from '../../src/runnable.js';
import type { DnsDirectory, DnsEndpoint } from './dns-answers.js';
import { DnsResponder, resolvConfServers } from './dns-responder.js';

/**
 * The DNS server for this host's containers (the node runner makes it their resolver): on
 * the Docker bridge gateway, port `--dns-port` (53; 0 turns it off), it answers A and SRV
 * for `<service>.<app>.dokkaa.local` from the endpoints of the app (AppEndpoints: a name's
 * app is watched from its first lookup until 10 minutes after its last) and forwards other names to
 * the host's resolvers (`--dns-upstream`, else /etc/resolv.conf). If it cannot bind, start
 * fails and the manager retries with backoff.
 */
@injectable()
export class DnsServer implements Runnable, DnsDirectory {
  readonly name = 'dns-server';
  private responder: DnsResponder | undefined;
  private readonly log: Logger;

  constructor(
    @inject(NodeLease) private readonly lease: NodeLease,
    @inject(TYPES.Config) private readonly config: Config,
    @inject(TYPES.Logger) log: Logger,
    @inject(AppEndpoints) private readonly appEndpoints: AppEndpoints,
  ) {
    this.log = log.child({ component: 'dns-server' });
  }

  /** Watches the app of a name asked for, until its endpoints are listed (the answer reads them). */
  prepare(app: string): Promise<void> {
    return this.responder ? this.appEndpoints.lookup(app) : Promise.resolve();
  }

  endpoints(app: string, service: string): DnsEndpoint[] {
    if (!this.responder) return [];
    return this.appEndpoints
      .endpoints(app, service)
      .map((e) => ({ label: endpointDnsLabel(e.name, e.replica, e.node), host: e.host, port: e.port }))
      .sort((a, b) => (a.label < b.label ? -1 : 1));
  }

  /** `<app>.dokkaa.local` exists while a service of the app has an endpoint. */
  hasApp(app: string): boolean {
    return this.responder !== undefined && this.appEndpoints.hasApp(app);
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
    this.log.info('serving DNS', { address, port, upstreams });
  }

  async stop(): Promise<void> {
    this.appEndpoints.endLookups();
    await this.responder?.close();
    this.responder = undefined;
  }
}
