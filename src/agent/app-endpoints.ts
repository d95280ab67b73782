import { inject, injectable } from 'inversify';
import { Subject, type Subscription } from 'rxjs';
import type { Keys } from '../../api/keys.js';
import type { Clock, TimerHandle } from '../clock.js';
import { InformerFactory } from '../informer/informer-factory.js';
import { BY_SERVICE, Resources, serviceEndpoints, type IndexedEndpoint } from '../informer/resources.js';
import type { SharedInformer } from '../informer/shared-informer.js';
import { TYPES } from '../ioc/tokens.js';

/** How long an app looked up by name (DNS) stays watched after its last lookup. */
export const LOOKUP_HOLD_MS = 10 * 60_000;
/** How long a lookup of an app not yet watched waits for its first listing before answering from what is there. */
export const LOOKUP_WAIT_MS = 2_000;

/** A change of the endpoints of one service of a held app. */
export interface EndpointsChange {
  app: string;
  service: string;
}

/**
 * The endpoints this host needs, by app, from the index by service (`service-endpoints/<app>/`):
 * a watch per app it needs, not one of every endpoint of the cluster, which at 1,000 hosts
 * would send every endpoint change to every host. Consumers hold the apps they need (the
 * ambassador: the apps its host's replicas link to; the router: the routed apps); a name
 * lookup (DNS) holds its app for LOOKUP_HOLD_MS after the last one. An app's informer is
 * acquired for its first holder and released after its last.
 */
@injectable()
export class AppEndpoints {
  private readonly holders = new Map<string, ReadonlySet<string>>();
  /** App -> until when a lookup holds it. */
  private readonly lookups = new Map<string, number>();
  private readonly held = new Map<string, { informer: SharedInformer<IndexedEndpoint>; subscription: Subscription }>();
  private sweep: { at: number; handle: TimerHandle } | undefined;
  private readonly changed = new Subject<EndpointsChange>();

  constructor(
    @inject(InformerFactory) private readonly factory: InformerFactory,
    @inject(TYPES.Keys) private readonly keys: Keys,
    @inject(TYPES.Clock) private readonly clock: Clock,
  ) {}

  /** Endpoint changes of the held apps, after their caches applied them; a released app's services too. */
  get changes(): Subject<EndpointsChange> {
    return this.changed;
  }

  /** The apps `holder` needs watched from now on (none: nothing any more). */
  hold(holder: string, apps: Iterable<string>): void {
    const set = new Set(apps);
    if (set.size === 0) this.holders.delete(holder);
    else this.holders.set(holder, set);
    this.sync();
  }

  /** Holds the app for a name lookup; resolves once its endpoints are listed, or after LOOKUP_WAIT_MS. */
  async lookup(app: string): Promise<void> {
    this.lookups.set(app, this.clock.now() + LOOKUP_HOLD_MS);
    this.sync();
    const informer = this.held.get(app)?.informer;
    if (!informer || informer.hasSynced()) return;
    let timer: TimerHandle | undefined;
    const waited = new Promise<void>((resolve) => (timer = this.clock.setTimeout(resolve, LOOKUP_WAIT_MS)));
    await Promise.race([informer.synced().catch(() => undefined), waited]);
    this.clock.clearTimeout(timer);
  }

  /** The endpoints of `app/service`, if the app is held (none otherwise). */
  endpoints(app: string, service: string): IndexedEndpoint[] {
    const informer = this.held.get(app)?.informer;
    return informer ? serviceEndpoints(informer, app, service) : [];
  }

  /** Whether a service of the app has an endpoint (the app held). */
  hasApp(app: string): boolean {
    return (this.held.get(app)?.informer.indexValues(BY_SERVICE).length ?? 0) > 0;
  }

  /** Whether every one of the apps is held and listed. */
  synced(apps: Iterable<string>): boolean {
    for (const app of apps) if (!this.held.get(app)?.informer.hasSynced()) return false;
    return true;
  }

  /** The apps watched now, sorted. */
  heldApps(): string[] {
    return [...this.held.keys()].sort();
  }

  /** Lets go of the apps held for lookups (the DNS server stops), not those another consumer holds. */
  endLookups(): void {
    this.lookups.clear();
    this.sync();
  }

  private sync(): void {
    const now = this.clock.now();
    for (const [app, until] of this.lookups) if (until <= now) this.lookups.delete(app);
    const wanted = new Set(this.lookups.keys());
    for (const apps of this.holders.values()) for (const app of apps) wanted.add(app);
    for (const [app, h] of this.held) {
      if (wanted.has(app)) continue;
      const services = h.informer.indexValues(BY_SERVICE);
      h.subscription.unsubscribe();
      // Released at once (its watch is cancelled in the background), then forgotten: apps come and go by name.
      void h.informer.release();
      this.factory.discard(h.informer.prefix);
      this.held.delete(app);
      for (const id of services) this.changed.next({ app, service: id.slice(app.length + 1) });
    }
    for (const app of wanted) {
      if (this.held.has(app)) continue;
      const informer = this.factory.informer(Resources.serviceEndpoints(this.keys, app));
      const subscription = informer.events.subscribe((ev) => {
        const at = (ev.type === 'put' ? ev.obj : ev.old).value.at;
        this.changed.next({ app: at.app, service: at.service });
      });
      informer.acquire();
      this.held.set(app, { informer, subscription });
    }
    this.scheduleSweep();
  }

  /** Wakes at the earliest end of a lookup's hold, to release the app. */
  private scheduleSweep(): void {
    const next = Math.min(...this.lookups.values());
    if (this.sweep && this.sweep.at <= next) return;
    if (this.sweep) this.clock.clearTimeout(this.sweep.handle);
    this.sweep = undefined;
    if (!Number.isFinite(next)) return;
    const handle = this.clock.setTimeout(() => {
      this.sweep = undefined;
      this.sync();
    }, Math.max(0, next - this.clock.now()));
    this.sweep = { at: next, handle };
  }
}
