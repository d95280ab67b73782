import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useDokkaa } from './support/dokkaa.js';
import { nginxManifest, sleeperManifest, waitFor } from './support/world.js';

describe('replica lifecycle on real etcd and Docker', () => {
  const { world } = useDokkaa();

  const runningIds = async (app: string, name: string) => (await world.running(app, name)).map((c) => c.Id).sort();

  it('scales 1 -> 3 -> 1 without touching the replica that stays', async () => {
    const app = `scale-${world.id}`;
    await world.putManifest(app, 'web', nginxManifest({ scale: 1 }));
    await waitFor('1 running', async () => (await world.status(app, 'web'))?.phase === 'Running');
    const [first] = await world.running(app, 'web');
    assert.ok(first);

    await world.putManifest(app, 'web', nginxManifest({ scale: 3 }));
    await waitFor('3 running', async () => {
      const s = await world.status(app, 'web');
      return s?.phase === 'Running' && s.running === 3 && (await world.running(app, 'web')).length === 3;
    });
    const three = await world.running(app, 'web');
    assert.deepEqual(three.map((c) => c.Names[0]).sort(), [0, 1, 2].map((i) => `/${app}---web---${i}`));
    assert.ok(three.some((c) => c.Id === first.Id), 'replica 0 kept its container');

    await world.putManifest(app, 'web', nginxManifest({ scale: 1 }));
    await waitFor('back to 1 container', async () => (await world.containers(app, 'web')).length === 1);
    assert.deepEqual(await runningIds(app, 'web'), [first.Id]);
    const s = await waitFor('status 1/1', async () => {
      const st = await world.status(app, 'web');
      return st?.desired === 1 && st.phase === 'Running' ? st : undefined;
    });
    assert.equal(s.replicas.length, 1);
  });

  it('replaces the container when the command changes', async () => {
    const app = `cmd-${world.id}`;
    await world.putManifest(app, 'job', sleeperManifest());
    await waitFor('running', async () => (await world.status(app, 'job'))?.phase === 'Running');
    const [before] = await world.running(app, 'job');
    await world.putManifest(app, 'job', sleeperManifest({ command: ['sleep', '7200'] }));
    const after = await waitFor('replaced', async () => {
      const cs = await world.running(app, 'job');
      return cs.length === 1 && cs[0]!.Id !== before!.Id ? cs[0] : undefined;
    });
    assert.equal(after.Command.includes('7200'), true, `new command runs: ${after.Command}`);
    assert.equal((await world.containers(app, 'job')).length, 1, 'the old container is gone');
    await waitFor('status Running on the new revision', async () => {
      const s = await world.status(app, 'job');
      return s?.phase === 'Running' && s.replicas[0]?.containerId === after.Id;
    });
  });

  it('brings back a container killed or removed from outside', async () => {
    const app = `heal-${world.id}`;
    await world.putManifest(app, 'web', nginxManifest());
    await waitFor('running', async () => (await world.status(app, 'web'))?.phase === 'Running');
    const [c] = await world.running(app, 'web');
    await world.docker.getContainer(c!.Id).kill();
    await waitFor('restarted in place', async () => {
      const s = await world.status(app, 'web');
      return s?.phase === 'Running' && s.replicas[0]?.restarts === 1 && s.replicas[0]?.containerId === c!.Id;
    });
    assert.equal((await world.running(app, 'web')).length, 1);

    await world.docker.getContainer(c!.Id).remove({ force: true });
    const fresh = await waitFor('recreated', async () => {
      const cs = await world.running(app, 'web');
      return cs.length === 1 && cs[0]!.Id !== c!.Id ? cs[0] : undefined;
    });
    await waitFor('status names the new container', async () => (await world.status(app, 'web'))?.replicas[0]?.containerId === fresh.Id);
  });

  it('honours restart "never" and "on-failure"', async () => {
    const app = `policy-${world.id}`;
    await world.putManifest(app, 'once', { image: 'dokkaa/busybox', command: ['sh', '-c', 'exit 3'], restart: 'never' });
    await world.putManifest(app, 'ok', { image: 'dokkaa/busybox', command: ['true'], restart: 'on-failure' });
    const once = await waitFor('never: exited and Failed', async () => {
      const s = await world.status(app, 'once');
      return s?.replicas[0]?.state === 'exited' ? s : undefined;
    });
    assert.equal(once.phase, 'Failed');
    assert.equal(once.replicas[0]!.exitCode, 3);
    assert.equal(once.replicas[0]!.restarts, 0);
    const ok = await waitFor('on-failure: clean exit stays exited', async () => {
      const s = await world.status(app, 'ok');
      return s?.replicas[0]?.state === 'exited' ? s : undefined;
    });
    assert.equal(ok.replicas[0]!.exitCode, 0);
    assert.equal(ok.replicas[0]!.restarts, 0);
  });

  it('backs off a crash loop, each wait longer than the last', async () => {
    const app = `crash-${world.id}`;
    await world.putManifest(app, 'loop', { image: 'dokkaa/busybox', command: ['sh', '-c', 'exit 1'] });
    // Record when each restart is first seen, and whether the backoff state shows.
    const seenAt = new Map<number, number>();
    let backoffStatus: { phase: string; message: string } | undefined;
    await waitFor('three restarts', async () => {
      const st = await world.status(app, 'loop');
      const r = st?.replicas[0];
      if (r && !seenAt.has(r.restarts)) seenAt.set(r.restarts, Date.now());
      if (r?.state === 'CrashLoopBackOff') backoffStatus = { phase: st!.phase, message: st!.message };
      return (r?.restarts ?? 0) >= 3 ? st : undefined;
    }, 30_000, 50);
    assert.ok(backoffStatus, 'status showed the replica backing off');
    assert.equal(backoffStatus.phase, 'Failed', 'no replica runs while the only one backs off');
    assert.match(backoffStatus.message, /back-off/);
    const gap1 = seenAt.get(2)! - seenAt.get(1)!;
    const gap2 = seenAt.get(3)! - seenAt.get(2)!;
    // Waits of 1 s, 2 s, 4 s after each crash: gaps grow.
    assert.ok(gap1 >= 1500, `second restart waited ${gap1} ms`);
    assert.ok(gap2 >= 3000, `third restart waited ${gap2} ms`);
  });

  it('deleting a manifest removes its containers, placements, endpoints, links and status', async () => {
    const app = `del-${world.id}`;
    await world.putManifest(app, 'web', nginxManifest({ scale: 2 }));
    await world.putManifest(app, 'client', { ...sleeperManifest(), links: ['nginx'] });
    await waitFor('both Running', async () =>
      (await world.status(app, 'web'))?.phase === 'Running' && (await world.status(app, 'client'))?.phase === 'Running');
    assert.equal((await world.endpointKeys(app, 'nginx')).length, 2);
    assert.equal((await world.keysUnder(world.keys.link(app, 'client'))).length, 1);

    await world.deleteManifest(app, 'web');
    await world.deleteManifest(app, 'client');
    await waitFor('everything gone', async () => {
      const left = [
        ...(await world.containers(app)).map((c) => c.Names[0]),
        // Events stay, as in Kubernetes, until their lease expires (an hour).
        ...(await world.keysUnder(`${world.prefix}/`)).filter((k) => k.includes(`/${app}/`) && !k.startsWith(world.keys.events)),
      ];
      return left.length === 0 ? true : undefined;
    }, 40_000);
  });
});
