import { inject, injectable } from 'inversify';
import { canonicalJson } from '../../api/canonical-json.js';
import { parseManifestId, serviceId, type Keys } from '../../api/keys.js';
import { decodeManifest } from '../../api/manifest.js';
import { decodeRecord, LinkRecord, parsePortRecord } from '../../api/records.js';
import type { Reconciler } from '../../src/controller/controller.js';
import type { KvStore } from '../../src/etcd/kv-store.js';
import { InformerFactory } from '../../src/informer/informer-factory.js';
import { Resources, serviceEndpoints, type Endpoint, type Rollout } from '../../src/informer/resources.js';
import type { SharedInformer } from '../../src/informer/shared-informer.js';
import { TYPES } from '../../src/ioc/tokens.js';
import { invalidRecord, type Logger } from '../../src/logging.js';
import { resolveLinks, type LinkedService } from './link-resolution.js';

/**
 * Resolves one manifest's (`app/name`) links into `links/<app>/<name>`: the ambassador
 * port of each linked service, which each host's node runner turns into env vars, for the
 * version the scheduler admitted. An invalid or forbidden revision keeps the last resolution.
 * Whether a service has an endpoint comes from the shared `endpoints` informer (by its
 * service index: endpoints sit under each host's prefix, so a listing would read every
 * host's), the admitted version from the shared `rollouts` informer (its changes of target
 * queue the manifest); the rest fresh.
 */
@injectable()
export class LinkInjectorReconciler implements Reconciler {
  /** Every host's endpoints (the controller watches it, so it is acquired and synced before a reconcile). */
  private readonly endpoints: SharedInformer<Endpoint>;
  /** Every manifest's rollout, whose target is the admitted version (watched by the controller too). */
  private readonly rollouts: SharedInformer<Rollout>;

  constructor(
    @inject(TYPES.KvStore) private readonly store: KvStore,
    @inject(TYPES.Keys) private readonly keys: Keys,
    @inject(InformerFactory) factory: InformerFactory,
  ) {
    this.endpoints = factory.informer(Resources.endpoints(keys));
    this.rollouts = factory.informer(Resources.rollouts(keys));
  }

  async reconcile(id: string, log: Logger): Promise<void> {
    const { app, name } = parseManifestId(id);
    const linkKey = this.keys.link(app, name);
    const [manifest, current] = await Promise.all([this.store.get(this.keys.manifest(app, name)), this.store.get(linkKey)]);
    if (!manifest) {
      if (current) await this.store.delete(linkKey);
      return;
    }
    // The version the scheduler admitted (its rollout's target), not the manifest key: a
    // revision that does not decode or that the policy forbids changes no link, so the
    // containers of the version that runs keep their environment. None admitted yet: wait.
    const target = this.rollouts.get(this.keys.rollout(app, name))?.value.target;
    if (!target) return;
    const decoded = decodeManifest(target.manifest, app, name);
    if (!decoded.ok) return;
    if (decoded.spec.links.length === 0) {
      if (current) await this.store.delete(linkKey);
      return;
    }
    const services = new Map<string, LinkedService>();
    for (const link of decoded.spec.links) {
      const port = await this.store.get(this.keys.port(link.app, link.service));
      services.set(serviceId(link.app, link.service), { port: parsePortRecord(port?.value), hasEndpoint: serviceEndpoints(this.endpoints, link.app, link.service).length > 0 });
    }
    const previous = decodeRecord(LinkRecord, current?.value, invalidRecord(log, linkKey));
    const resolved = resolveLinks(
      decoded.spec.links,
      (l) => services.get(serviceId(l.app, l.service)) ?? { port: undefined, hasEndpoint: false },
      previous?.links ?? {},
    );
    const record: LinkRecord = { ...resolved, revision: target.revision };
    const value = canonicalJson(record);
    if (current?.value === value) return;
    await this.store.put(linkKey, value);
    log.info('links resolved', { links: Object.fromEntries(Object.entries(resolved.links).map(([k, l]) => [k, l.port])), missing: resolved.missing });
  }
}
