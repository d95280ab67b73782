import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeRecord, PlacementRecord } from '../../api/records.js';
import { assertNoClusterKey, useControllersAndAgentProcess } from './support/dokkaa.js';
import { bigImage, cli, LocalRegistry } from './support/registry.js';
import { IMAGE, sleepMs, waitFor, type World } from './support/world.js';

const USER = 'pinner';
const PASSWORD = `pw-${randomBytes(4).toString('hex')}`;
const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** The digest the registry's tag names now, as a client asks for it. */
async function digestOf(registry: LocalRegistry, repo: string, tag: string): Promise<string> {
  const res = await fetch(`http://${registry.host}/v2/${repo}/manifests/${tag}`, {
    headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json', Authorization: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}` },
  });
  assert.equal(res.status, 200);
  return res.headers.get('docker-content-digest')!;
}

async function placements(world: World, app: string, name: string): Promise<PlacementRecord[]> {
  return Object.values(await world.etcd.getAll().prefix(world.keys.placements).strings())
    .map((v) => decodeRecord(PlacementRecord, v)!)
    .filter((p) => p.app === app && p.name === name)
    .sort((a, b) => a.replica - b.replica);
}

describe('pinned images (a real registry, a real engine)', () => {
  const keyFile = join(mkdtempSync(join(tmpdir(), 'dokkaa-key-')), 'cluster.key');
  // Only the controllers hold the cluster key; the agent pulls with credentials sealed to its own.
  const { world, agent } = useControllersAndAgentProcess({ clusterKeyFile: keyFile });
  let registry: LocalRegistry;
  const auth = () => ({ username: USER, password: PASSWORD, serveraddress: registry.host });

  before(async () => {
    registry = await LocalRegistry.start(USER, PASSWORD);
    assert.equal((await cli(world, '', 'cluster-key', 'init', '--out', keyFile)).code, 0);
    const login = await cli(world, `${PASSWORD}\n`, 'registry', 'login', registry.host, '--username', USER, '--password-stdin');
    assert.equal(login.code, 0, login.stderr);
  });
  after(async () => {
    await registry?.stop();
    rmSync(keyFile, { force: true });
  });

  it('runs by digest, keeps it when the tag is pushed anew, and rolls to the new digest on rollout restart', async () => {
    const app = `pin-${world.id}`;
    const tagged = `${registry.host}/busybox:1`;
    await LocalRegistry.push(world.docker, IMAGE, tagged, auth());
    const d1 = await digestOf(registry, 'busybox', '1');
    assert.match(d1, DIGEST);
    await world.putManifest(app, 'job', { image: tagged, command: ['sleep', '3600'] });
    const s1 = await waitFor('running', async () => {
      const st = await world.status(app, 'job');
      return st?.phase === 'Running' ? st : undefined;
    }, 60_000);

    assert.equal(s1.image, `${registry.host}/busybox@${d1}`, 'status shows the image by digest');
    const [p1] = await placements(world, app, 'job');
    assert.equal(p1!.spec.image, tagged, 'the tag stays for display');
    assert.equal(p1!.spec.imageDigest, d1);
    const [c1] = await world.running(app, 'job');
    const inspected = await world.docker.getContainer(c1!.Id).inspect();
    assert.equal(inspected.Config.Image, `${registry.host}/busybox@${d1}`, 'created from repo@digest');
    const image = await world.docker.getImage(`${registry.host}/busybox@${d1}`).inspect();
    assert.equal(inspected.Image, image.Id, 'the container runs the image the digest names');
    assert.ok(image.RepoDigests.includes(`${registry.host}/busybox@${d1}`));
    const described = await cli(world, '', 'describe', `${app}/job`);
    assert.match(described.stdout, new RegExp(`Image: +${tagged.replace(/\./g, '\\.')} pinned to ${d1}`));

    // Another image under the same tag: nothing running changes, and a scale-up runs the pinned digest too.
    await bigImage(world, `${registry.host}/other:1`, 0.1);
    await LocalRegistry.push(world.docker, `${registry.host}/other:1`, tagged, auth());
    const d2 = await digestOf(registry, 'busybox', '1');
    assert.notEqual(d2, d1);
    await world.putManifest(app, 'job', { image: tagged, command: ['sleep', '3600'], scale: 2 });
    await waitFor('two running', async () => (await world.status(app, 'job'))?.running === 2, 60_000);
    await sleepMs(2_000);
    assert.deepEqual((await placements(world, app, 'job')).map((p) => p.spec.imageDigest), [d1, d1]);
    assert.ok((await world.running(app, 'job')).some((c) => c.Id === c1!.Id), 'the first container still runs');

    const restart = await cli(world, '', 'rollout', 'restart', `${app}/job`);
    assert.equal(restart.code, 0, restart.stderr);
    assert.match(restart.stdout, /restart of .* requested/);
    await waitFor('rolled to the new digest', async () => {
      const ps = await placements(world, app, 'job');
      const st = await world.status(app, 'job');
      return ps.length === 2 && ps.every((p) => p.spec.imageDigest === d2) && st?.phase === 'Running' && st.updated === 2 ? true : undefined;
    }, 90_000, 250);
    assert.equal((await world.status(app, 'job'))!.image, `${registry.host}/busybox@${d2}`);
    const now = await world.running(app, 'job');
    assert.ok(!now.some((c) => c.Id === c1!.Id), 'the old container was replaced');
    for (const c of now) assert.equal((await world.docker.getContainer(c.Id).inspect()).Config.Image, `${registry.host}/busybox@${d2}`);
  });

  it('dokkaa pull puts the pinned image on the engine before any replica runs (an agent without the cluster key)', async () => {
    const app = `prepull-${world.id}`;
    assertNoClusterKey(agent());
    const tagged = `${registry.host}/pre:1`;
    await bigImage(world, tagged, 5);
    await LocalRegistry.push(world.docker, tagged, tagged, auth());
    await world.docker.getImage(tagged).remove({ force: true });
    const digest = await digestOf(registry, 'pre', '1');
    const pinned = `${registry.host}/pre@${digest}`;
    assert.equal(await world.docker.getImage(pinned).inspect().then(() => true, () => false), false, 'not on the engine yet');

    await world.putManifest(app, 'job', { image: tagged, command: ['/bin/sleep', '3600'], scale: 0 });
    await waitFor('the scheduler to pin it', async () => (await world.status(app, 'job'))?.image === pinned, 30_000);
    const pulled = await cli(world, '', 'pull', `${app}/job`, '--timeout', '60');
    assert.equal(pulled.code, 0, pulled.stderr + pulled.stdout);
    assert.match(pulled.stdout, new RegExp(`pulling ${pinned.replace(/\./g, '\\.')} on `));
    assert.match(pulled.stdout, /: pulled image .* MB in /);
    assert.match(pulled.stdout, /present on 1 node\(s\)/);
    assert.ok((await world.docker.getImage(pinned).inspect()).Id, 'on the engine');
    assert.deepEqual(await world.containers(app, 'job'), [], 'no replica ran');

    const again = await cli(world, '', 'pull', `${app}/job`);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /already present/);
  });
});
