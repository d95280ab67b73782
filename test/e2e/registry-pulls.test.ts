import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { decodeRecord, ReplicaRecord } from '../../api/records.js';
import { assertNoClusterKey, useControllersAndAgentProcess } from './support/dokkaa.js';
import { bigImage, cli, LocalRegistry } from './support/registry.js';
import { IMAGE, waitFor, type World } from './support/world.js';

const USER = 'puller';
const PASSWORD = `pw-${randomBytes(4).toString('hex')}`;

/** Image pull events of the engine for `ref` since `sinceSec`. */
async function pullEvents(world: World, ref: string, sinceSec: number): Promise<number> {
  const stream = (await world.docker.getEvents({ since: sinceSec, until: Math.ceil(Date.now() / 1000) + 1, filters: { type: ['image'], event: ['pull'] } })) as NodeJS.ReadableStream;
  let text = '';
  for await (const chunk of stream) text += chunk.toString();
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { Actor?: { ID?: string }; id?: string }).filter((e) => (e.Actor?.ID ?? e.id) === ref).length;
}

describe('private registry pulls (a real registry with htpasswd, a real engine)', () => {
  const keyFile = join(mkdtempSync(join(tmpdir(), 'dokkaa-key-')), 'cluster.key');
  // Only the controllers hold the cluster key; the agent pulls with credentials sealed to its own.
  const { world, agent } = useControllersAndAgentProcess({ clusterKeyFile: keyFile });
  let registry: LocalRegistry;
  const good = () => ({ username: USER, password: PASSWORD, serveraddress: registry.host });

  before(async () => {
    registry = await LocalRegistry.start(USER, PASSWORD);
    for (const tag of ['1', '2']) await LocalRegistry.push(world.docker, IMAGE, `${registry.host}/busybox:${tag}`, good());
    const init = await cli(world, '', 'cluster-key', 'init', '--out', keyFile);
    assert.equal(init.code, 0, init.stderr);
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
  });
  after(async () => {
    await registry?.stop();
    rmSync(keyFile, { force: true });
  });

  const login = async (password: string) => {
    const r = await cli(world, `${password}\n`, 'registry', 'login', registry.slowHost, '--username', USER, '--password-stdin');
    assert.equal(r.code, 0, r.stderr);
  };
  const replicas = async (app: string, name: string) =>
    (await world.replicaValues(app, name)).map((v) => decodeRecord(ReplicaRecord, v)!);

  it('stores the credentials sealed: list shows host and user, etcd holds no password', async () => {
    await login(PASSWORD);
    const list = await cli(world, '', 'registry', 'list');
    assert.match(list.stdout, new RegExp(`${registry.slowHost.replace(/\./g, '\\.')}\\s+${USER}`));
    const all = Object.values(await world.etcd.getAll().prefix(world.keys.all).strings()).join('\n');
    assert.ok(!all.includes(PASSWORD), 'no password in etcd in the clear');
  });

  it('pulls with good credentials and runs the replica, on an agent that has no cluster key', async () => {
    const app = `good-${world.id}`;
    assertNoClusterKey(agent());
    await world.putManifest(app, 'job', { image: `${registry.slowHost}/busybox:1`, command: ['sleep', '3600'] });
    await waitFor('running', async () => (await world.status(app, 'job'))?.phase === 'Running', 60_000);
    // Pulled with this host's own copy of the credentials, which only its key opens.
    const copy = await world.etcd.get(world.keys.sealedRegistry(world.node, registry.slowHost)).string();
    assert.ok(copy, 'the node holds a sealed copy of the registry\'s credentials');
    assert.ok(!copy.includes(PASSWORD));
  });

  it('fails with "authentication" in the status with bad credentials, and runs once they are fixed', async () => {
    const app = `bad-${world.id}`;
    await login('wrong-password');
    await world.putManifest(app, 'job', { image: `${registry.slowHost}/busybox:2`, command: ['sleep', '3600'] });
    const s = await waitFor('an authentication failure', async () => {
      const st = await world.status(app, 'job');
      return st?.message.includes('authentication') ? st : undefined;
    }, 60_000);
    // The scheduler meets the registry first, pinning the tag to a digest (docs/registries.md).
    assert.match(s.message, /image 127\.0\.0\.1:\d+\/busybox:2 not pinned: authentication failed/);
    await login(PASSWORD);
    await waitFor('running after the fix', async () => (await world.status(app, 'job'))?.phase === 'Running', 90_000);
  });

  it('says "not found" for a missing tag', async () => {
    const app = `missing-${world.id}`;
    await world.putManifest(app, 'job', { image: `${registry.slowHost}/busybox:nope`, command: ['sleep', '3600'] });
    const s = await waitFor('not found', async () => {
      const st = await world.status(app, 'job');
      return st?.message.includes('not found') ? st : undefined;
    }, 60_000);
    assert.match(s.message, /image 127\.0\.0\.1:\d+\/busybox:nope not pinned: image or tag not found/);
  });

  it('shows the progress of a large pull, and pulls once for two replicas on the host', async () => {
    const app = `big-${world.id}`;
    const local = `${registry.host}/big:1`;
    await bigImage(world, local, 40);
    await LocalRegistry.push(world.docker, local, local, good());
    await world.docker.getImage(local).remove({ force: true });
    const ref = `${registry.slowHost}/big:1`;
    const since = Math.floor(Date.now() / 1000);
    await world.putManifest(app, 'job', { image: ref, command: ['/bin/sleep', '3600'], scale: 2 });
    const seen = new Set<string>();
    const progress = /pulling 127\.0\.0\.1:\d+\/big@sha256:[0-9a-f]{64} ([1-9]|[1-9]\d)% \(\d+\/4\d MB\)/;
    let described = '';
    await waitFor('both running', async () => {
      for (const r of await replicas(app, 'job')) if (r.message) seen.add(r.message);
      const st = await world.status(app, 'job');
      if (st?.message.includes('pulling')) seen.add(`status: ${st.message}`);
      // `dokkaa describe` shows it too, while it lasts.
      if (st?.message.includes('pulling') && !progress.test(described)) described = (await cli(world, '', 'describe', `${app}/job`)).stdout;
      return st?.phase === 'Running' && st.running === 2;
    }, 90_000, 200);
    assert.match(described, progress, 'describe shows the pull mid-way');
    // Pinned: the hosts pull the digest the tag named when the manifest was applied.
    const partial = [...seen].filter((m) => progress.test(m));
    assert.ok(partial.length >= 2, `progress seen mid-pull: ${[...seen].join(' | ')}`);
    assert.ok([...seen].some((m) => m.startsWith('status: ') && m.includes('pulling')), 'status shows the pull');
    const pinned = (await world.status(app, 'job'))!.image!;
    assert.match(pinned, /\/big@sha256:/);
    assert.equal(await pullEvents(world, pinned, since), 1, 'one pull at the engine');
  });

  it('takes the node\'s copy of the credentials back at logout', async () => {
    const copy = world.keys.sealedRegistry(world.node, registry.slowHost);
    assert.ok(await world.etcd.get(copy).string(), 'the node holds a copy while it runs images of the registry');
    const out = await cli(world, '', 'registry', 'logout', registry.slowHost);
    assert.equal(out.code, 0, out.stderr);
    await waitFor('the copy removed', async () => (await world.etcd.get(copy).string()) === null, 30_000);
  });
});
