import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { killController } from '../../lab/index.js';
import { waitFor } from '../e2e/support/world.js';
import { seconds, total, webManifest, processAlive, useLab } from './support/lab-world.js';

const LAB = 'lctrl';
const TTL = 4;

describe('two controllers: the leader dies, the other takes over', () => {
  const lab = useLab({ name: LAB, nodes: 2, controllers: 2, ttlSeconds: TTL });

  it('hands leadership to the standby, which places new work while the old stays put', async () => {
    const w = lab();
    const pids = w.state.controllers.map((c) => c!.pid);
    assert.equal(pids.length, 2);
    assert.ok(pids.every(processAlive), 'both controllers run');

    const first = await waitFor('a leader', () => w.leader(), 30_000, 200);
    assert.ok(pids.includes(first.pid), `the leader key names one of the lab's controllers (${first.pid} in ${pids.join(', ')})`);
    const standby = pids.find((p) => p !== first.pid)!;

    const app = 'lead';
    // One replica per host needs both hosts registered when the scheduler places them.
    await w.untilWhole();
    await w.putManifest(app, 'before', webManifest({ scale: 2 }));
    await waitFor('before: Running, one replica per engine', async () => {
      const c = await w.runningCounts(app, 'before');
      return (await w.status(app, 'before'))?.phase === 'Running' && c.n1 === 1 && c.n2 === 1;
    }, 60_000, 250);
    const beforeIds = [...(await w.containers(app, 'before')).values()].flat().map((c) => c.id).sort();

    const killedAt = Date.now();
    await killController(first.pid, { name: LAB, say: w.say });
    assert.ok(!processAlive(first.pid), 'the old leader is dead');
    const next = await waitFor('the standby in the leader key', async () => {
      const l = await w.leader();
      return l && l.pid !== first.pid ? l : undefined;
    }, (TTL + 10) * 1000, 50);
    const takeoverMs = Date.now() - killedAt;
    console.log(`controller takeover: ${seconds(takeoverMs)} s (TTL ${TTL} s)`);
    assert.equal(next.pid, standby, 'the other controller leads');
    assert.notEqual(next.id, first.id);
    assert.ok(takeoverMs <= (TTL + 3) * 1000, `took over in ${takeoverMs} ms with a ${TTL} s TTL`);

    // New work is placed and runs under the new leader.
    await w.putManifest(app, 'after', webManifest({ scale: 2 }));
    await waitFor('after: placed and Running', async () => {
      const s = await w.status(app, 'after');
      return s?.phase === 'Running' && total(await w.runningCounts(app, 'after')) === 2;
    }, 60_000, 250);
    const placed = await w.placements(app, 'after');
    assert.deepEqual(placed.map((p) => p.replica), [0, 1]);
    assert.deepEqual(placed.map((p) => p.node).sort(), ['n1', 'n2'], 'spread over both hosts');
    const afterContainers = [...(await w.containers(app, 'after')).values()].flat();
    assert.equal(afterContainers.length, 2);
    for (const c of afterContainers) assert.ok(placed.some((p) => p.replica === c.replica && p.node === c.node), `replica ${c.replica} runs where it is placed`);

    // The old work was not disturbed by the change of leader.
    assert.deepEqual([...(await w.containers(app, 'before')).values()].flat().map((c) => c.id).sort(), beforeIds, 'the same containers as before the takeover');
    assert.equal((await w.status(app, 'before'))?.phase, 'Running');
    assert.equal((await w.leader())?.pid, standby, 'still the same leader');
  });
});
