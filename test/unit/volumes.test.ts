import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Keys } from '../../api/keys.js';
import { decodeManifest, templateHash } from '../../api/manifest.js';
import { checkRecord, VolumeSetRecord, type PlacementRecord, type ReplicaRecord } from '../../api/records.js';
import { DEFAULT_RESERVATION } from '../../api/reservation.js';
import { holdsVolumes, hostPathAllowed, namedVolumes } from '../../api/volumes.js';
import { containerTemplate, volumeName } from '../../controllers/node-runner/container-template.js';
import { planVolumeRemoval, VolumeKeeperReconciler } from '../../controllers/node-runner/volume-keeper-reconciler.js';
import { planMoves } from '../../controllers/scheduler/move-plan.js';
import { planPlacements, type Placed, type PlanInput } from '../../controllers/scheduler/placement-plan.js';
import { planVolumeSets, volumeHolders } from '../../controllers/scheduler/volume-sets.js';
import { volumeRows } from '../../cli/volume-commands.js';
import { planRebalance } from '../../src/placement/rebalance-plan.js';
import { node, placement, spec } from './builders.js';
import { FakeEngine } from './fake-engine.js';
import { FakeKvStore } from './fake-kv-store.js';
import { memoryLogger, nodeRunnerWorld } from './node-runner-world.js';

const errorsOf = (manifest: object) => {
  const r = decodeManifest(JSON.stringify(manifest), 'shop', 'db');
  return r.ok ? [] : r.errors;
};
const set = (replica: number, nodeName: string, extra: Partial<VolumeSetRecord> = {}): VolumeSetRecord => ({
  app: 'app', name: 'web', replica, node: nodeName, volumes: ['data'], createdAt: '2026-01-01T00:00:00.000Z', ...extra,
});

describe('manifest volumes', () => {
  it('takes a path or {path, readOnly, hostPath}, and volumeLoss', () => {
    const s = spec({ image: 'pg', volumes: { data: '/var/lib/data', conf: { path: '/etc/pg', readOnly: true }, shared: { hostPath: '/srv/shared/x', path: '/shared' } }, volumeLoss: 'reschedule' });
    assert.deepEqual(s.volumes, { data: { path: '/var/lib/data' }, conf: { path: '/etc/pg', readOnly: true }, shared: { hostPath: '/srv/shared/x', path: '/shared' } });
    assert.equal(s.volumeLoss, 'reschedule');
    assert.deepEqual(namedVolumes(s), ['conf', 'data']);
    assert.equal(holdsVolumes(s), false);
    assert.equal(holdsVolumes(spec({ image: 'pg', volumes: { data: '/d' } })), true);
    assert.equal(spec({ image: 'pg', volumes: { data: '/d' }, volumeLoss: 'wait' }).volumeLoss, undefined);
  });

  it('reports bad volumes as `path: expected X, got Y`', () => {
    assert.deepEqual(errorsOf({ image: 'pg', volumes: { data: 'var/lib' } }), ['volumes.data: expected an absolute path (starting with "/", not "/" alone, no ".."), got "var/lib"']);
    assert.match(errorsOf({ image: 'pg', volumes: { Data: '/d' } })[0]!, /^volumes\.Data: expected a DNS label/);
    assert.match(errorsOf({ image: 'pg', volumes: { data: { path: '/d', hostPath: 'rel' } } }).join(';'), /volumes\.data\.hostPath: expected an absolute path/);
    assert.match(errorsOf({ image: 'pg', volumes: { data: { path: '/d', size: 1 } } }).join(';'), /volumes\.data\.size: expected no such field/);
    assert.deepEqual(errorsOf({ image: 'pg', volumeLoss: 'never' }), ['volumeLoss: expected "wait" or "reschedule", got "never"']);
    assert.deepEqual(errorsOf({ image: 'pg', volumes: { a: '/d', b: '/d/' } }), ['volumes.b.path: expected a path no other volume mounts (a does), got "/d/"']);
    assert.match(errorsOf({ image: 'pg', volumes: { a: '/d' }, update: { order: 'start-first' } })[0]!, /^update\.order: expected "stop-first" with volumes/);
    assert.match(errorsOf({ image: 'pg', mode: 'global', volumes: { a: '/d' } })[0]!, /^volumes\.a: expected hostPath volumes only with mode "global"/);
    assert.deepEqual(errorsOf({ image: 'pg', mode: 'global', volumes: { a: { hostPath: '/srv/a', path: '/d' } }, update: { order: 'start-first' } }), []);
  });

  it('hashes as before without volumes; volumes change the hash, volumeLoss does not', () => {
    const plain = spec({ image: 'pg' });
    assert.equal('volumes' in plain, false);
    const withData = spec({ image: 'pg', volumes: { data: '/d' } });
    assert.notEqual(templateHash(withData), templateHash(plain));
    assert.equal(templateHash(spec({ image: 'pg', volumes: { data: '/d' }, volumeLoss: 'reschedule' })), templateHash(withData));
    assert.notEqual(templateHash(spec({ image: 'pg', volumes: { data: { path: '/d', readOnly: true } } })), templateHash(withData));
  });

  it('allows a host path under an allowed prefix only', () => {
    assert.equal(hostPathAllowed('/srv/shared/x', ['/srv/shared']), true);
    assert.equal(hostPathAllowed('/srv/shared', ['/srv/shared/']), true);
    assert.equal(hostPathAllowed('/srv/sharedx', ['/srv/shared']), false);
    assert.equal(hostPathAllowed('/etc', []), false);
    assert.equal(hostPathAllowed('/etc', ['/']), false);
  });
});

describe('VolumeSetRecord and its key', () => {
  it('decodes, and its key parses back', () => {
    const keys = new Keys('/d');
    assert.deepEqual(checkRecord(VolumeSetRecord, JSON.stringify(set(2, 'n2', { purge: true }))), { ok: true, value: set(2, 'n2', { purge: true }) });
    assert.match((checkRecord(VolumeSetRecord, '{"app":"a"}') as { error: string }).error, /name: expected a string, got nothing/);
    assert.equal(keys.volumeSet('n2', 'app', 'web', 2), '/d/volumes/n2/app/web/2');
    assert.deepEqual(keys.parseVolumeSet('/d/volumes/n2/app/web/2'), { node: 'n2', app: 'app', name: 'web', replica: 2 });
    assert.equal(keys.parseVolumeSet('/d/volumes/n2/app/web'), undefined);
  });
});

describe('containerTemplate with volumes', () => {
  it("mounts replica N's own named volumes and host paths, sorted by name", () => {
    const p = placement(spec({ image: 'pg', volumes: { data: '/var/lib/data', conf: { path: '/etc/pg', readOnly: true }, shared: { hostPath: '/srv/x', path: '/x' } } }), 3, 'n1');
    assert.equal(volumeName('app', 'web', 3, 'data'), 'app---web---3---data');
    assert.deepEqual(containerTemplate(p, {}, 'n1').mounts, [
      { type: 'volume', source: 'app---web---3---conf', target: '/etc/pg', readOnly: true },
      { type: 'volume', source: 'app---web---3---data', target: '/var/lib/data', readOnly: false },
      { type: 'bind', source: '/srv/x', target: '/x', readOnly: false },
    ]);
    assert.equal('mounts' in containerTemplate(placement(spec({ image: 'pg' }), 0, 'n1'), {}, 'n1'), false);
  });
});

describe('NodeRunnerReconciler with volumes', () => {
  const ID = 'app/web/0';
  const setup = async (manifest: object, allowHostPaths?: string[]) => {
    const w = await nodeRunnerWorld(undefined, allowHostPaths ? { allowHostPaths } : {});
    const place = (pl: PlacementRecord) => w.store.put(w.keys.placement('h1', 'app', 'web', 0), JSON.stringify(pl));
    await place(placement(spec(manifest), 0, 'h1'));
    const record = async () => JSON.parse((await w.store.get(w.keys.replica('h1', 'app', 'web', 0)))!.value) as ReplicaRecord;
    return { ...w, place, record, reconcile: () => w.reconciler.reconcile(ID, w.log) };
  };

  it('creates the labelled volume before the container, keeps it across a replacement and the removal', async () => {
    const w = await setup({ image: 'pg', volumes: { data: '/var/lib/data' } });
    await w.reconcile();
    assert.deepEqual(w.engine.calls, ['createVolume app---web---0---data', 'pull pg:latest', 'create app---web---0', 'start c1']);
    assert.deepEqual(w.engine.volumes.get('app---web---0---data')?.labels, {
      'dokkaa.managed': 'true', 'dokkaa.cluster': '/d', 'dokkaa.node': 'h1', 'dokkaa.app': 'app', 'dokkaa.name': 'web', 'dokkaa.replica': '0', 'dokkaa.volume': 'data',
    });
    assert.deepEqual(w.engine.mountsOf('c1'), [{ type: 'volume', source: 'app---web---0---data', target: '/var/lib/data', readOnly: false }]);
    // A new spec replaces the container; the new one mounts the same volume.
    await w.place(placement(spec({ image: 'pg', volumes: { data: '/var/lib/data' }, env: { V: '2' } }), 0, 'h1'));
    await w.reconcile();
    const newest = [...w.engine.containers.values()][0]!;
    assert.equal(w.engine.containers.size, 1);
    assert.deepEqual(w.engine.mountsOf(newest.id)[0]?.source, 'app---web---0---data');
    await w.store.delete(w.keys.placement('h1', 'app', 'web', 0));
    await w.reconcile();
    assert.equal(w.engine.containers.size, 0);
    assert.equal(w.engine.calls.some((c) => c.startsWith('removeVolume')), false);
    assert.ok(w.engine.volumes.has('app---web---0---data'));
  });

  it('refuses a host path the agent does not allow, saying why in the record', async () => {
    const w = await setup({ image: 'pg', volumes: { shared: { hostPath: '/etc', path: '/x' } } }, ['/srv/shared']);
    await w.reconcile();
    const r = await w.record();
    assert.equal(r.state, 'failed');
    assert.equal(r.message, 'host path /etc is not allowed on h1 (--allow-host-path)');
    assert.equal(w.engine.containers.size, 0);
  });

  it('bind-mounts an allowed host path', async () => {
    const w = await setup({ image: 'pg', volumes: { shared: { hostPath: '/srv/shared/x', path: '/x', readOnly: true } } }, ['/srv/shared']);
    await w.reconcile();
    assert.equal((await w.record()).state, 'running');
    assert.deepEqual(w.engine.mountsOf('c1'), [{ type: 'bind', source: '/srv/shared/x', target: '/x', readOnly: true }]);
  });
});

describe('volume keeper', () => {
  it('plans purges and single removals', () => {
    assert.equal(planVolumeRemoval(set(0, 'n1')), undefined);
    assert.deepEqual(planVolumeRemoval(set(0, 'n1', { purge: true })), { volumes: 'all', after: { delete: true } });
    assert.deepEqual(planVolumeRemoval(set(0, 'n1', { volumes: ['a', 'b'], remove: ['a'] })), { volumes: ['a'], after: { delete: false, volumes: ['b'] } });
    assert.deepEqual(planVolumeRemoval(set(0, 'n1', { volumes: ['a'], remove: ['a'] })), { volumes: ['a'], after: { delete: true } });
  });

  it('waits while the replica is placed on the node, then removes the volumes and the record', async () => {
    const store = new FakeKvStore();
    const engine = new FakeEngine();
    const keys = new Keys('/d');
    const keeper = new VolumeKeeperReconciler(store, engine, keys, { node: 'n1' });
    const log = memoryLogger([]);
    const labels = { 'dokkaa.managed': 'true', 'dokkaa.cluster': '/d', 'dokkaa.node': 'n1', 'dokkaa.app': 'app', 'dokkaa.name': 'web', 'dokkaa.replica': '0' };
    await engine.createVolume('app---web---0---data', { ...labels, 'dokkaa.volume': 'data' });
    await engine.createVolume('app---web---1---data', { ...labels, 'dokkaa.replica': '1', 'dokkaa.volume': 'data' });
    const key = keys.volumeSet('n1', 'app', 'web', 0);
    await store.put(key, JSON.stringify(set(0, 'n1', { purge: true })));
    await store.put(keys.placement('n1', 'app', 'web', 0), '{}');
    assert.deepEqual(await keeper.reconcile('app/web/0', log), { requeueAfterMs: 2000 });
    assert.equal((JSON.parse((await store.get(key))!.value) as VolumeSetRecord).message, 'in use by replica 0 on n1');
    assert.ok(engine.volumes.has('app---web---0---data'));
    await store.delete(keys.placement('n1', 'app', 'web', 0));
    assert.equal(await keeper.reconcile('app/web/0', log), undefined);
    assert.deepEqual([...engine.volumes.keys()], ['app---web---1---data']);
    assert.equal(await store.get(key), undefined);
  });
});

describe('volume sets (scheduler)', () => {
  it('takes the newest set not being purged as the holder', () => {
    const holders = volumeHolders([set(0, 'n1'), set(0, 'n3', { createdAt: '2026-02-01T00:00:00.000Z' }), set(1, 'n2'), set(2, 'n2', { purge: true })]);
    assert.deepEqual([...holders], [[0, 'n3'], [1, 'n2']]);
  });

  it('records a set for each placement without one, replaces a purging one, adds new volumes', () => {
    const sets = [{ key: 'k1', modRevision: 5, record: set(1, 'n2', { purge: true }) }, { key: 'k2', modRevision: 6, record: set(2, 'n1', { volumes: ['data'] }) }, { key: 'k3', modRevision: 7, record: set(3, 'n1', { volumes: ['data', 'logs'] }) }];
    const writes = planVolumeSets({ app: 'app', name: 'web', volumes: ['data', 'logs'], placed: [{ replica: 0, node: 'n1' }, { replica: 1, node: 'n2' }, { replica: 2, node: 'n1' }, { replica: 3, node: 'n1' }], sets, now: 'T' });
    assert.deepEqual(writes.map((w) => [w.replica, w.node, w.modRevision, w.record.volumes.join(','), w.record.createdAt, w.record.purge]), [
      [0, 'n1', 0, 'data,logs', 'T', undefined],
      [1, 'n2', 5, 'data,logs', 'T', undefined],
      [2, 'n1', 6, 'data,logs', '2026-01-01T00:00:00.000Z', undefined],
    ]);
    assert.deepEqual(planVolumeSets({ app: 'app', name: 'web', volumes: [], placed: [{ replica: 0, node: 'n1' }], sets: [], now: 'T' }), []);
  });
});

describe('planPlacements with volume holders', () => {
  const H = 'h';
  const at = (replica: number, n: string): Placed => ({ replica, node: n, templateHash: H });
  const plan = (over: Partial<PlanInput> & { nodes: string[] }) => {
    const { nodes, ...rest } = over;
    return planPlacements({ scale: 1, templateHash: H, constraints: {}, need: DEFAULT_RESERVATION, liveNodes: nodes.map((n) => node(n)), placed: [], allocated: new Map(), ...rest });
  };

  it('keeps a replica whose holder died where it is, waiting for that node', () => {
    const p = plan({ scale: 2, nodes: ['n1', 'n3'], placed: [at(0, 'n1'), at(1, 'n2')], volumeHolders: new Map([[0, 'n1'], [1, 'n2']]), volumeLoss: 'wait' });
    assert.deepEqual(p, { add: [], remove: [], update: [], unschedulable: [{ replica: 1, reason: 'waiting for node n2, which holds its volumes' }] });
  });

  it('with volumeLoss reschedule, places it elsewhere and says its volumes are lost', () => {
    const p = plan({ scale: 2, nodes: ['n1', 'n3'], placed: [at(0, 'n1'), at(1, 'n2')], volumeHolders: new Map([[0, 'n1'], [1, 'n2']]), volumeLoss: 'reschedule' });
    assert.deepEqual(p.add, [{ replica: 1, node: 'n3' }]);
    assert.deepEqual(p.remove, [at(1, 'n2')]);
    assert.deepEqual(p.volumesLost, [{ replica: 1, holder: 'n2', node: 'n3' }]);
  });

  it('scaling back up puts each replica on the node holding its volumes, even against the spread', () => {
    const p = plan({ scale: 3, nodes: ['n1', 'n2', 'n3'], placed: [at(0, 'n1')], volumeHolders: new Map([[0, 'n1'], [1, 'n1'], [2, 'n1']]) });
    assert.deepEqual(p.add, [{ replica: 1, node: 'n1' }, { replica: 2, node: 'n1' }]);
  });

  it('waits for a live holder that cannot take it now, saying why', () => {
    const p = plan({ scale: 2, nodes: ['n1', 'n2'], placed: [at(0, 'n1')], volumeHolders: new Map([[1, 'n2']]), cordoned: new Set(['n2']) });
    assert.deepEqual(p.unschedulable, [{ replica: 1, reason: 'waiting for node n2, which holds its volumes (it is cordoned)' }]);
    assert.deepEqual(p.add, []);
  });

  it('places a replica without a holder as usual', () => {
    assert.deepEqual(plan({ scale: 2, nodes: ['n1', 'n2'], placed: [at(0, 'n1')], volumeHolders: new Map([[0, 'n1']]) }).add, [{ replica: 1, node: 'n2' }]);
  });
});

describe('moves and rebalance with volumes', () => {
  const base = {
    replicas: new Map(), now: 0, update: { parallelism: 1, order: 'stop-first' as const, delayMs: 0, deadlineMs: 60_000 }, monitorMs: 1000,
    readySince: () => undefined, global: false, pickTarget: () => ({ node: 'n3' }), checkTarget: () => undefined,
  };
  const placements = [{ replica: 0, node: 'n1', templateHash: 'h' }, { replica: 1, node: 'n2', templateHash: 'h' }];

  it('blocks a drain of a replica that holds volumes, and drops a rebalance request for it', () => {
    const drained = planMoves({ ...base, placements, draining: new Map([['n2', { includeGlobal: false }]]), requests: [], holdsVolumes: true });
    assert.deepEqual(drained.step, { kind: 'blocked', replica: 1, from: 'n2', reason: 'replica 1 holds volumes on n2 (volumeLoss: wait)' });
    const requested = planMoves({ ...base, placements, draining: new Map(), requests: [{ replica: 0, from: 'n1' }], holdsVolumes: true });
    assert.deepEqual(requested.settled, [{ request: { replica: 0, from: 'n1' }, outcome: 'dropped', reason: 'replica 0 holds volumes on n1 (volumeLoss: wait)' }]);
    assert.equal(planMoves({ ...base, placements, draining: new Map([['n2', { includeGlobal: false }]]), requests: [] }).step.kind, 'start');
  });

  it('rebalance skips manifests holding volumes unless volumeLoss is reschedule', () => {
    const nodes = [node('n1'), node('n2')];
    const placed = [0, 1, 2, 3].map((replica) => ({ app: 'a', name: 'db', replica, node: 'n1' }));
    const holding = planRebalance({ nodes, cordoned: new Set(), placements: placed, manifests: [{ app: 'a', name: 'db', spec: { constraints: {}, volumes: { data: { path: '/d' } } } }] });
    assert.deepEqual(holding, { moves: [], skipped: [{ app: 'a', name: 'db', reason: 'holds volumes on its nodes (volumeLoss: wait)' }] });
    const loose = planRebalance({ nodes, cordoned: new Set(), placements: placed, manifests: [{ app: 'a', name: 'db', spec: { constraints: {}, volumes: { data: { path: '/d' } }, volumeLoss: 'reschedule' } }] });
    assert.equal(loose.moves.length, 2);
  });
});

describe('dokkaa volumes rows', () => {
  it('lists one row per volume, in use when placed, with pending removals', () => {
    const rows = volumeRows([set(1, 'n2', { volumes: ['data', 'logs'], remove: ['logs'], message: 'in use by replica 1 on n2' }), set(0, 'n1', { purge: true })], (s) => s.replica === 1);
    assert.deepEqual(rows.map((r) => [r.replica, r.volume, r.node, r.inUse, r.state]), [
      [0, 'data', 'n1', false, 'purging'],
      [1, 'data', 'n2', true, undefined],
      [1, 'logs', 'n2', true, 'removing: in use by replica 1 on n2'],
    ]);
  });
});
