import 'reflect-metadata';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Subject } from 'rxjs';
import { Keys } from '../../api/keys.js';
import { decodeRecord, NodeRecord } from '../../api/records.js';
import { ALLOCATED_WRITE_INTERVAL_MS, AllocationReporter, allocatedOf } from '../../src/agent/allocation-reporter.js';
import { nodeAmounts } from '../../src/agent/node-capacity.js';
import { NodeLease, type Allocated } from '../../src/agent/node-lease.js';
import { SealingKey } from '../../src/agent/sealing-key.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../../src/config.js';
import { InformerFactory } from '../../src/informer/informer-factory.js';
import { Resources } from '../../src/informer/resources.js';
import { createLogger } from '../../src/logging.js';
import { placement, spec } from './builders.js';
import { FakeClock, flush } from './fake-clock.js';
import { FakeEngine } from './fake-engine.js';
import { FakeKvStore } from './fake-kv-store.js';

const GI = 2 ** 30;
const MI = 2 ** 20;
const log = createLogger('error', true);
const keys = new Keys('/d');

describe('nodeAmounts', () => {
  it('takes the engine figures less the reserve', () => {
    assert.deepEqual(nodeAmounts({ cpus: 4, memoryBytes: 8 * GI }, { reserve: { cpus: 0.5, memoryBytes: 256 * MI } }), {
      capacity: { cpus: 4, memoryBytes: 8 * GI },
      allocatable: { cpus: 3.5, memoryBytes: 8 * GI - 256 * MI },
    });
  });

  it('lets each override replace its engine figure', () => {
    const r = nodeAmounts({ cpus: 4, memoryBytes: 8 * GI }, { capacity: { memoryBytes: GI }, reserve: { cpus: 0, memoryBytes: 0 } });
    assert.deepEqual(r, { capacity: { cpus: 4, memoryBytes: GI }, allocatable: { cpus: 4, memoryBytes: GI } });
    assert.deepEqual(nodeAmounts({ cpus: 4, memoryBytes: GI }, { capacity: { cpus: 1 } }).allocatable, { cpus: 1, memoryBytes: GI }, 'no reserve configured: none');
  });

  it('never goes below zero, and keeps CPUs free of binary drift', () => {
    assert.deepEqual(nodeAmounts({ cpus: 1, memoryBytes: 128 * MI }, { reserve: { cpus: 2, memoryBytes: 256 * MI } }).allocatable, { cpus: 0, memoryBytes: 0 });
    assert.equal(nodeAmounts({ cpus: 0.3, memoryBytes: GI }, { reserve: { cpus: 0.1, memoryBytes: 0 } }).allocatable.cpus, 0.2);
  });
});

describe('allocatedOf', () => {
  it("sums the placements' reservations, the default for those without", () => {
    assert.deepEqual(allocatedOf([]), { cpus: 0, memoryBytes: 0, replicas: 0 });
    assert.deepEqual(allocatedOf([{ reserved: { cpus: 0.1, memoryBytes: GI } }, { reserved: { cpus: 0.2, memoryBytes: 512 * MI } }, {}]), {
      cpus: 0.31,
      memoryBytes: GI + 512 * MI + 32 * MI,
      replicas: 3,
    });
  });
});

const config = (extra: Partial<Config> = {}): Config => ({
  etcd: [], prefix: '/d', docker: 'unix:///fake.sock', node: 'n1', address: '10.0.0.1', labels: {},
  leaseTtlSeconds: 10, resyncSeconds: 30, logLevel: 'error', fence: false, ...extra,
});

async function nodeRecord(store: FakeKvStore): Promise<NodeRecord | undefined> {
  return decodeRecord(NodeRecord, (await store.get(keys.node('n1')))?.value);
}

describe('the node record', () => {
  it('carries capacity and allocatable, and allocated once published, under the lease', async () => {
    const store = new FakeKvStore();
    const clock = new FakeClock(Date.parse('2026-01-01T00:00:00Z'));
    const lease = new NodeLease(config({ capacity: { memoryBytes: 4 * GI }, reserve: { cpus: 0, memoryBytes: 256 * MI } }), store, new FakeEngine(), keys, clock, log);
    await lease.publishAllocated({ cpus: 0.5, memoryBytes: GI, replicas: 1 }); // before the lease: kept for its first record
    await lease.start();
    try {
      const first = await nodeRecord(store);
      assert.deepEqual(first?.capacity, { cpus: 2, memoryBytes: 4 * GI }, 'the engine says 2 CPUs; memory overridden');
      assert.deepEqual(first?.allocatable, { cpus: 2, memoryBytes: 4 * GI - 256 * MI });
      assert.deepEqual(first?.allocated, { cpus: 0.5, memoryBytes: GI, replicas: 1 });
      await lease.publishAllocated({ cpus: 1, memoryBytes: 2 * GI, replicas: 2 });
      const second = await nodeRecord(store);
      assert.deepEqual(second, { ...first, allocated: { cpus: 1, memoryBytes: 2 * GI, replicas: 2 } }, 'only allocated changes');
      assert.equal((await store.get(keys.node('n1')))?.lease, lease.id());
    } finally {
      await lease.stop();
    }
    assert.equal(await store.get(keys.node('n1')), undefined, 'revoked with the lease');
  });
});

describe('the node record\'s sealing key', () => {
  const started = async (stateDir: string) => {
    const store = new FakeKvStore();
    const lease = new NodeLease(config(), store, new FakeEngine(), keys, new FakeClock(), log, new SealingKey({ node: 'n1', stateDir }));
    await lease.start();
    const record = await nodeRecord(store);
    await lease.stop();
    return record;
  };

  it('publishes the public half of the agent\'s own key, the same after a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dokkaa-lease-'));
    const first = await started(dir);
    assert.equal(Buffer.from(first!.sealingKey!, 'base64').length, 32);
    assert.equal((await started(dir))?.sealingKey, first!.sealingKey);
  });

  it('registers the host without one when the key cannot be made', async () => {
    // A file where the state directory should be: nothing can be made under it.
    const file = join(mkdtempSync(join(tmpdir(), 'dokkaa-lease-')), 'not-a-dir');
    writeFileSync(file, '');
    const record = await started(file);
    assert.equal(record?.name, 'n1');
    assert.equal(record?.sealingKey, undefined);
  });
});

/** An AllocationReporter on the real shared informer of a fake store, its writes counted. */
async function reporterWorld() {
  const store = new FakeKvStore();
  const clock = new FakeClock();
  const written: Allocated[] = [];
  const lease = {
    changes$: new Subject<string>(),
    failNext: false,
    publishAllocated: async (a: Allocated) => {
      if (lease.failNext) {
        lease.failNext = false;
        throw new Error('etcd unavailable');
      }
      written.push(a);
    },
  };
  const informers = new InformerFactory(store, clock, log);
  const reporter = new AllocationReporter(informers, keys, { node: 'n1' }, lease, clock, log);
  const s = spec({ image: 'nginx', resources: { cpus: 0.5, memory: '1Gi' } });
  const place = (replica: number, reserved = { cpus: 0.5, memoryBytes: GI }) =>
    store.put(keys.placement('n1', 'app', 'web', replica), JSON.stringify(placement(s, replica, 'n1', { reserved })));
  return { store, clock, written, lease, informers, reporter, place };
}

describe('AllocationReporter', () => {
  it('writes the sum once synced, then only when it changes, at most once a second', async () => {
    const w = await reporterWorld();
    await w.place(0);
    await w.store.put(keys.placement('n2', 'app', 'web', 1), JSON.stringify(placement(spec({ image: 'nginx' }), 1, 'n2')));
    await w.reporter.start();
    try {
      await w.clock.advance(ALLOCATED_WRITE_INTERVAL_MS);
      assert.deepEqual(w.written, [{ cpus: 0.5, memoryBytes: GI, replicas: 1 }], "another node's placements do not count");

      // A burst of changes within a second: one write, of the end result.
      await w.place(1);
      await w.place(2, { cpus: 1, memoryBytes: 2 * GI });
      await w.store.delete(keys.placement('n1', 'app', 'web', 0));
      await w.clock.advance(ALLOCATED_WRITE_INTERVAL_MS - 1);
      assert.equal(w.written.length, 1, 'not before the interval');
      await w.clock.advance(1);
      assert.deepEqual(w.written.at(-1), { cpus: 1.5, memoryBytes: 3 * GI, replicas: 2 });

      // Steady state: a rewrite with the same reservation, and time passing, write nothing.
      await w.place(1);
      await w.clock.advance(10 * ALLOCATED_WRITE_INTERVAL_MS);
      assert.equal(w.written.length, 2);
      assert.equal(w.clock.pending, 0, 'no timer left running');
    } finally {
      await w.reporter.stop();
    }
  });

  it('retries a failed write and writes again for a new lease', async () => {
    const w = await reporterWorld();
    await w.reporter.start();
    try {
      w.lease.failNext = true;
      await w.clock.advance(ALLOCATED_WRITE_INTERVAL_MS);
      assert.deepEqual(w.written, []);
      await w.clock.advance(ALLOCATED_WRITE_INTERVAL_MS);
      assert.deepEqual(w.written, [{ cpus: 0, memoryBytes: 0, replicas: 0 }]);
      w.lease.changes$.next('lease-2');
      await w.clock.advance(ALLOCATED_WRITE_INTERVAL_MS);
      assert.equal(w.written.length, 2, "the new lease's record may hold an older count");
    } finally {
      await w.reporter.stop();
    }
  });

  it('shares the informer of placements/<node>/ and releases it on stop', async () => {
    const w = await reporterWorld();
    const runner = w.informers.informer(Resources.nodePlacements(keys, 'n1'));
    runner.acquire(); // as the node runner would
    await w.reporter.start();
    await flush();
    assert.deepEqual(w.store.liveWatchers().map((x) => x.prefix), [keys.nodePlacements('n1')], 'one watch');
    await w.reporter.stop();
    assert.equal(runner.running, true, "the other user's informer keeps running");
    await runner.release();
    assert.deepEqual(w.store.liveWatchers(), []);
  });
});
