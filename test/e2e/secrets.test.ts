import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { isTmpfs } from '../../controllers/node-runner/secret-file-store.js';
import { useDokkaa } from './support/dokkaa.js';
import { dockerExec } from './support/exec.js';
import { sleeperManifest, waitFor, type World } from './support/world.js';

const BIN = fileURLToPath(new URL('../../../bin/dokkaa.js', import.meta.url));

/** The CLI with `input` on its stdin. */
function cli(world: World, input: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [BIN, ...args, '--etcd', world.etcdUrl, '--prefix', world.prefix], (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
    child.stdin!.end(input);
  });
}

describe('secrets and configs (a real engine, a real etcd)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dokkaa-secrets-'));
  const keyFile = join(dir, 'cluster.key');
  // Under /run, as on a host: the agent mounts a tmpfs at <secretsDir>/<node>.
  const secretsDir = `/run/dokkaa-e2e-secrets-${randomBytes(3).toString('hex')}`;
  const { world } = useDokkaa({ clusterKeyFile: keyFile, secretsDir, stateDir: join(dir, 'state') });
  const tmpfsRoot = () => join(secretsDir, world.node);
  const value = (n: number) => `s3cret-${n}-${randomBytes(6).toString('hex')}`;
  const set = async (kind: 'secret' | 'config', target: string, v: string) => {
    const r = await cli(world, v, kind, 'set', target, '--from-stdin');
    assert.equal(r.code, 0, r.stderr);
  };
  const running = async (app: string) => waitFor(`${app} running`, async () => {
    const st = await world.status(app, 'web');
    const [c] = await world.running(app, 'web');
    return st?.phase === 'Running' && c ? c : undefined;
  }, 60_000);
  const cat = async (id: string, path: string) => (await dockerExec(world.docker, id, ['cat', path])).output;

  before(async () => {
    const r = await cli(world, '', 'cluster-key', 'init', '--out', keyFile);
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => {
    if (existsSync(tmpfsRoot()) && (await isTmpfs(tmpfsRoot()))) await promisify(execFile)('umount', [tmpfsRoot()]);
    rmSync(secretsDir, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  });

  const app = `shop-${world.id}`;
  const first = value(1);
  const second = value(2);
  let containerId = '';

  it('delivers a secret as a file and an env value, and a config as a file', async () => {
    await set('secret', `${app}/db-password`, first);
    await set('config', `${app}/site`, 'listen 8080\n');
    await world.putManifest(app, 'web', sleeperManifest({
      secrets: { 'db-password': '/run/secrets/db-password' },
      configs: { site: '/etc/site.conf' },
      env: { DB_PASSWORD: { secret: 'db-password' } },
    }));
    containerId = (await running(app)).Id;
    assert.equal(await cat(containerId, '/run/secrets/db-password'), first);
    assert.equal(await cat(containerId, '/etc/site.conf'), 'listen 8080\n');
    // In the environment of the container's process, not in its config (which Docker keeps on the host's disk).
    assert.equal((await world.env(containerId)).DB_PASSWORD, undefined);
    assert.ok(!JSON.stringify(await world.docker.getContainer(containerId).inspect()).includes(first), 'no value in docker inspect');
    const environ = await dockerExec(world.docker, containerId, ['sh', '-c', 'grep -aho "DB_PASSWORD=[[:alnum:]_-]*" /proc/[0-9]*/environ 2>/dev/null']);
    assert.equal(environ.output.trim(), `DB_PASSWORD=${first}`);
    const list = await cli(world, '', 'secret', 'list', app);
    assert.match(list.stdout, new RegExp(`${app}\\s+db-password\\s+1\\s+${first.length} B\\s+\\S+\\s+${app}/web`));
    assert.ok(!list.stdout.includes(first));
  });

  it('never stores the value in etcd in the clear (every key and value)', async () => {
    const all = await world.etcd.getAll().prefix('').strings();
    const text = Object.entries(all).map(([k, v]) => `${k}\n${v}`).join('\n');
    for (const form of [first, Buffer.from(first).toString('base64'), Buffer.from(first).toString('base64url')]) assert.ok(!text.includes(form), `no ${form} in etcd`);
    // Sealed to the cluster key, and once more to this node's key: there only.
    assert.deepEqual(await world.keysUnder(world.keys.sealed), [world.keys.sealedCopy(world.node, app, 'db-password')]);
  });

  it('keeps the file on a tmpfs of the host, mode 0400', async () => {
    const file = join(tmpfsRoot(), app, 'web', '0', 'secret-db-password');
    assert.ok(await isTmpfs(tmpfsRoot()), `${tmpfsRoot()} is a tmpfs mount (/proc/mounts)`);
    assert.equal(statSync(file).mode & 0o777, 0o400);
    // Env secrets: read by the container's start as whatever user the image runs as.
    assert.equal(statSync(join(tmpfsRoot(), app, 'web', '0', 'secret-env')).mode & 0o777, 0o444);
    assert.equal(statSync(join(tmpfsRoot(), app, 'web', '0', 'config-site')).mode & 0o777, 0o444);
  });

  it('rolls the replica when the secret gets a new value', async () => {
    await set('secret', `${app}/db-password`, second);
    const replaced = await waitFor('a new container', async () => {
      const [c] = await world.running(app, 'web');
      return c && c.Id !== containerId ? c : undefined;
    }, 60_000);
    assert.equal(await cat(replaced.Id, '/run/secrets/db-password'), second);
    // The status counts it as updated: its hash is the one with the new version.
    await waitFor('running, updated, on the new version', async () => {
      const st = await world.status(app, 'web');
      return st?.phase === 'Running' && st.updated === 1;
    }, 60_000);
  });

  it('removes the file and the sealed copy when the last replica leaves the host', async () => {
    await world.deleteManifest(app, 'web');
    await waitFor('container gone', async () => (await world.containers(app, 'web')).length === 0, 60_000);
    await waitFor('files gone', async () => !existsSync(join(tmpfsRoot(), app, 'web', '0')), 30_000);
    await waitFor('sealed copy gone', async () => (await world.keysUnder(world.keys.sealed)).length === 0, 30_000);
  });

  it('keeps a manifest naming a missing secret Pending, saying which', async () => {
    const other = `nosec-${world.id}`;
    await world.putManifest(other, 'web', sleeperManifest({ env: { TOKEN: { secret: 'api-token' } } }));
    const st = await waitFor('pending with the reason', async () => {
      const s = await world.status(other, 'web');
      return s?.phase === 'Pending' && s.message.includes('api-token') ? s : undefined;
    }, 30_000);
    assert.match(st.message, new RegExp(`secret api-token not found in app ${other}`));
    assert.deepEqual(await world.keysUnder(world.keys.placements), []);
    await set('secret', `${other}/api-token`, value(3));
    await waitFor('running once it exists', async () => (await world.status(other, 'web'))?.phase === 'Running', 60_000);
  });

  it('sets from a file and from a literal, lists configs, and removes either kind (the CLI against etcd; never a value in its output)', async () => {
    const cliApp = `cli-${world.id}`;
    const file = join(dir, 'token');
    const fromFile = value(4);
    writeFileSync(file, fromFile);
    const byFile = await cli(world, '', 'secret', 'set', `${cliApp}/token`, '--from-file', file);
    assert.equal(byFile.code, 0, byFile.stderr);
    assert.match(byFile.stdout, new RegExp(`secret ${cliApp}/token version 1 stored \\(${fromFile.length} bytes\\)`));
    const byLiteral = await cli(world, '', 'secret', 'set', `${cliApp}/token`, '--from-literal', 'short');
    assert.equal(byLiteral.code, 0, byLiteral.stderr);
    assert.match(byLiteral.stdout, /version 2 stored \(5 bytes\)/);
    const both = await cli(world, '', 'secret', 'set', `${cliApp}/token`, '--from-literal', 'x', '--from-stdin');
    assert.notEqual(both.code, 0);
    assert.match(both.stderr, /exactly one/);
    const secrets = await cli(world, '', 'secret', 'list', cliApp, '--json');
    assert.deepEqual((JSON.parse(secrets.stdout) as { name: string; version: number; size: number }[]).map((r) => [r.name, r.version, r.size]), [['token', 2, 5]]);
    assert.ok(!secrets.stdout.includes(fromFile) && !secrets.stdout.includes('short'));

    const conf = await cli(world, '', 'config', 'set', `${cliApp}/site`, '--from-literal', 'listen 80');
    assert.equal(conf.code, 0, conf.stderr);
    const configs = await cli(world, '', 'config', 'list', cliApp);
    assert.match(configs.stdout, new RegExp(`${cliApp}\\s+site\\s+1\\s+9 B`));

    for (const kind of ['secret', 'config']) {
      const name = kind === 'secret' ? 'token' : 'site';
      const rm = await cli(world, '', kind, 'rm', `${cliApp}/${name}`);
      assert.equal(rm.code, 0, rm.stderr);
      assert.equal(rm.stdout.trim(), `${kind} ${cliApp}/${name} removed`);
      assert.match((await cli(world, '', kind, 'list', cliApp)).stdout, new RegExp(`no ${kind}s in app ${cliApp}`));
      const again = await cli(world, '', kind, 'rm', `${cliApp}/${name}`);
      assert.notEqual(again.code, 0);
      assert.match(again.stderr, new RegExp(`no ${kind} ${name} in app ${cliApp}`));
    }
    assert.deepEqual([...(await world.keysUnder(world.keys.secrets)), ...(await world.keysUnder(world.keys.configs))].filter((k) => k.includes(cliApp)), []);
  });

  it('gives env secrets to a container that runs as another user than root', async () => {
    const asUser = `user-${world.id}`;
    const token = value(5);
    await set('secret', `${asUser}/token`, token);
    await world.putManifest(asUser, 'web', sleeperManifest({ user: '1000:1000', env: { TOKEN: { secret: 'token' } } }));
    const c = await running(asUser);
    const environ = await dockerExec(world.docker, c.Id, ['sh', '-c', 'grep -aho "TOKEN=[[:alnum:]_-]*" /proc/[0-9]*/environ 2>/dev/null']);
    assert.equal(environ.output.trim(), `TOKEN=${token}`);
    await world.deleteManifest(asUser, 'web');
  });
});

