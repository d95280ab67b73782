import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { etcdClient } from '../../src/etcd/etcd3-kv-store.js';
import { CHANNEL_READY, guardResets, type PoolHost } from '../../src/etcd/ready-channels.js';

const CONNECTING = 1;
const TRANSIENT_FAILURE = 3;

/** A pool host whose clients' connections are in `states`; counts the resets that went through. */
function fakeHost(states: number[]): PoolHost & { resets: number; closes: number; states: number[] } {
  const host = {
    resets: 0,
    closes: 0,
    states,
    cachedServices: {} as PoolHost['cachedServices'],
    resetAllServices() {
      host.resets++;
    },
    close() {
      host.closes++;
      host.resetAllServices();
    },
  };
  states.forEach((_, i) => {
    host.cachedServices[`S${i}`] = { getChannel: () => ({ getConnectivityState: () => host.states[i]! }) };
  });
  return host;
}

describe('keepReadyChannels (src/etcd/ready-channels.ts)', () => {
  it('skips the reset of a member while one of its connections is ready', () => {
    const host = fakeHost([CHANNEL_READY, CONNECTING]);
    guardResets(host);
    host.resetAllServices();
    assert.equal(host.resets, 0);
  });

  it('resets a member none of whose connections is ready', () => {
    const host = fakeHost([TRANSIENT_FAILURE, CONNECTING]);
    guardResets(host);
    host.resetAllServices();
    assert.equal(host.resets, 1);
    const empty = fakeHost([]);
    guardResets(empty);
    empty.resetAllServices();
    assert.equal(empty.resets, 1);
  });

  it('still closes every client when the client is closed, ready or not', () => {
    const host = fakeHost([CHANNEL_READY]);
    guardResets(host);
    host.close();
    assert.deepEqual([host.closes, host.resets], [1, 1]);
  });

  it('finds the etcd3 internals it relies on in the installed etcd3', () => {
    // etcdClient throws if ConnectionPool.hosts or Host.resetAllServices is gone.
    const client = etcdClient({ hosts: ['http://127.0.0.1:1', 'http://127.0.0.1:2'] });
    const hosts = (client as unknown as { pool: { hosts: PoolHost[] } }).pool.hosts;
    assert.equal(hosts.length, 2);
    for (const h of hosts) assert.notEqual(h.resetAllServices, Object.getPrototypeOf(h).resetAllServices, 'the guard is installed on every member');
    client.close();
  });
});
