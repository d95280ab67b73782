import { replicaId } from '../../api/keys.js';
import type { Endpoint } from '../../src/informer/resources.js';
import type { InformerEvent } from '../../src/informer/shared-informer.js';

/**
 * The replica that owns an endpoint of this host, for a change of it: a put, or a delete
 * (the informer hands over the last record, so no index of owners is kept). Other hosts'
 * endpoints are theirs to keep.
 */
export function endpointOwner(node: string, ev: InformerEvent<Endpoint>): string[] {
  const e = (ev.type === 'put' ? ev.obj : ev.old).value;
  return e.node === node ? [replicaId(e.app, e.name, e.replica)] : [];
}
