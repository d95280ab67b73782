import { inject, injectable } from 'inversify';
import { asapScheduler, auditTime, filter, map, merge, mergeMap, type Observable } from 'rxjs';
import { manifestId, type Keys } from '../../api/keys.js';
import type { RouterConfig } from '../../api/records.js';
import { conflictMessages, hasWebService, routedManifest, routerDomain, routeTable, type RoutedManifest } from '../../api/routes.js';
import type { SyncedCache } from '../../src/controller/controller.js';
import { InformerFactory } from '../../src/informer/informer-factory.js';
import { Resources, type ManifestEntry } from '../../src/informer/resources.js';
import type { InformerEvent, SharedInformer } from '../../src/informer/shared-informer.js';
import { TYPES } from '../../src/ioc/tokens.js';

/**
 * Which manifests lose a host name to an earlier one, for their status: the route table
 * every router computes (api/routes.ts), from the shared `apps/` informer (decoded specs and
 * create revisions) and `router/config` (the domain). The table is computed once per change,
 * not per reconcile. `changes` names the manifests whose conflicts a change altered (both
 * the one that lost a name and the one that got it back), so a status is rewritten without
 * re-queuing every web manifest on every apply.
 */
@injectable()
export class RouteConflicts implements SyncedCache {
  private readonly manifests: SharedInformer<ManifestEntry>;
  private readonly config: SharedInformer<RouterConfig & { at: string }>;
  /** Conflict messages by manifest id (only those with some); undefined when a change made it stale. */
  private current: Map<string, string[]> | undefined;
  /** What `changes` last compared against. */
  private told = new Map<string, string[]>();
  /** Ids of manifests whose conflict messages changed, after the informers applied the change. */
  readonly changes: Observable<string>;

  constructor(@inject(InformerFactory) factory: InformerFactory, @inject(TYPES.Keys) keys: Keys) {
    this.manifests = factory.informer(Resources.manifests(keys));
    this.config = factory.informer(Resources.routerConfig(keys));
    const stale = () => (this.current = undefined);
    this.manifests.events.subscribe(stale);
    this.config.events.subscribe(stale);
    const web = (ev: InformerEvent<ManifestEntry>) => (ev.type === 'put' && hasWebService(ev.obj.value.result)) || (ev.old !== undefined && hasWebService(ev.old.value.result));
    this.changes = merge(this.manifests.events.pipe(filter(web)), this.config.events).pipe(
      // One comparison per burst (a listing applies many keys at once), after it is applied.
      auditTime(0, asapScheduler),
      map(() => this.compare()),
      mergeMap((ids) => ids),
    );
  }

  acquire(): void {
    this.current = undefined;
    this.told = new Map();
    this.manifests.acquire();
    this.config.acquire();
  }

  async release(): Promise<void> {
    await Promise.all([this.manifests.release(), this.config.release()]);
  }

  async synced(): Promise<void> {
    await Promise.all([this.manifests.synced(), this.config.synced()]);
  }

  /** The messages for the status of `app/name` (empty: it holds every name it claims). */
  messagesFor(app: string, name: string): string[] {
    return this.table().get(manifestId(app, name)) ?? [];
  }

  private table(): Map<string, string[]> {
    if (this.current) return this.current;
    const routed = this.manifests.list().flatMap((c) => routedManifest(c.value.app, c.value.name, c.createRevision, c.value.result) ?? ([] as RoutedManifest[]));
    const { conflicts } = routeTable(routed, routerDomain(this.config.list()[0]?.value));
    const byManifest = new Map<string, string[]>();
    for (const c of conflicts) {
      const id = manifestId(c.app, c.name);
      if (!byManifest.has(id)) byManifest.set(id, conflictMessages(conflicts, c.app, c.name));
    }
    return (this.current = byManifest);
  }

  private compare(): string[] {
    const now = this.table();
    const before = this.told;
    this.told = now;
    const ids = new Set([...before.keys(), ...now.keys()]);
    return [...ids].filter((id) => (before.get(id) ?? []).join('\n') !== (now.get(id) ?? []).join('\n'));
  }
}
