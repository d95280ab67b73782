import { inject, injectable } from 'inversify';
import { canonicalJson } from '../../api/canonical-json.js';
import { parseManifestId, type Keys } from '../../api/keys.js';
import type { Reconciler } from '../../src/controller/controller.js';
import type { KvStore } from '../../src/etcd/kv-store.js';
import { InformerFactory } from '../../src/informer/informer-factory.js';
import { Resources, type ManifestEntry, type Rollout, type Routes } from '../../src/informer/resources.js';
import type { InformerCache } from '../../src/informer/shared-informer.js';
import { TYPES } from '../../src/ioc/tokens.js';
import type { Logger } from '../../src/logging.js';
import { planRoutes } from './routes-plan.js';

/**
 * Publishes one manifest's (`app/name`) admitted web version in `routes/<app>/<name>`, which
 * every host's router serves (controllers/router): a revision the scheduler did not admit
 * changes no route, as it starts no container.
 */
@injectable()
export class RoutePublisherReconciler implements Reconciler {
  readonly manifests: InformerCache<ManifestEntry>;
  readonly rollouts: InformerCache<Rollout>;
  readonly routes: InformerCache<Routes>;

  constructor(
    @inject(TYPES.KvStore) private readonly store: KvStore,
    @inject(TYPES.Keys) private readonly keys: Keys,
    @inject(InformerFactory) factory: InformerFactory,
  ) {
    this.manifests = factory.informer(Resources.manifests(keys));
    this.rollouts = factory.informer(Resources.rollouts(keys));
    this.routes = factory.informer(Resources.routes(keys));
  }

  async reconcile(id: string, log: Logger): Promise<void> {
    const { app, name } = parseManifestId(id);
    const key = this.keys.route(app, name);
    const current = this.routes.get(key);
    const decision = planRoutes(app, name, this.manifests.get(this.keys.manifest(app, name)), this.rollouts.get(this.keys.rollout(app, name))?.value);
    if (decision.kind === 'delete' && current) {
      await this.store.deleteIfModRevision(key, current.modRevision);
      log.info('routes withdrawn');
    } else if (decision.kind === 'put') {
      const value = canonicalJson(decision.record);
      if (current && canonicalJson({ manifest: current.value.manifest, revision: current.value.revision, createRevision: current.value.createRevision }) === value) return;
      await this.store.put(key, value);
      log.info('routes published', { revision: decision.record.revision });
    }
  }
}
