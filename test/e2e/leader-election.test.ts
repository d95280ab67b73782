import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeRecord, LeaderRecord } from '../../api/records.js';
import { AGENT_MODULES, DokkaaProcess, InProcessDokkaa } from './support/dokkaa.js';
import { sleeperManifest, waitFor, World } from './support/world.js';

describe('several controllers: exactly one leads', () => {
  const world = new World();
  const ttl = 3;
  let agent: InProcessDokkaa;
  const controllers: DokkaaProcess[] = [];
  before(async () => {
    agent = await InProcessDokkaa.start(world.config({ leaseTtlSeconds: ttl }), AGENT_MODULES);
    for (let i = 0; i < 2; i++) controllers.push(DokkaaProcess.spawn('controller', world.config({ leaseTtlSeconds: ttl })));
  });
  after(async () => {
    for (const c of controllers) await c.kill('SIGKILL');
    await agent?.stop();
    await world.cleanup();
  });

  const leader = async () => decodeRecord(LeaderRecord, await world.etcd.get(world.keys.leader).string());

  it('places work through the leader, and a standby takes over within the TTL when the leader is killed', async () => {
    const app = `lead-${world.id}`;
    const first = await waitFor('a leader', leader);
    const leading = controllers.find((c) => c.child.pid === first.pid);
    assert.ok(leading, 'the leader is one of the two controllers');
    const standby = controllers.find((c) => c !== leading)!;

    await world.putManifest(app, 'a', sleeperManifest());
    await waitFor('a Running', async () => (await world.status(app, 'a'))?.phase === 'Running', 30_000);
    // Only the leader acts: the standby logged no reconcile.
    assert.ok(!standby.output.join('').includes('"controller":"scheduler"'), 'the standby never scheduled');

    const killedAt = Date.now();
    await leading.kill('SIGKILL');
    const next = await waitFor('a new leader', async () => {
      const l = await leader();
      return l && l.pid !== first.pid ? l : undefined;
    }, (ttl + 5) * 1000, 50);
    const takeoverMs = Date.now() - killedAt;
    assert.equal(next.pid, standby.child.pid);
    assert.ok(takeoverMs <= (ttl + 2) * 1000, `took over in ${takeoverMs} ms with a ${ttl} s TTL`);

    await world.putManifest(app, 'b', sleeperManifest());
    await waitFor('b placed and Running under the new leader', async () => (await world.status(app, 'b'))?.phase === 'Running', 30_000);
  });
});
