import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { LinkRecord, PlacementRecord, ReplicaRecord } from '../../api/records.js';
import { containerTemplate } from '../../controllers/node-runner/container-template.js';
import { placement, spec } from './builders.js';
import { flush } from './fake-clock.js';
import { nodeRunnerWorld } from './node-runner-world.js';

/** One reconcile after another on fakes: what the engine was asked and what the record says. */

const ID = 'app/web/0';
const NAME = 'app---web---0';
const web = (extra: object = {}) => placement(spec({ image: 'nginx', services: { web: 80 }, ...extra }), 0, 'h1');

async function world(p?: PlacementRecord) {
  const w = await nodeRunnerWorld();
  const place = (pl: PlacementRecord) => w.store.put(w.keys.placement('h1', 'app', 'web', 0), JSON.stringify(pl));
  if (p) await place(p);
  return {
    ...w,
    place,
    reconcile: () => w.reconciler.reconcile(ID, w.log),
    record: async () => {
      const kv = await w.store.get(w.keys.replica('h1', 'app', 'web', 0));
      return kv && (JSON.parse(kv.value) as ReplicaRecord);
    },
    /** The engine calls since the last time this was asked. */
    calls: (() => {
      let seen = 0;
      return () => w.engine.calls.slice(seen, (seen = w.engine.calls.length));
    })(),
  };
}

describe('NodeRunnerReconciler', () => {
  it('creates and starts a placed replica and records it ready; a second pass changes nothing', async () => {
    const w = await world(web());
    assert.equal(await w.reconcile(), undefined);
    assert.deepEqual(w.calls(), ['pull nginx:latest', `create ${NAME}`, 'start c1']);
    const r = await w.record();
    assert.equal(r?.state, 'running');
    assert.equal(r?.containerId, 'c1');
    assert.equal(r?.containerName, NAME);
    assert.equal(r?.ready, true);
    assert.deepEqual(r?.ports, { web: { containerPort: 80, hostPort: 32010, protocol: 'tcp' } });
    assert.deepEqual(w.events.map((e) => e.reason), ['Pulling', 'Pulled', 'Started']);

    const rev = w.store.revision;
    assert.equal(await w.reconcile(), undefined);
    assert.deepEqual(w.calls(), []);
    assert.equal(w.store.revision, rev, 'the same record is not written again');
  });

  it('reads the replica\'s containers from the container cache, not with a list call per reconcile', async () => {
    const w = await world(web());
    const listed = w.engine.lists;
    await w.reconcile();
    await w.store.delete(w.keys.placement('h1', 'app', 'web', 0));
    await w.records.synced();
    await w.reconcile();
    assert.deepEqual(w.calls(), ['pull nginx:latest', `create ${NAME}`, 'start c1', 'stop c1 10', 'remove c1']);
    assert.equal(w.engine.lists, listed, 'no list call');
  });

  it('asks the engine for an image once; one removed behind its back fails the create, and the retry pulls it', async () => {
    const w = await world(web());
    w.engine.strictImages = true;
    const again = async () => {
      await w.store.delete(w.keys.placement('h1', 'app', 'web', 0));
      await flush();
      await w.reconcile();
      await w.place(web());
      await flush();
    };
    await w.reconcile();
    assert.deepEqual(w.calls(), ['pull nginx:latest', `create ${NAME}`, 'start c1']);
    assert.equal(w.engine.imageChecks, 1);
    await again();
    w.calls();
    await w.reconcile();
    assert.deepEqual(w.calls(), [`create ${NAME}`, 'start c2']);
    assert.equal(w.engine.imageChecks, 1, 'known present: not asked again');

    w.engine.images.delete('nginx:latest');
    await again();
    w.calls();
    await assert.rejects(w.reconcile(), /No such image/);
    await w.reconcile();
    assert.deepEqual(w.calls(), [`create ${NAME}`, 'pull nginx:latest', `create ${NAME}`, 'start c3']);
    assert.equal(w.engine.imageChecks, 2);
  });

  it('forgets an image whose read fails before an env-secret launch, so that the retry pulls it', async () => {
    const w = await world(web());
    w.engine.strictImages = true;
    await w.reconcile();
    w.engine.images.delete('nginx:latest');
    w.calls();
    const template = { ...containerTemplate(web(), {}, 'h1', undefined, '/d'), launchWithSecretEnv: true as const };
    const run = w.executor.begin({ app: 'app', name: 'web', replica: 1 }, undefined, w.log);
    const failed = { app: 'app', name: 'web', replica: 1, node: 'h1', address: '10.0.0.1', containerName: 'x', state: 'failed' as const, restarts: 0, crashes: 0, ready: false, ports: {} } as unknown as ReplicaRecord;
    await assert.rejects(run([{ kind: 'pull', image: 'nginx:latest', failed }, { kind: 'create', spec: { ...template, name: 'app---web---1' }, name: 'app---web---1' }]), /No such image/);
    await run([{ kind: 'pull', image: 'nginx:latest', failed }]);
    assert.deepEqual(w.calls(), ['imageCommand nginx:latest', 'pull nginx:latest']);
  });

  it('forgets a container that inspect finds gone though no event said so; the retry creates it again', async () => {
    const w = await world(web());
    await w.reconcile();
    w.engine.heldEvents = [];
    w.engine.containers.delete('c1');
    w.calls();
    await assert.rejects(w.reconcile(), /vanished/);
    await w.reconcile();
    assert.deepEqual(w.calls(), [`create ${NAME}`, 'start c2']);
  });

  it('sees the container it created before the engine\'s events come: no second create, no removal of its own', async () => {
    const w = await world(web());
    w.engine.heldEvents = [];
    await w.reconcile();
    assert.deepEqual(w.calls(), ['pull nginx:latest', `create ${NAME}`, 'start c1']);
    assert.equal(await w.reconcile(), undefined);
    assert.deepEqual(w.calls(), [], 'adopted as it is');
    w.engine.releaseEvents();
    assert.equal(await w.reconcile(), undefined);
    assert.deepEqual(w.calls(), []);
    assert.equal(w.engine.containers.get('c1')?.running, true);
  });

  it('backs off a crash, keeping its last lines, then restarts it', async () => {
    const w = await world(web());
    await w.reconcile();
    w.calls();
    w.clock.time += 5_000;
    w.engine.exit('c1', 1);
    w.engine.output = 'starting\npanic: oops\n';
    assert.deepEqual(await w.reconcile(), { requeueAfterMs: 1_000 });
    assert.deepEqual(w.calls(), []);
    const r = await w.record();
    assert.equal(r?.state, 'CrashLoopBackOff');
    assert.deepEqual([r?.crashes, r?.restarts, r?.exitCode, r?.ready], [1, 0, 1, false]);
    assert.deepEqual(r?.lastLog, ['starting', 'panic: oops']);
    assert.match(r?.message ?? '', /back-off restarting crashed container \(exit code 1\)/);
    assert.equal(w.events.at(-1)?.message, 'container exited with code 1; restart 1 after 1 s');

    w.engine.output = 'not read again';
    w.clock.time += 1_000;
    assert.equal(await w.reconcile(), undefined);
    assert.deepEqual(w.calls(), ['start c1']);
    const after = await w.record();
    assert.deepEqual([after?.state, after?.restarts, after?.crashes, after?.ready], ['running', 1, 1, true]);
    assert.deepEqual(after?.lastLog, ['starting', 'panic: oops']);
    assert.equal(after?.finishedAt, r?.finishedAt, 'the counted exit stays on record');
  });

  it('reports an OOM kill as OOMKilled with one event however often it reconciles, then restarts it and keeps how it ended', async () => {
    const w = await world(web({ resources: { memory: '64Mi' } }));
    await w.reconcile();
    w.calls();
    w.clock.time += 5_000;
    w.engine.oomKill('c1');
    assert.deepEqual(await w.reconcile(), { requeueAfterMs: 1_000 });
    w.clock.time += 300;
    assert.deepEqual(await w.reconcile(), { requeueAfterMs: 700 });
    assert.deepEqual(w.calls(), []);
    const r = await w.record();
    assert.deepEqual([r?.state, r?.exitCode, r?.crashes, r?.ready, r?.message], ['OOMKilled', 137, 1, false, 'killed: out of memory (limit 64Mi); back-off restarting']);
    const oom = { reason: 'OOMKilled', exitCode: 137, finishedAt: r?.finishedAt };
    assert.deepEqual(r?.lastTermination, oom);
    assert.deepEqual(w.events.filter((e) => e.type === 'Warning').map((e) => [e.reason, e.message]), [
      ['OOMKilled', 'container killed: out of memory (limit 64Mi) (exit code 137); restart 1 after 1 s'],
    ]);

    w.clock.time += 700;
    assert.equal(await w.reconcile(), undefined);
    assert.equal(await w.reconcile(), undefined);
    assert.deepEqual(w.calls(), ['start c1']);
    const after = await w.record();
    assert.deepEqual([after?.state, after?.restarts, after?.ready, after?.exitCode, after?.message], ['running', 1, true, undefined, undefined]);
    assert.deepEqual(after?.lastTermination, oom);
    assert.equal(w.events.filter((e) => e.reason === 'OOMKilled').length, 1);
  });

  it('shows an OOM kill under restart "never" as OOMKilled, not exited', async () => {
    const w = await world(web({ restart: 'never', resources: { memory: '64Mi' } }));
    await w.reconcile();
    w.engine.oomKill('c1');
    await w.reconcile();
    await w.reconcile();
    const r = await w.record();
    assert.deepEqual([r?.state, r?.exitCode, r?.restarts, r?.lastTermination?.reason], ['OOMKilled', 137, 0, 'OOMKilled']);
    assert.deepEqual(w.events.filter((e) => e.reason === 'OOMKilled').map((e) => e.message), ['container killed: out of memory (limit 64Mi) (exit code 137)']);
  });

  it('leaves a container with restart "never" exited', async () => {
    const w = await world(web({ restart: 'never' }));
    await w.reconcile();
    w.engine.exit('c1', 3);
    w.engine.output = 'bye';
    assert.equal(await w.reconcile(), undefined);
    const r = await w.record();
    assert.deepEqual([r?.state, r?.exitCode, r?.restarts, r?.lastLog], ['exited', 3, 0, ['bye']]);
  });

  it('replaces a container stop-first: out of the endpoints, drain, remove, create', async () => {
    const w = await world(web());
    await w.reconcile();
    w.calls();
    await w.place(web({ image: 'nginx:1.27' }));
    await w.reconcile();
    assert.deepEqual(w.clock.slept, [1_000]);
    assert.deepEqual(w.calls(), ['stop c1 10', 'remove c1', 'pull nginx:1.27', `create ${NAME}`, 'start c2']);
    assert.deepEqual(w.events.filter((e) => e.reason === 'Killed').map((e) => e.message), [`removed container ${NAME}: spec changed`]);
    const r = await w.record();
    assert.deepEqual([r?.containerId, r?.ready, r?.message], ['c2', true, undefined]);
  });

  it('replaces a container start-first: the new one serves before the old one goes, then takes the name', async () => {
    const first = web({ update: { order: 'start-first' } });
    const w = await world(first);
    await w.reconcile();
    w.calls();
    const next = web({ image: 'nginx:1.27', update: { order: 'start-first' } });
    await w.place(next);
    const temp = `${NAME}-${containerTemplate(next, {}, 'h1', undefined, '/d').hash}`;
    await w.reconcile();
    assert.deepEqual(w.calls(), ['pull nginx:1.27', `create ${temp}`, 'start c2', 'stop c1 10', 'remove c1']);
    assert.deepEqual(w.clock.slept, [1_000], 'drained between the swap and the removal');
    const r = await w.record();
    assert.deepEqual([r?.containerId, r?.containerName, r?.ready, r?.serving], ['c2', temp, true, undefined]);

    await w.reconcile();
    assert.deepEqual(w.calls(), [`rename c2 ${NAME}`]);
    assert.equal((await w.record())?.containerName, NAME);
  });

  it('keeps the old container serving while a start-first replacement is not ready', async () => {
    const check = { health: { cmd: ['true'], retries: 2 }, update: { order: 'start-first' } };
    const w = await world(web(check));
    await w.reconcile();
    Object.assign(w.engine.containers.get('c1')!, { health: 'healthy' });
    await w.reconcile();
    const before = await w.record();
    assert.equal(before?.ready, true);
    w.calls();
    await w.place(web({ ...check, image: 'nginx:1.27' }));
    await w.reconcile();
    assert.deepEqual(w.calls().filter((c) => !c.startsWith('pull')).map((c) => c.split(' ')[0]), ['create', 'start']);
    const r = await w.record();
    assert.deepEqual([r?.containerId, r?.ready, r?.serving], ['c2', false, { containerId: 'c1', ports: before?.ports }]);
    assert.equal(r?.message, 'updating: the previous container serves until this one is ready');
    assert.equal(w.engine.containers.size, 2);
  });

  it('restarts an unhealthy container after taking it out of its endpoints', async () => {
    const w = await world(web({ health: { cmd: ['true'], retries: 2 } }));
    await w.reconcile();
    assert.equal((await w.record())?.ready, false, 'not ready while the check starts');
    Object.assign(w.engine.containers.get('c1')!, { health: 'healthy' });
    await w.reconcile();
    assert.equal((await w.record())?.ready, true);
    w.calls();
    Object.assign(w.engine.containers.get('c1')!, { health: 'unhealthy' });
    await w.reconcile();
    assert.deepEqual(w.calls(), ['stop c1 10', 'start c1']);
    assert.deepEqual(w.clock.slept, [1_000]);
    const r = await w.record();
    assert.deepEqual([r?.state, r?.restarts, r?.ready, r?.health], ['running', 1, false, { status: 'starting', failures: 0 }]);
    assert.equal(w.events.at(-1)?.reason, 'Unhealthy');
  });

  it('removes the container and the record once the replica is no longer placed here', async () => {
    const w = await world(web());
    await w.reconcile();
    w.calls();
    await w.store.delete(w.keys.placement('h1', 'app', 'web', 0));
    assert.equal(await w.reconcile(), undefined);
    assert.deepEqual(w.calls(), ['stop c1 10', 'remove c1']);
    assert.equal(await w.record(), undefined);
  });

  it('reads back its own record writes before their watch events: no second write, and a removal deletes the record it just wrote', async () => {
    const w = await world(web());
    const key = w.keys.replica('h1', 'app', 'web', 0);
    const deliver = w.store.lag(w.keys.nodeReplicas('h1'));
    await w.reconcile();
    const written = w.store.revision;
    assert.equal(w.records.get(key)?.modRevision, written, 'the cache holds the write while its event is still on the way');
    assert.equal(await w.reconcile(), undefined);
    assert.equal(w.store.revision, written, 'the same record is not written again');

    w.calls();
    await w.store.delete(w.keys.placement('h1', 'app', 'web', 0));
    await w.reconcile();
    assert.deepEqual(w.calls(), ['stop c1 10', 'remove c1']);
    // Not ready first (drained), then deleted at the revision of that write, read back from the cache.
    assert.deepEqual(w.clock.slept, [1_000]);
    assert.equal(await w.store.get(key), undefined);
    assert.equal(w.records.get(key), undefined);
    deliver();
    assert.equal(w.records.get(key), undefined, 'the late events of the writes change nothing');
  });

  it('acts on nothing cached while its lease is not renewed: containers its fence removed stay removed until etcd answers', async () => {
    const w = await world(web());
    await w.reconcile();
    w.lease.renewed = false;
    await w.engine.remove('c1');
    w.calls();
    await assert.rejects(w.reconcile(), /etcd out of reach/);
    assert.deepEqual(w.calls(), []);
    w.lease.renewed = true;
    await w.reconcile();
    assert.deepEqual(w.calls(), [`create ${NAME}`, 'start c2']);
  });

  it('under a new lease, lists its placements again before acting: a removal its watch missed is seen', async () => {
    const w = await world(web());
    await w.reconcile();
    w.calls();
    // As if the watch had not brought it yet when etcd expired the last lease.
    w.store.deleteQuietly(w.keys.placement('h1', 'app', 'web', 0));
    await w.reconcile();
    assert.deepEqual(w.calls(), [], 'under the same lease, the cache is trusted');
    w.lease.leaseId = '1';
    await w.reconcile();
    assert.deepEqual(w.calls(), ['stop c1 10', 'remove c1']);
    assert.equal(await w.record(), undefined);
  });

  it('waits for its links, then runs with their env', async () => {
    const w = await world(web({ links: ['db'] }));
    await w.reconcile();
    assert.deepEqual(w.calls(), []);
    const pending = await w.record();
    assert.deepEqual([pending?.state, pending?.message], ['pending', 'waiting for linked service(s) with no endpoint yet: app/db']);
    const link: LinkRecord = { links: { DB: { app: 'app', service: 'db', port: 30001, protocol: 'tcp' } }, missing: [], revision: 1 };
    await w.store.put(w.keys.link('app', 'web'), JSON.stringify(link));
    await w.reconcile();
    assert.deepEqual(w.calls(), ['pull nginx:latest', `create ${NAME}`, 'start c1']);
    const env = w.engine.containers.get('c1')!.env;
    assert.ok(env.includes('SERVICE_DB_ADDR=172.17.0.1') && env.includes('SERVICE_DB_PORT=30001'), env.join(' '));
    assert.equal((await w.record())?.state, 'running');
  });
});
