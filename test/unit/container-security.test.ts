import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LINUX_CAPABILITIES } from '../../api/capabilities.js';
import { decodeManifest, templateHash } from '../../api/manifest.js';
import { containerTemplate } from '../../controllers/node-runner/container-template.js';
import { placement, spec } from './builders.js';

function errorsOf(manifest: object): string[] {
  const r = decodeManifest(JSON.stringify(manifest), 'app');
  assert.equal(r.ok, false, `expected ${JSON.stringify(manifest)} to be rejected`);
  return r.ok ? [] : r.errors;
}

function assertOneError(errors: string[], pattern: RegExp): void {
  assert.equal(errors.length, 1, errors.join('\n'));
  assert.match(errors[0]!, pattern);
}

describe('manifest security options: user, readOnlyRootfs, capAdd, capDrop', () => {
  it('takes a uid, uid:gid, a name or name:group as user', () => {
    for (const user of ['1000', '1000:1000', 'nobody', 'app:app', 'www-data', '0:0']) assert.equal(spec({ image: 'x', user }).user, user);
  });

  it('refuses a malformed user', () => {
    assert.deepEqual(errorsOf({ image: 'x', user: '' }), ['user: expected a user "uid[:gid]" or "name[:group]", got ""']);
    assert.deepEqual(errorsOf({ image: 'x', user: 'a b' }), ['user: expected a user "uid[:gid]" or "name[:group]", got "a b"']);
    assert.deepEqual(errorsOf({ image: 'x', user: '1000:' }), ['user: expected a user "uid[:gid]" or "name[:group]", got "1000:"']);
    assert.deepEqual(errorsOf({ image: 'x', user: 1000 }), ['user: expected a user "uid[:gid]" or "name[:group]", got 1000']);
  });

  it('keeps readOnlyRootfs only when true, and refuses a non-boolean', () => {
    assert.equal(spec({ image: 'x', readOnlyRootfs: true }).readOnlyRootfs, true);
    assert.equal('readOnlyRootfs' in spec({ image: 'x', readOnlyRootfs: false }), false);
    assert.deepEqual(errorsOf({ image: 'x', readOnlyRootfs: 'yes' }), ['readOnlyRootfs: expected a boolean, got "yes"']);
  });

  it('takes Linux capability names with or without CAP_, once each and sorted', () => {
    const s = spec({ image: 'x', capAdd: ['NET_ADMIN', 'CAP_SYS_TIME', 'CAP_NET_ADMIN'], capDrop: ['ALL'] });
    assert.deepEqual(s.capAdd, ['NET_ADMIN', 'SYS_TIME']);
    assert.deepEqual(s.capDrop, ['ALL']);
    for (const cap of LINUX_CAPABILITIES) assert.deepEqual(spec({ image: 'x', capAdd: [cap], capDrop: [`CAP_${cap}`] }).capDrop, [cap]);
    assert.equal('capAdd' in spec({ image: 'x', capAdd: [] }), false, 'an empty list is as absent');
  });

  it('refuses unknown capabilities, lower case, and ALL in capAdd', () => {
    assert.deepEqual(errorsOf({ image: 'x', capAdd: ['NET_ADMIN', 'NET_FOO'] }), ['capAdd[1]: expected a Linux capability name (e.g. "NET_ADMIN"), got "NET_FOO"']);
    assert.deepEqual(errorsOf({ image: 'x', capAdd: ['ALL'] }), ['capAdd[0]: expected a Linux capability name (e.g. "NET_ADMIN"), got "ALL"']);
    assert.deepEqual(errorsOf({ image: 'x', capDrop: ['chown'] }), ['capDrop[0]: expected a Linux capability name (e.g. "CHOWN", "NET_ADMIN") or "ALL", got "chown"']);
    assertOneError(errorsOf({ image: 'x', capDrop: 'ALL' }), /^capDrop: expected .*, got "ALL"$/);
  });
});

describe('security options and the hashes', () => {
  // Computed by the code before these options existed (main at ae12103): an upgrade must replace nothing.
  const before = { image: 'busybox', command: ['sleep', '1'], env: { A: '1' }, services: { web: 80 }, links: ['db'] };

  it('leaves the template hash and the container hash of an existing spec as they were', () => {
    const s = spec(before);
    assert.equal(templateHash(s), '532a5b5d5c97');
    const t = containerTemplate({ ...placement(s, 0, 'n1'), app: 'app', name: 'web' }, { DB_ADDR: '172.17.0.1' }, 'n1');
    assert.equal(t.hash, '2b19cfc413bb');
    for (const field of ['user', 'readOnlyRootfs', 'capAdd', 'capDrop']) assert.equal(field in t, false, field);
  });

  it('changes the template hash with each option, and takes the options into the container', () => {
    const variants = [{ user: '1000' }, { user: '1000:1000' }, { readOnlyRootfs: true }, { capAdd: ['NET_ADMIN'] }, { capDrop: ['ALL'] }, { capDrop: ['CHOWN'] }];
    const hashes = variants.map((v) => templateHash(spec({ ...before, ...v })));
    assert.equal(new Set([templateHash(spec(before)), ...hashes]).size, variants.length + 1);
    assert.equal(templateHash(spec({ ...before, readOnlyRootfs: false })), templateHash(spec(before)), 'false is the default');
    const t = containerTemplate(placement(spec({ ...before, user: 'nobody', readOnlyRootfs: true, capAdd: ['CAP_NET_ADMIN'], capDrop: ['ALL'] }), 0, 'n1'), {}, 'n1');
    assert.deepEqual({ user: t.user, readOnlyRootfs: t.readOnlyRootfs, capAdd: t.capAdd, capDrop: t.capDrop }, { user: 'nobody', readOnlyRootfs: true, capAdd: ['NET_ADMIN'], capDrop: ['ALL'] });
  });
});
