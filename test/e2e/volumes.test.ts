import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AGENT_MODULES, CONTROLLER_MODULES, dokkaaCli, InProcessDokkaa } from './support/dokkaa.js';
import { dockerExec } from './support/exec.js';
import { sleeperManifest, waitFor, World } from './support/world.js';

/**
 * Volumes on a real engine: the controllers and the agent in this process, each started and
 * stopped on its own (an agent restart), data written through `docker exec` and read back.
 */
describe('volumes, one set per replica', () => {
  const world = new World();
  const shared = mkdtempSync(join(tmpdir(), 'dokkaa-vol-'));
  let controller: InProcessDokkaa;
  let agent: InProcessDokkaa | undefined;
  const startAgent = async () => (agent = await InProcessDokkaa.start(world.config({ allowHostPaths: [shared] }), AGENT_MODULES));
  const volumesOf = async (app: string) =>
    ((await world.docker.listVolumes({ filters: { label: [`dokkaa.node=${world.node}`, `dokkaa.app=${app}`] } })).Volumes ?? []).map((v) => v.Name).sort();
  /** The running container of replica `replica`. */
  const containerOf = async (app: string, name: string, replica: number) =>
    (await world.running(app, name)).find((c) => c.Labels['dokkaa.replica'] === String(replica));
  const exec = async (app: string, name: string, replica: number, script: string) => {
    const c = await containerOf(app, name, replica);
    assert.ok(c, `replica ${replica} runs`);
    return (await dockerExec(world.docker, c.Id, ['sh', '-c', script])).output.trim();
  };
  const running = (app: string, name: string, n: number) =>
    waitFor(`${app}/${name} ${n} running`, async () => {
      const s = await world.status(app, name);
      return s?.phase === 'Running' && s.running === n && (await world.running(app, name)).length === n;
    }, 60_000);
  const db = (extra: Record<string, unknown> = {}) => sleeperManifest({ volumes: { data: '/data' }, ...extra });

  before(async () => {
    controller = await InProcessDokkaa.start(world.config(), CONTROLLER_MODULES);
    await startAgent();
  });
  after(async () => {
    await agent?.stop();
    await controller?.stop();
    const left = (await world.docker.listVolumes({ filters: { label: [`dokkaa.node=${world.node}`] } })).Volumes ?? [];
    await world.cleanup();
    for (const v of left) await world.docker.getVolume(v.Name).remove().catch(() => undefined);
    rmSync(shared, { recursive: true, force: true });
  });

  it('keeps what a replica wrote across a crash, a rolling update and an agent restart', async () => {
    const app = `upd-${world.id}`;
    await world.putManifest(app, 'db', db());
    await running(app, 'db', 1);
    assert.deepEqual(await volumesOf(app), [`${app}---db---0---data`]);
    await exec(app, 'db', 0, 'echo kept > /data/f');
    const first = (await containerOf(app, 'db', 0))!.Id;

    // A crash: the process dies (SIGKILL), the agent starts the same container again, with its data.
    await world.docker.getContainer(first).kill({ signal: 'SIGKILL' });
    await waitFor('restarted after the crash', async () => {
      const c = await containerOf(app, 'db', 0);
      const s = await world.status(app, 'db');
      return c?.Id === first && s?.phase === 'Running' && (s.replicas[0]?.restarts ?? 0) >= 1;
    }, 60_000);
    assert.equal(await exec(app, 'db', 0, 'cat /data/f'), 'kept');

    await world.putManifest(app, 'db', db({ env: { VERSION: '2' } }));
    await waitFor('a new container on the new spec', async () => {
      const c = await containerOf(app, 'db', 0);
      return c && c.Id !== first && (await world.status(app, 'db'))?.phase === 'Running';
    }, 60_000);
    assert.equal(await exec(app, 'db', 0, 'cat /data/f'), 'kept');

    // The agent goes; its container is lost meanwhile; the new agent makes another that finds the data.
    await agent!.stop();
    agent = undefined;
    const second = (await containerOf(app, 'db', 0))!.Id;
    await world.docker.getContainer(second).remove({ force: true });
    await startAgent();
    await waitFor('a third container', async () => {
      const c = await containerOf(app, 'db', 0);
      return c && c.Id !== second;
    }, 60_000);
    assert.equal(await exec(app, 'db', 0, 'cat /data/f'), 'kept');
    assert.deepEqual(await volumesOf(app), [`${app}---db---0---data`]);
  });

  it('scales 3 -> 1 -> 3 and each replica finds its own data again', async () => {
    const app = `scale-${world.id}`;
    await world.putManifest(app, 'db', db({ scale: 3 }));
    await running(app, 'db', 3);
    for (const i of [0, 1, 2]) await exec(app, 'db', i, `echo replica-${i} > /data/f`);

    await world.putManifest(app, 'db', db({ scale: 1 }));
    await waitFor('1 container', async () => (await world.containers(app, 'db')).length === 1, 60_000);
    assert.equal((await volumesOf(app)).length, 3, 'the volumes of removed replicas stay');

    await world.putManifest(app, 'db', db({ scale: 3 }));
    await running(app, 'db', 3);
    for (const i of [0, 1, 2]) assert.equal(await exec(app, 'db', i, 'cat /data/f'), `replica-${i}`);
  });

  it('keeps volumes when a manifest is deleted, removes one with volume rm, and all with delete --purge', async () => {
    const app = `del-${world.id}`;
    await world.putManifest(app, 'db', db({ scale: 2 }));
    await running(app, 'db', 2);
    await world.putManifest(app, 'db', db({ scale: 1 }));
    await waitFor('1 container', async () => (await world.containers(app, 'db')).length === 1, 60_000);

    const inUse = await dokkaaCli(world, 'volume', 'rm', `${app}/db/0/data`);
    assert.equal(inUse.code, 1);
    assert.match(inUse.stderr, /is in use on node-/);
    const rm = await dokkaaCli(world, 'volume', 'rm', `${app}/db/1/data`);
    assert.equal(rm.code, 0, rm.stderr);
    await waitFor('replica 1 volume removed', async () => JSON.stringify(await volumesOf(app)) === JSON.stringify([`${app}---db---0---data`]), 30_000);

    const del = await dokkaaCli(world, 'delete', `${app}/db`);
    assert.equal(del.code, 0, del.stderr);
    await waitFor('no container', async () => (await world.containers(app, 'db')).length === 0, 60_000);
    assert.deepEqual(await volumesOf(app), [`${app}---db---0---data`]);
    const listed = JSON.parse((await dokkaaCli(world, 'volumes', app, '--json')).stdout) as { replica: number; volume: string; node: string; inUse: boolean }[];
    assert.deepEqual(listed.map((r) => [r.replica, r.volume, r.node, r.inUse]), [[0, 'data', world.node, false]]);

    const purge = await dokkaaCli(world, 'delete', `${app}/db`, '--purge');
    assert.equal(purge.code, 0, purge.stderr);
    assert.match(purge.stdout, /was deleted before; 1 replica volume set\(s\) will be removed/);
    await waitFor('volumes purged', async () => (await volumesOf(app)).length === 0 && (await world.keysUnder(world.keys.volumes)).every((k) => !k.includes(`/${app}/`)), 30_000);
  });

  it('refuses a host path the agent does not allow, and mounts one it does', async () => {
    const app = `host-${world.id}`;
    await world.putManifest(app, 'etc', sleeperManifest({ volumes: { etc: { hostPath: '/etc', path: '/host-etc' } } }));
    const s = await waitFor('the refusal in the status', async () => {
      const st = await world.status(app, 'etc');
      return st?.replicas[0]?.state === 'failed' ? st : undefined;
    }, 30_000);
    assert.equal(s.replicas[0]!.message, `host path /etc is not allowed on ${world.node} (--allow-host-path)`);
    assert.equal((await world.containers(app, 'etc')).length, 0);

    await world.putManifest(app, 'ok', sleeperManifest({ volumes: { shared: { hostPath: shared, path: '/shared' } } }));
    await running(app, 'ok', 1);
    await exec(app, 'ok', 0, 'echo from-container > /shared/out');
    assert.equal(readFileSync(join(shared, 'out'), 'utf8').trim(), 'from-container');
  });
});
