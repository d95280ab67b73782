import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ContainerEvent, CreateSpec } from '../../src/docker/container-engine.js';
import { LAB_ENGINE_DELAYS, MemoryEngine } from '../../src/docker/memory-engine.js';
import { FakeClock, flush } from './fake-clock.js';

const spec = (name: string, labels: Record<string, string> = { app: 'a' }): CreateSpec => ({
  name,
  image: 'dokkaa/busybox',
  env: ['A=1'],
  labels,
  ports: [{ port: 80, protocol: 'tcp' }],
});

/** Runs `call` to completion, advancing the clock by `ms`; returns what it resolved to and whether it was done before. */
async function timed<T>(clock: FakeClock, ms: number, call: Promise<T>): Promise<{ value: T; early: boolean }> {
  let done = false;
  const settled = call.then((v) => {
    done = true;
    return v;
  });
  await clock.advance(ms - 1);
  const early = done;
  await clock.advance(1);
  return { value: await settled, early };
}

describe('MemoryEngine', () => {
  it('takes the lab-measured time for create and start, on the injected clock', async () => {
    const clock = new FakeClock(1_000);
    const engine = new MemoryEngine({ clock });
    const created = await timed(clock, LAB_ENGINE_DELAYS.create, engine.create(spec('web-1')));
    assert.equal(created.early, false);
    const started = await timed(clock, LAB_ENGINE_DELAYS.start, engine.start(created.value));
    assert.equal(started.early, false);
    const c = await timed(clock, 1, engine.inspect('web-1'));
    assert.equal(c.value?.state, 'running');
    assert.equal(c.value?.running, true);
    assert.equal(c.value?.startedAt, new Date(1_000 + LAB_ENGINE_DELAYS.create + LAB_ENGINE_DELAYS.start).toISOString());
    assert.ok((c.value?.hostPorts['80/tcp'] ?? 0) >= 32768, 'the published port gets a host port');
  });

  it('refuses a second container of one name with 409, and frees the name on remove', async () => {
    const engine = new MemoryEngine({ clock: new FakeClock(), delays: zero() });
    const id = await engine.create(spec('web-1'));
    await assert.rejects(engine.create(spec('web-1')), (err: { statusCode?: number }) => err.statusCode === 409);
    await engine.start(id);
    await engine.remove('web-1');
    assert.equal(await engine.inspect(id), undefined);
    await engine.remove(id); // idempotent
    assert.ok(await engine.create(spec('web-1')));
  });

  it('reports a missing container as undefined and a start of one as 404', async () => {
    const engine = new MemoryEngine({ clock: new FakeClock(), delays: zero() });
    assert.equal(await engine.inspect('nope'), undefined);
    await assert.rejects(engine.start('nope'), (err: { statusCode?: number }) => err.statusCode === 404);
    await engine.stop('nope', 1); // a no-op, as Docker's 404 is for the dockerode engine
  });

  it('lists by labels, newest first, in every state', async () => {
    const engine = new MemoryEngine({ clock: new FakeClock(), delays: zero() });
    const a = await engine.create(spec('a', { app: 'x', node: 'n1' }));
    const b = await engine.create(spec('b', { app: 'x', node: 'n2' }));
    await engine.create(spec('c', { app: 'y', node: 'n1' }));
    await engine.start(b);
    assert.deepEqual((await engine.list({ app: 'x' })).map((c) => [c.name, c.state]), [['b', 'running'], ['a', 'created']]);
    assert.deepEqual((await engine.list({ node: 'n1' })).map((c) => c.id).includes(a), true);
    assert.equal(engine.running(), 1);
  });

  it('streams create, start, die and destroy events of containers carrying the labels', async () => {
    const engine = new MemoryEngine({ clock: new FakeClock(), delays: zero() });
    const seen: ContainerEvent[] = [];
    const sub = engine.events({ node: 'n1' }).subscribe((ev) => seen.push(ev));
    const mine = await engine.create(spec('mine', { node: 'n1', app: 'a' }));
    const other = await engine.create(spec('other', { node: 'n2', app: 'a' }));
    await engine.start(mine);
    await engine.start(other);
    engine.exit(mine, 3);
    await engine.remove(mine);
    await flush();
    sub.unsubscribe();
    assert.deepEqual(seen.map((e) => [e.id, e.action]), [['', 'connected'], [mine, 'create'], [mine, 'start'], [mine, 'die'], [mine, 'destroy']]);
    assert.equal(seen[1]?.labels.app, 'a');
  });

  it('keeps a crashed container with its exit code until removed; start runs it again', async () => {
    const engine = new MemoryEngine({ clock: new FakeClock(5_000), delays: zero() });
    const id = await engine.create(spec('w'));
    await engine.start(id);
    engine.exit(id, 137);
    const dead = await engine.inspect(id);
    assert.deepEqual([dead?.state, dead?.running, dead?.exitCode], ['exited', false, 137]);
    await engine.start(id);
    assert.equal((await engine.inspect(id))?.state, 'running');
  });

  it('renames, refusing a taken name', async () => {
    const engine = new MemoryEngine({ clock: new FakeClock(), delays: zero() });
    const a = await engine.create(spec('a'));
    await engine.create(spec('b'));
    await assert.rejects(engine.rename(a, 'b'), (err: { statusCode?: number }) => err.statusCode === 409);
    await engine.rename(a, 'a-old');
    assert.equal((await engine.inspect('a-old'))?.id, a);
    assert.equal(await engine.inspect('a'), undefined);
  });

  it('has every image unless given a list; a pull adds one', async () => {
    const all = new MemoryEngine({ clock: new FakeClock(), delays: zero() });
    assert.equal(await all.hasImage('anything:1'), true);
    const some = new MemoryEngine({ clock: new FakeClock(), delays: zero(), images: ['x:1'] });
    assert.equal(await some.hasImage('y:1'), false);
    await assert.rejects(some.create({ ...spec('n'), image: 'y:1' }), (err: { statusCode?: number }) => err.statusCode === 404);
    await some.pull('y:1');
    assert.equal(await some.hasImage('y:1'), true);
  });

  it('refuses to remove a volume a container mounts', async () => {
    const engine = new MemoryEngine({ clock: new FakeClock(), delays: zero() });
    await engine.createVolume('v', { app: 'a' });
    await engine.create({ ...spec('c'), mounts: [{ type: 'volume', source: 'v', target: '/data', readOnly: false }] });
    await assert.rejects(engine.removeVolume('v'), (err: { statusCode?: number }) => err.statusCode === 409);
    await engine.remove('c');
    await engine.removeVolume('v');
    assert.deepEqual(await engine.listVolumes({}), []);
  });

  it('reports the capacity and bridge it was given', async () => {
    const engine = new MemoryEngine({ clock: new FakeClock(), delays: zero(), info: { cpus: 64, memoryBytes: 2 ** 37, version: 'hollow' }, bridgeGateway: '172.17.0.1' });
    assert.deepEqual(await engine.info(), { cpus: 64, memoryBytes: 2 ** 37, version: 'hollow' });
    assert.equal(await engine.bridgeGateway(), '172.17.0.1');
    assert.equal(engine.calls.info, 1);
  });
});

function zero() {
  return { create: 0, start: 0, stop: 0, remove: 0, read: 0, pull: 0 };
}
