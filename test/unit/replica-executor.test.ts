import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalJson } from '../../api/canonical-json.js';
import type { ReplicaRecord } from '../../api/records.js';
import { containerTemplate, LABEL } from '../../controllers/node-runner/container-template.js';
import { DRAIN_MS } from '../../controllers/node-runner/replica-executor.js';
import type { Step } from '../../controllers/node-runner/replica-plan.js';
import { placement, replica, spec } from './builders.js';
import { nodeRunnerWorld } from './node-runner-world.js';
import type { WorkerSlot } from '../../src/queue/work-queue.js';

const ref = { app: 'app', name: 'web', replica: 0 };
const p = placement(spec({ image: 'nginx', services: { web: 80 } }), 0, 'h1');
const template = containerTemplate(p, {}, 'h1', undefined, '/d');
const record = (extra: Partial<ReplicaRecord> = {}) => replica(p, extra);

describe('ReplicaExecutor', () => {
  it('writes a record under the host\'s lease, and not again while the stored one is the same', async () => {
    const w = await nodeRunnerWorld();
    const key = w.keys.replica('h1', 'app', 'web', 0);
    await w.executor.begin(ref, undefined, w.log)([{ kind: 'writeRecord', record: record() }]);
    const kv = await w.store.get(key);
    assert.equal(kv?.value, canonicalJson(record()));
    const rev = w.store.revision;
    await w.executor.begin(ref, kv, w.log)([{ kind: 'writeRecord', record: record() }]);
    assert.equal(w.store.revision, rev, 'unchanged: not written');
    await w.executor.begin(ref, kv, w.log)([{ kind: 'writeRecord', record: record({ restarts: 1 }) }]);
    assert.equal(w.store.revision, rev + 1, 'changed: written');
    w.lease.leaseId = '42';
    await w.executor.begin(ref, await w.store.get(key), w.log)([{ kind: 'writeRecord', record: record({ restarts: 1 }) }]);
    assert.equal(w.store.revision, rev + 2, 'the same under another lease: written again');
  });

  it('compares writes with the record as read, until readRecord reads it again', async () => {
    const w = await nodeRunnerWorld();
    const run = w.executor.begin(ref, undefined, w.log);
    await run([{ kind: 'writeRecord', record: record() }]);
    const rev = w.store.revision;
    await run([{ kind: 'writeRecord', record: record() }]);
    assert.equal(w.store.revision, rev + 1, 'still compared with what was read (nothing)');
    await run([{ kind: 'readRecord' }, { kind: 'writeRecord', record: record() }]);
    assert.equal(w.store.revision, rev + 1);
  });

  it('deletes the record only as it was read', async () => {
    const w = await nodeRunnerWorld();
    const key = w.keys.replica('h1', 'app', 'web', 0);
    await w.store.put(key, 'v1');
    const stale = w.store.revision - 1;
    await w.executor.begin(ref, undefined, w.log)([{ kind: 'deleteRecord', modRevision: stale }]);
    assert.equal((await w.store.get(key))?.value, 'v1');
    await w.executor.begin(ref, undefined, w.log)([{ kind: 'deleteRecord', modRevision: w.store.revision }]);
    assert.equal(await w.store.get(key), undefined);
  });

  it('without a revision, deletes the record only as last read (after its own write, re-read)', async () => {
    const w = await nodeRunnerWorld();
    const key = w.keys.replica('h1', 'app', 'web', 0);
    await w.store.put(key, 'v1');
    const run = w.executor.begin(ref, await w.store.get(key), w.log);
    await run([{ kind: 'writeRecord', record: record({ ready: false }) }, { kind: 'deleteRecord' }]);
    assert.ok(await w.store.get(key), 'the revision read first is stale after the write: kept');
    await run([{ kind: 'readRecord' }, { kind: 'deleteRecord' }]);
    assert.equal(await w.store.get(key), undefined);
  });

  it('pulls a missing image, showing its progress in the record (events Pulling, Pulled), not one the engine has', async () => {
    const w = await nodeRunnerWorld();
    w.engine.pullBytes = 274e6;
    const pull: Step = { kind: 'pull', image: 'nginx:latest', failed: record({ state: 'failed' }) };
    const written: string[] = [];
    const putAt = w.store.putAt.bind(w.store);
    w.store.putAt = async (key, value, options) => {
      written.push((JSON.parse(value) as ReplicaRecord).message ?? '');
      return putAt(key, value, options);
    };
    await w.executor.begin(ref, undefined, w.log)([pull, pull]);
    assert.deepEqual(w.engine.calls, ['pull nginx:latest']);
    assert.deepEqual(written, ['pulling nginx:latest starting', 'pulling nginx:latest 100% (274/274 MB)']);
    const stored = JSON.parse((await w.store.get(w.keys.replica('h1', 'app', 'web', 0)))!.value) as ReplicaRecord;
    assert.equal(stored.state, 'pending');
    assert.deepEqual(stored.pull, { image: 'nginx:latest', percent: 100, bytes: 274e6, total: 274e6 });
    assert.deepEqual(w.events.map((e) => [e.type, e.reason, e.message]), [
      ['Normal', 'Pulling', 'pulling image nginx:latest'],
      ['Normal', 'Pulled', 'pulled image nginx:latest (274.0 MB in 0.0 s)'],
    ]);
  });

  it('gives its worker back for the length of a pull, and only then: replicas waiting for an image hold no worker', async () => {
    const w = await nodeRunnerWorld();
    const seen: string[] = [];
    const worker: WorkerSlot = {
      idle: async (work) => {
        seen.push(`idle; engine calls: ${w.engine.calls.length}`);
        const v = await work;
        seen.push(`back; engine calls: ${w.engine.calls.join(', ')}`);
        return v;
      },
    };
    const pull: Step = { kind: 'pull', image: 'nginx:latest', failed: record({ state: 'failed' }) };
    await w.executor.begin(ref, undefined, w.log, worker)([pull, pull]);
    assert.deepEqual(seen, ['idle; engine calls: 0', 'back; engine calls: pull nginx:latest'], 'once, around the pull; the second step finds the image');
    assert.deepEqual(w.events.map((e) => e.reason), ['Pulling', 'Pulled']);
  });

  it('writes the failed record with the error when a pull fails, and throws', async () => {
    const w = await nodeRunnerWorld();
    w.engine.pullError = new Error('manifest unknown');
    const failed = record({ state: 'failed', ready: false });
    const run = w.executor.begin(ref, undefined, w.log);
    await assert.rejects(run([{ kind: 'pull', image: 'nginx:latest', failed }, { kind: 'drain' }]), /manifest unknown/);
    const stored = JSON.parse((await w.store.get(w.keys.replica('h1', 'app', 'web', 0)))!.value) as ReplicaRecord;
    const message = 'pull of nginx:latest failed: image or tag not found (manifest unknown)';
    assert.deepEqual(stored, { ...failed, message });
    assert.deepEqual(w.events.map((e) => [e.type, e.reason, e.message]), [['Normal', 'Pulling', 'pulling image nginx:latest'], ['Warning', 'Failed', message]]);
    assert.deepEqual(w.clock.slept, [], 'no step after the failed one');
  });

  it('creates and starts a container (event Started, naming the replica) and reports its id', async () => {
    const w = await nodeRunnerWorld();
    const id = await w.executor.begin(ref, undefined, w.log)([{ kind: 'create', spec: { ...template, name: 'temp' }, name: 'app---web---0' }]);
    assert.ok(id);
    assert.deepEqual(w.engine.calls, ['create temp', `start ${id}`]);
    assert.equal((await w.engine.inspect(id))?.running, true);
    assert.deepEqual(w.events.map((e) => [e.reason, e.message]), [['Started', 'started container app---web---0 (nginx:latest)']]);
  });

  it('removes a stale container of this node holding the name before creating', async () => {
    const w = await nodeRunnerWorld();
    const stale = w.engine.add({ name: template.name, labels: { ...template.labels, [LABEL.hash]: 'old' }, running: false, state: 'exited' });
    const id = await w.executor.begin(ref, undefined, w.log)([{ kind: 'create', spec: template, name: template.name }]);
    assert.deepEqual(w.engine.calls, [`create ${template.name}`, `remove ${stale}`, `create ${template.name}`, `start ${id}`]);
  });

  it('refuses a name held by a container it does not manage', async () => {
    const w = await nodeRunnerWorld();
    w.engine.add({ name: template.name, labels: {} });
    await assert.rejects(
      w.executor.begin(ref, undefined, w.log)([{ kind: 'create', spec: template, name: template.name }]),
      /container name app---web---0 is taken by a container this node does not manage/,
    );
  });

  it('removes containers with their own stop-grace label, else the step\'s grace; Killed for each', async () => {
    const w = await nodeRunnerWorld();
    const a = w.engine.add({ name: 'a', labels: { [LABEL.stopGrace]: '5' } });
    const b = w.engine.add({ name: 'b', labels: {} });
    const containers = await w.engine.list({});
    await w.executor.begin(ref, undefined, w.log)([{ kind: 'remove', containers, reason: 'spec changed', graceSeconds: 2 }]);
    assert.deepEqual(w.engine.calls, [`stop ${b} 2`, `remove ${b}`, `stop ${a} 5`, `remove ${a}`]);
    assert.deepEqual(w.events.map((e) => e.message), ['removed container b: spec changed', 'removed container a: spec changed']);
  });

  it('gives its worker back while it waits for a drain and for containers to stop, not while it removes or starts them', async () => {
    const w = await nodeRunnerWorld();
    const a = w.engine.add({ name: 'a', labels: {} });
    const b = w.engine.add({ name: 'b', labels: {} });
    // What each idle wraps: the sleep or the engine call that made its promise (both start before idle is called).
    const idled: string[] = [];
    const worker: WorkerSlot = {
      idle: async (work) => {
        idled.push(w.clock.slept.length ? `sleep ${w.clock.slept.splice(0).join()}` : w.engine.calls.at(-1)!);
        return work;
      },
    };
    const containers = (await w.engine.list({})).filter((c) => c.id === a);
    await w.executor.begin(ref, undefined, w.log, worker)([
      { kind: 'drain' },
      { kind: 'remove', containers, reason: 'no longer placed here', graceSeconds: 10 },
      { kind: 'stop', containerId: b, graceSeconds: 3 },
      { kind: 'start', containerId: b },
    ]);
    assert.deepEqual(idled, [`sleep ${DRAIN_MS}`, `stop ${a} 10`, `stop ${b} 3`]);
    assert.deepEqual(w.engine.calls, [`stop ${a} 10`, `remove ${a}`, `stop ${b} 3`, `start ${b}`]);
  });

  it('drains on the clock, starts, stops, renames, records events and logs', async () => {
    const w = await nodeRunnerWorld();
    const id = w.engine.add({ name: 'temp', labels: {} });
    w.engine.renameError = new Error('name in use');
    await w.executor.begin(ref, undefined, w.log)([
      { kind: 'drain' },
      { kind: 'stop', containerId: id, graceSeconds: 3 },
      { kind: 'start', containerId: id },
      { kind: 'rename', containerId: id, name: 'app---web---0' },
      { kind: 'event', type: 'Warning', reason: 'BackOff', message: 'm' },
      { kind: 'log', level: 'info', message: 'container restarted', fields: { restarts: 1 } },
    ]);
    assert.deepEqual(w.clock.slept, [DRAIN_MS]);
    assert.deepEqual(w.engine.calls, [`stop ${id} 3`, `start ${id}`, `rename ${id} app---web---0`]);
    assert.deepEqual(w.events, [{ app: 'app', name: 'web', type: 'Warning', reason: 'BackOff', message: 'm', replica: 0, node: 'h1' }]);
    assert.deepEqual(w.logged.map((l) => [l.level, l.message]), [['warn', 'rename failed'], ['info', 'container restarted']]);
  });
});
