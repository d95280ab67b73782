import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Keys } from '../../api/keys.js';
import type { MaintenanceRecord, NodeRecord, PrepullRecord, RegistryRecord, ReplicaRecord, SealedCopyRecord } from '../../api/records.js';
import { planRegistryCopies, registriesNeeded, type PrepullNeed } from '../../controllers/secrets/sealed-copy-plan.js';
import { SecretsReconciler } from '../../controllers/secrets/secrets-reconciler.js';
import { SealingKey } from '../../src/agent/sealing-key.js';
import { generateSealKeyPair, open, seal } from '../../src/crypto/seal.js';
import { CredentialsPending } from '../../src/docker/pull-errors.js';
import { NodeRegistryCredentials } from '../../src/registry/node-registry-credentials.js';
import { placement, spec } from './builders.js';
import { FakeKvStore } from './fake-kv-store.js';
import { memoryLogger, nodeRunnerWorld } from './node-runner-world.js';

const REG = 'reg.example.com:5000';
const node = (name: string, labels: Record<string, string> = {}, sealingKey?: string): NodeRecord => ({
  name, address: name, labels, capacity: { cpus: 1, memoryBytes: 1 }, version: 't', startedAt: 't', ...(sealingKey ? { sealingKey } : {}),
});

describe('registriesNeeded (which registries a node pulls from)', () => {
  it('names the registries of its placements\' images, Docker Hub for names without a host, once each', () => {
    const hosts = registriesNeeded({ node: node('n1'), cordoned: false, images: [`${REG}/web:1`, `${REG}/api:2`, 'nginx', 'dokkaa/busybox:1'], prepulls: [] });
    assert.deepEqual(hosts, [REG, 'docker.io']);
  });

  it('adds the pre-pulls the node carries out: constraints match, not cordoned, manifest present', () => {
    const prepulls: PrepullNeed[] = [
      { image: 'a.example.com/x@sha256:00', constraints: { 'node.labels.zone': 'a' } },
      { image: 'b.example.com/x:1', constraints: { 'node.labels.zone': 'b' } },
      { image: 'c.example.com/x:1', constraints: undefined },
      { image: 'd.example.com/x:1', constraints: {} },
    ];
    assert.deepEqual(registriesNeeded({ node: node('n1', { zone: 'a' }), cordoned: false, images: [], prepulls }), ['a.example.com', 'd.example.com']);
    assert.deepEqual(registriesNeeded({ node: node('n1', { zone: 'a' }), cordoned: true, images: [`${REG}/web:1`], prepulls }), [REG], 'a cordoned node pre-pulls nothing');
    assert.deepEqual(registriesNeeded({ node: undefined, cordoned: false, images: [], prepulls }), [], 'a node without a record pre-pulls nothing');
  });
});

describe('planRegistryCopies', () => {
  const versions = new Map([[REG, 7], ['docker.io', 3]]);
  it('seals each used registry with credentials once, at its version, and removes the rest', () => {
    const plan = planRegistryCopies({
      sealingKey: 'K',
      used: [REG, REG, 'docker.io', 'open.example.com'],
      versions,
      copies: [{ host: 'docker.io', version: 3, key: 'K' }, { host: 'old.example.com', version: 1, key: 'K' }],
    });
    assert.deepEqual(plan, { seal: [{ host: REG, version: 7 }], remove: ['old.example.com'] });
  });

  it('seals again after a new login or for a new node key; removes every copy of a node without a key', () => {
    const copies = [{ host: REG, version: 6, key: 'K' }, { host: 'docker.io', version: 3, key: 'K-old' }];
    assert.deepEqual(planRegistryCopies({ sealingKey: 'K', used: [REG, 'docker.io'], versions, copies }).seal, [{ host: REG, version: 7 }, { host: 'docker.io', version: 3 }]);
    assert.deepEqual(planRegistryCopies({ sealingKey: undefined, used: [REG], versions, copies }), { seal: [], remove: [REG, 'docker.io'] });
  });
});

describe('SecretsReconciler: registry credentials (a fake etcd, real sealing)', () => {
  const keys = new Keys('/d');
  async function cluster() {
    const store = new FakeKvStore();
    const clusterPair = generateSealKeyPair();
    const keyFile = join(mkdtempSync(join(tmpdir(), 'dokkaa-ck-')), 'cluster.key');
    writeFileSync(keyFile, clusterPair.privateKey);
    const pairs = { n1: generateSealKeyPair(), n2: generateSealKeyPair() };
    await store.put(keys.node('n1'), JSON.stringify(node('n1', { zone: 'a' }, pairs.n1.publicKey)));
    await store.put(keys.node('n2'), JSON.stringify(node('n2', { zone: 'b' }, pairs.n2.publicKey)));
    const login = (password: string) =>
      store.put(keys.registry(REG), JSON.stringify({ host: REG, username: 'ci', sealed: seal(clusterPair.publicKey, JSON.stringify({ password })), updated: 't' } satisfies RegistryRecord));
    const copy = async (n: keyof typeof pairs) => {
      const kv = await store.get(keys.sealedRegistry(n, REG));
      return kv && (JSON.parse(open(pairs[n].privateKey, (JSON.parse(kv.value) as SealedCopyRecord).sealed).toString()) as { password: string }).password;
    };
    const reconciler = new SecretsReconciler(store, keys, { clusterKeyFile: keyFile });
    const reconcileAll = async () => {
      for (const n of ['n1', 'n2']) await reconciler.reconcile(n, memoryLogger([]));
    };
    return { store, login, copy, reconcileAll };
  }

  it('seals the password to the nodes that run an image of the registry only, again after a new login, and removes it at logout', async () => {
    const c = await cluster();
    await c.login('pw-one');
    await c.store.put(keys.placement('n1', 'app', 'web', 0), JSON.stringify(placement(spec({ image: `${REG}/web:1` }), 0, 'n1')));
    await c.store.put(keys.placement('n2', 'app', 'hub', 0), JSON.stringify(placement(spec({ image: 'nginx' }), 0, 'n2')));
    await c.reconcileAll();
    assert.equal(await c.copy('n1'), 'pw-one', 'n1 opens its copy with its own key');
    assert.equal(await c.copy('n2'), undefined, 'n2 pulls nothing from the registry');
    const stored = JSON.parse((await c.store.get(keys.sealedRegistry('n1', REG)))!.value) as SealedCopyRecord;
    assert.equal(stored.version, (await c.store.get(keys.registry(REG)))!.modRevision);

    await c.login('pw-two');
    await c.reconcileAll();
    assert.equal(await c.copy('n1'), 'pw-two');

    await c.store.delete(keys.registry(REG));
    await c.reconcileAll();
    assert.equal(await c.store.get(keys.sealedRegistry('n1', REG)), undefined, 'logout removes the copies');
  });

  it('gives a copy to the nodes a pre-pull is for, not to cordoned ones, and takes it back when the node stops running the image', async () => {
    const c = await cluster();
    await c.login('pw');
    await c.store.put(keys.manifest('app', 'web'), JSON.stringify({ image: `${REG}/web:1`, constraints: { 'node.labels.zone': 'b' } }));
    await c.store.put(keys.prepull('app', 'web'), JSON.stringify({ image: `${REG}/web@sha256:00`, requestedAt: 't' } satisfies PrepullRecord));
    await c.reconcileAll();
    assert.equal(await c.copy('n2'), 'pw');
    assert.equal(await c.copy('n1'), undefined, 'the constraints exclude n1');

    await c.store.put(keys.nodeMaintenance('n2'), JSON.stringify({ cordoned: true, since: 't' } satisfies MaintenanceRecord));
    await c.reconcileAll();
    assert.equal(await c.copy('n2'), undefined, 'a cordoned node pre-pulls nothing');
  });

  it('without a cluster key file, refuses to seal, saying why, but still removes what is no longer needed', async () => {
    const c = await cluster();
    await c.login('pw');
    await c.store.put(keys.placement('n1', 'app', 'web', 0), JSON.stringify(placement(spec({ image: `${REG}/web:1` }), 0, 'n1')));
    const stale = keys.sealedRegistry('n1', 'gone.example.com');
    await c.store.put(stale, JSON.stringify({ version: 1, sealed: seal(generateSealKeyPair().publicKey, 'x'), key: 'K' } satisfies SealedCopyRecord));
    await assert.rejects(new SecretsReconciler(c.store, keys, {}).reconcile('n1', memoryLogger([])), /node n1 pulls from registries with credentials, but this process has no --cluster-key-file/);
    assert.equal(await c.store.get(stale), undefined);
  });
});

describe('NodeRegistryCredentials (an agent\'s reader: its own copy, its own key)', () => {
  const keys = new Keys('/d');
  async function agent() {
    const store = new FakeKvStore();
    const sealingKey = new SealingKey({ node: 'h1', stateDir: mkdtempSync(join(tmpdir(), 'dokkaa-unit-state-')) });
    const credentials = new NodeRegistryCredentials(store, keys, { node: 'h1' }, sealingKey);
    // Sealed to a key no process here holds: the reader never needs the cluster key.
    const login = () => store.put(keys.registry(REG), JSON.stringify({ host: REG, username: 'ci', sealed: seal(generateSealKeyPair().publicKey, 'x'), updated: 't' } satisfies RegistryRecord));
    const putCopy = (version: number, password: string, to = sealingKey.publicKey()) =>
      store.put(keys.sealedRegistry('h1', REG), JSON.stringify({ version, sealed: seal(to, JSON.stringify({ password })), key: to } satisfies SealedCopyRecord));
    return { store, credentials, login, putCopy };
  }

  it('pulls anonymously from a registry without stored credentials', async () => {
    const a = await agent();
    assert.equal(await a.credentials.authFor(`${REG}/web:1`), undefined);
  });

  it('waits while its copy is missing, older than the login, or sealed to another key; then opens it', async () => {
    const a = await agent();
    await a.login();
    await assert.rejects(a.credentials.authFor(`${REG}/web:1`), (err) => err instanceof CredentialsPending && err.message === `waiting for credentials of registry ${REG} to reach this host`);
    const version = (await a.store.get(keys.registry(REG)))!.modRevision;
    await a.putCopy(version - 1, 'old');
    await assert.rejects(a.credentials.authFor(`${REG}/web:1`), CredentialsPending);
    await a.putCopy(version, 'pw', generateSealKeyPair().publicKey);
    await assert.rejects(a.credentials.authFor(`${REG}/web:1`), CredentialsPending);
    await a.putCopy(version, 'pw');
    assert.deepEqual(await a.credentials.authFor(`${REG}/web@sha256:00`), { username: 'ci', password: 'pw', serveraddress: REG });
  });
});

describe('node runner: a pull waiting for its registry\'s credentials', () => {
  it('is pending, saying so, without asking the engine or a Failed event; pulls with them once they arrive', async () => {
    const w = await nodeRunnerWorld();
    const image = `${REG}/web:1`;
    await w.store.put(w.keys.placement('h1', 'app', 'web', 0), JSON.stringify(placement(spec({ image }), 0, 'h1')));
    await w.store.put(w.keys.registry(REG), JSON.stringify({ host: REG, username: 'ci', sealed: seal(generateSealKeyPair().publicKey, 'x'), updated: 't' } satisfies RegistryRecord));
    const result = await w.reconciler.reconcile('app/web/0', w.log);
    const record = JSON.parse((await w.store.get(w.keys.replica('h1', 'app', 'web', 0)))!.value) as ReplicaRecord;
    assert.equal(record.state, 'pending');
    assert.equal(record.message, `waiting for credentials of registry ${REG} to reach this host`);
    assert.ok(result && result.requeueAfterMs > 0, 'looks again later');
    assert.deepEqual(w.engine.calls, [], 'no anonymous pull');
    assert.deepEqual(w.events.map((e) => e.reason), []);

    const version = (await w.store.get(w.keys.registry(REG)))!.modRevision;
    const to = w.sealingKey.publicKey();
    await w.store.put(w.keys.sealedRegistry('h1', REG), JSON.stringify({ version, sealed: seal(to, JSON.stringify({ password: 'pw' })), key: to } satisfies SealedCopyRecord));
    await w.reconciler.reconcile('app/web/0', w.log);
    assert.deepEqual(w.engine.pullAuths.get(image), { username: 'ci', password: 'pw', serveraddress: REG });
    assert.equal(w.engine.containers.size, 1);
  });
});
