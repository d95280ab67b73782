import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeRecord, EventRecord } from '../../api/records.js';
import { killNode, restoreNode } from '../../lab/index.js';
import { dockerExec } from '../e2e/support/exec.js';
import { waitFor } from '../e2e/support/world.js';
import { sleepMs, useLab, type LabWorld } from './support/lab-world.js';

const LAB = 'lvol';
const TTL = 4;

const dbManifest = (extra: Record<string, unknown> = {}) => ({ image: 'dokkaa/busybox', command: ['sleep', '3600'], volumes: { data: '/data' }, ...extra });

/** The one node running replica 0 of app/db, with its container, once Running. */
async function runningReplica(w: LabWorld, app: string, notOn?: string): Promise<{ node: string; id: string }> {
  return waitFor(`${app}/db replica 0 running${notOn ? ` off ${notOn}` : ''}`, async () => {
    if ((await w.status(app, 'db'))?.phase !== 'Running') return undefined;
    const byNode = await w.containers(app, 'db', { all: false, nodes: w.nodeNames.filter((n) => n !== notOn) });
    const c = [...byNode.values()].flat().find((x) => x.running && x.replica === 0);
    return c && { node: c.node, id: c.id };
  }, 60_000, 250);
}

async function sh(w: LabWorld, at: { node: string; id: string }, script: string): Promise<string> {
  return (await dockerExec(w.engine(at.node), at.id, ['sh', '-c', script])).output.trim();
}

describe('volumes when the node holding them dies', () => {
  const lab = useLab({ name: LAB, nodes: 3, ttlSeconds: TTL });

  it('a replica waits for its dead node, saying so, and comes back on it with its data', async () => {
    const w = lab();
    const app = 'waits';
    await w.putManifest(app, 'db', dbManifest());
    const first = await runningReplica(w, app);
    await sh(w, first, 'echo precious > /data/f');

    await killNode(first.node, { name: LAB, say: w.say });
    const message = `waiting for node ${first.node}, which holds its volumes`;
    await waitFor('the status says it waits for the node', async () => (await w.status(app, 'db'))?.replicas[0]?.message === message, (TTL + 20) * 1000, 250);
    // A while later it still waits: placed where it was, nothing started elsewhere.
    await sleepMs(3_000);
    assert.deepEqual((await w.placements(app, 'db')).map((p) => [p.replica, p.node]), [[0, first.node]]);
    const live = w.nodeNames.filter((n) => n !== first.node);
    assert.deepEqual(Object.values(await w.runningCounts(app, 'db', live)), live.map(() => 0));
    assert.match((await w.status(app, 'db'))!.message, /waiting for node .*, which holds its volumes/);

    await restoreNode(first.node, { name: LAB, say: w.say });
    const back = await runningReplica(w, app);
    assert.equal(back.node, first.node);
    assert.equal(await sh(w, back, 'cat /data/f'), 'precious');
  });

  it('with volumeLoss reschedule it starts elsewhere with empty volumes, and a warning event says so', async () => {
    const w = lab();
    const app = 'moves';
    await w.putManifest(app, 'db', dbManifest({ volumeLoss: 'reschedule' }));
    const first = await runningReplica(w, app);
    await sh(w, first, 'echo left-behind > /data/f');

    await killNode(first.node, { name: LAB, say: w.say });
    try {
      const moved = await runningReplica(w, app, first.node);
      assert.notEqual(moved.node, first.node);
      assert.equal(await sh(w, moved, 'cat /data/f 2>/dev/null || echo empty'), 'empty');
      // Events are written a moment after they happen (at most one transaction a second per process).
      let reasons: string[] = [];
      const lost = await waitFor('the VolumesLost event', async () => {
        const events = (await w.eventValues(app, 'db')).map((v) => decodeRecord(EventRecord, v)!);
        reasons = events.map((e) => e.reason);
        return events.find((e) => e.reason === 'VolumesLost');
      }, 10_000).catch((err: unknown) => assert.fail(`${String(err)}; events: ${JSON.stringify(reasons)}`));
      assert.equal(lost.type, 'Warning');
      assert.equal(lost.message, `replica 0 starts on ${moved.node} with empty volumes; its volumes stay on ${first.node} (volumeLoss: reschedule)`);
    } finally {
      await restoreNode(first.node, { name: LAB, say: w.say });
    }
    // The volume left behind is not destroyed when its node returns.
    const volumes = await waitFor('the old volume still on the restored node', async () => {
      const list = (await w.engine(first.node).listVolumes({ filters: { label: ['dokkaa.app=moves'] } })).Volumes ?? [];
      return list.length ? list : undefined;
    }, 30_000, 250);
    assert.deepEqual(volumes.map((v) => v.Name), ['moves---db---0---data']);
  });
});
