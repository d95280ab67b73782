import { inject, injectable } from 'inversify';
import { canonicalJson } from '../../api/canonical-json.js';
import { parseManifestId, serviceId, type Keys } from '../../api/keys.js';
import { decodeManifest } from '../../api/manifest.js';
import { decodeRecord, LinkRecord, parsePortRecord, RolloutRecord } from '../../api/records.js';
import type { Reconciler } from '../../src/controller/controller.js';
import type { KvStore } from '../../src/etcd/kv-store.js';
import { TYPES } from '../../src/ioc/tokens.js';
import { invalidRecord, type Logger } from '../../src/logging.js';
import { resolveLinks, type LinkedService } from './link-resolution.js';
import { listMatching } from '../../src/etcd/list-matching.js';

/**
 * Resolves one manifest's (`app/name`) links into `links/<app>/<name>`: the ambassador
 * port of each linked service, which each host's node runner turns into env vars, for the
 * version the scheduler admitted. An invalid or forbidden revision keeps the last resolution.
 */
@injectable()
export class LinkInjectorReconciler implements Reconciler {
  constructor(
    @inject(TYPES.KvStore) private readonly store: KvStore,
    @inject(TYPES.Keys) private readonly keys: Keys,
  ) {}

  async reconcile(id: string, log: Logger): Promise<void> {
    const { app, name } = parseManifestId(id);
    const linkKey = this.keys.link(app, name);
    const [manifest, current, rolloutKv] = await Promise.all([this.store.get(this.keys.manifest(app, name)), this.store.get(linkKey), this.store.get(this.keys.rollout(app, name))]);
    if (!manifest) {
      if (current) await this.store.delete(linkKey);
      return;
    }
    // The version the scheduler admitted (its rollout's target), not the manifest key: a
    // revision that does not decode or that the policy forbids changes no link, so the
    // containers of the version that runs keep their environment. None admitted yet: wait.
    const target = decodeRecord(RolloutRecord, rolloutKv?.value, invalidRecord(log, this.keys.rollout(app, name)))?.target;
    if (!target) return;
    const decoded = decodeManifest(target.manifest, app, name);
    if (!decoded.ok) return;
    if (decoded.spec.links.length === 0) {
      if (current) await this.store.delete(linkKey);
      return;
    }
    const services = new Map<string, LinkedService>();
    for (const link of decoded.spec.links) {
      const [port, endpoints] = await Promise.all([
        this.store.get(this.keys.port(link.app, link.service)),
        listMatching(this.store, this.keys.endpoints, (k) => this.keys.parseEndpoint(k), (at) => at.app === link.app && at.service === link.service),
      ]);
      services.set(serviceId(link.app, link.service), { port: parsePortRecord(port?.value), hasEndpoint: endpoints.length > 0 });
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
