import { serviceId } from '../../api/keys.js';
import type { InformerCache, InformerEvent } from '../../src/informer/shared-informer.js';
import { BY_LINK_TARGET, type Endpoint, entryId, type ManifestEntry, type Port } from '../../src/informer/resources.js';

/**
 * The link injector's map functions: which manifests to reconcile for a change. Pure: they
 * read the event and the manifests' cache (its index of link targets), nothing else.
 */

/** The manifests that link to `app/service`. */
export function consumersOf(manifests: InformerCache<ManifestEntry>, app: string, service: string): string[] {
  return manifests.byIndex(BY_LINK_TARGET, serviceId(app, service)).map(entryId);
}

/** An endpoint came, changed or went: the manifests linking to its service. */
export function endpointConsumers(manifests: InformerCache<ManifestEntry>, ev: InformerEvent<Endpoint>): string[] {
  const at = (ev.type === 'put' ? ev.obj : ev.old).value.at;
  return consumersOf(manifests, at.app, at.service);
}

/** A service's link port was allocated, changed or freed: the manifests linking to it. */
export function portConsumers(manifests: InformerCache<ManifestEntry>, ev: InformerEvent<Port>): string[] {
  const at = (ev.type === 'put' ? ev.obj : ev.old).value.at;
  return consumersOf(manifests, at.app, at.service);
}
