import { serviceId } from '../../api/keys.js';
import type { InformerCache, InformerEvent } from '../../src/informer/shared-informer.js';
import { BY_LINK_TARGET, BY_SERVICE, type Endpoint, entryId, type ManifestEntry, type Port } from '../../src/informer/resources.js';

/**
 * The link injector's map functions: which manifests to reconcile for a change. Pure: they
 * read the event and the manifests' cache (its index of link targets), nothing else.
 */

/** The manifests that link to `app/service`. */
export function consumersOf(manifests: InformerCache<ManifestEntry>, app: string, service: string): string[] {
  return manifests.byIndex(BY_LINK_TARGET, serviceId(app, service)).map(entryId);
}

/**
 * An endpoint came or went: the manifests linking to its service, if the service now has
 * its first endpoint or has lost its last (a resolution only says whether it has any). Told
 * after the cache applied the change, so the index counts it. Every other endpoint change
 * (the 99 other replicas of a service registering) would be a reconcile that changes
 * nothing, for every consumer.
 */
export function endpointConsumers(manifests: InformerCache<ManifestEntry>, endpoints: InformerCache<Endpoint>, ev: InformerEvent<Endpoint>): string[] {
  if (ev.type === 'put' && ev.old) return [];
  const at = (ev.type === 'put' ? ev.obj : ev.old).value.at;
  const now = endpoints.byIndex(BY_SERVICE, serviceId(at.app, at.service)).length;
  if (ev.type === 'put' ? now !== 1 : now !== 0) return [];
  return consumersOf(manifests, at.app, at.service);
}

/** A service's link port was allocated, changed or freed: the manifests linking to it. */
export function portConsumers(manifests: InformerCache<ManifestEntry>, ev: InformerEvent<Port>): string[] {
  const at = (ev.type === 'put' ? ev.obj : ev.old).value.at;
  return consumersOf(manifests, at.app, at.service);
}
