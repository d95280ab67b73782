import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONTROLLER_MODULES, dokkaaCli as dokkaa, useDokkaa } from './support/dokkaa.js';
import { waitFor } from './support/world.js';


/** A CA, a certificate it issued for shop.example.com with its key, and an unrelated key. */
function certificates(): { dir: string; cert: string; key: string; otherKey: string } {
  const dir = mkdtempSync(join(tmpdir(), 'dokkaa-router-cli-'));
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '30', '-subj', '/CN=Test CA');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'shop.key', '-out', 'shop.csr', '-subj', '/CN=shop.example.com');
  writeFileSync(join(dir, 'shop.ext'), 'subjectAltName=DNS:shop.example.com\n');
  ssl('x509', '-req', '-in', 'shop.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'shop.pem', '-days', '20', '-extfile', 'shop.ext');
  ssl('genpkey', '-algorithm', 'RSA', '-out', 'other.key');
  return { dir, cert: join(dir, 'shop.pem'), key: join(dir, 'shop.key'), otherKey: join(dir, 'other.key') };
}

const web = (hosts: string[]) => ({ image: 'dokkaa/busybox', scale: 0, services: { www: { port: 80, role: 'web', hosts } } });

describe('the router CLI against etcd, with the controllers running', () => {
  // Only the controllers: the manifests have scale 0, their routes need no container.
  const { world } = useDokkaa({}, CONTROLLER_MODULES);
  let certs: ReturnType<typeof certificates>;
  before(() => {
    certs = certificates();
  });

  it('sets and shows the router domain, refusing a bad one (exit 2) without writing', async () => {
    assert.equal((await dokkaa(world, 'router', 'show')).stdout.trim(), 'domain: dokkaa.local (default)');
    const bad = await dokkaa(world, 'router', 'set', '--domain', 'not_a_domain');
    assert.equal(bad.code, 2);
    assert.equal(await world.etcd.get(world.keys.routerConfig).string(), null);
    assert.equal((await dokkaa(world, 'router', 'set', '--domain', 'apps.test')).stdout.trim(), 'router domain set to apps.test');
    assert.equal((await dokkaa(world, 'router', 'show')).stdout.trim(), 'domain: apps.test');
    assert.deepEqual(JSON.parse((await world.etcd.get(world.keys.routerConfig).string())!), { domain: 'apps.test' });
    await world.etcd.delete().key(world.keys.routerConfig);
  });

  it('refuses a certificate with a mismatched key or for another host, then stores, lists and removes a good one', async () => {
    const mismatched = await dokkaa(world, 'cert', 'add', 'shop.example.com', '--cert', certs.cert, '--key', certs.otherKey);
    assert.equal(mismatched.code, 1);
    assert.match(mismatched.stderr, /^refusing the certificate for shop\.example\.com: the key does not match the certificate/);
    const elsewhere = await dokkaa(world, 'cert', 'add', 'www.example.com', '--cert', certs.cert, '--key', certs.key);
    assert.equal(elsewhere.code, 1);
    assert.match(elsewhere.stderr, /the certificate is for shop\.example\.com, not www\.example\.com/);
    assert.deepEqual(await world.keysUnder(world.keys.certs), [], 'nothing written');

    const added = await dokkaa(world, 'cert', 'add', 'shop.example.com', '--cert', certs.cert, '--key', certs.key);
    assert.equal(added.code, 0, added.stderr);
    assert.match(added.stdout, /^certificate for shop\.example\.com added \(issuer CN=Test CA, expires \d{4}-/);
    const stored = JSON.parse((await world.etcd.get(world.keys.cert('shop.example.com')).string())!) as Record<string, string>;
    assert.match(stored.cert!, /^-----BEGIN CERTIFICATE-----/);
    assert.match(stored.key!, /PRIVATE KEY-----/);
    assert.equal(stored.issuer, 'CN=Test CA');

    const listed = await dokkaa(world, 'cert', 'list');
    assert.match(listed.stdout, /^HOST\s+ISSUER\s+EXPIRES$/m);
    assert.match(listed.stdout, /^shop\.example\.com\s+CN=Test CA\s+\S+ \((19|20) days left\)$/m);
    const json = await dokkaa(world, 'cert', 'list', '--json');
    assert.doesNotMatch(listed.stdout + json.stdout, /PRIVATE KEY|BEGIN/);
    assert.deepEqual((JSON.parse(json.stdout) as { host: string }[]).map((c) => c.host), ['shop.example.com']);

    assert.equal((await dokkaa(world, 'cert', 'rm', 'shop.example.com')).stdout.trim(), 'certificate for shop.example.com removed');
    assert.equal((await dokkaa(world, 'cert', 'rm', 'shop.example.com')).code, 1);
  });

  it('lists routes and conflicts; the status and describe of the later claim report its conflict', async () => {
    const app = `r-${world.id}`;
    await world.putManifest(app, 'first', web(['shop.example.com']));
    await world.putManifest('other', 'second', web(['shop.example.com']));
    // An endpoint as a service registrar writes it.
    await world.etcd.put(world.keys.endpoint(world.node, app, 'www', `first.0.${world.node}`)).value(JSON.stringify({ host: '10.1.2.3', port: 32768, protocol: 'tcp', node: world.node, app, name: 'first', replica: 0, containerId: 'c0' }));

    const routes = (await dokkaa(world, 'routes')).stdout;
    assert.match(routes, /^HOST\s+APP\/NAME\s+SERVICE\s+ENDPOINTS$/m);
    assert.match(routes, new RegExp(`^shop\\.example\\.com\\s+${app}/first\\s+www\\s+10\\.1\\.2\\.3:32768$`, 'm'));
    assert.match(routes, new RegExp(`^www\\.${app}\\.dokkaa\\.local\\s+${app}/first\\s+www\\s+10\\.1\\.2\\.3:32768$`, 'm'));
    assert.match(routes, /^other\.dokkaa\.local\s+other\/second\s+www\s+none ready$/m);
    assert.match(routes, new RegExp(`^Conflicts.*\\n.*\\nshop\\.example\\.com\\s+other/second\\s+www\\s+${app}/first \\(service www\\)$`, 'm'));
    const json = JSON.parse((await dokkaa(world, 'routes', '--json')).stdout) as { domain: string; conflicts: { app: string }[] };
    assert.equal(json.domain, 'dokkaa.local');
    assert.deepEqual(json.conflicts.map((c) => c.app), ['other']);

    const lost = `services.www: host shop.example.com is already routed to ${app}/first (service www); this service does not get it`;
    const status = await waitFor('the conflict in the status', async () => {
      const s = await world.status('other', 'second');
      return s?.errors?.includes(lost) ? s : undefined;
    });
    assert.equal(status.phase, 'Running');
    assert.equal(status.message, `0/0 replicas running; warning: ${lost}`);
    assert.equal((await world.status(app, 'first'))?.errors, undefined);
    assert.match((await dokkaa(world, 'describe', 'other/second')).stdout, new RegExp(`^Routes:\\n(.*\\n)+conflict: ${lost.replace(/[.*()/]/g, '\\$&')}$`, 'm'));

    // The holder gives the name up: the other manifest gets it, and its status says so.
    await world.putManifest(app, 'first', web([]));
    await waitFor('the conflict gone', async () => (await world.status('other', 'second'))?.errors === undefined);
    assert.match((await dokkaa(world, 'routes')).stdout, /^shop\.example\.com\s+other\/second\s+www\s+none ready$/m);
  });
});
