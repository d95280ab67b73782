import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EtcdPermissionDeniedError, type Etcd3 } from 'etcd3';
import { authPlan, CONTROLLER_USER, nodeUser } from '../../api/etcd-roles.js';
import { Keys, SkyDnsKeys } from '../../api/keys.js';
import { applyAuth } from '../../src/etcd/auth-setup.js';
import { etcdClient } from '../../src/etcd/etcd3-kv-store.js';
import { createLogger } from '../../src/logging.js';
import { EtcdServer } from './support/etcd-server.js';

/**
 * The roles of api/etcd-roles.ts, made by applyAuth on a real etcd 3.4 with auth enabled.
 * Password users stand in for the client certificates' CNs (the same user names).
 */
describe('etcd roles on a real etcd with auth enabled', () => {
  const keys = new Keys('/dokkaa');
  const skydns = new SkyDnsKeys();
  const log = createLogger('error', true);
  const password = 'pw';
  const users = ['root', 'admin', CONTROLLER_USER, nodeUser('h1'), nodeUser('h2')];
  let server: EtcdServer;
  const clients: Etcd3[] = [];
  const as = (user: string) => {
    const c = etcdClient({ hosts: [server.url], auth: { username: user, password } });
    clients.push(c);
    return c;
  };
  let admin: Etcd3, h1: Etcd3, controller: Etcd3;
  const denied = async (what: string, op: () => unknown) => {
    await assert.rejects(async () => await op(), (err: unknown) => err instanceof EtcdPermissionDeniedError, `${what} is refused`);
  };

  before(async () => {
    server = await EtcdServer.start();
    const open = etcdClient({ hosts: [server.url] });
    try {
      await applyAuth(open.auth, authPlan(keys, skydns, ['h1', 'h2']), { enable: true, passwords: Object.fromEntries(users.map((u) => [u, password])) }, log);
    } finally {
      open.close();
    }
    admin = as('admin');
    h1 = as(nodeUser('h1'));
    controller = as(CONTROLLER_USER);
    // What the controllers and the secrets controller wrote for both hosts.
    await admin.put(keys.manifest('shop', 'web')).value('{"image":"x"}');
    await admin.put(keys.placement('h1', 'shop', 'web', 0)).value('{}');
    await admin.put(keys.sealedCopy('h1', 'shop', 'db')).value('{"for":"h1"}');
    await admin.put(keys.sealedCopy('h2', 'shop', 'db')).value('{"for":"h2"}');
  });

  after(async () => {
    for (const c of clients) c.close();
    await server?.destroy();
  });

  it('refuses a node what is not its own: manifests, placements, another host\'s node record, replicas, endpoints, sealed copies', async () => {
    await denied('writing a manifest', () => h1.put(keys.manifest('shop', 'web')).value('{"image":"evil"}'));
    await denied('deleting a manifest', () => h1.delete().key(keys.manifest('shop', 'web')));
    await denied('writing a placement, even on itself', () => h1.put(keys.placement('h1', 'shop', 'web', 1)).value('{}'));
    await denied('writing a placement elsewhere', () => h1.put(keys.placement('h2', 'shop', 'web', 0)).value('{}'));
    await denied('writing another host\'s node record', () => h1.put(keys.node('h2')).value('{}'));
    await denied('writing another host\'s replica', () => h1.put(keys.replica('h2', 'shop', 'web', 0)).value('{}'));
    await denied('writing another host\'s endpoint', () => h1.put(keys.endpoint('h2', 'shop', 'www', 'web.0.h2')).value('{}'));
    await denied('writing an endpoint in the index by service, even its own', () => h1.put(keys.serviceEndpoint('shop', 'www', 'web.0.h1')).value('{}'));
    await denied('writing a status', () => h1.put(keys.status('shop', 'web')).value('{}'));
    await denied('reading a secret sealed for another host', () => h1.get(keys.sealedCopy('h2', 'shop', 'db')).string());
    await denied('listing every host\'s sealed copies', () => h1.getAll().prefix(keys.sealed).strings());
    await denied('reading the secrets themselves', () => h1.getAll().prefix(keys.secrets).strings());
    await denied('reading another host\'s placements', () => h1.getAll().prefix(keys.nodePlacements('h2')).strings());
    await denied('reading every placement', () => h1.getAll().prefix(keys.placements).strings());
    // The old layout is not a way around: its sections are the controllers' only.
    await denied('writing an old-layout replica', () => h1.put(keys.legacy.replicas + 'shop/web/0').value('{}'));
  });

  it('lets a node write its own sections on its lease, read what it needs, and revoke the lease', async () => {
    const lease = h1.lease(10, { autoKeepAlive: false });
    await lease.put(keys.node('h1')).value('{"name":"h1"}');
    await lease.put(keys.replica('h1', 'shop', 'web', 0)).value('{}');
    await lease.put(keys.endpoint('h1', 'shop', 'www', 'web.0.h1')).value('{}');
    await lease.put(keys.prepulledAnswer('h1', 'shop', 'web')).value('{}');
    await h1.put(keys.event('h1', 'shop', 'web', keys.eventId(1, 'h1', 0))).value('{}');
    assert.equal(await h1.get(keys.sealedCopy('h1', 'shop', 'db')).string(), '{"for":"h1"}');
    assert.deepEqual(Object.keys(await h1.getAll().prefix(keys.nodePlacements('h1')).strings()), [keys.placement('h1', 'shop', 'web', 0)]);
    assert.equal(await h1.get(keys.manifest('shop', 'web')).string(), '{"image":"x"}');
    assert.equal(Object.keys(await h1.getAll().prefix(keys.endpoints).strings()).length, 1, 'every host\'s endpoints, for its ambassador');
    await admin.put(keys.serviceEndpoint('shop', 'www', 'web.0.h1')).value('{}');
    assert.equal(Object.keys(await h1.getAll().prefix(keys.appServiceEndpoints('shop')).strings()).length, 1, 'an app\'s endpoints by service, for its ambassador, DNS server and router');
    // Revoking needs write permission on every key the lease holds: all the node's own.
    await lease.revoke();
    assert.equal(await admin.get(keys.node('h1')).string(), null);
    assert.deepEqual(await admin.getAll().prefix(keys.nodeReplicas('h1')).strings(), {});
  });

  it('watches only within its grants', async () => {
    // Each watch on a client of its own: etcd3 shares one watch stream per client.
    const ok = await as(nodeUser('h1')).watch().prefix(keys.nodePlacements('h1')).create();
    await ok.cancel();
    // etcd cancels the watch at its creation; etcd3 reports it as a plain error naming the denial.
    await assert.rejects(async () => await as(nodeUser('h1')).watch().prefix(keys.sealed).create(), /permission denied/);
  });

  it('lets the controllers write cluster-wide records but not the admin-only cluster key', async () => {
    await controller.put(keys.placement('h2', 'shop', 'web', 0)).value('{}');
    await controller.put(keys.status('shop', 'web')).value('{}');
    await controller.put(keys.sealedCopy('h2', 'shop', 'db')).value('{"for":"h2"}');
    await controller.put(keys.replica('h1', 'shop', 'web', 0)).value('{}');
    await controller.put(skydns.endpoint('shop', 'www', 'x')).value('{}');
    await admin.put(keys.clusterKey).value('{"publicKey":"k"}');
    assert.equal(await controller.get(keys.clusterKey).string(), '{"publicKey":"k"}');
    await denied('the controller writing the cluster key', () => controller.put(keys.clusterKey).value('{}'));
    // The admission policy is the admins' (`dokkaa policy set`); the scheduler only reads it.
    await admin.put(keys.policy).value('{"registries":["dokkaa/"]}');
    assert.equal(await controller.get(keys.policy).string(), '{"registries":["dokkaa/"]}');
    await denied('the controller writing the policy', () => controller.put(keys.policy).value('{}'));
    await denied('a node writing the policy', () => h1.put(keys.policy).value('{}'));
    // SkyDNS names records by service, not host: the controllers mirror every host's endpoints.
    await denied('a node writing a SkyDNS record', () => h1.put(skydns.endpoint('shop', 'www', 'web-0-h1')).value('{}'));
    await denied('the controller writing outside the prefix', () => controller.put('/other/x').value('{}'));
  });

  it('is idempotent: a second setup changes no role', async () => {
    const before = await Promise.all(['controller', nodeUser('h1')].map(async (r) => (await admin.auth.roleGet({ role: r })).perm.length));
    await applyAuth(admin.auth, authPlan(keys, skydns, ['h1', 'h2']), { enable: true }, log);
    const again = await Promise.all(['controller', nodeUser('h1')].map(async (r) => (await admin.auth.roleGet({ role: r })).perm.length));
    assert.deepEqual(again, before);
    assert.equal(before[1], authPlan(keys, skydns, ['h1']).roles[1]!.permissions.length);
  });
});
