import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeRecord, NodeRecord, PlacementRecord } from '../../api/records.js';
import { formatCpus, formatMemory } from '../../api/reservation.js';
import { allocatedOf } from '../../src/agent/allocation-reporter.js';
import { CONTROLLER_MODULES, DokkaaProcess, dokkaaCli, InProcessDokkaa } from './support/dokkaa.js';
import { sleeperManifest, sleepMs, waitFor, World } from './support/world.js';

const GI = 2 ** 30;

/**
 * A real agent process started with --capacity-* and --reserve-*, on the suite's engine: its
 * node record says the host's size, what replicas may reserve, and what its placements
 * reserve, and `dokkaa nodes` shows it.
 */
describe('node capacity and allocation', () => {
  const world = new World();
  let controller: InProcessDokkaa;
  let agent: DokkaaProcess | undefined;
  // The DNS server and the web router bind ports one per machine: off, as in the other e2e tests.
  const quiet = ['--dns-port', '0', '--router-http-port', '0', '--router-https-port', '0'];
  const sized = (memory: string) => [...quiet, '--capacity-memory', memory, '--capacity-cpus', '2', '--reserve-memory', '512Mi', '--reserve-cpus', '0.5'];

  before(async () => {
    controller = await InProcessDokkaa.start(world.config(), CONTROLLER_MODULES);
  });
  after(async () => {
    await agent?.kill('SIGTERM');
    await controller?.stop();
    await world.cleanup();
  });

  const record = async () => {
    const kv = await world.etcd.get(world.keys.node(world.node)).exec();
    const first = kv.kvs[0];
    return first ? { node: decodeRecord(NodeRecord, first.value.toString()), modRevision: first.mod_revision } : undefined;
  };
  /** What the placements on this node reserve, read from etcd (the agent must say the same). */
  const placedHere = async () => {
    const all = await world.etcd.getAll().prefix(world.keys.nodePlacements(world.node)).strings();
    return allocatedOf(Object.values(all).map((v) => decodeRecord(PlacementRecord, v)!));
  };

  it('reports capacity, allocatable and allocated, following the placements', async () => {
    agent = DokkaaProcess.spawn('agent', world.config(), sized('2Gi'));
    const empty = await waitFor('a node record with allocated', async () => ((await record())?.node?.allocated ? (await record())!.node : undefined), 30_000);
    assert.deepEqual(empty.capacity, { cpus: 2, memoryBytes: 2 * GI });
    assert.deepEqual(empty.allocatable, { cpus: 1.5, memoryBytes: 1.5 * GI });
    assert.deepEqual(empty.allocated, { cpus: 0, memoryBytes: 0, replicas: 0 });

    const app = `cap-${world.id}`;
    await world.putManifest(app, 'sized', sleeperManifest({ scale: 2, resources: { cpus: 0.25, memory: '64Mi' } }));
    await world.putManifest(app, 'plain', sleeperManifest());
    await waitFor('both Running', async () => (await world.status(app, 'sized'))?.phase === 'Running' && (await world.status(app, 'plain'))?.phase === 'Running', 60_000);
    const expected = await placedHere();
    assert.equal(expected.replicas, 3);
    const counted = await waitFor('allocated = the placements here', async () => {
      const r = await record();
      return JSON.stringify(r?.node?.allocated) === JSON.stringify(expected) ? r : undefined;
    }, 10_000);

    // Steady state: nothing changes, nothing is written.
    await sleepMs(3_000);
    assert.equal((await record())?.modRevision, counted.modRevision, 'no write while the placements stay as they are');

    const nodes = await dokkaaCli(world, 'nodes');
    assert.equal(nodes.code, 0, nodes.stderr);
    const row = nodes.stdout.split('\n').find((l) => l.startsWith(`${world.node} `))?.split(/\s{2,}/);
    const free = `${formatCpus(1.5 - expected.cpus)}/${formatMemory(1.5 * GI - expected.memoryBytes)}`;
    assert.deepEqual(row?.slice(2, 8), ['1.5', '1.5Gi', `${formatCpus(expected.cpus)}/${formatMemory(expected.memoryBytes)}`, free, '3', 'ready'], nodes.stdout);
    const json = JSON.parse((await dokkaaCli(world, 'nodes', '--json')).stdout) as { name: string; free: { memoryBytes: number }; state: string }[];
    const mine = json.find((n) => n.name === world.node);
    assert.equal(mine?.free.memoryBytes, 1.5 * GI - expected.memoryBytes);
    assert.equal(mine?.state, 'ready');

    await world.deleteManifest(app, 'sized');
    await world.deleteManifest(app, 'plain');
    await waitFor('allocated back to nothing', async () => JSON.stringify((await record())?.node?.allocated) === JSON.stringify({ cpus: 0, memoryBytes: 0, replicas: 0 }), 30_000);
  });

  it('shows a new capacity once the agent restarts with other flags', async () => {
    assert.equal(await agent!.kill('SIGTERM'), 0);
    agent = DokkaaProcess.spawn('agent', world.config(), sized('4Gi'));
    const bigger = await waitFor('the record of the restarted agent', async () => {
      const n = (await record())?.node;
      return n?.capacity.memoryBytes === 4 * GI && n.allocated ? n : undefined;
    }, 30_000);
    assert.deepEqual(bigger.allocatable, { cpus: 1.5, memoryBytes: 3.5 * GI });
  });
});
