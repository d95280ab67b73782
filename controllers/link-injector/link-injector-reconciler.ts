import { inject, injectable } from 'inversify';
import { canonicalJson } from '../../api/canonical-json.js';
import { parseManifestId, type Keys } from '../../api/keys.js';
import { decodeManifest } from '../../api/manifest.js';
import type { LinkRecord } from '../../api/records.js';
import type { Reconciler } from '../../src/controller/controller.js';
import type { KvStore } from '../../src/etcd/kv-store.js';
import { InformerFactory } from '../../src/informer/informer-factory.js';
import { Resources, serviceEndpoints, withoutAt, type Endpoint, type Link, type ManifestEntry, type Port, type Rollout } from '../../src/informer/resources.js';
import type { Cached, SharedInformer } from '../../src/informer/shared-informer.js';
import { TYPES } from '../../src/ioc/tokens.js';
import type { Logger } from '../../src/logging.js';
import { resolveLinks, type LinkedService } from './link-resolution.js';

/**
 * Resolves one manifest's (`app/name`) links into `links/<app>/<name>`: the ambassador
 * port of each linked service, which each host's node runner turns into env vars, for the
 * version the scheduler admitted. An invalid or forbidden revision keeps the last resolution.
 * Reads only the shared informers its controller watches (acquired and synced before a
 * reconcile): the manifest, the rollout (whose target is the admitted version), the link
 * ports, whether a service has an endpoint (by the endpoints' service index: endpoints sit
 * under each host's prefix) and the link record itself. Its own writes are applied to the
 * links cache at their revision (assume), so a reconcile right after one compares with it.
 * At 100,000 replicas the fresh reads this did (the manifest, the record, each port) were
 * a large share of etcd's range requests.
 */
@injectable()
export class LinkInjectorReconciler implements Reconciler {
  private readonly manifests: SharedInformer<ManifestEntry>;
  private readonly endpoints: SharedInformer<Endpoint>;
  private readonly rollouts: SharedInformer<Rollout>;
  private readonly ports: SharedInformer<Port>;
  private readonly links: SharedInformer<Link>;

  constructor(
    @inject(TYPES.KvStore) private readonly store: KvStore,
    @inject(TYPES.Keys) private readonly keys: Keys,
    @inject(InformerFactory) factory: InformerFactory,
  ) {
    this.manifests = factory.informer(Resources.manifests(keys));
    this.endpoints = factory.informer(Resources.endpoints(keys));
    this.rollouts = factory.informer(Resources.rollouts(keys));
    this.ports = factory.informer(Resources.ports(keys));
    this.links = factory.informer(Resources.links(keys));
  }

  async reconcile(id: string, log: Logger): Promise<void> {
    const { app, name } = parseManifestId(id);
    const linkKey = this.keys.link(app, name);
    const current = this.links.get(linkKey);
    if (!this.manifests.get(this.keys.manifest(app, name))) return this.remove(current);
    // The version the scheduler admitted (its rollout's target), not the manifest key: a
    // revision that does not decode or that the policy forbids changes no link, so the
    // containers of the version that runs keep their environment. None admitted yet: wait.
    const target = this.rollouts.get(this.keys.rollout(app, name))?.value.target;
    if (!target) return;
    const decoded = decodeManifest(target.manifest, app, name);
    if (!decoded.ok) return;
    if (decoded.spec.links.length === 0) return this.remove(current);
    const service = (l: { app: string; service: string }): LinkedService => {
      const port = this.ports.get(this.keys.port(l.app, l.service))?.value;
      return { port: port && { port: port.port, protocol: port.protocol }, hasEndpoint: serviceEndpoints(this.endpoints, l.app, l.service).length > 0 };
    };
    const previous = current && withoutAt(current.value);
    const resolved = resolveLinks(decoded.spec.links, service, previous?.links ?? {});
    const record: LinkRecord = { ...resolved, revision: target.revision };
    const value = canonicalJson(record);
    if (previous && canonicalJson(previous) === value) return;
    const revision = await this.store.putAt(linkKey, value);
    this.links.assume({ type: 'put', kv: { key: linkKey, value, modRevision: revision, lease: '0' }, value: { ...record, at: { app, name } } });
    log.info('links resolved', { links: Object.fromEntries(Object.entries(resolved.links).map(([k, l]) => [k, l.port])), missing: resolved.missing });
  }

  /** Deletes a link record no longer wanted, if it is still the one read. */
  private async remove(current: Cached<Link> | undefined): Promise<void> {
    if (!current) return;
    await this.links.deleteAt(current.key, current.modRevision);
  }
}
