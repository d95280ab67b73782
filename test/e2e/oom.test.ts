import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeRecord, EventRecord, ReplicaRecord } from '../../api/records.js';
import { dokkaaCli as dokkaa, useDokkaa } from './support/dokkaa.js';
import { waitFor, type World } from './support/world.js';

/**
 * `tail /dev/zero` keeps the line it is reading, and /dev/zero has no line end: it grows
 * until the kernel kills it at the memory limit. `exec` makes it the container's process,
 * so the kill ends the container.
 */
const HOG = 'exec tail /dev/zero';

async function record(world: World, app: string): Promise<ReplicaRecord | undefined> {
  return decodeRecord(ReplicaRecord, await world.etcd.get(world.keys.replica(world.node, app, 'hog', 0)).string());
}

/**
 * Ids of the containers the engine itself reported killed for memory (its `oom` events)
 * since `sinceSec`. Asked of the event log, not of a later inspect: the restarted container
 * (the same one, started again) no longer says OOMKilled.
 */
async function engineOomKills(world: World, sinceSec: number): Promise<string[]> {
  const stream = (await world.docker.getEvents({ since: sinceSec, until: Math.ceil(Date.now() / 1000) + 1, filters: { type: ['container'], event: ['oom'] } })) as NodeJS.ReadableStream;
  let text = '';
  for await (const chunk of stream) text += chunk.toString();
  return text.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { Actor?: { ID?: string }; id?: string })).map((e) => e.Actor?.ID ?? e.id ?? '');
}

async function oomEvents(world: World, app: string): Promise<EventRecord[]> {
  const all = await world.eventValues(app, 'hog');
  return Object.values(all).map((v) => decodeRecord(EventRecord, v)).filter((e): e is EventRecord => e?.reason === 'OOMKilled');
}

describe('a container killed at its memory limit, on real Docker', () => {
  const { world } = useDokkaa();

  it('is reported OOMKilled (exit 137) with one OOMKilled event per kill, and restarted under the backoff', async () => {
    const app = `oom-${world.id}`;
    const sinceSec = Math.floor(Date.now() / 1000) - 1;
    await world.putManifest(app, 'hog', { image: 'dokkaa/busybox', command: ['sh', '-c', HOG], resources: { memory: '32Mi' } });
    let killed: { state: string; exitCode?: number; message?: string; phase: string; containerId: string } | undefined;
    const st = await waitFor('OOMKilled seen, then restarted twice', async () => {
      const s = await world.status(app, 'hog');
      const r = s?.replicas[0];
      if (r?.state === 'OOMKilled' && !killed && r.containerId) {
        killed = { state: r.state, exitCode: r.exitCode, message: r.message, phase: s!.phase, containerId: r.containerId };
      }
      return killed && (r?.restarts ?? 0) >= 2 ? s : undefined;
    }, 60_000, 50);
    assert.ok(killed, 'status showed the replica OOMKilled');
    assert.equal(killed.exitCode, 137);
    assert.match(killed.message ?? '', /^killed: out of memory \(limit 32Mi\)/);
    assert.equal(killed.phase, 'Failed', 'the only replica is down');
    assert.ok((await engineOomKills(world, sinceSec)).includes(killed.containerId), 'the engine says the kernel killed it for memory, not that it exited otherwise');

    const r = await record(world, app);
    assert.equal(r?.lastTermination?.reason, 'OOMKilled');
    assert.equal(r?.lastTermination?.exitCode, 137);
    assert.ok((r?.restarts ?? 0) >= 2);
    assert.equal(st.replicas[0]!.lastTermination?.reason, 'OOMKilled');

    // One event per kill: as many as the kills seen (the restarts, and perhaps the one backing
    // off now), never one per reconcile.
    const events = await oomEvents(world, app);
    const after = (await record(world, app))!;
    assert.ok(events.length >= 2, `${events.length} OOMKilled events`);
    assert.ok(events.length <= after.restarts + 1, `${events.length} OOMKilled events for ${after.restarts} restarts`);
    assert.ok(events.every((e) => e.type === 'Warning' && /^container killed: out of memory \(limit 32Mi\) \(exit code 137\)/.test(e.message)), JSON.stringify(events));
  });

  it('runs again after one OOM kill, telling it was OOMKilled in the record, status and describe', async () => {
    const app = `oom1-${world.id}`;
    // The first run fills its memory; the restarted container (same filesystem) sleeps.
    const once = `if [ -f /oomed ]; then exec sleep 3600; fi; touch /oomed; ${HOG}`;
    await world.putManifest(app, 'hog', { image: 'dokkaa/busybox', command: ['sh', '-c', once], resources: { memory: '32Mi' } });
    const st = await waitFor('running again after the kill', async () => {
      const s = await world.status(app, 'hog');
      return s?.phase === 'Running' && s.replicas[0]?.restarts === 1 ? s : undefined;
    }, 60_000);
    const r = await record(world, app);
    assert.deepEqual([r?.state, r?.restarts, r?.lastTermination?.reason, r?.lastTermination?.exitCode], ['running', 1, 'OOMKilled', 137]);
    assert.match(st.message, /^1\/1 replicas running; replica 0 restarted after OOMKilled at /);
    assert.equal((await oomEvents(world, app)).length, 1);

    const described = (await dokkaa(world, 'describe', `${app}/hog`)).stdout;
    assert.match(described, new RegExp(`^0\\s+${world.node}\\s+running\\s+yes\\s+1\\s`, 'm'));
    assert.match(described, /^Last termination of replica 0: OOMKilled \(exit code 137\) at \S+; 1 restart\(s\)$/m);
    assert.match(described, /Warning\s+OOMKilled\s.*killed: out of memory \(limit 32Mi\)/);
    assert.match((await dokkaa(world, 'status', app)).stdout, /restarted after OOMKilled/);
  });

  it('with restart "never", stays OOMKilled rather than exited', async () => {
    const app = `oomnever-${world.id}`;
    await world.putManifest(app, 'hog', { image: 'dokkaa/busybox', command: ['sh', '-c', HOG], resources: { memory: '32Mi' }, restart: 'never' });
    const st = await waitFor('OOMKilled', async () => {
      const s = await world.status(app, 'hog');
      return s?.replicas[0]?.state === 'OOMKilled' ? s : undefined;
    }, 60_000);
    assert.equal(st.phase, 'Failed');
    assert.equal(st.replicas[0]!.exitCode, 137);
    assert.equal(st.message, '0/1 replicas running; replica 0 OOMKilled: killed: out of memory (limit 32Mi)');
    // Reconciles go on (resyncs, events); the kill is still reported once.
    await new Promise((res) => setTimeout(res, 1_500));
    assert.equal((await oomEvents(world, app)).length, 1);
    assert.equal((await record(world, app))?.restarts, 0);
  });
});
