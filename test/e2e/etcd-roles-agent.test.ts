import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Container } from 'inversify';
import type { Etcd3 } from 'etcd3';
import { authPlan, CONTROLLER_USER, nodeUser } from '../../api/etcd-roles.js';
import { SkyDnsKeys } from '../../api/keys.js';
import { decodeRecord, PrepulledRecord, ReplicaRecord, StatusRecord } from '../../api/records.js';
import { AGENT_MODULES, buildContainer, CONTROLLER_MODULES } from '../../cli/process-container.js';
import { applyAuth } from '../../src/etcd/auth-setup.js';
import { Etcd3KvStore, etcdClient } from '../../src/etcd/etcd3-kv-store.js';
import { TYPES } from '../../src/ioc/tokens.js';
import { createLogger } from '../../src/logging.js';
import { Manager } from '../../src/manager.js';
import { EtcdServer } from './support/etcd-server.js';
import { nginxManifest, waitFor, World } from './support/world.js';

/**
 * The roles are enough: the real agent modules, logged in as their node's user, and the real
 * controllers as `controller`, converge a manifest on a real etcd with auth enabled and a
 * real Docker Engine. Password users stand in for the certificates' CNs.
 */
describe('an agent and the controllers under their etcd roles', () => {
  const password = 'pw';
  let server: EtcdServer;
  let world: World;
  let admin: Etcd3;
  const managers: Manager[] = [];
  const containers: Container[] = [];

  const start = async (modules: typeof AGENT_MODULES, user: string) => {
    const container = buildContainer(world.config(), createLogger(world.config().logLevel), modules);
    container.rebind(TYPES.KvStore).toConstantValue(new Etcd3KvStore({ hosts: [server.url], auth: { username: user, password } }));
    const manager = container.get(Manager);
    await manager.start();
    managers.push(manager);
    containers.push(container);
    return manager;
  };

  before(async () => {
    server = await EtcdServer.start();
    world = new World(server.url);
    const users = ['root', 'admin', CONTROLLER_USER, nodeUser(world.node)];
    const open = etcdClient({ hosts: [server.url] });
    try {
      await applyAuth(open.auth, authPlan(world.keys, new SkyDnsKeys(), [world.node]), { enable: true, passwords: Object.fromEntries(users.map((u) => [u, password])) }, createLogger('error', true));
    } finally {
      open.close();
    }
    admin = etcdClient({ hosts: [server.url], auth: { username: 'admin', password } });
    await start(CONTROLLER_MODULES, CONTROLLER_USER);
  });

  after(async () => {
    for (const m of managers.reverse()) await m.stop().catch(() => undefined);
    for (const c of containers) await c.unbindAllAsync().catch(() => undefined);
    for (const c of await world.containers().catch(() => [])) await world.docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
    world.etcd.close();
    admin?.close();
    await server?.destroy();
  });

  it('runs a manifest, reports it, and leaves nothing behind when the agent stops', async () => {
    const agent = await start(AGENT_MODULES, nodeUser(world.node));
    const app = `roles-${world.id}`;
    await admin.put(world.keys.manifest(app, 'web')).value(JSON.stringify(nginxManifest({ scale: 1 })));
    const status = await waitFor('Running under the roles', async () => {
      const s = decodeRecord(StatusRecord, await admin.get(world.keys.status(app, 'web')).string());
      return s?.phase === 'Running' ? s : undefined;
    }, 90_000);
    assert.equal(status.replicas[0]?.node, world.node);
    assert.equal((await world.running(app, 'web')).length, 1);
    const record = decodeRecord(ReplicaRecord, await admin.get(world.keys.replica(world.node, app, 'web', 0)).string());
    assert.equal(record?.state, 'running');
    const endpoints = Object.keys(await admin.getAll().prefix(world.keys.nodeEndpoints(world.node)).strings());
    assert.equal(endpoints.length, 1, `its endpoint is registered: ${endpoints.join(' ')}`);
    // The controllers mirror it as a SkyDNS record (the agent's role may not write one).
    const skydns = new SkyDnsKeys();
    const dns = async () => Object.keys(await admin.getAll().prefix(skydns.service(app, 'nginx')).strings());
    await waitFor('the SkyDNS record, by the controllers', async () => ((await dns()).length === 1 ? true : undefined));

    // `dokkaa pull` of an image the policy does not allow: the agent reads the policy under its role and refuses.
    await admin.put(world.keys.policy).value(JSON.stringify({ registries: ['dokkaa/'] }));
    await admin.put(world.keys.prepull(app, 'web')).value(JSON.stringify({ image: 'evil.example.com/x:1', requestedAt: new Date().toISOString() }));
    const answer = await waitFor('the pre-pull answer', async () => decodeRecord(PrepulledRecord, await admin.get(world.keys.prepulledAnswer(world.node, app, 'web')).string()));
    assert.equal(answer.state, 'failed');
    assert.match(answer.message, /^forbidden by the cluster policy: registries: image evil\.example\.com\/x:1 is not under an allowed registry/);

    // A clean stop revokes the node's lease: only the node's own keys hang on it.
    await agent.stop();
    assert.equal(await admin.get(world.keys.node(world.node)).string(), null);
    assert.deepEqual(await admin.getAll().prefix(world.keys.nodeReplicas(world.node)).strings(), {});
    assert.deepEqual(await admin.getAll().prefix(world.keys.nodeEndpoints(world.node)).strings(), {});
    await waitFor('the SkyDNS record gone with the endpoint', async () => ((await dns()).length === 0 ? true : undefined));
  });
});
