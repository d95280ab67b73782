import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Keys } from '../../api/keys.js';
import { parsePortRecord } from '../../api/records.js';
import { planPorts, portBearing, wantedPorts, type AllocEntry, type PortEntry } from '../../controllers/link-injector/port-plan.js';
import { decodeManifest } from '../../api/manifest.js';
import type { Config } from '../../src/config.js';
import { createLogger } from '../../src/logging.js';
import { FakeKvStore } from './fake-kv-store.js';
import { allocatorOn } from './port-allocator.js';

const range = { min: 20000, max: 20004 };
const want = (...ids: string[]) => new Map(ids.map((id) => [id, undefined]));
const entry = (id: string, port: number, modRevision = 5, protocol: 'tcp' | 'udp' = 'tcp'): PortEntry => ({ id, record: { port, protocol }, modRevision });
const alloc = (port: number, id: string, modRevision = 6): AllocEntry => ({ port, id, modRevision });

describe('planPorts', () => {
  it('allocates the lowest free ports, in service order, as tcp unless the provider says otherwise', () => {
    const plan = planPorts(new Map([['b/x', 'udp'], ['a/y', undefined]]), [], [], range);
    assert.deepEqual(plan, {
      actions: [
        { kind: 'allocate', id: 'a/y', port: 20000, protocol: 'tcp' },
        { kind: 'allocate', id: 'b/x', port: 20001, protocol: 'udp' },
      ],
      exhausted: [],
    });
  });

  it('keeps the ports already held and allocates around every port any key mentions', () => {
    const plan = planPorts(want('a/x', 'a/new'), [entry('a/x', 20001)], [alloc(20001, 'a/x'), alloc(20000, 'gone/svc')], range);
    assert.deepEqual(plan.actions, [
      { kind: 'drop-alloc', port: 20000, modRevision: 6 },
      { kind: 'allocate', id: 'a/new', port: 20002, protocol: 'tcp' },
    ]);
  });

  it('changes nothing when everything wanted holds a port and nothing else does', () => {
    assert.deepEqual(planPorts(want('a/x'), [entry('a/x', 20003)], [alloc(20003, 'a/x')], range), { actions: [], exhausted: [] });
  });

  it('releases a port nothing links to any more, both keys, conditioned on both', () => {
    const plan = planPorts(want(), [entry('a/x', 20003, 9)], [alloc(20003, 'a/x', 10)], range);
    assert.deepEqual(plan.actions, [{ kind: 'release', id: 'a/x', portModRevision: 9, alloc: { port: 20003, modRevision: 10 } }]);
  });

  it('re-creates a missing reverse key for a wanted port, and drops an unwanted record without one', () => {
    assert.deepEqual(planPorts(want('a/x'), [entry('a/x', 20003, 9)], [], range).actions, [{ kind: 'repair', id: 'a/x', port: 20003, portModRevision: 9 }]);
    assert.deepEqual(planPorts(want(), [entry('a/x', 20003, 9)], [], range).actions, [{ kind: 'release', id: 'a/x', portModRevision: 9 }]);
  });

  it('gives a port two records claim to the one its reverse key names; the other gets a new port', () => {
    const plan = planPorts(want('a/x', 'b/y'), [entry('a/x', 20000, 3), entry('b/y', 20000, 4)], [alloc(20000, 'b/y')], range);
    assert.deepEqual(plan.actions, [
      { kind: 'release', id: 'a/x', portModRevision: 3 },
      { kind: 'allocate', id: 'a/x', port: 20001, protocol: 'tcp' },
    ]);
  });

  it('replaces an unreadable record', () => {
    const plan = planPorts(want('a/x'), [{ id: 'a/x', record: undefined, modRevision: 3 }], [], range);
    assert.deepEqual(plan.actions, [
      { kind: 'release', id: 'a/x', portModRevision: 3 },
      { kind: 'allocate', id: 'a/x', port: 20000, protocol: 'tcp' },
    ]);
  });

  it('follows the provider\'s protocol, keeping the port', () => {
    const plan = planPorts(new Map([['a/x', 'udp' as const]]), [entry('a/x', 20002, 3)], [alloc(20002, 'a/x')], range);
    assert.deepEqual(plan.actions, [{ kind: 'protocol', id: 'a/x', port: 20002, protocol: 'udp', portModRevision: 3 }]);
    assert.deepEqual(planPorts(want('a/x'), [entry('a/x', 20002, 3, 'udp')], [alloc(20002, 'a/x')], range).actions, [], 'no provider: kept');
  });

  it('reports the services left without a port when the range is used up', () => {
    const plan = planPorts(want('a/1', 'a/2', 'a/3'), [], [], { min: 30000, max: 30001 });
    assert.deepEqual(plan.actions.map((a) => a.kind === 'allocate' && a.port), [30000, 30001]);
    assert.deepEqual(plan.exhausted, ['a/3']);
  });
});

describe('wantedPorts', () => {
  it('wants every service a valid manifest links to or a links/ record resolves, with the provider\'s protocol', () => {
    const wanted = wantedPorts(
      [
        { app: 'shop', name: 'crawler', value: JSON.stringify({ image: 'x', links: ['nginx', 'infra/dns'] }) },
        { app: 'shop', name: 'nginx', value: JSON.stringify({ image: 'x', services: { nginx: 80 } }) },
        { app: 'infra', name: 'dns', value: JSON.stringify({ image: 'x', services: { dns: { port: 53, protocol: 'udp' } } }) },
        { app: 'shop', name: 'broken', value: '{"image": "x", "links": ["db"], "oops": 1}' },
      ].map((m) => ({ app: m.app, result: decodeManifest(m.value, m.app, m.name) })),
      [{ links: { CACHE: { app: 'shop', service: 'cache', port: 20009, protocol: 'tcp' } }, missing: [], revision: 1 }, undefined],
    );
    assert.deepEqual([...wanted].sort(), [
      ['infra/dns', 'udp'],
      ['shop/cache', undefined],
      ['shop/nginx', 'tcp'],
    ]);
  });
});

describe('parsePortRecord', () => {
  it('reads a port record and rejects anything else', () => {
    assert.deepEqual(parsePortRecord('{"port":20000,"protocol":"udp"}'), { port: 20000, protocol: 'udp' });
    assert.deepEqual(parsePortRecord('{"port":20000}'), { port: 20000, protocol: 'tcp' });
    for (const bad of [undefined, 'x', '{"port":0}', '{"port":"20000"}', '{"port":70000}']) assert.equal(parsePortRecord(bad), undefined);
  });
});

describe('PortAllocatorReconciler', () => {
  const keys = new Keys('/d');
  const config = { linkPorts: { min: 20000, max: 20009 } } as Config;
  const log = createLogger('error', true);

  it('allocates both keys, keeps them across runs, and releases both when the link goes', async () => {
    const store = new FakeKvStore();
    const allocator = await allocatorOn(store, keys, config);
    await store.put(keys.manifest('shop', 'crawler'), JSON.stringify({ image: 'x', links: ['nginx', 'other/db'] }));
    await allocator.reconcile('ports', log);
    const read = async (k: string) => (await store.get(k))?.value;
    assert.equal(await read(keys.port('other', 'db')), '{"port":20000,"protocol":"tcp"}');
    assert.equal(await read(keys.port('shop', 'nginx')), '{"port":20001,"protocol":"tcp"}');
    assert.equal(await read(keys.portAlloc(20000)), 'other/db');
    assert.equal(await read(keys.portAlloc(20001)), 'shop/nginx');

    const revision = store.revision;
    await allocator.reconcile('ports', log);
    assert.equal(store.revision, revision, 'a second run writes nothing');

    await store.put(keys.manifest('shop', 'crawler'), JSON.stringify({ image: 'x', links: ['nginx'] }));
    await allocator.reconcile('ports', log);
    assert.equal(await read(keys.port('other', 'db')), undefined);
    assert.equal(await read(keys.portAlloc(20000)), undefined);
    assert.equal(await read(keys.port('shop', 'nginx')), '{"port":20001,"protocol":"tcp"}', 'the other port stays');
  });

  it('reads manifests and links from the informers: a run lists only portalloc/ and ports/ (found by fuzzing)', async () => {
    // Listing every manifest per run outlasted the etcd call deadline once manifests were large, on every retry.
    const store = new FakeKvStore();
    await store.put(keys.manifest('shop', 'crawler'), JSON.stringify({ image: 'x', links: ['nginx'], env: { BIG: 'x'.repeat(100_000) } }));
    const allocator = await allocatorOn(store, keys, config);
    const listed: string[] = [];
    const list = store.list.bind(store);
    store.list = async (prefix: string) => (listed.push(prefix), list(prefix));
    await allocator.reconcile('ports', log);
    assert.deepEqual(listed, [keys.portAllocs, keys.ports]);
    assert.equal((await store.get(keys.port('shop', 'nginx')))?.value, '{"port":20000,"protocol":"tcp"}');
  });

  it('fails, to retry from a fresh reading, when a port it planned was taken meanwhile', async () => {
    const store = new FakeKvStore();
    await store.put(keys.manifest('shop', 'crawler'), JSON.stringify({ image: 'x', links: ['nginx'] }));
    const list = store.list.bind(store);
    // Another allocator takes 20000 for another service between our reading and our write.
    let raced = false;
    store.list = async (prefix: string) => {
      const r = await list(prefix);
      if (prefix === keys.portAllocs && !raced) {
        raced = true;
        await store.put(keys.portAlloc(20000), 'x/y');
      }
      return r;
    };
    const allocator = await allocatorOn(store, keys, config);
    await assert.rejects(allocator.reconcile('ports', log), /lost a race/);
    assert.equal((await store.get(keys.port('shop', 'nginx')))?.value, undefined, 'nothing half-written');
    await allocator.reconcile('ports', log);
    assert.equal((await store.get(keys.port('shop', 'nginx')))?.value, '{"port":20001,"protocol":"tcp"}');
  });
});

describe('portBearing', () => {
  const m = (text: object) => ({ result: decodeManifest(JSON.stringify(text), 'shop', 'web') });
  const base = { image: 'nginx', scale: 2, services: { http: 80 }, links: ['shop/db'] };

  it('is the same across changes the ports do not depend on (image, scale, env)', () => {
    assert.equal(portBearing(m(base)), portBearing(m({ ...base, image: 'nginx:2', scale: 9, env: { A: '1' } })));
  });

  it('differs when the links, a service or its protocol change', () => {
    const was = portBearing(m(base));
    assert.notEqual(portBearing(m({ ...base, links: ['shop/db', 'shop/cache'] })), was);
    assert.notEqual(portBearing(m({ ...base, services: { http: 80, admin: 81 } })), was);
    assert.notEqual(portBearing(m({ ...base, services: { http: { port: 80, protocol: 'udp' } } })), was);
  });

  it('is empty for no manifest, an invalid one and one without links or services: none bears on ports', () => {
    assert.equal(portBearing(undefined), '');
    assert.equal(portBearing(m({ scale: 'x' })), '');
    assert.equal(portBearing(m({ image: 'nginx', scale: 3 })), '');
    assert.notEqual(portBearing(m(base)), '');
  });
});
