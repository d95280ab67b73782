import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { healNode, partitionNode } from '../../lab/index.js';
import { waitFor } from '../e2e/support/world.js';
import { Sampler, seconds, sleepMs, total, webManifest, processAlive, processInNetns, useLab } from './support/lab-world.js';

const LAB = 'lpart';
const TTL = 4;
const SCALE = 6;

describe('a host is cut off from the network while it keeps running', () => {
  const lab = useLab({ name: LAB, nodes: 3, ttlSeconds: TTL });

  it('fences the cut-off host within the TTL, reschedules its replicas, and heals without duplicates', async () => {
    const w = lab();
    const app = 'split';
    await w.putManifest(app, 'web', webManifest({ scale: SCALE }));
    await waitFor('2 running on each engine, status Running', async () => {
      const c = await w.runningCounts(app, 'web');
      return (await w.status(app, 'web'))?.phase === 'Running' && Object.values(c).every((n) => n === 2);
    }, 60_000, 250);
    const cut = 'n3';
    const others = ['n1', 'n2'];
    const cutBefore = await w.containersOn(cut, app, 'web');
    assert.equal(cutBefore.length, 2);
    const agentPid = w.node(cut).agent!.pid;
    assert.ok(processInNetns(agentPid, w.node(cut).netns), `${cut}'s agent runs inside ${w.node(cut).netns}, where the partition reaches it`);

    // When etcd expires the cut-off host's lease: its node key goes.
    let leaseExpiredAt: number | undefined;
    const watcher = await w.etcd.watch().key(w.keys.node(cut)).create();
    watcher.on('delete', () => {
      leaseExpiredAt ??= Date.now();
    });

    // Every ~100 ms: the manifest's running containers on each engine, the cut-off one included.
    const sampler = new Sampler(() => w.runningCounts(app, 'web'), 100);
    let partitionedAt = 0;
    let fencedAt = 0;
    let movedAt = 0;
    let samples;
    try {
      await sampler.until('a first sample', () => true, 0, 10_000);
      const asked = Date.now();
      await partitionNode(cut, { name: LAB, say: w.say });
      // The cut: when the link went down (recorded by partitionNode once `ip link` returned).
      partitionedAt = w.currentState().nodes.find((n) => n.name === cut)!.partitionedAt!;
      assert.ok(partitionedAt >= asked && partitionedAt <= Date.now(), 'the lab recorded when the link went down');

      // The host is cut off, not dead: its agent and engine keep running.
      assert.ok(processAlive(agentPid), `${cut}'s agent (pid ${agentPid}) still runs`);
      assert.ok(await w.engine(cut).ping(), `${cut}'s engine answers on its socket`);

      // Fencing: the cut-off agent removes its own containers (docker ps -a shows none).
      await waitFor(`${cut}'s containers removed by fencing`, async () => (await w.containersOn(cut, app, 'web')).length === 0, (TTL + 10) * 1000, 50);
      fencedAt = Date.now();
      const moved = await sampler.until(`${SCALE} running on ${others.join(' + ')}`, (c) => total(c, others) === SCALE, partitionedAt, (TTL + 15) * 1000);
      movedAt = moved.at;
      await waitFor(`${cut}'s node key gone (lease expired)`, async () => leaseExpiredAt !== undefined, 10_000, 50);
      console.log(`partition: fenced ${seconds(fencedAt - partitionedAt)} s, lease expired ${seconds(leaseExpiredAt! - partitionedAt)} s, rescheduled ${seconds(movedAt - partitionedAt)} s after the cut (TTL ${TTL} s)`);
      // Still cut off a while longer: the agent must not bring anything back meanwhile.
      await sleepMs(TTL * 1000);
      assert.ok(processAlive(agentPid), `${cut}'s agent still runs after fencing`);
    } finally {
      samples = await sampler.stop();
      await watcher.cancel();
    }

    assert.ok(fencedAt - partitionedAt < TTL * 1000, `fenced ${fencedAt - partitionedAt} ms after the cut; must be within the ${TTL} s TTL`);
    assert.ok(fencedAt <= leaseExpiredAt!, `fenced before the lease expired (fenced at +${fencedAt - partitionedAt} ms, lease expired at +${leaseExpiredAt! - partitionedAt} ms)`);
    const during = samples.filter((s) => s.at > partitionedAt && s.value !== undefined);
    assert.ok(during.length >= 20, `sampled ${during.length} times during the partition`);
    const maxAll = Math.max(...during.map((s) => total(s.value!)));
    assert.ok(maxAll <= SCALE, `across all engines, the cut-off one included, never more than ${SCALE} running; max ${maxAll}`);
    const afterFence = during.filter((s) => s.at > fencedAt);
    assert.ok(afterFence.every((s) => s.value![cut] === 0), `${cut} ran nothing of the manifest while cut off after fencing`);

    // etcd: the replicas moved to the reachable hosts.
    const placed = await w.placements(app, 'web');
    assert.deepEqual(placed.map((p) => p.replica), [0, 1, 2, 3, 4, 5]);
    assert.ok(placed.every((p) => others.includes(p.node)), `placements: ${JSON.stringify(placed.map((p) => [p.replica, p.node]))}`);

    // Heal: the agent gets a new lease; nothing is placed on it any more, so it runs nothing.
    const healedAt = Date.now();
    await healNode(cut, { name: LAB, say: w.say });
    const record = await w.nodeRecord(cut);
    assert.ok(record, `${cut} registered again`);
    assert.ok(Date.parse(record.startedAt) >= partitionedAt, 'under a new lease');
    assert.equal(w.currentState().nodes.find((n) => n.name === cut)!.agent?.pid, agentPid, 'the same agent process, never restarted');
    assert.ok(processAlive(agentPid));
    console.log(`heal: ${cut} registered again ${seconds(Date.now() - healedAt)} s after the link came up`);

    const settled = await waitFor('after heal: exactly one running container per replica', async () => {
      const byNode = await w.containers(app, 'web', { all: true });
      const all = [...byNode.values()].flat();
      return all.length === SCALE && all.every((c) => c.running) && (await w.status(app, 'web'))?.phase === 'Running' ? all : undefined;
    }, 30_000, 250);
    assert.deepEqual(settled.map((c) => c.replica).sort(), [0, 1, 2, 3, 4, 5], 'no replica index twice');
    assert.ok(settled.every((c) => c.node !== cut), `nothing on ${cut}`);
    await sleepMs(TTL * 1000);
    const later = [...(await w.containers(app, 'web', { all: true })).values()].flat();
    assert.deepEqual(later.map((c) => c.id).sort(), settled.map((c) => c.id).sort(), 'stable after the heal');
  });
});
