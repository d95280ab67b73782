import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GRPCDeadlineExceededError, type Etcd3, type Lease, type Watcher } from 'etcd3';
import { etcdClient } from '../../src/etcd/etcd3-kv-store.js';
import type { PoolHost } from '../../src/etcd/ready-channels.js';
import { ETCD, etcdOptions, uid, waitFor } from './support/world.js';

/**
 * Against real etcd: a call that fails (here past its deadline, as calls do when etcd is
 * slow) leaves the member's gRPC clients as they are (src/etcd/ready-channels.ts). Without
 * the guard etcd3 dropped every client of the member and built new channels for the next
 * calls: at 1,000 hollow hosts, 8% of the agents' CPU, and calls failing with "Channel
 * closed before call started", which dropped the clients again.
 */
describe('a failed etcd call keeps the clients of a ready connection', () => {
  const prefix = `/ready-${uid()}/`;
  let client: Etcd3;
  let lease: Lease;
  let watcher: Watcher;
  const seen: string[] = [];

  const services = () => ({ ...(client as unknown as { pool: { hosts: PoolHost[] } }).pool.hosts[0]!.cachedServices });

  before(async () => {
    client = etcdClient(etcdOptions(ETCD));
    lease = client.lease(30);
    await lease.grant();
    watcher = await client.watch().prefix(prefix).create();
    watcher.on('put', (kv) => seen.push(kv.key.toString()));
    await client.get(`${prefix}x`).exec();
  });
  after(async () => {
    await watcher?.cancel();
    await lease?.revoke().catch(() => undefined);
    await client?.delete().prefix(prefix);
    client?.close();
  });

  it('fails the call, and keeps the clients, their watch and their lease', async () => {
    const held = services();
    assert.deepEqual(Object.keys(held).sort(), ['KV', 'Lease', 'Watch']);
    for (let i = 0; i < 3; i++) {
      await assert.rejects(client.get(`${prefix}x`).options({ deadline: Date.now() - 1 }).exec(), GRPCDeadlineExceededError);
    }
    await client.put(`${prefix}after`).value('1');
    await waitFor('the watch delivers the next put', async () => seen.includes(`${prefix}after`));
    await lease.keepaliveOnce();
    const now = services();
    for (const name of Object.keys(held)) assert.equal(now[name], held[name], `the ${name} client was kept`);
  });
});
