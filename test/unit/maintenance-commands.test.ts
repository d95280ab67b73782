import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Keys } from '../../api/keys.js';
import type { MaintenanceRecord, MovesRecord, PlacementRecord } from '../../api/records.js';
import { UsageError } from '../../cli/client-commands.js';
import { cordonNode, drainNode, planClusterRebalance, rebalance, uncordonNode } from '../../cli/maintenance-commands.js';
import { parseCommandLine } from '../../cli/program.js';
import { node, placement, spec } from './builders.js';
import { FakeKvStore } from './fake-kv-store.js';

const keys = new Keys('/dokkaa');
const NOW = new Date('2026-06-01T10:00:00.000Z');
const web = spec({ image: 'nginx', scale: 3 });
const agent = spec({ image: 'fluentd', mode: 'global' });

function put(store: FakeKvStore, p: PlacementRecord): void {
  store.setQuietly(keys.placement(p.node, p.app, p.name, p.replica), JSON.stringify(p));
}

/** n1 with web replicas 0 and 2 and a global agent; n2 with web replica 1 and the agent; n3 empty. */
function cluster(): FakeKvStore {
  const store = new FakeKvStore();
  for (const n of ['n1', 'n2', 'n3']) store.setQuietly(keys.node(n), JSON.stringify(node(n)));
  put(store, placement(web, 0, 'n1'));
  put(store, placement(web, 1, 'n2'));
  put(store, placement(web, 2, 'n1'));
  put(store, placement(agent, 0, 'n1', { name: 'agent' }));
  put(store, placement(agent, 1, 'n2', { name: 'agent' }));
  store.setQuietly(keys.manifest('app', 'web'), JSON.stringify({ image: 'nginx', scale: 3 }));
  store.setQuietly(keys.manifest('app', 'agent'), JSON.stringify({ image: 'fluentd', mode: 'global' }));
  return store;
}

const maintenance = async (store: FakeKvStore, n: string) => {
  const kv = await store.get(keys.nodeMaintenance(n));
  return kv && (JSON.parse(kv.value) as MaintenanceRecord);
};

/** What the scheduler does for one move: a replacement, then (later) the old one goes and the replacement is rewritten. */
async function startMove(store: FakeKvStore, old: PlacementRecord, j: number, to: string): Promise<PlacementRecord> {
  const replacement = placement(web, j, to, { replaces: old.replica });
  await store.put(keys.placement(to, 'app', 'web', j), JSON.stringify(replacement));
  return replacement;
}
async function finishMove(store: FakeKvStore, old: PlacementRecord, replacement: PlacementRecord): Promise<void> {
  const { replaces: _r, ...rest } = replacement;
  await store.txnAt([{ key: keys.placement(old.node, 'app', 'web', old.replica), modRevision: (await store.get(keys.placement(old.node, 'app', 'web', old.replica)))!.modRevision }], [
    { type: 'delete', key: keys.placement(old.node, 'app', 'web', old.replica) },
    { type: 'put', key: keys.placement(replacement.node, 'app', 'web', replacement.replica), value: JSON.stringify(rest) },
  ]);
}
const tick = () => new Promise((r) => setImmediate(r));

describe('dokkaa cordon / uncordon', () => {
  it('cordons a node (maintenance/<node>), once, and uncordons it', async () => {
    const store = cluster();
    assert.equal(await cordonNode(store, keys, 'n1', NOW), 'n1 cordoned: nothing new is placed there');
    assert.deepEqual(await maintenance(store, 'n1'), { cordoned: true, since: NOW.toISOString() });
    assert.equal(await cordonNode(store, keys, 'n1', new Date(NOW.getTime() + 1000)), `n1 already cordoned (since ${NOW.toISOString()})`);
    assert.equal(await uncordonNode(store, keys, 'n1'), 'n1 uncordoned');
    assert.equal(await maintenance(store, 'n1'), undefined);
    assert.equal(await uncordonNode(store, keys, 'n1'), 'n1 is not cordoned');
  });

  it('knows a node by its record, by placements on it (its host is down) or by its maintenance record', async () => {
    const store = cluster();
    store.deleteQuietly(keys.node('n1'));
    assert.match(await cordonNode(store, keys, 'n1', NOW), /cordoned/);
    store.deleteQuietly(keys.node('n3'));
    await assert.rejects(cordonNode(store, keys, 'n3', NOW), new UsageError('unknown node n3: no live node of that name and nothing placed on it (dokkaa nodes lists them)'));
    store.setQuietly(keys.nodeMaintenance('gone'), JSON.stringify({ cordoned: true, since: 'x', draining: { startedAt: 'x' } }));
    assert.equal(await uncordonNode(store, keys, 'gone'), 'gone uncordoned (its drain ended)');
  });

  it('refuses an unknown node and a missing argument', async () => {
    await assert.rejects(uncordonNode(cluster(), keys, 'nope'), /unknown node nope/);
    await assert.rejects(cordonNode(cluster(), keys, undefined, NOW), new UsageError('usage: dokkaa cordon NODE'));
  });

  it('parses the commands and their flags', () => {
    assert.deepEqual(parseCommandLine(['cordon', 'n1']), { command: 'cordon', flags: {}, target: 'n1' });
    assert.deepEqual(parseCommandLine(['drain', 'n1', '--include-global', '--timeout', '30']), { command: 'drain', flags: {}, target: 'n1', options: { timeoutSeconds: 30, includeGlobal: true } });
    assert.deepEqual(parseCommandLine(['rebalance', 'app/web', '--dry-run']), { command: 'rebalance', flags: {}, target: 'app/web', options: { timeoutSeconds: 600, dryRun: true } });
  });
});

describe('dokkaa drain', () => {
  it('cordons and drains the node, prints each move as the scheduler makes it, and ends when no movable replica is left', async () => {
    const store = cluster();
    const lines: string[] = [];
    const done = drainNode(store, keys, 'n1', { timeoutSeconds: 10, includeGlobal: false }, (l) => lines.push(l), NOW);
    await tick();
    assert.deepEqual(await maintenance(store, 'n1'), { cordoned: true, since: NOW.toISOString(), draining: { startedAt: NOW.toISOString() } });
    const r3 = await startMove(store, placement(web, 0, 'n1'), 3, 'n3');
    await finishMove(store, placement(web, 0, 'n1'), r3);
    await startMove(store, placement(web, 2, 'n1'), 0, 'n2');
    // Abandoned (crashed), then retried elsewhere.
    await store.delete(keys.placement('n2', 'app', 'web', 0));
    const r5 = await startMove(store, placement(web, 2, 'n1'), 0, 'n3');
    await finishMove(store, placement(web, 2, 'n1'), r5);
    assert.match(await done, /^n1 drained: no movable replica left; 1 global replica stay/);
    assert.deepEqual(lines, [
      'n1 cordoned and draining',
      'n1: 2 replicas left',
      'moving app/web replica 0 from n1 to n3',
      'moved app/web replica 0 from n1 to n3',
      'n1: 1 replica left',
      'moving app/web replica 2 from n1 to n2',
      'move of app/web replica 2 to n2 failed; the scheduler tries again (dokkaa describe app/web)',
      'moving app/web replica 2 from n1 to n3',
      'moved app/web replica 2 from n1 to n3',
      'n1: 0 replicas left',
    ]);
    assert.equal((await maintenance(store, 'n1'))?.cordoned, true, 'the node stays cordoned');
  });

  it('counts global replicas with --include-global, and ends when they are removed', async () => {
    const store = cluster();
    store.deleteQuietly(keys.placement('n1', 'app', 'web', 0));
    store.deleteQuietly(keys.placement('n1', 'app', 'web', 2));
    const lines: string[] = [];
    const done = drainNode(store, keys, 'n1', { timeoutSeconds: 10, includeGlobal: true }, (l) => lines.push(l), NOW);
    await tick();
    assert.deepEqual((await maintenance(store, 'n1'))?.draining, { startedAt: NOW.toISOString(), includeGlobal: true });
    await store.delete(keys.placement('n1', 'app', 'agent', 0));
    assert.match(await done, /^n1 drained: no movable replica left; it stays cordoned/);
    assert.deepEqual(lines, ['n1 cordoned and draining (global replicas too)', 'n1: 1 replica left', 'app/agent replica 0 left n1', 'n1: 0 replicas left']);
  });

  it('run again, resumes watching and keeps when the drain started', async () => {
    const store = cluster();
    store.setQuietly(keys.nodeMaintenance('n2'), JSON.stringify({ cordoned: true, since: 'earlier', draining: { startedAt: 'earlier' } }));
    store.deleteQuietly(keys.placement('n2', 'app', 'web', 1));
    assert.match(await drainNode(store, keys, 'n2', { timeoutSeconds: 10, includeGlobal: false }, () => undefined, NOW), /^n2 drained/);
    assert.deepEqual(await maintenance(store, 'n2'), { cordoned: true, since: 'earlier', draining: { startedAt: 'earlier' } });
  });

  it('fails after the timeout saying what is left; the node stays cordoned and draining', async () => {
    const store = cluster();
    await assert.rejects(
      drainNode(store, keys, 'n1', { timeoutSeconds: 0.05, includeGlobal: false }, () => undefined, NOW),
      (err: Error) => err instanceof UsageError && /^timed out after 0.05 s: n1 still holds app\/web replica 0, app\/web replica 2; it stays cordoned and draining/.test(err.message),
    );
    assert.ok((await maintenance(store, 'n1'))?.draining);
    assert.equal(store.liveWatchers().length, 0, 'the watch is cancelled');
  });

  it('refuses an unknown node', async () => {
    await assert.rejects(drainNode(cluster(), keys, 'n9', { timeoutSeconds: 1, includeGlobal: false }, () => undefined, NOW), /unknown node n9/);
  });
});

describe('dokkaa rebalance', () => {
  /** n3 joined: web has 2 on n1, 1 on n2, 0 on n3; api's 4 replicas are all on n1. */
  function skewed(): FakeKvStore {
    const store = cluster();
    const api = spec({ image: 'api', scale: 4 });
    store.setQuietly(keys.manifest('app', 'api'), JSON.stringify({ image: 'api', scale: 4 }));
    for (let i = 0; i < 4; i++) put(store, placement(api, i, 'n1', { name: 'api' }));
    return store;
  }

  it('computes the moves from etcd, skipping global manifests, in the scope asked', async () => {
    const plan = await planClusterRebalance(skewed(), keys, undefined);
    assert.deepEqual(plan.moves.map((m) => `${m.app}/${m.name} ${m.replica}: ${m.from} -> ${m.to}`), ['app/api 3: n1 -> n3', 'app/api 2: n1 -> n2', 'app/web 2: n1 -> n3']);
    assert.deepEqual(plan.skipped, [{ app: 'app', name: 'agent', reason: 'global: one replica per node, never moved' }]);
    assert.deepEqual((await planClusterRebalance(skewed(), keys, 'app/web')).moves.map((m) => m.name), ['web']);
    await assert.rejects(planClusterRebalance(skewed(), keys, 'other'), new UsageError('no valid manifest other'));
  });

  it('never targets a cordoned node', async () => {
    const store = skewed();
    store.setQuietly(keys.nodeMaintenance('n3'), JSON.stringify({ cordoned: true, since: 'x' }));
    assert.deepEqual((await planClusterRebalance(store, keys, 'app')).moves.map((m) => m.to), ['n2', 'n2']);
  });

  it('--dry-run prints the moves and writes nothing', async () => {
    const store = skewed();
    const lines: string[] = [];
    assert.equal(await rebalance(store, keys, 'app', { dryRun: true, timeoutSeconds: 1 }, (l) => lines.push(l), NOW), '3 moves (dry run: nothing changed)');
    assert.deepEqual(lines, ['app/agent: not moved (global: one replica per node, never moved)', 'app/api replica 3: n1 -> n3', 'app/api replica 2: n1 -> n2', 'app/web replica 2: n1 -> n3']);
    assert.deepEqual((await store.list(keys.moves)).kvs, []);
  });

  it('writes a MovesRecord per manifest and prints each move as the scheduler settles it', async () => {
    const store = skewed();
    const lines: string[] = [];
    const done = rebalance(store, keys, 'app/api', { dryRun: false, timeoutSeconds: 10 }, (l) => lines.push(l), NOW);
    await tick();
    const record = JSON.parse((await store.get(keys.manifestMoves('app', 'api')))!.value) as MovesRecord;
    assert.deepEqual(record, { moves: [{ replica: 3, from: 'n1', to: 'n3' }, { replica: 2, from: 'n1', to: 'n2' }], requestedAt: NOW.toISOString(), reason: 'dokkaa rebalance' });
    // The scheduler moves replica 3, then drops the other request (n2 filled up meanwhile).
    await store.delete(keys.placement('n1', 'app', 'api', 3));
    await store.put(keys.manifestMoves('app', 'api'), JSON.stringify({ ...record, moves: [record.moves[1]] }));
    await tick();
    await store.delete(keys.manifestMoves('app', 'api'));
    assert.equal(await done, 'rebalanced: 1 of 2 moves done');
    assert.deepEqual(lines.slice(2), ['moved app/api replica 3: n1 -> n3', 'not moved: app/api replica 2: n1 -> n2 (dokkaa describe app/api says why)']);
  });

  it('says so when there is nothing to move', async () => {
    const store = cluster();
    store.deleteQuietly(keys.node('n3'));
    assert.equal(await rebalance(store, keys, undefined, { dryRun: false, timeoutSeconds: 1 }, () => undefined, NOW), 'nothing to move: the spread is as even as placement makes it');
  });
});
