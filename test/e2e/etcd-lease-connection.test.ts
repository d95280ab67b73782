import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3KvStore } from '../../src/etcd/etcd3-kv-store.js';
import { TcpProxy } from './support/tcp-proxy.js';
import { ETCD, etcdOptions, uid, waitFor } from './support/world.js';

/**
 * Against real etcd: leases are kept alive on a connection of their own, shared by the
 * stores of a process, so an answer to a keepalive never waits behind the watch events and
 * call answers queued on the data connection (Etcd3KvStore's LEASE_CHANNEL_OPTION).
 */
describe('lease keepalives on a connection of their own', () => {
  const prefix = `/lease-conn-${uid()}/`;
  let proxy: TcpProxy;
  const stores: Etcd3KvStore[] = [];

  before(async () => {
    const url = new URL(ETCD);
    proxy = await TcpProxy.start(url.hostname, Number(url.port));
  });
  after(async () => {
    for (const s of stores) s.close();
    await proxy.close();
  });

  it('opens one connection for data and one for leases, whatever the number of stores', async () => {
    const a = new Etcd3KvStore(etcdOptions(proxy.url));
    stores.push(a);
    await a.put(`${prefix}a`, '1');
    await waitFor('the data connection', async () => proxy.connections === 1);
    const lease = await a.grantLease(30);
    await a.put(`${prefix}held`, '1', { lease: lease.id });
    await waitFor('the lease connection', async () => proxy.connections === 2);
    let acks = 0;
    lease.onKeepalive(() => acks++);
    await lease.keepaliveOnce(5_000);
    assert.ok(acks >= 1, 'a keepalive on the lease connection is answered');

    const b = new Etcd3KvStore(etcdOptions(proxy.url));
    stores.push(b);
    const other = await b.grantLease(30);
    await b.put(`${prefix}b`, '1', { lease: other.id });
    assert.equal(proxy.connections, 2, 'a second store of the process shares both');

    await lease.revoke();
    assert.equal(await a.get(`${prefix}held`), undefined, 'revoked through the lease connection: its keys are gone');
    await other.revoke();
    await a.delete(`${prefix}a`);
  });
});
