import type { KeyValue, KvStore } from './kv-store.js';

/**
 * The keys of one section whose parsed key `match`es: the records of one manifest or one
 * service, which sit under every host's own prefix (`node-replicas/<node>/...`), read with
 * one range over the section.
 */
export async function listMatching<K>(store: Pick<KvStore, 'list'>, section: string, parse: (key: string) => K | undefined, match: (at: K) => boolean): Promise<KeyValue[]> {
  return (await store.list(section)).kvs.filter((kv) => {
    const at = parse(kv.key);
    return at !== undefined && match(at);
  });
}

/** A match for `listMatching`: records of the manifest `app/name`. */
export function ofManifest(app: string, name: string): (at: { app: string; name: string }) => boolean {
  return (at) => at.app === app && at.name === name;
}
