import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import { etcdClientUrls, etcdLeaderIndex, formatStatus, killEtcdMember, labEtcdOptions, labStatus, restoreEtcdMembers } from '../../lab/index.js';
import { waitFor } from '../e2e/support/world.js';
import { processAlive, Sampler, seconds, sleepMs, useLab, webManifest, type LabWorld } from './support/lab-world.js';

const LAB = 'ehetcd';
const TTL = 10;
const APP = 'ha';
/**
 * What 'grow' scales to from 2: enough new replicas (4 per host) that the scale-up is still
 * under way when the rollout's first new container runs. At 6 (one or two new per host) both
 * can finish within a second of each other on a fast engine, and the wait below for "both
 * under way", which inspects every container of both manifests per try, timed out once.
 */
const GROWN = 14;

/** Running containers of APP on every engine, as `name/replica -> [node:id ...]`. */
async function runningByReplica(w: LabWorld): Promise<Map<string, string[]>> {
  const seen = new Map<string, string[]>();
  await Promise.all(w.nodeNames.map(async (node) => {
    const list = await w.engine(node).listContainers({ filters: { label: [`dokkaa.app=${APP}`], status: ['running'] } });
    for (const c of list) {
      const key = `${c.Labels['dokkaa.name']}/${c.Labels['dokkaa.replica']}`;
      seen.set(key, [...(seen.get(key) ?? []), `${node}:${c.Id.slice(0, 12)}`]);
    }
  }));
  return seen;
}

/** The manifest's running containers with their env VERSION, across the lab. */
async function versions(w: LabWorld, name: string): Promise<string[]> {
  const all = [...(await w.containers(APP, name, { all: false })).entries()].flatMap(([node, cs]) => cs.map((c) => ({ node, c })));
  return Promise.all(all.map(async ({ node, c }) => (await w.env(node, c.id)).VERSION ?? '-'));
}

describe('3 etcd members: the leading member dies during a rolling update and a scale-up', () => {
  const lab = useLab({ name: LAB, nodes: 3, etcdMembers: 3, controllers: 2, ttlSeconds: TTL });

  it('loses no write, converges, keeps every process and never runs a replica twice', async () => {
    const w = lab();
    const urls = etcdClientUrls(w.state);
    assert.equal(urls.length, 3);
    // Every Dokkaa process the lab started was given every member.
    const agents = w.state.nodes.map((n) => n.agent!);
    const controllers = w.state.controllers.map((c) => c!);
    for (const p of [...agents, ...controllers]) assert.equal(p.argv[p.argv.indexOf('--etcd') + 1], urls.join(','), `${p.argv.slice(2, 3).join(' ')} pid ${p.pid}`);
    assert.ok(urls.every((u) => u.startsWith('https://')), `every member serves TLS: ${urls.join(',')}`);

    await w.putManifest(APP, 'steady', webManifest({ scale: 3 }));
    await w.putManifest(APP, 'roll', webManifest({ scale: 3, env: { VERSION: '1' } }));
    await w.putManifest(APP, 'grow', webManifest({ scale: 2 }));
    for (const [name, scale] of [['steady', 3], ['roll', 3], ['grow', 2]] as const) {
      await waitFor(`${name}: Running at scale ${scale}`, async () => (await w.status(APP, name))?.phase === 'Running' && (await versions(w, name)).length === scale, 90_000, 250);
    }
    const steadyIds = [...(await w.containers(APP, 'steady')).values()].flat().map((c) => c.id).sort();

    // Watched from the engines, every 200 ms from before the changes to the end.
    const replicas = new Sampler(() => runningByReplica(w), 200);
    // A writer of its own, through all three members: what etcd acknowledged must survive.
    const acked: string[] = [];
    const writer = new Etcd3(labEtcdOptions(w.state, { dialTimeout: 3_000 }));
    let writing = true;
    const writes = (async () => {
      for (let i = 0; writing; i++) {
        const key = `/ehtest/write/${String(i).padStart(5, '0')}`;
        try {
          await writer.put(key).value(String(i));
          acked.push(key);
        } catch {
          // Not acknowledged (no leader for a moment): it may or may not have been applied.
        }
        await sleepMs(50);
      }
    })();

    let killed = 0;
    try {
      const changedAt = Date.now();
      await w.putManifest(APP, 'roll', webManifest({ scale: 3, env: { VERSION: '2' } }));
      await w.putManifest(APP, 'grow', webManifest({ scale: GROWN }));
      // Both in flight: the rollout has begun and the new replicas are not all running yet.
      await waitFor('the rollout and the scale-up under way', async () => {
        const v = await versions(w, 'roll');
        const grown = (await versions(w, 'grow')).length;
        return (v.includes('2') || v.length < 3) && grown < GROWN;
      }, 30_000, 50);

      console.log(`rollout and scale-up under way ${seconds(Date.now() - changedAt)} s after the writes`);
      const leader = await waitFor('the leading etcd member', () => etcdLeaderIndex(w.state), 10_000, 100);
      const killedAt = Date.now();
      killed = await killEtcdMember('leader', { name: LAB, say: w.say });
      assert.equal(killed, leader);
      const next = await waitFor('a new etcd leader', async () => {
        const l = await etcdLeaderIndex(w.currentState());
        return l !== undefined && l !== killed ? l : undefined;
      }, 30_000, 100);
      console.log(`etcd member ${next} seen leading ${seconds(Date.now() - killedAt)} s after kill-etcd-member was called (member ${killed} led)`);

      await waitFor('roll: every replica on VERSION 2, Running', async () => {
        const v = await versions(w, 'roll');
        return (await w.status(APP, 'roll'))?.phase === 'Running' && v.length === 3 && v.every((x) => x === '2');
      }, 120_000, 250);
      await waitFor(`grow: Running at scale ${GROWN}`, async () => (await w.status(APP, 'grow'))?.phase === 'Running' && (await versions(w, 'grow')).length === GROWN, 120_000, 250);
      // A few more samples of the settled state.
      await sleepMs(2_000);
      console.log(`converged ${seconds(Date.now() - killedAt)} s after the kill`);
    } finally {
      writing = false;
      await writes;
      await replicas.stop();
    }

    // No replica ever ran twice, on one engine or across them.
    const twice = replicas.samples.flatMap((s) => [...(s.value ?? new Map<string, string[]>()).entries()].filter(([, where]) => where.length > 1).map(([r, where]) => `${new Date(s.at).toISOString()} ${r}: ${where.join(' ')}`));
    assert.deepEqual(twice, [], 'a replica ran in two containers at once');
    assert.ok(replicas.samples.filter((s) => s.value).length > 20, `enough samples (${replicas.samples.length}; probe errors: ${replicas.errors.slice(-3).join(' | ')})`);
    const last = replicas.samples.at(-1)!.value!;
    const count = (name: string) => [...last.keys()].filter((k) => k.startsWith(`${name}/`)).length;
    assert.deepEqual([count('steady'), count('roll'), count('grow')], [3, 3, GROWN], 'running replicas at the end, per manifest');

    // Nothing written was lost: the manifests as last written, and every acknowledged write.
    assert.deepEqual(JSON.parse((await w.etcd.get(w.keys.manifest(APP, 'roll')).string())!).env, { VERSION: '2' });
    assert.equal(JSON.parse((await w.etcd.get(w.keys.manifest(APP, 'grow')).string())!).scale, GROWN);
    assert.equal(JSON.parse((await w.etcd.get(w.keys.manifest(APP, 'steady')).string())!).scale, 3);
    const stored = new Set(Object.keys(await w.etcd.getAll().prefix('/ehtest/write/').strings()));
    assert.ok(acked.length > 0, 'the writer got acknowledgements');
    assert.deepEqual(acked.filter((k) => !stored.has(k)), [], `acknowledged writes missing (of ${acked.length})`);

    // No Dokkaa process exited, and the untouched manifest's containers never moved: no agent
    // fenced itself over a leader change its lease survived.
    for (const p of [...agents, ...controllers]) assert.ok(processAlive(p.pid), `pid ${p.pid} (${p.argv[2]}) still runs`);
    assert.deepEqual([...(await w.containers(APP, 'steady')).values()].flat().map((c) => c.id).sort(), steadyIds, 'steady: the same containers throughout');

    // The killed member comes back with its data dir and catches up.
    assert.deepEqual(await restoreEtcdMembers({ name: LAB, say: w.say }), [killed]);
    const back = new Etcd3(labEtcdOptions(w.state, { dialTimeout: 3_000 }, 'admin', [urls[killed - 1]!]));
    try {
      const seenThere = await waitFor('the restored member has every acknowledged write', async () => {
        const keys = Object.keys(await back.getAll().prefix('/ehtest/write/').strings());
        return acked.every((k) => keys.includes(k)) ? keys : undefined;
      }, 30_000, 250);
      assert.ok(seenThere.length >= acked.length);
    } finally {
      back.close();
    }
    // `lab status` shows each member as it answers for itself.
    const status = await labStatus(LAB);
    assert.deepEqual(status.etcdMembers?.map((m) => [m.index, m.url, m.process, m.healthy]), urls.map((u, i) => [i + 1, u, 'running', true]));
    assert.equal(status.etcdMembers!.filter((m) => m.leader).length, 1, 'one leader');
    assert.ok(status.etcd.healthy);
    assert.match(formatStatus(status), new RegExp(`etcd member ${killed} https://\\S+: \\d+ running, healthy`));
  });
});
