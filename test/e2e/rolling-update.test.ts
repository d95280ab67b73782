import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeRecord, EventRecord, PortRecord, ReplicaRecord, RolloutRecord } from '../../api/records.js';
import { rollback, rolloutStatus } from '../../cli/lifecycle-commands.js';
import { bridgeGatewayOf, type BridgeInspect } from '../../src/docker/dockerode-engine.js';
import { useDokkaa } from './support/dokkaa.js';
import { IMAGE, sleepMs, waitFor } from './support/world.js';

/** busybox httpd serving a page that names the version, checked over TCP by the agent. */
const web = (version: string, extra: Record<string, unknown> = {}) => ({
  image: 'dokkaa/busybox',
  scale: 4,
  command: ['sh', '-c', `echo ${version} > /www/version.html; exec httpd -f -p 80 -h /www`],
  services: { web: 80 },
  health: { tcp: 80, interval: '500ms', timeout: '1s', retries: 2 },
  stopGracePeriod: '2s',
  ...extra,
});

describe('rolling updates, health gates and rollback', () => {
  const { world } = useDokkaa();

  const endpoints = async (app: string) => (await world.endpointKeys(app, 'web')).length;
  const replicas = async (app: string) =>
    (await world.replicaValues(app, 'web')).map((v) => decodeRecord(ReplicaRecord, v)!);
  const rolloutOf = async (app: string) => decodeRecord(RolloutRecord, await world.etcd.get(world.keys.rollout(app, 'web')).string());

  /** Waits for a complete rollout while sampling the number of endpoints; returns the fewest seen. */
  async function rollThrough(app: string, manifest: object): Promise<{ fewest: number; ms: number }> {
    const { header } = await world.etcd.put(world.keys.manifest(app, 'web')).value(JSON.stringify(manifest)).exec();
    const revision = Number(header.revision);
    const t0 = Date.now();
    let fewest = Infinity;
    await waitFor('rollout complete', async () => {
      fewest = Math.min(fewest, await endpoints(app));
      const r = await rolloutOf(app);
      assert.notEqual(r?.phase, 'Stalled', r?.message);
      const s = await world.status(app, 'web');
      return r?.phase === 'Complete' && r.targetRevision === revision && s?.phase === 'Running' && s.updated === 4;
    }, 120_000, 50);
    return { fewest, ms: Date.now() - t0 };
  }

  /** Steady HTTP requests through the ambassador's stable port until stopped; counts failures. */
  function steadyLoad(gateway: string, port: number): { stop: () => Promise<{ sent: number; failed: number }> } {
    let running = true;
    let sent = 0;
    let failed = 0;
    const loop = (async () => {
      while (running) {
        sent++;
        try {
          const res = await fetch(`http://${gateway}:${port}/version.html`, { signal: AbortSignal.timeout(2000) });
          if (!res.ok) failed++;
          await res.text();
        } catch {
          failed++;
        }
        await sleepMs(20);
      }
    })();
    return { stop: async () => ((running = false), await loop, { sent, failed }) };
  }

  for (const order of ['stop-first', 'start-first'] as const) {
    it(`rolls 4 replicas ${order}, never below ${order === 'start-first' ? 4 : 3} ready, under steady load`, async () => {
      const app = `roll-${order.slice(0, 5)}-${world.id}`;
      await world.putManifest(app, 'web', web('v1', { update: { order } }));
      // A consumer linking to the service gets it a stable ambassador port on this host.
      await world.putManifest(app, 'client', { image: 'dokkaa/busybox', command: ['sleep', '3600'], links: ['web'] });
      await waitFor('v1 Running with 4 endpoints', async () => (await world.status(app, 'web'))?.phase === 'Running' && (await endpoints(app)) === 4, 60_000);
      // The ambassador listens on the bridge gateway only (where containers reach it).
      const gateway = bridgeGatewayOf((await world.docker.getNetwork('bridge').inspect()) as BridgeInspect)!;
      const port = (await waitFor('an ambassador port', async () => decodeRecord(PortRecord, await world.etcd.get(world.keys.port(app, 'web')).string())))!.port;
      await waitFor('the ambassador serves', async () => (await fetch(`http://${gateway}:${port}/version.html`).then((r) => r.text()).catch(() => '')).includes('v1'));
      const v1 = (await world.running(app, 'web')).map((c) => c.Id);

      const load = steadyLoad(gateway, port);
      const { fewest, ms } = await rollThrough(app, web('v2', { update: { order } }));
      const { sent, failed } = await load.stop();
      console.log(`rolling update (${order}) of 4 replicas: ${(ms / 1000).toFixed(1)} s, fewest endpoints ${fewest}, requests ${sent}, failed ${failed}`);
      assert.ok(failed <= sent * 0.05, `${failed} of ${sent} requests failed during the update`);
      assert.ok(fewest >= (order === 'start-first' ? 4 : 3), `fewest ready endpoints during the update: ${fewest}`);
      // Complete once 4 updated replicas serve; the last old one may still be draining.
      const v2 = await waitFor('the old containers gone', async () => {
        const running = await world.running(app, 'web');
        return running.every((c) => !v1.includes(c.Id)) ? running : undefined;
      });
      assert.equal(v2.length, 4);
      assert.ok(v2.every((c) => !v1.includes(c.Id)), 'every container replaced');
      assert.deepEqual(v2.map((c) => c.Names[0]).sort(), [0, 1, 2, 3].map((i) => `/${app}---web---${i}`));
    });
  }

  it('stops a crashing update after the first replica, keeps the others serving, and rolls back', async () => {
    const app = `bad-roll-${world.id}`;
    await world.putManifest(app, 'web', web('good'));
    await waitFor('good Running', async () => (await world.status(app, 'web'))?.phase === 'Running' && (await endpoints(app)) === 4, 60_000);
    const good = (await replicas(app))[0]!.templateHash;

    await world.putManifest(app, 'web', web('bad', { command: ['sh', '-c', 'echo dying; exit 1'] }));
    const stalled = await waitFor('rollout stalled', async () => {
      const r = await rolloutOf(app);
      return r?.phase === 'Stalled' ? r : undefined;
    }, 60_000);
    assert.match(stalled.message, /rollout stalled: replica \d/);
    // The status follows the rollout record through its own watch: a moment later.
    const s = await waitFor('status says the rollout stalled', async () => {
      const st = await world.status(app, 'web');
      return st && /rollout stalled/.test(st.message) ? st : undefined;
    }, 10_000);
    assert.equal(s.phase, 'Degraded');
    const recs = await replicas(app);
    assert.equal(recs.filter((r) => r.templateHash === good && r.ready).length, 3, 'three replicas keep the old spec, ready');
    assert.equal(await endpoints(app), 3);
    const crashed = recs.find((r) => r.templateHash !== good)!;
    assert.ok(crashed.lastLog?.includes('dying'), `the crashed replica's last output is kept: ${JSON.stringify(crashed.lastLog)}`);

    // Wait a while: the rollout must not go on by itself.
    await sleepMs(2000);
    assert.equal((await replicas(app)).filter((r) => r.templateHash === good).length, 3);

    await assert.rejects(rolloutStatus(`${app}/web`, { timeoutSeconds: 30 }, world.config(), () => undefined), /stalled/);
    console.log(await rollback(`${app}/web`, world.config()));
    const reasons = (await world.eventValues(app, 'web')).map((v) => decodeRecord(EventRecord, v)!.reason);
    for (const reason of ['Scheduled', 'Started', 'Killed', 'BackOff', 'RolloutStalled', 'RolledBack']) assert.ok(reasons.includes(reason), `event ${reason} in ${reasons.join(',')}`);
    await waitFor('rolled back: 4 on the good spec, Running', async () => {
      const st = await world.status(app, 'web');
      const rs = await replicas(app);
      return st?.phase === 'Running' && rs.length === 4 && rs.every((r) => r.templateHash === good && r.ready);
    }, 60_000);
    const progress: string[] = [];
    assert.match(await rolloutStatus(`${app}/web`, { timeoutSeconds: 60 }, world.config(), (l) => progress.push(l)), /complete/);
    assert.ok(progress.length > 0, 'progress lines printed');
  });

  it('removes the endpoint of a replica whose health check fails, before its traffic fails', async () => {
    const app = `health-${world.id}`;
    await world.putManifest(app, 'web', web('h', { scale: 1, health: { http: { port: 80, path: '/version.html' }, interval: '500ms', retries: 2 } }));
    await waitFor('Running with an endpoint', async () => (await world.status(app, 'web'))?.phase === 'Running' && (await endpoints(app)) === 1, 60_000);
    const [c] = await world.running(app, 'web');
    // The check's page goes; the server still serves everything else.
    const exec = await world.docker.getContainer(c!.Id).exec({ Cmd: ['rm', '/www/version.html'] });
    await exec.start({});
    // Deregistered before the restart: the endpoint goes while the replica still counts no restart.
    let restartsWhenRemoved = -1;
    await waitFor('endpoint removed', async () => {
      if ((await endpoints(app)) !== 0) return false;
      restartsWhenRemoved = (await replicas(app))[0]?.restarts ?? -1;
      return true;
    }, 30_000, 50);
    assert.equal(restartsWhenRemoved, 0, 'the endpoint is removed before the container restarts');
    // Unhealthy means restarted: the command writes the page again and it comes back.
    await waitFor('healthy again after a restart', async () => {
      const s = await world.status(app, 'web');
      return s?.phase === 'Running' && (s.replicas[0]?.restarts ?? 0) >= 1 && (await endpoints(app)) === 1;
    }, 30_000);
  });

  it('restarts nothing on a scale-only change, and never touches a container without Dokkaa labels', async () => {
    const app = `scale-only-${world.id}`;
    const hand = await world.docker.createContainer({ name: `hand-made-${world.id}`, Image: IMAGE, Cmd: ['sleep', '3600'], HostConfig: { Init: true } });
    await hand.start();
    try {
      await world.putManifest(app, 'web', web('s', { scale: 2 }));
      await waitFor('Running', async () => (await world.status(app, 'web'))?.phase === 'Running', 60_000);
      const before = (await world.running(app, 'web')).map((c) => c.Id).sort();
      await world.putManifest(app, 'web', web('s', { scale: 3, update: { parallelism: 2 } }));
      await waitFor('3 Running', async () => (await world.status(app, 'web'))?.running === 3, 60_000);
      const after = (await world.running(app, 'web')).map((c) => c.Id);
      assert.ok(before.every((id) => after.includes(id)), 'the two existing containers were not replaced');
      assert.deepEqual((await world.status(app, 'web'))!.replicas.map((r) => r.restarts), [0, 0, 0]);
      await world.deleteManifest(app, 'web');
      await waitFor('deleted', async () => (await world.containers(app)).length === 0, 30_000);
      assert.equal((await hand.inspect()).State.Running, true, 'the hand-made container still runs');
    } finally {
      await hand.remove({ force: true });
    }
  });
});
