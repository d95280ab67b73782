import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Keys } from '../../api/keys.js';
import { templateHash } from '../../api/manifest.js';
import { DEFAULT_RESERVATION } from '../../api/reservation.js';
import type { EventRecord, MaintenanceRecord, NodeRecord, PlacementRecord, ReplicaRecord, RolloutRecord } from '../../api/records.js';
import { MoveRunner } from '../../controllers/scheduler/move-runner.js';
import { ImagePinner } from '../../controllers/scheduler/image-pinner.js';
import { FakeDigestResolver } from './fake-digest-resolver.js';
import { MONITOR_MS, ROLLOUT_PROGRESS_INTERVAL_MS } from '../../controllers/scheduler/rollout-tracker.js';
import { InformerFactory } from '../../src/informer/informer-factory.js';
import { Resources } from '../../src/informer/resources.js';
import { replica as replicaOf } from './builders.js';
import { RolloutTracker } from '../../controllers/scheduler/rollout-tracker.js';
import type { CachedPlacement, SchedulerCache } from '../../controllers/scheduler/scheduler-cache.js';
import { ClusterPolicy } from '../../src/policy/cluster-policy.js';
import { SchedulerReconciler } from '../../controllers/scheduler/scheduler-reconciler.js';
import type { TxnOp } from '../../src/etcd/kv-store.js';
import type { EventRecorder } from '../../src/events/event-recorder.js';
import { createLogger } from '../../src/logging.js';
import { reservedOf, type Allocation } from '../../src/placement/node-fit.js';
import { node, spec } from './builders.js';
import { FakeClock } from './fake-clock.js';
import { FakeKvStore } from './fake-kv-store.js';

/**
 * The scheduler's view, as the reconciler uses it: live nodes, and the placements it was
 * told about (seeded, or written by the reconciler and applied through `wrote`).
 */
class FakeSchedulerCache {
  readonly nodes: NodeRecord[] = [];
  readonly held = new Map<string, CachedPlacement>();

  // `ready` now; `synced` once the informer rework renames it.
  async ready(): Promise<void> {}
  async synced(): Promise<void> {}

  liveNodes(): NodeRecord[] {
    return this.nodes;
  }

  readonly cordonedNodes = new Set<string>();
  readonly waiting = new Set<string>();

  allocated(): ReadonlyMap<string, Allocation> {
    const sums = new Map<string, Allocation>();
    for (const p of this.held.values()) {
      const a = sums.get(p.node) ?? { cpus: 0, memoryBytes: 0, replicas: 0 };
      const r = reservedOf(p);
      sums.set(p.node, { cpus: a.cpus + r.cpus, memoryBytes: a.memoryBytes + r.memoryBytes, replicas: a.replicas + 1 });
    }
    return sums;
  }

  cordoned(): ReadonlySet<string> {
    return this.cordonedNodes;
  }

  readonly drainingNodes = new Map<string, MaintenanceRecord>();

  draining(): Map<string, MaintenanceRecord> {
    return this.drainingNodes;
  }

  setWaiting(id: string, waiting: boolean): void {
    if (waiting) this.waiting.add(id);
    else this.waiting.delete(id);
  }

  placementsOf(app: string, name: string): CachedPlacement[] {
    return [...this.held.values()].filter((p) => p.app === app && p.name === name);
  }

  wrote(revision: number, ops: TxnOp[]): void {
    for (const op of ops) {
      if (op.type === 'delete') {
        this.held.delete(op.key);
        continue;
      }
      const r = JSON.parse(op.value) as PlacementRecord;
      this.held.set(op.key, {
        key: op.key, modRevision: revision, app: r.app, name: r.name, replica: r.replica, node: r.node,
        templateHash: r.templateHash, revision: r.revision, ...(r.updatedAt !== undefined ? { updatedAt: r.updatedAt } : {}),
        ...(r.reserved ? { reserved: r.reserved } : {}), ...(r.replaces !== undefined ? { replaces: r.replaces } : {}),
      });
    }
  }
}

const NOW = 1_700_000_000_000;

/** A node with `gi` GiB of memory (and 2 CPUs). */
function sized(name: string, gi: number): NodeRecord {
  return { ...node(name), capacity: { cpus: 2, memoryBytes: gi * 2 ** 30 } };
}

function world(nodes: string[]) {
  const store = new FakeKvStore();
  const keys = new Keys('/d');
  const clock = new FakeClock(NOW);
  const events: Omit<EventRecord, 'time' | 'source'>[] = [];
  const recorder = {
    record: async (_app: string, _name: string, e: Omit<EventRecord, 'time' | 'source'>) => void events.push(e),
    recordMany: async (_app: string, _name: string, es: Omit<EventRecord, 'time' | 'source'>[]) => void events.push(...es),
  } as unknown as EventRecorder;
  const cache = new FakeSchedulerCache();
  cache.nodes.push(...nodes.map((n) => node(n)));
  const log = createLogger('error', true);
  const factory = new InformerFactory(store, clock, log);
  const moves = new MoveRunner(store, keys, clock, recorder, cache as unknown as SchedulerCache, factory);
  const resolver = new FakeDigestResolver();
  const pins = new ImagePinner(store, keys, clock, resolver, recorder, factory);
  const policy = new ClusterPolicy(factory, keys);
  const reconciler = new SchedulerReconciler(store, keys, clock, new RolloutTracker(store, keys, clock, recorder, factory), recorder, cache as unknown as SchedulerCache, moves, pins, policy, factory);
  // The hosts' replica records, as the scheduler controller holds them (it watches them).
  const replicas = factory.informer(Resources.replicas(keys));
  replicas.acquire();
  // And the manifests it is for (the reconciles read them from there).
  const manifests = factory.informer(Resources.manifests(keys));
  manifests.acquire();
  // And the rollout records (its rollout tracker reads them from there).
  factory.informer(Resources.rollouts(keys)).acquire();
  return {
    store, keys, clock, events, cache, factory, resolver,
    /** Writes a host's replica record once the informer watches (the reconciles read it from there). */
    putReplica: async (r: ReplicaRecord) => {
      await replicas.synced();
      await store.put(keys.replica(r.node, r.app, r.name, r.replica), JSON.stringify(r));
    },
    reconcile: async () => {
      await manifests.synced();
      return reconciler.reconcile('app/web', log);
    },
    reconcileId: async (id: string) => {
      await manifests.synced();
      return reconciler.reconcile(id, log);
    },
    policy,
    apply: async (manifest: object | string) => {
      await manifests.synced();
      await store.put(keys.manifest('app', 'web'), typeof manifest === 'string' ? manifest : JSON.stringify(manifest));
      return store.revision;
    },
    /** replica -> node, template hash and revision, as stored. */
    placements: async () => {
      const kvs = (await store.list(keys.placements)).kvs.map((kv) => JSON.parse(kv.value) as PlacementRecord);
      return Object.fromEntries(kvs.sort((a, b) => a.replica - b.replica).map((p) => [p.replica, `${p.node} ${p.templateHash} r${p.revision}`]));
    },
  };
}

const nginx = (extra: object = {}) => ({ image: 'nginx', ...extra });
const hashOf = (m: object) => templateHash(spec(m));

describe('SchedulerReconciler', () => {
  it('places a new manifest\'s replicas over the live nodes, each with a Scheduled event', async () => {
    const w = world(['a', 'b']);
    const rev = await w.apply(nginx({ scale: 2 }));
    assert.equal(await w.reconcile(), undefined);
    const h = hashOf(nginx({ scale: 2 }));
    assert.deepEqual(await w.placements(), { 0: `a ${h} r${rev}`, 1: `b ${h} r${rev}` });
    const stored = JSON.parse((await w.store.get(w.keys.placement('a', 'app', 'web', 0)))!.value) as PlacementRecord;
    assert.deepEqual(stored, { app: 'app', name: 'web', replica: 0, node: 'a', spec: spec(nginx({ scale: 2 })), templateHash: h, revision: rev, updatedAt: NOW, reserved: DEFAULT_RESERVATION });
    assert.deepEqual(w.events.map((e) => [e.type, e.reason, e.message]), [
      ['Normal', 'Scheduled', 'replica 0 placed on a'],
      ['Normal', 'Scheduled', 'replica 1 placed on b'],
    ]);
    assert.equal(w.cache.held.size, 2, 'its writes are applied to the cache');
  });

  it('writes nothing when nothing changed', async () => {
    const w = world(['a', 'b']);
    await w.apply(nginx({ scale: 2 }));
    await w.reconcile();
    const rev = w.store.revision;
    assert.equal(await w.reconcile(), undefined);
    assert.equal(w.store.revision, rev);
  });

  it('scales down from the highest index', async () => {
    const w = world(['a', 'b']);
    await w.apply(nginx({ scale: 3 }));
    await w.reconcile();
    await w.apply(nginx({ scale: 1 }));
    await w.reconcile();
    assert.deepEqual(Object.keys(await w.placements()), ['0']);
  });

  it('moves a lost node\'s replica to a live one, with a Rescheduled event', async () => {
    const w = world(['a', 'b']);
    const rev = await w.apply(nginx({ scale: 2 }));
    await w.reconcile();
    w.cache.nodes.splice(1, 1);
    await w.reconcile();
    const h = hashOf(nginx({ scale: 2 }));
    assert.deepEqual(await w.placements(), { 0: `a ${h} r${rev}`, 1: `a ${h} r${rev}` });
    assert.deepEqual(w.events.at(-1), { type: 'Warning', reason: 'Rescheduled', message: 'replica 1 moved from lost node b to a', replica: 1, node: 'a' });
  });

  it('removes every placement and the rollout record with the manifest', async () => {
    const w = world(['a', 'b']);
    await w.apply(nginx({ scale: 2 }));
    await w.reconcile();
    assert.ok(await w.store.get(w.keys.rollout('app', 'web')));
    await w.store.delete(w.keys.manifest('app', 'web'));
    assert.equal(await w.reconcile(), undefined);
    assert.deepEqual(await w.placements(), {});
    assert.equal(await w.store.get(w.keys.rollout('app', 'web')), undefined);
    assert.equal(w.cache.held.size, 0);
  });

  it('writes the rollout record\'s counts at most once a second, and its completion at once', async () => {
    const w = world(['a', 'b']);
    await w.apply(nginx({ scale: 3 }));
    await w.reconcile();
    const record = async () => JSON.parse((await w.store.get(w.keys.rollout('app', 'web')))!.value) as RolloutRecord;
    assert.deepEqual(await record().then((r) => [r.phase, r.ready]), ['Progressing', 0]);
    const placed = (await w.store.list(w.keys.placements)).kvs.map((kv) => JSON.parse(kv.value) as PlacementRecord).sort((a, b) => a.replica - b.replica);
    // Ready at 0, 200 and 1,500 ms: each counts once ready for the monitor period.
    for (const [i, at] of [[0, 0], [1, 200], [2, 1_500]] as const) {
      await w.clock.advance(at - (w.clock.now() - NOW));
      await w.putReplica(replicaOf(placed[i]!));
      await w.reconcile();
    }
    await w.clock.advance(NOW + MONITOR_MS - w.clock.now());
    await w.reconcile();
    assert.equal((await record()).ready, 1, 'a count a second or more after the last write is written at once');
    await w.clock.advance(200);
    const held = await w.reconcile();
    assert.equal((await record()).ready, 1, 'the next count within the second waits');
    assert.equal(held?.requeueAfterMs, ROLLOUT_PROGRESS_INTERVAL_MS - 200, 'and the manifest is looked at again when it may be written');
    await w.clock.advance(ROLLOUT_PROGRESS_INTERVAL_MS - 200);
    await w.reconcile();
    assert.equal((await record()).ready, 2);
    await w.clock.advance(500);
    await w.reconcile();
    assert.deepEqual(await record().then((r) => [r.phase, r.ready]), ['Complete', 3], 'completion is not held back');
  });

  describe('under the cluster policy', () => {
    const withPolicy = async (w: ReturnType<typeof world>, policy: object) => {
      w.policy.informer.acquire();
      const manifests = w.factory.informer(Resources.manifests(w.keys));
      manifests.acquire();
      await Promise.all([w.policy.informer.synced(), manifests.synced()]);
      await w.store.put(w.keys.policy, JSON.stringify(policy));
      const revision = w.store.revision;
      await waitUntil(() => (w.policy.informer.get(w.keys.policy)?.modRevision ?? 0) >= revision);
      return async () => {
        await w.policy.informer.release();
        await manifests.release();
      };
    };
    const forbiddenOf = async (w: ReturnType<typeof world>, name = 'web') =>
      (JSON.parse((await w.store.get(w.keys.rollout('app', name)))!.value) as RolloutRecord).forbidden;

    it('places nothing of a forbidden manifest, notes the rules in its rollout record, and an event', async () => {
      const w = world(['a', 'b']);
      const done = await withPolicy(w, { registries: ['dokkaa/'] });
      try {
        const rev = await w.apply(nginx({ scale: 2 }));
        assert.equal(await w.reconcile(), undefined);
        assert.deepEqual(await w.placements(), {});
        assert.deepEqual(await forbiddenOf(w), { revision: rev, violations: [{ rule: 'registries', message: 'image nginx:latest is not under an allowed registry (dokkaa/)' }] });
        assert.deepEqual(w.events.map((e) => [e.reason, e.message]), [['Forbidden', `revision ${rev}: registries: image nginx:latest is not under an allowed registry (dokkaa/)`]]);
        await w.reconcile();
        assert.equal(w.events.length, 1, 'told once per verdict');
      } finally {
        await done();
      }
    });

    it('keeps the admitted version placed while an update is forbidden, and admits the fix (clearing the verdict)', async () => {
      const w = world(['a', 'b']);
      const done = await withPolicy(w, { privileged: [] });
      try {
        const rev = await w.apply(nginx({ scale: 2 }));
        await w.reconcile();
        const h = hashOf(nginx({ scale: 2 }));
        await w.apply(nginx({ scale: 3, capAdd: ['NET_ADMIN'] }));
        w.cache.nodes.splice(1, 1);
        await w.reconcile();
        assert.deepEqual(await w.placements(), { 0: `a ${h} r${rev}`, 1: `a ${h} r${rev}` }, 'kept (and moved off the lost node), not scaled');
        assert.equal((await forbiddenOf(w))?.violations[0]?.rule, 'privileged');
        const fixed = await w.apply(nginx({ scale: 3 }));
        await w.reconcile();
        assert.equal(Object.keys(await w.placements()).length, 3);
        assert.equal(await forbiddenOf(w), undefined);
        assert.equal(JSON.parse((await w.store.get(w.keys.rollout('app', 'web')))!.value).targetRevision, fixed);
      } finally {
        await done();
      }
    });

    it('counts the app\'s other manifests\' placements against its quota', async () => {
      const w = world(['a', 'b']);
      const done = await withPolicy(w, { quotas: { app: { maxReplicas: 3 } } });
      try {
        await w.store.put(w.keys.manifest('app', 'other'), JSON.stringify(nginx({ scale: 2 })));
        await w.reconcileId('app/other');
        await w.apply(nginx({ scale: 2 }));
        await waitUntil(() => w.factory.informer(Resources.manifests(w.keys)).list().length === 2);
        await w.reconcile();
        assert.deepEqual(w.cache.placementsOf('app', 'web'), []);
        assert.equal((await forbiddenOf(w))?.violations[0]?.message, 'app app would use 4 replicas, at most 3 replicas (this manifest 2, its other manifests 2)');
        await w.apply(nginx({ scale: 1 }));
        await w.reconcile();
        assert.deepEqual(w.cache.placementsOf('app', 'web').map((p) => p.replica), [0]);
        assert.equal(w.cache.placementsOf('app', 'other').length, 2);
      } finally {
        await done();
      }
    });
  });

  it('keeps the last valid spec placed, and moving, while the manifest is invalid', async () => {
    const w = world(['a', 'b']);
    const rev = await w.apply(nginx({ scale: 2 }));
    await w.reconcile();
    await w.apply('{"image": ');
    w.cache.nodes.splice(1, 1);
    await w.reconcile();
    const h = hashOf(nginx({ scale: 2 }));
    assert.deepEqual(await w.placements(), { 0: `a ${h} r${rev}`, 1: `a ${h} r${rev}` });
  });

  it('rolls a spec change out one replica at a time, looking again within a second', async () => {
    const w = world(['a', 'b']);
    const rev1 = await w.apply(nginx({ scale: 2 }));
    await w.reconcile();
    const rev2 = await w.apply(nginx({ scale: 2, command: ['nginx', '-g', 'daemon off;'] }));
    assert.deepEqual(await w.reconcile(), { requeueAfterMs: 1_000 });
    const [h1, h2] = [hashOf(nginx({ scale: 2 })), hashOf(nginx({ scale: 2, command: ['nginx', '-g', 'daemon off;'] }))];
    assert.deepEqual(await w.placements(), { 0: `a ${h2} r${rev2}`, 1: `b ${h1} r${rev1}` });
  });

  it('fails on a write conflict, to be retried on fresh state', async () => {
    const w = world(['a', 'b']);
    await w.apply(nginx({ scale: 2 }));
    await w.reconcile();
    // Changed behind the cache's back: its mod revision is no longer the one the cache holds.
    const key = w.keys.placement('b', 'app', 'web', 1);
    await w.store.put(key, (await w.store.get(key))!.value);
    await w.apply(nginx({ scale: 1 }));
    await assert.rejects(w.reconcile(), /write conflict: placement changed meanwhile; retrying with fresh state/);
  });

  it('reports replicas that fit nowhere in the rollout record, waits for room, and places them when a bigger host joins', async () => {
    const w = world([]);
    w.cache.nodes.push(sized('n1', 1), sized('n2', 2), sized('n4', 4));
    await w.apply(nginx({ resources: { memory: '5Gi' } }));
    await w.reconcile();
    assert.deepEqual(await w.placements(), {});
    const rollout = JSON.parse((await w.store.get(w.keys.rollout('app', 'web')))!.value) as RolloutRecord;
    assert.deepEqual(rollout.unschedulable, [{ reason: 'insufficient memory: needs 5Gi, most free on any matching node 4Gi (n4)', replicas: [0] }]);
    assert.deepEqual([...w.cache.waiting], ['app/web']);

    w.cache.nodes.push(sized('n8', 8));
    await w.reconcile();
    assert.deepEqual(Object.values(await w.placements()).map((p) => p.split(' ')[0]), ['n8']);
    const after = JSON.parse((await w.store.get(w.keys.rollout('app', 'web')))!.value) as RolloutRecord;
    assert.equal(after.unschedulable, undefined);
    assert.deepEqual([...w.cache.waiting], []);
  });

  it('keeps the old replica when its resize does not fit on its node, and says why', async () => {
    const w = world([]);
    w.cache.nodes.push(sized('a', 1));
    const small = nginx({ resources: { memory: '512Mi' } });
    const rev1 = await w.apply(small);
    await w.reconcile();
    await w.apply(nginx({ resources: { memory: '2Gi' } }));
    await w.reconcile();
    assert.deepEqual(await w.placements(), { 0: `a ${hashOf(small)} r${rev1}` }, 'not switched');
    const rollout = JSON.parse((await w.store.get(w.keys.rollout('app', 'web')))!.value) as RolloutRecord;
    assert.equal(rollout.phase, 'Stalled');
    assert.match(rollout.message, /replica 0 on a cannot be resized: insufficient memory: needs 2Gi, free 1Gi/);
    assert.deepEqual([...w.cache.waiting], ['app/web'], 'looked at again when room appears');
  });

  it('switches a resize that fits once its old reservation is released', async () => {
    const w = world([]);
    w.cache.nodes.push(sized('a', 1));
    await w.apply(nginx({ resources: { memory: '512Mi' } }));
    await w.reconcile();
    const rev2 = await w.apply(nginx({ resources: { memory: '1Gi' } }));
    await w.reconcile();
    const stored = JSON.parse((await w.store.get(w.keys.placement('a', 'app', 'web', 0)))!.value) as PlacementRecord;
    assert.equal(stored.revision, rev2);
    assert.deepEqual(stored.reserved, { cpus: DEFAULT_RESERVATION.cpus, memoryBytes: 2 ** 30 });
  });
});

describe('SchedulerReconciler: moves (drain, rebalance)', () => {
  const draining: MaintenanceRecord = { cordoned: true, since: 'then', draining: { startedAt: 'then' } };
  const stored = async (w: ReturnType<typeof world>, node: string, replica: number) => {
    const kv = await w.store.get(w.keys.placement(node, 'app', 'web', replica));
    return kv && (JSON.parse(kv.value) as PlacementRecord);
  };
  /** The host of `p` reports it running and ready. */
  const ready = async (w: ReturnType<typeof world>, p: PlacementRecord) => {
    await w.putReplica(replicaOf(p));
  };

  it('drains start-first: a replacement elsewhere, ready for the monitor period, then the old one goes and the replacement is an ordinary replica', async () => {
    const w = world(['a', 'b']);
    await w.apply(nginx({ scale: 1, constraints: {} }));
    await w.reconcile();
    const first = (await stored(w, 'a', 0)) ?? (await stored(w, 'b', 0));
    const from = first!.node;
    const to = from === 'a' ? 'b' : 'a';
    await ready(w, first!);
    w.cache.cordonedNodes.add(from);
    w.cache.drainingNodes.set(from, draining);

    await w.reconcile();
    const surge = await stored(w, to, 1);
    assert.equal(surge?.replaces, 0, 'replica 1 on the other node replaces replica 0');
    assert.ok(await stored(w, from, 0), 'the old replica keeps running meanwhile');

    await ready(w, surge!);
    await w.reconcile();
    assert.ok(await stored(w, from, 0), 'still there: the replacement must stay ready for the monitor period');
    await w.clock.advance(MONITOR_MS);
    await w.reconcile();
    assert.equal(await stored(w, from, 0), undefined, 'the old replica is unplaced');
    const settled = await stored(w, to, 1);
    assert.equal(settled?.replaces, undefined);
    assert.equal(settled?.templateHash, surge!.templateHash, 'same spec: its container is kept');
    assert.deepEqual(w.events.filter((e) => e.reason === 'Moving' || e.reason === 'Moved').map((e) => e.reason), ['Moving', 'Moved']);

    // Done: once the rollout record has caught up (it was written before the move's step),
    // nothing more to do, and the manifest keeps its replica at index 1.
    await w.reconcile();
    const rev = w.store.revision;
    await w.reconcile();
    assert.equal(w.store.revision, rev);
    assert.deepEqual(Object.keys(await w.placements()), ['1']);
  });

  it('abandons a replacement that crashes, keeping the old replica, and says why', async () => {
    const w = world(['a', 'b']);
    await w.apply(nginx({ scale: 1, constraints: { 'node.name': '!c' } }));
    await w.reconcile();
    const first = ((await stored(w, 'a', 0)) ?? (await stored(w, 'b', 0)))!;
    await ready(w, first);
    w.cache.cordonedNodes.add(first.node);
    w.cache.drainingNodes.set(first.node, draining);
    await w.reconcile();
    const to = first.node === 'a' ? 'b' : 'a';
    const surge = (await stored(w, to, 1))!;
    await w.putReplica(replicaOf(surge, { state: 'CrashLoopBackOff', crashes: 2, exitCode: 1 }));
    await w.reconcile();
    assert.equal(await stored(w, to, 1), undefined, 'the replacement is removed');
    assert.ok(await stored(w, first.node, 0), 'the old replica stays');
    assert.match(w.events.find((e) => e.reason === 'MoveFailed')?.message ?? '', /CrashLoopBackOff/);
  });

  it('moves a replica `dokkaa rebalance` asked for, and deletes the request when done', async () => {
    const w = world(['a', 'b']);
    const moves = w.factory.informer(Resources.moves(w.keys));
    moves.acquire();
    await w.apply(nginx({ scale: 2 }));
    await w.reconcile();
    const p0 = (await stored(w, 'a', 0))!;
    await ready(w, p0);
    await ready(w, (await stored(w, 'b', 1))!);
    await w.store.put(w.keys.manifestMoves('app', 'web'), JSON.stringify({ moves: [{ replica: 0, from: 'a', to: 'b' }], requestedAt: 'now', reason: 'rebalance' }));
    await moves.synced();
    await waitUntil(() => moves.list().length === 1);
    await w.reconcile();
    const surge = (await stored(w, 'b', 2))!;
    assert.equal(surge.replaces, 0);
    await ready(w, surge);
    await w.reconcile();
    await w.clock.advance(MONITOR_MS);
    await w.reconcile();
    assert.equal(await stored(w, 'a', 0), undefined);
    assert.equal(await w.store.get(w.keys.manifestMoves('app', 'web')), undefined, 'the request is done');
    await moves.release();
  });
});

async function waitUntil(pred: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !pred(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(pred());
}

describe('SchedulerReconciler: pinned images (a fake registry)', () => {
  const IMAGE = '127.0.0.1:5000/busybox:1';
  const D1 = `sha256:${'1'.repeat(64)}`;
  const D2 = `sha256:${'2'.repeat(64)}`;
  const busybox = (extra: object = {}) => ({ image: IMAGE, scale: 2, ...extra });
  const specs = async (w: ReturnType<typeof world>) =>
    (await w.store.list(w.keys.placements)).kvs.map((kv) => JSON.parse(kv.value) as PlacementRecord).sort((a, b) => a.replica - b.replica);
  const rollout = async (w: ReturnType<typeof world>) => JSON.parse((await w.store.get(w.keys.rollout('app', 'web')))!.value) as RolloutRecord;
  const readyAll = async (w: ReturnType<typeof world>) => {
    for (const p of await specs(w)) await w.putReplica(replicaOf(p));
  };

  it('resolves the tag once and places every replica with the digest; the rollout record keeps the pin', async () => {
    const w = world(['a', 'b']);
    w.resolver.tags.set(IMAGE, D1);
    await w.apply(busybox());
    await w.reconcile();
    const placed = await specs(w);
    assert.deepEqual(placed.map((p) => [p.spec.image, p.spec.imageDigest]), [[IMAGE, D1], [IMAGE, D1]]);
    assert.equal(placed[0]!.templateHash, templateHash({ ...spec(busybox()), imageDigest: D1 }), 'the digest is part of the template');
    assert.deepEqual((await rollout(w)).pin, { baseHash: hashOf(busybox()), image: IMAGE, digest: D1 });
    assert.ok(w.events.some((e) => e.reason === 'Pinned' && e.message.includes(D1)));
    await w.reconcile();
    await w.apply(busybox({ scale: 3 }));
    await w.reconcile();
    assert.deepEqual(w.resolver.calls, [IMAGE], 'reconciles and a scale change do not ask the registry again');
    assert.equal((await specs(w)).length, 3);
  });

  it('runs what it pinned when the tag is pushed anew, until a rollout restart, which pins again and rolls', async () => {
    const w = world(['a', 'b']);
    const restarts = w.factory.informer(Resources.restarts(w.keys));
    restarts.acquire();
    w.resolver.tags.set(IMAGE, D1);
    await w.apply(busybox());
    await w.reconcile();
    await readyAll(w);
    await w.reconcile();
    w.resolver.tags.set(IMAGE, D2);
    await w.reconcile();
    assert.deepEqual((await specs(w)).map((p) => p.spec.imageDigest), [D1, D1], 'nothing changes');

    await w.store.put(w.keys.restart('app', 'web'), JSON.stringify({ requestedAt: '2026-11-30T00:00:00.000Z' }));
    await restarts.synced();
    await waitUntil(() => restarts.list().length === 1);
    assert.deepEqual(await w.reconcile(), { requeueAfterMs: 1_000 }, 'a rollout, one replica at a time');
    const rolled = await specs(w);
    assert.deepEqual(rolled.map((p) => p.spec.imageDigest), [D2, D1]);
    assert.equal(rolled[0]!.spec.restartedAt, '2026-11-30T00:00:00.000Z');
    assert.deepEqual((await rollout(w)).pin?.digest, D2);
    assert.deepEqual(w.resolver.calls, [IMAGE, IMAGE]);
    await restarts.release();
  });

  it('a new leader finds the pin in the rollout record instead of asking the registry', async () => {
    const w = world(['a', 'b']);
    w.resolver.tags.set(IMAGE, D1);
    await w.apply(busybox());
    await w.reconcile();
    w.resolver.tags.set(IMAGE, D2);
    const next = new ImagePinner(w.store, w.keys, w.clock, w.resolver, { record: async () => {} } as unknown as EventRecorder, w.factory);
    const pinned = await next.pin('app', 'web', spec(busybox()), createLogger('error', true));
    assert.ok(pinned.ok && pinned.spec.imageDigest === D1);
    assert.deepEqual(w.resolver.calls, [IMAGE]);
  });

  it('places nothing when the tag cannot be pinned (auth, not found), says why, and tries again later', async () => {
    const w = world(['a', 'b']);
    w.resolver.failing = { kind: 'auth', reason: 'HTTP 401: UNAUTHORIZED: authentication required' };
    await w.apply(busybox());
    assert.deepEqual(await w.reconcile(), { requeueAfterMs: 10_000 });
    assert.deepEqual(await specs(w), []);
    assert.match((await rollout(w)).pinError!.message, /image 127\.0\.0\.1:5000\/busybox:1 not pinned: authentication failed \(HTTP 401/);
    await w.reconcile();
    assert.equal(w.resolver.calls.length, 1, 'not asked again before the retry time');
    w.resolver.failing = undefined;
    w.resolver.tags.set(IMAGE, D1);
    await w.clock.advance(10_000);
    await w.reconcile();
    assert.deepEqual((await specs(w)).map((p) => p.spec.imageDigest), [D1, D1]);
    assert.equal((await rollout(w)).pinError, undefined, 'the error goes with a pin');
  });

  it('keeps the previous version running when a new spec cannot be pinned', async () => {
    const w = world(['a', 'b']);
    w.resolver.tags.set(IMAGE, D1);
    const rev1 = await w.apply(busybox());
    await w.reconcile();
    await w.apply(busybox({ image: '127.0.0.1:5000/busybox:2' }));
    await w.reconcile();
    assert.deepEqual((await specs(w)).map((p) => [p.spec.image, p.revision]), [[IMAGE, rev1], [IMAGE, rev1]]);
    assert.match((await rollout(w)).pinError!.message, /busybox:2 not pinned: image or tag not found/);
  });

  it('runs by tag when the registry does not answer (the hosts may have the image), with a warning', async () => {
    const w = world(['a']);
    w.resolver.failing = { kind: 'unreachable', reason: 'ECONNREFUSED' };
    await w.apply(busybox({ scale: 1 }));
    await w.reconcile();
    const [p] = await specs(w);
    assert.equal(p!.spec.imageDigest, undefined);
    assert.equal(p!.templateHash, hashOf(busybox({ scale: 1 })));
    assert.equal((await rollout(w)).pin?.unpinned, 'registry unreachable: ECONNREFUSED');
    assert.ok(w.events.some((e) => e.type === 'Warning' && e.reason === 'NotPinned'));
  });

  it('never asks about images without a registry host; their hash is as before', async () => {
    const w = world(['a']);
    const rev = await w.apply(nginx({ scale: 1 }));
    await w.reconcile();
    assert.deepEqual(w.resolver.calls, []);
    assert.deepEqual(await w.placements(), { 0: `a ${hashOf(nginx({ scale: 1 }))} r${rev}` });
  });
});
