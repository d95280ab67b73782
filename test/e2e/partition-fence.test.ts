import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AGENT_MODULES, CONTROLLER_MODULES, InProcessDokkaa } from './support/dokkaa.js';
import { TcpProxy } from './support/tcp-proxy.js';
import { ETCD, sleeperManifest, waitFor, World } from './support/world.js';

describe('an agent cut off from etcd fences itself', () => {
  const world = new World();
  const ttl = 6;
  let proxy: TcpProxy;
  let agent: InProcessDokkaa;
  let controller: InProcessDokkaa;
  before(async () => {
    const url = new URL(ETCD);
    proxy = await TcpProxy.start(url.hostname, Number(url.port));
    // The agent reaches etcd only through the proxy; the controller directly.
    agent = await InProcessDokkaa.start(world.config({ etcd: [proxy.url], leaseTtlSeconds: ttl }), AGENT_MODULES);
    controller = await InProcessDokkaa.start(world.config({ leaseTtlSeconds: ttl }), CONTROLLER_MODULES);
  });
  after(async () => {
    proxy.unblock();
    await agent?.stop();
    await controller?.stop();
    await proxy?.close();
    await world.cleanup();
  });

  it('removes its containers before its lease expires, and recreates them when it reconnects', async () => {
    const app = `fence-${world.id}`;
    await world.putManifest(app, 'svc', sleeperManifest({ scale: 2 }));
    await waitFor('Running', async () => (await world.status(app, 'svc'))?.phase === 'Running', 30_000);
    const before = (await world.running(app, 'svc')).map((c) => c.Id);
    assert.equal(before.length, 2);

    proxy.block();
    // The property: by the time etcd expires the host's lease (and the scheduler could place
    // its replicas elsewhere), its containers are gone. Watch for the expiry directly.
    await waitFor('the node lease expires in etcd', async () => !(await world.etcd.get(world.keys.node(world.node)).string()), (ttl + 10) * 1000, 50);
    assert.equal((await world.containers(app, 'svc')).length, 0, 'containers removed before the lease expired');

    proxy.unblock();
    const after = await waitFor('recreated after reconnecting', async () => {
      const cs = await world.running(app, 'svc');
      return cs.length === 2 ? cs.map((c) => c.Id) : undefined;
    }, 30_000);
    assert.ok(after.every((id) => !before.includes(id)), 'fresh containers');
    await waitFor('status Running again', async () => (await world.status(app, 'svc'))?.phase === 'Running', 30_000);
  });
});
