import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeRecord, NodeRecord } from '../../api/records.js';
import { CONTROLLER_MODULES, DokkaaProcess, InProcessDokkaa, ALL_MODULES } from './support/dokkaa.js';
import { EtcdServer } from './support/etcd-server.js';
import { sleeperManifest, waitFor, World } from './support/world.js';

describe('an agent killed with SIGKILL and restarted', () => {
  const world = new World();
  let controller: InProcessDokkaa;
  let agent: DokkaaProcess | undefined;
  before(async () => {
    controller = await InProcessDokkaa.start(world.config(), CONTROLLER_MODULES);
  });
  after(async () => {
    await agent?.kill('SIGKILL');
    await controller?.stop();
    await world.cleanup();
  });

  it('adopts its containers: same ids, no duplicates, and goes on reconciling', async () => {
    const app = `adopt-${world.id}`;
    agent = DokkaaProcess.spawn('agent', world.config());
    await world.putManifest(app, 'svc', sleeperManifest({ scale: 3 }));
    await waitFor('3 Running', async () => (await world.status(app, 'svc'))?.phase === 'Running', 60_000);
    const before = (await world.running(app, 'svc')).map((c) => c.Id).sort();
    assert.equal(before.length, 3);

    assert.equal(await agent.kill('SIGKILL'), null);
    // While the agent is down, a container dies: the restarted agent must heal it too.
    await world.docker.getContainer(before[0]!).kill();
    agent = DokkaaProcess.spawn('agent', world.config());

    // Watch the engine through the restart: never more than 3 containers.
    let most = 0;
    await waitFor('all 3 running again, adopted', async () => {
      const all = await world.containers(app, 'svc');
      most = Math.max(most, all.length);
      const running = all.filter((c) => c.State === 'running').map((c) => c.Id).sort();
      return JSON.stringify(running) === JSON.stringify(before);
    }, 30_000, 50);
    assert.equal(most, 3, 'no duplicate container at any moment');
    await waitFor('status Running with the same ids', async () => {
      const s = await world.status(app, 'svc');
      return s?.phase === 'Running' && JSON.stringify(s.replicas.map((r) => r.containerId).sort()) === JSON.stringify(before);
    });

    // The new agent acts on changes.
    await world.putManifest(app, 'svc', sleeperManifest({ scale: 4 }));
    await waitFor('scaled to 4', async () => (await world.running(app, 'svc')).length === 4, 30_000);
  });

  it('on SIGTERM leaves containers running and releases its lease at once', async () => {
    const app = `term-${world.id}`;
    await world.putManifest(app, 'svc', sleeperManifest());
    await waitFor('Running', async () => (await world.status(app, 'svc'))?.phase === 'Running', 30_000);
    const [c] = await world.running(app, 'svc');
    assert.equal(await agent!.kill('SIGTERM'), 0, 'clean exit');
    // Revoked, not expired: the node record is gone well before the 5 s TTL.
    const nodeRecord = decodeRecord(NodeRecord, await world.etcd.get(world.keys.node(world.node)).string());
    assert.equal(nodeRecord, undefined);
    assert.equal((await world.running(app, 'svc'))[0]?.Id, c!.Id, 'the container still runs');
    agent = undefined;
  });
});

describe('etcd restarted under running controllers', () => {
  let etcd: EtcdServer;
  let world: World;
  let dokkaa: InProcessDokkaa;
  before(async () => {
    etcd = await EtcdServer.start();
    world = new World(etcd.url);
    // A TTL well above the outage: a longer one would (rightly) fence the agent's containers.
    dokkaa = await InProcessDokkaa.start(world.config({ leaseTtlSeconds: 20 }), ALL_MODULES);
  });
  after(async () => {
    await dokkaa?.stop();
    await world?.cleanup();
    await etcd?.destroy();
  });

  it('applies a manifest written while the watches reconnect, and loses nothing written before', async () => {
    const app = `etcd-${world.id}`;
    await world.putManifest(app, 'before', sleeperManifest({ scale: 2 }));
    await waitFor('before Running', async () => (await world.status(app, 'before'))?.phase === 'Running', 30_000);
    const ids = (await world.running(app, 'before')).map((c) => c.Id).sort();

    await etcd.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 1000));
    await etcd.restart();
    // Written the moment etcd is back, before the controllers' watches have reconnected.
    await world.putManifest(app, 'during', sleeperManifest());

    await waitFor('during Running', async () => (await world.status(app, 'during'))?.phase === 'Running', 40_000);
    const s = await waitFor('before still Running', async () => {
      const st = await world.status(app, 'before');
      return st?.phase === 'Running' ? st : undefined;
    });
    assert.deepEqual(s.replicas.map((r) => r.containerId).sort(), ids, 'the same containers, untouched');
    assert.deepEqual((await world.running(app, 'before')).map((c) => c.Id).sort(), ids);

    // And the controllers still follow changes.
    await world.putManifest(app, 'before', sleeperManifest({ scale: 1 }));
    await waitFor('scaled down after the restart', async () => (await world.containers(app, 'before')).length === 1, 30_000);
  });
});
