import type { Keys } from './keys.js';
import * as t from 'io-ts';
import { decodeRecord } from './records.js';

/** Only the field that names the host: records written by older agents may lack newer fields. */
const NodeField = t.type({ node: t.string });
const SourceField = t.type({ source: t.string });

/**
 * Where a host-written key of the old layout (`replicas/`, `services/`, `events/`,
 * `prepulled/`) goes in the per-node layout. Pure: the key and its value decide. The host
 * comes from the record where the old key does not name it (a replica's and an endpoint's
 * `node`, an event's `source`). Undefined for a key of none of those sections, or one whose
 * record names no host (nothing to place it under: the migrator leaves it alone).
 */
export function migratedKey(keys: Keys, key: string, value: string): string | undefined {
  const old = keys.legacy;
  const replica = old.parseReplica(key);
  if (replica) {
    const r = decodeRecord(NodeField, value);
    return r ? keys.replica(r.node, replica.app, replica.name, replica.replica) : undefined;
  }
  const endpoint = old.parseEndpoint(key);
  if (endpoint) {
    const e = decodeRecord(NodeField, value);
    return e ? keys.endpoint(e.node, endpoint.app, endpoint.service, endpoint.endpoint) : undefined;
  }
  const event = old.parseEvent(key);
  if (event) {
    const e = decodeRecord(SourceField, value);
    return e ? keys.event(e.source, event.app, event.name, event.id) : undefined;
  }
  const prepulled = old.parsePrepulled(key);
  return prepulled ? keys.prepulledAnswer(prepulled.node, prepulled.app, prepulled.name) : undefined;
}
