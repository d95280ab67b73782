import { replicaId } from '../../api/keys.js';
import { BY_REPLICA, replicaOf, type Endpoint, type Replica } from '../../src/informer/resources.js';
import type { InformerCache, InformerEvent } from '../../src/informer/shared-informer.js';

/**
 * The registrar's map functions: which of this host's replicas to reconcile for a change.
 * Pure: they read the event and the endpoints' cache, nothing else.
 */

/**
 * The replica that owns an endpoint of this host, for a change of it: a put, or a delete
 * (the informer hands over the last record, so no index of owners is kept). Other hosts'
 * endpoints are theirs to keep.
 */
export function endpointOwner(node: string, ev: InformerEvent<Endpoint>): string[] {
  const e = (ev.type === 'put' ? ev.obj : ev.old).value;
  return e.node === node ? [replicaId(e.app, e.name, e.replica)] : [];
}

/**
 * A replica record changed: this host's concern if the record says (or said) it runs here,
 * or if this host still has endpoints of that replica (the replica moved, or its record went):
 * another host's replicas are not, so an agent's work does not grow with the cluster.
 */
export function replicaConcerns(node: string, endpoints: InformerCache<Endpoint>, ev: InformerEvent<Replica>): string[] {
  const id = replicaOf(ev.type === 'put' ? ev.obj : ev.old);
  const said = ev.type === 'put' ? [ev.obj, ev.old] : [ev.old];
  if (said.some((r) => r?.value.node === node)) return [id];
  return endpoints.byIndex(BY_REPLICA, id).some((e) => e.value.node === node) ? [id] : [];
}
