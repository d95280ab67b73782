import { nameCovers } from '../../api/certificates.js';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { inject, injectable } from 'inversify';
import { merge, type Subscription } from 'rxjs';
import type { Keys } from '../../api/keys.js';
import { isHostName } from '../../api/names.js';
import { DEFAULT_ROUTER_DOMAIN } from '../../api/records.js';
import { routedManifest, routeTable, type RoutedManifest } from '../../api/routes.js';
import { AppEndpoints } from '../../src/agent/app-endpoints.js';
import { NodeLease } from '../../src/agent/node-lease.js';
import { backoffDelay, type Clock, type TimerHandle } from '../../src/clock.js';
import { DEFAULT_ROUTER_DIR, DEFAULT_ROUTER_HTTP_PORT, DEFAULT_ROUTER_HTTPS_PORT, type Config } from '../../src/config.js';
import { ControllerFactory } from '../../src/controller/controller-factory.js';
import { EventRecorder } from '../../src/events/event-recorder.js';
import { Resources } from '../../src/informer/resources.js';
import { TYPES } from '../../src/ioc/tokens.js';
import { errorField, type Logger } from '../../src/logging.js';
import type { Runnable } from '../../src/runnable.js';
import { certProblem, pemBundle } from './cert-check.js';
import { haproxyConfig, listens, type RoutedService } from './haproxy-config.js';
import { HaproxyPaths, HaproxyProcess, type HaproxyFiles } from './haproxy-process.js';

/** Changes closer together than this make one reload (a scale-up registers endpoints one by one). */
export const ROUTER_DEBOUNCE_MS = 100;

/**
 * The web router, one per host: haproxy on the host's address (`--router-http-port`,
 * `--router-https-port`) routes each web service's host names (api/routes.ts, with the domain
 * of `router/config`) to its ready endpoints, wherever they run, and serves the certificates
 * of `certs/` by SNI. It follows three shared informers (admitted web manifests, certificates,
 * router config) and the endpoints of the routed apps (AppEndpoints); changes are debounced,
 * the config rendered (haproxy-config.ts, pure), and handed to haproxy only when it or a
 * certificate changed: a change of endpoints alone through the runtime API, anything else by
 * a reload (haproxy-process.ts). A certificate that does
 * not parse or whose key is not its own is reported once (log, and a Warning event on each
 * manifest it would have served) and left out; the others keep being served.
 */
@injectable()
export class Router implements Runnable {
  readonly name = 'router';
  private readonly log: Logger;
  private subscription: Subscription | undefined;
  private timer: TimerHandle | undefined;
  private proc: HaproxyProcess | undefined;
  private paths: HaproxyPaths | undefined;
  /** The files last handed to haproxy (as one string): what a change is compared with. */
  private last: string | undefined;
  /** Certificate key -> the mod revision already reported as unusable. */
  private readonly reported = new Map<string, number>();
  private badDomainReported: string | undefined;
  /** Consecutive applies that failed: the retry's backoff. */
  private failures = 0;
  constructor(
    @inject(ControllerFactory) private readonly factory: ControllerFactory,
    @inject(NodeLease) private readonly lease: NodeLease,
    @inject(EventRecorder) private readonly events: EventRecorder,
    @inject(TYPES.Keys) private readonly keys: Keys,
    @inject(TYPES.Clock) private readonly clock: Clock,
    @inject(TYPES.Config) private readonly config: Config,
    @inject(TYPES.Logger) log: Logger,
    @inject(AppEndpoints) private readonly appEndpoints: AppEndpoints,
  ) {
    this.log = log.child({ component: 'router' });
  }

  private get ports(): { httpPort: number; httpsPort: number } {
    return { httpPort: this.config.routerHttpPort ?? DEFAULT_ROUTER_HTTP_PORT, httpsPort: this.config.routerHttpsPort ?? DEFAULT_ROUTER_HTTPS_PORT };
  }

  private informers() {
    return {
      // The admitted versions (controllers/route-publisher), not the manifests themselves.
      routes: this.factory.informer(Resources.routes(this.keys)),
      certs: this.factory.informer(Resources.certs(this.keys)),
      routerConfig: this.factory.informer(Resources.routerConfig(this.keys)),
    };
  }

  async start(): Promise<void> {
    const { httpPort, httpsPort } = this.ports;
    if ((httpPort === 0 && httpsPort === 0) || this.subscription) return;
    this.paths = new HaproxyPaths(join(this.config.routerDir ?? DEFAULT_ROUTER_DIR, this.config.node));
    this.proc = new HaproxyProcess({ paths: this.paths, clock: this.clock, log: this.log });
    const i = this.informers();
    this.subscription = merge(i.routes.events, this.appEndpoints.changes, i.certs.events, i.routerConfig.events).subscribe(() => this.schedule());
    for (const informer of Object.values(i)) informer.acquire();
    this.log.info('router started', { address: this.lease.address(), httpPort, httpsPort, dir: this.paths.dir });
    this.schedule();
  }

  async stop(): Promise<void> {
    if (!this.subscription) return;
    this.subscription.unsubscribe();
    this.subscription = undefined;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.appEndpoints.hold(this.name, []);
    await Promise.all(Object.values(this.informers()).map((informer) => informer.release()));
    await this.proc?.stop();
    this.proc = undefined;
    this.last = undefined;
  }

  private schedule(delayMs = ROUTER_DEBOUNCE_MS): void {
    if (this.timer !== undefined || !this.subscription) return;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      void this.sync();
    }, delayMs);
  }

  /** Renders from the caches and hands haproxy what changed. Never throws. */
  private async sync(): Promise<void> {
    const proc = this.proc;
    if (!proc || !this.subscription) return;
    const i = this.informers();
    // Nothing from a half-filled cache: a missing manifest would be a 404 for a while.
    if (!Object.values(i).every((informer) => informer.hasSynced())) return this.schedule();
    const table = this.routes();
    // The endpoints of the routed apps only; none rendered before they are listed.
    const apps = new Set(table.map((r) => r.app));
    this.appEndpoints.hold(this.name, apps);
    if (!this.appEndpoints.synced(apps)) return this.schedule();
    const rendered = this.render(table);
    const files = rendered?.files;
    const text = files && JSON.stringify(files);
    if (text === this.last) return;
    this.last = text;
    try {
      if (!files) {
        await proc.stop();
        this.log.info('router idle: nothing to listen on');
        return;
      }
      const how = await proc.apply(files);
      this.failures = 0;
      this.log.info('router config applied', { routes: rendered!.routes, certificates: files.certs.length, how });
    } catch (err) {
      // Tried again after a backoff; meanwhile haproxy keeps serving what it had.
      this.last = undefined;
      const retryInMs = backoffDelay(this.failures++, 1_000, 30_000);
      this.log.error('router config not applied', { retryInMs, error: errorField(err) });
      this.schedule(retryInMs);
    }
  }

  /** The routes of the admitted web manifests, with the router domain. */
  private routes(): ReturnType<typeof routeTable>['routes'] {
    const manifests: RoutedManifest[] = this.informers()
      .routes.list()
      .flatMap((c) => routedManifest(c.value.at.app, c.value.at.name, c.value.createRevision, c.value.result) ?? []);
    return routeTable(manifests, this.domain()).routes;
  }

  /** What haproxy should serve now; undefined when it has nothing to listen on. */
  private render(table: ReturnType<typeof routeTable>['routes']): { files: HaproxyFiles; routes: number } | undefined {
    const i = this.informers();
    const paths = this.paths!;
    const routes: RoutedService[] = table.map((r) => ({
      ...r,
      endpoints: this.appEndpoints
        .endpoints(r.app, r.service)
        .filter((e) => e.name === r.name && e.protocol === 'tcp' && isIP(e.host) !== 0)
        .map((e) => ({ host: e.host, port: e.port })),
    }));
    const certList = i.certs.list();
    for (const key of [...this.reported.keys()]) if (!certList.some((c) => c.key === key)) this.reported.delete(key);
    const certs = certList.flatMap((c) => {
      const problem = isHostName(c.value.at) ? certProblem(c.value) : 'its key is not a host name';
      if (!problem) {
        this.reported.delete(c.key);
        return [{ host: c.value.at.toLowerCase(), pem: pemBundle(c.value) }];
      }
      this.report(c.key, c.modRevision, c.value.at, problem, routes);
      return [];
    });
    const { httpPort, httpsPort } = this.ports;
    const certFiles = certs.map((c) => ({ host: c.host, file: paths.cert(c.host) }));
    if (!listens({ certs: certFiles, httpPort, httpsPort })) return undefined;
    const config = haproxyConfig({ routes, certs: certFiles, crtListFile: paths.crtList, statsSocket: paths.statsSocket, address: this.lease.address(), httpPort, httpsPort });
    return { files: { config, certs }, routes: routes.length };
  }

  private domain(): string {
    const domain = this.informers().routerConfig.get(this.keys.routerConfig)?.value.domain?.toLowerCase();
    if (domain === undefined) return DEFAULT_ROUTER_DOMAIN;
    if (isHostName(`x.${domain}`) && !domain.startsWith('*')) return domain;
    if (this.badDomainReported !== domain) {
      this.badDomainReported = domain;
      this.log.error('router domain is not a DNS name; using the default', { domain, default: DEFAULT_ROUTER_DOMAIN });
    }
    return DEFAULT_ROUTER_DOMAIN;
  }

  /** Once per certificate revision: a log line, and a Warning on each manifest whose host it was for. */
  private report(key: string, modRevision: number, host: string, problem: string, routes: readonly RoutedService[]): void {
    if (this.reported.get(key) === modRevision) return;
    this.reported.set(key, modRevision);
    this.log.error('certificate not served', { key, host, problem });
    const manifests = new Map(routes.filter((r) => nameCovers(host, r.host)).map((r) => [`${r.app}/${r.name}`, r]));
    for (const r of manifests.values()) {
      void this.events.record(r.app, r.name, { type: 'Warning', reason: 'BadCertificate', message: `certificate for ${host} not served: ${problem}`, node: this.config.node });
    }
  }
}
