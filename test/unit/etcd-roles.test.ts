import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { authPlan, controllerRole, nodeRole, parseNodeUser, prefixEnd, type Permission } from '../../api/etcd-roles.js';
import { Keys, SkyDnsKeys } from '../../api/keys.js';

const keys = new Keys('/dokkaa');
const skydns = new SkyDnsKeys();
/** Whether a permission of `perms` lets `type` reach `key` (etcd's rule: the key alone, or [key, rangeEnd)). */
const allows = (perms: Permission[], type: 'read' | 'write', key: string) =>
  perms.some((p) => (p.type === type || p.type === 'readwrite') && (p.rangeEnd === undefined ? p.key === key : key >= p.key && key < p.rangeEnd));

describe('etcd roles', () => {
  it('ends a prefix range at the next key after every key under it', () => {
    assert.equal(prefixEnd('/dokkaa/'), '/dokkaa0');
    assert.equal(prefixEnd('/dokkaa/node-replicas/h1/'), '/dokkaa/node-replicas/h10');
  });

  it('gives a node its own sections and nothing of a node whose name starts like its own', () => {
    const h1 = nodeRole(keys, 'h1').permissions;
    assert.ok(allows(h1, 'write', keys.replica('h1', 'a', 'w', 0)));
    assert.ok(allows(h1, 'write', keys.node('h1')));
    for (const other of ['h10', 'h2']) {
      assert.ok(!allows(h1, 'write', keys.replica(other, 'a', 'w', 0)), `not ${other}'s replicas`);
      assert.ok(!allows(h1, 'write', keys.endpoint(other, 'a', 's', 'e')), `not ${other}'s endpoints`);
      assert.ok(!allows(h1, 'write', keys.node(other)), `not ${other}'s node record`);
      assert.ok(!allows(h1, 'read', keys.sealedCopy(other, 'a', 's')), `not ${other}'s sealed copies`);
    }
    assert.ok(!allows(h1, 'write', keys.manifest('a', 'w')));
    assert.ok(!allows(h1, 'write', keys.placement('h1', 'a', 'w', 0)));
    assert.ok(allows(h1, 'read', keys.placement('h1', 'a', 'w', 0)));
    assert.ok(!allows(h1, 'read', keys.secret('a', 's')));
    // SkyDNS records are named by service: the controllers write them (controllers/dns-records).
    assert.ok(!allows(h1, 'write', skydns.endpoint('a', 's', 'w-0-h1')));
  });

  it('gives the controllers the whole prefix but writing the admin-only cluster key', () => {
    const c = controllerRole(keys, skydns).permissions;
    assert.ok(allows(c, 'write', keys.placement('h1', 'a', 'w', 0)));
    assert.ok(allows(c, 'write', keys.status('a', 'w')));
    assert.ok(allows(c, 'write', skydns.endpoint('a', 's', 'x')));
    assert.ok(allows(c, 'read', keys.clusterKey));
    assert.ok(!allows(c, 'write', keys.clusterKey));
    assert.ok(allows(c, 'read', keys.policy));
    assert.ok(!allows(c, 'write', keys.policy), 'the policy is the admins\'');
    assert.ok(allows(c, 'write', `${keys.clusterKey}-other`), 'keys beside it are the controllers\'');
    assert.ok(!allows(c, 'write', '/other/x'));
  });

  it('names one user per node, each with its own role, beside root, admin and controller', () => {
    const plan = authPlan(keys, skydns, ['h2', 'h1', 'h1']);
    assert.deepEqual(plan.users.map((u) => u.name), ['root', 'admin', 'controller', 'node-h1', 'node-h2']);
    assert.deepEqual(plan.roles.map((r) => r.name), ['controller', 'node-h1', 'node-h2']);
    assert.equal(parseNodeUser('node-h1'), 'h1');
    assert.equal(parseNodeUser('controller'), undefined);
  });
});
