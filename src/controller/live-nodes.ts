import type { Keys } from '../../api/keys.js';
import { decodeRecord, NodeRecord } from '../../api/records.js';
import type { KeyValue } from '../etcd/kv-store.js';

/** What a cache tells its controller about nodes: one changed, or all listed again after a lost watch (changes may have been missed). */
export type NodesChange = { kind: 'node' } | { kind: 'relisted' };

/** The live nodes' records by name, as an informer on `nodes/` brings them (for a cache). */
export class LiveNodes {
  private readonly nodes = new Map<string, NodeRecord>();
  private list: NodeRecord[] | undefined;

  constructor(private readonly keys: Keys) {}

  clear(): void {
    this.nodes.clear();
    this.list = undefined;
  }

  /** A complete listing: exactly these nodes. */
  reset(kvs: KeyValue[]): void {
    this.clear();
    for (const kv of kvs) this.put(kv);
  }

  /** A node's key put; an unreadable record drops the node. False if the key names no node. */
  put(kv: KeyValue): boolean {
    const name = this.keys.parseNode(kv.key);
    if (!name) return false;
    const record = decodeRecord(NodeRecord, kv.value);
    if (record) this.nodes.set(name, record);
    else this.nodes.delete(name);
    this.list = undefined;
    return true;
  }

  /** A node's key deleted; false if it held no such node. */
  delete(key: string): boolean {
    const name = this.keys.parseNode(key);
    if (!name || !this.nodes.delete(name)) return false;
    this.list = undefined;
    return true;
  }

  /** Every live node (the same array until the next change: do not modify it). */
  all(): NodeRecord[] {
    return (this.list ??= [...this.nodes.values()]);
  }
}
