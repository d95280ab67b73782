import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { containerTemplate } from '../../controllers/node-runner/container-template.js';
import { PrepullReconciler } from '../../controllers/node-runner/prepull-reconciler.js';
import { prepullTargets } from '../../cli/image-commands.js';
import { templateHash } from '../../api/manifest.js';
import { Keys } from '../../api/keys.js';
import { FakeKvStore } from './fake-kv-store.js';
import type { PrepulledRecord, RegistryRecord, SealedCopyRecord } from '../../api/records.js';
import type { NodeLease } from '../../src/agent/node-lease.js';
import { PullCoordinator } from '../../src/docker/pull-coordinator.js';
import { NodeRegistryCredentials } from '../../src/registry/node-registry-credentials.js';
import { generateSealKeyPair, seal } from '../../src/crypto/seal.js';
import type { EventRecorder } from '../../src/events/event-recorder.js';
import { InformerFactory } from '../../src/informer/informer-factory.js';
import { Resources } from '../../src/informer/resources.js';
import { ClusterPolicy } from '../../src/policy/cluster-policy.js';
import { node, placement, spec } from './builders.js';
import { FakeClock } from './fake-clock.js';
import { nodeRunnerWorld } from './node-runner-world.js';

const D = `sha256:${'d'.repeat(64)}`;
const IMAGE = `127.0.0.1:5000/busybox@${D}`;

/** Host h1 (labels disk=ssd) with the prepull reconciler on fakes; `request` writes prepull/app/web. */
async function prepullWorld(manifest: object = { image: '127.0.0.1:5000/busybox:1' }) {
  const w = await nodeRunnerWorld();
  const credentials = new NodeRegistryCredentials(w.store, w.keys, { node: 'h1' }, w.sealingKey);
  const pulls = new PullCoordinator(w.engine, new FakeClock(0), (ref) => credentials.authFor(ref), w.log);
  const factory = new InformerFactory(w.store, new FakeClock(0), w.log);
  const requests = factory.informer(Resources.prepulls(w.keys));
  requests.acquire();
  const policy = new ClusterPolicy(factory, w.keys);
  policy.informer.acquire();
  const reconciler = new PrepullReconciler(w.store, w.keys, w.engine, w.lease as unknown as NodeLease, pulls, { record: async (app: string, name: string, e: object) => void w.events.push({ app, name, ...e } as never) } as unknown as EventRecorder, factory, policy);
  await w.store.put(w.keys.node('h1'), JSON.stringify(node('h1', { disk: 'ssd' })));
  await w.store.put(w.keys.manifest('app', 'web'), JSON.stringify(manifest));
  await requests.synced();
  await policy.informer.synced();
  return {
    ...w,
    request: async (requestedAt = '2026-01-01T00:00:00.000Z') => {
      await w.store.put(w.keys.prepull('app', 'web'), JSON.stringify({ image: IMAGE, requestedAt }));
      for (let i = 0; i < 100 && requests.get(w.keys.prepull('app', 'web'))?.value.requestedAt !== requestedAt; i++) await new Promise((r) => setTimeout(r, 5));
    },
    reconcile: () => reconciler.reconcile('app/web', w.log),
    answer: async () => {
      const kv = await w.store.get(w.keys.prepulledAnswer('h1', 'app', 'web'));
      return kv && (JSON.parse(kv.value) as PrepulledRecord);
    },
    setPolicy: async (value: string) => {
      await w.store.put(w.keys.policy, value);
      const at = (await w.store.get(w.keys.policy))!.modRevision;
      for (let i = 0; i < 100 && policy.informer.get(w.keys.policy)?.modRevision !== at; i++) await new Promise((r) => setTimeout(r, 5));
    },
    stop: () => {
      requests.release();
      policy.informer.release();
    },
  };
}

describe('PrepullReconciler (dokkaa pull on one host)', () => {
  it('pulls nothing the cluster policy\'s registries do not allow: the answer is failed, naming the rule, with a Forbidden event', async () => {
    const w = await prepullWorld();
    await w.setPolicy(JSON.stringify({ registries: ['registry.local:5000/'] }));
    await w.request();
    await w.reconcile();
    assert.deepEqual(w.engine.calls.filter((c) => c.startsWith('pull')), []);
    const a = await w.answer();
    assert.equal(a?.state, 'failed');
    assert.match(a!.message, /^forbidden by the cluster policy: registries: image 127\.0\.0\.1:5000\/busybox@sha256:d+ is not under an allowed registry/);
    assert.deepEqual(w.events.map((e) => e.reason), ['Forbidden']);

    // Allowed by a new policy, a new request is pulled.
    await w.setPolicy(JSON.stringify({ registries: ['127.0.0.1:5000/'] }));
    await w.request('2026-01-01T00:01:00.000Z');
    await w.reconcile();
    assert.equal((await w.answer())?.state, 'present');
    // A broken policy record after a valid one: the valid one stays in force.
    await w.setPolicy('{"registries": "not a list"}');
    await w.request('2026-01-01T00:02:00.000Z');
    await w.reconcile();
    assert.equal((await w.answer())?.state, 'present');
    await w.stop();
  });

  it('pulls the requested image through the coordinator and answers present, with Pulling and Pulled events', async () => {
    const w = await prepullWorld();
    w.engine.pullBytes = 5_000_000;
    await w.request();
    await w.reconcile();
    assert.deepEqual(w.engine.calls.filter((c) => c.startsWith('pull')), [`pull ${IMAGE}`]);
    const a = await w.answer();
    assert.equal(a?.state, 'present');
    assert.match(a!.message, /^pulled image .* \(5\.0 MB in /);
    assert.deepEqual(w.events.map((e) => [e.reason, e.node]), [['Pulling', 'h1'], ['Pulled', 'h1']]);
    await w.reconcile();
    assert.equal(w.engine.calls.filter((c) => c.startsWith('pull')).length, 1, 'an answered request is not carried out again');
    await w.stop();
  });

  it('answers present without pulling when the engine has the image; a new request is answered anew', async () => {
    const w = await prepullWorld();
    w.engine.images.add(IMAGE);
    await w.request();
    await w.reconcile();
    assert.equal((await w.answer())?.message, 'already present');
    await w.request('2026-01-01T00:01:00.000Z');
    await w.reconcile();
    assert.equal((await w.answer())?.requestedAt, '2026-01-01T00:01:00.000Z');
    assert.deepEqual(w.engine.calls.filter((c) => c.startsWith('pull')), []);
    await w.stop();
  });

  it('waits, still pulling and saying why, while the registry\'s credentials have not reached this host; then pulls with them', async () => {
    const w = await prepullWorld();
    const host = '127.0.0.1:5000';
    await w.store.put(w.keys.registry(host), JSON.stringify({ host, username: 'ci', sealed: seal(generateSealKeyPair().publicKey, 'x'), updated: 't' } satisfies RegistryRecord));
    await w.request();
    const result = await w.reconcile();
    assert.ok(result && result.requeueAfterMs > 0, 'looks again later');
    assert.deepEqual(await w.answer(), { image: IMAGE, requestedAt: '2026-01-01T00:00:00.000Z', state: 'pulling', message: `waiting for credentials of registry ${host} to reach this host` });
    assert.deepEqual(w.engine.calls, [], 'no anonymous pull');
    assert.deepEqual(w.events, []);

    const to = w.sealingKey.publicKey();
    const version = (await w.store.get(w.keys.registry(host)))!.modRevision;
    await w.store.put(w.keys.sealedRegistry('h1', host), JSON.stringify({ version, sealed: seal(to, JSON.stringify({ password: 'pw' })), key: to } satisfies SealedCopyRecord));
    await w.reconcile();
    assert.equal((await w.answer())?.state, 'present');
    assert.deepEqual(w.engine.pullAuths.get(IMAGE), { username: 'ci', password: 'pw', serveraddress: host });
    await w.stop();
  });

  it('answers failed with the classified reason', async () => {
    const w = await prepullWorld();
    w.engine.pullError = Object.assign(new Error('unauthorized: authentication required'), { statusCode: 500 });
    await w.request();
    await w.reconcile();
    const a = await w.answer();
    assert.equal(a?.state, 'failed');
    assert.match(a!.message, /refused: authentication failed/);
    assert.equal(w.events.at(-1)?.reason, 'Failed');
    await w.stop();
  });

  it('does nothing on a node the manifest may not run on, or a cordoned one', async () => {
    const other = await prepullWorld({ image: 'x:1', constraints: { 'node.labels.disk': 'hdd' } });
    await other.request();
    await other.reconcile();
    assert.equal(await other.answer(), undefined);
    await other.stop();
    const cordoned = await prepullWorld();
    await cordoned.store.put(cordoned.keys.nodeMaintenance('h1'), JSON.stringify({ cordoned: true, since: 'then' }));
    await cordoned.request();
    await cordoned.reconcile();
    assert.equal(await cordoned.answer(), undefined);
    assert.deepEqual(cordoned.engine.calls, []);
    await cordoned.stop();
  });
});

describe('containerTemplate with a pinned image', () => {
  it('creates from repo@digest, keeping the tag in the spec', () => {
    const s = { ...spec({ image: '127.0.0.1:5000/busybox:1' }), imageDigest: D };
    assert.equal(containerTemplate(placement(s, 0, 'h1'), {}, 'h1').image, IMAGE);
    assert.equal(containerTemplate(placement(spec({ image: 'dokkaa/busybox' }), 0, 'h1'), {}, 'h1').image, 'dokkaa/busybox:latest');
  });
});

describe('dokkaa pull: what and where', () => {
  it('the pinned image, on the live nodes that match the constraints and are not cordoned', async () => {
    const store = new FakeKvStore();
    const keys = new Keys('/d');
    const manifest = { image: '127.0.0.1:5000/busybox:1', constraints: { 'node.labels.disk': 'ssd' } };
    await store.put(keys.manifest('app', 'web'), JSON.stringify(manifest));
    for (const [n, disk] of [['h1', 'ssd'], ['h2', 'ssd'], ['h3', 'hdd']] as const) await store.put(keys.node(n), JSON.stringify(node(n, { disk })));
    await store.put(keys.nodeMaintenance('h2'), JSON.stringify({ cordoned: true, since: 'then' }));
    assert.deepEqual(await prepullTargets(store, keys, 'app', 'web'), { image: '127.0.0.1:5000/busybox:1', nodes: ['h1'] });
    const pin = { baseHash: templateHash(spec(manifest)), image: manifest.image, digest: D };
    await store.put(keys.rollout('app', 'web'), JSON.stringify({ phase: 'Complete', targetHash: 'x', targetRevision: 1, message: '', updated: 1, ready: 1, total: 1, startedAt: 'then', pin }));
    assert.equal((await prepullTargets(store, keys, 'app', 'web')).image, IMAGE);
  });
});
