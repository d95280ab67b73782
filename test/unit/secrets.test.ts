import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Keys } from '../../api/keys.js';
import { decodeManifest, secretsUsed, configsUsed, templateHash } from '../../api/manifest.js';
import type { ConfigRecord, NodeRecord, PlacementRecord, ReplicaRecord, SealedCopyRecord, SecretRecord } from '../../api/records.js';
import { containerTemplate } from '../../controllers/node-runner/container-template.js';
import { planFiles } from '../../controllers/node-runner/file-plan.js';
import { HOST_STATIC_SHELL, launchThroughShell, SECRET_ENV_TARGET, secretEnvFile, SHELL_TARGET } from '../../controllers/node-runner/secret-env.js';
import { withFileVersions, withheld } from '../../controllers/scheduler/file-versions.js';
import { planSealedCopies } from '../../controllers/secrets/sealed-copy-plan.js';
import { SecretsReconciler } from '../../controllers/secrets/secrets-reconciler.js';
import { SealingKey } from '../../src/agent/sealing-key.js';
import { generateSealKeyPair, open, seal } from '../../src/crypto/seal.js';
import { placement, spec } from './builders.js';
import { FakeKvStore } from './fake-kv-store.js';
import { memoryLogger, nodeRunnerWorld } from './node-runner-world.js';

const WITH_SECRETS = { image: 'x', secrets: { 'db-password': '/run/secrets/db' }, configs: { site: '/etc/site.conf' }, env: { PLAIN: 'a', DB: { secret: 'api-key' } } };

describe('manifest secrets, configs and env secret references', () => {
  it('decodes them and lists the secrets and configs used (files and env)', () => {
    const s = spec(WITH_SECRETS);
    assert.deepEqual(s.secrets, { 'db-password': '/run/secrets/db' });
    assert.deepEqual(s.configs, { site: '/etc/site.conf' });
    assert.deepEqual(s.env, { PLAIN: 'a', DB: { secret: 'api-key' } });
    assert.deepEqual(secretsUsed(s), ['api-key', 'db-password']);
    assert.deepEqual(configsUsed(s), ['site']);
  });

  it('refuses relative and parent paths, bad names and unknown reference fields, at their paths', () => {
    const errors = (m: object) => {
      const r = decodeManifest(JSON.stringify(m), 'app');
      return r.ok ? [] : r.errors;
    };
    assert.deepEqual(errors({ image: 'x', secrets: { db: 'run/db' } }), ['secrets.db: expected an absolute file path (not "/", no ".." segments), got "run/db"']);
    assert.deepEqual(errors({ image: 'x', configs: { c: '/etc/../x' } }), ['configs.c: expected an absolute file path (not "/", no ".." segments), got "/etc/../x"']);
    assert.equal(errors({ image: 'x', secrets: { DB: '/db' } }).length, 1);
    assert.match(errors({ image: 'x', env: { A: { secret: 'db', key: 1 } } }).join(), /env\.A/);
  });

  it('leaves the template hash of a spec without them as it was; versions change it', () => {
    const plain = spec({ image: 'x', env: { A: '1' } });
    assert.equal(plain.secrets, undefined);
    assert.equal(plain.secretVersions, undefined);
    const s = spec(WITH_SECRETS);
    assert.notEqual(templateHash({ ...s, secretVersions: { 'db-password': 1, 'api-key': 1 } }), templateHash({ ...s, secretVersions: { 'db-password': 2, 'api-key': 1 } }));
  });
});

describe('the scheduler and secret versions', () => {
  const keys = new Keys('/d');
  const secret = (version: number): SecretRecord => ({ version, size: 2, sealed: seal(generateSealKeyPair().publicKey, 'pw'), updated: 't' });
  const config = (version: number): ConfigRecord => ({ version, size: 2, data: 'aGk=', updated: 't' });

  it('adds the stored versions to a spec that uses secrets and configs, and names the first one missing', async () => {
    const store = new FakeKvStore();
    const s = spec(WITH_SECRETS, 'shop');
    assert.deepEqual(await withFileVersions(store, keys, 'shop', s), { ok: false, reason: 'secret api-key not found in app shop' });
    await store.put(keys.secret('shop', 'api-key'), JSON.stringify(secret(1)));
    await store.put(keys.secret('shop', 'db-password'), JSON.stringify(secret(3)));
    assert.deepEqual(await withFileVersions(store, keys, 'shop', s), { ok: false, reason: 'config site not found in app shop' });
    await store.put(keys.config('shop', 'site'), JSON.stringify(config(2)));
    const r = await withFileVersions(store, keys, 'shop', s);
    const rev = async (key: string) => (await store.get(key))!.modRevision;
    assert.ok(r.ok);
    // Versions are mod revisions, not the records' counts.
    assert.deepEqual(r.spec.secretVersions, { 'api-key': await rev(keys.secret('shop', 'api-key')), 'db-password': await rev(keys.secret('shop', 'db-password')) });
    assert.deepEqual(r.spec.configVersions, { site: await rev(keys.config('shop', 'site')) });
  });

  it('gives a secret removed and set again a new version, though its count starts again at 1', async () => {
    const store = new FakeKvStore();
    const s = spec({ image: 'x', secrets: { db: '/db' } }, 'shop');
    await store.put(keys.secret('shop', 'db'), JSON.stringify(secret(1)));
    const before = await withFileVersions(store, keys, 'shop', s);
    await store.delete(keys.secret('shop', 'db'));
    await store.put(keys.secret('shop', 'db'), JSON.stringify(secret(1)));
    const after = await withFileVersions(store, keys, 'shop', s);
    assert.ok(before.ok && after.ok);
    assert.notEqual(templateHash(before.spec), templateHash(after.spec));
  });

  it('returns a spec without secrets unchanged, without reading', async () => {
    const s = spec({ image: 'x' });
    const r = await withFileVersions(new FakeKvStore(), keys, 'shop', s);
    assert.deepEqual(r, { ok: true, spec: s });
  });

  it('withholds every new placement of a manifest whose secret is missing, with the reason', () => {
    const plan = withheld({ add: [{ replica: 0, node: 'n1' }, { replica: 2, node: 'n2' }], remove: [], update: [], unschedulable: [{ replica: 1, reason: 'no room' }] }, 'secret db not found in app shop');
    assert.deepEqual(plan.add, []);
    assert.deepEqual(plan.unschedulable, [0, 1, 2].map((replica) => ({ replica, reason: 'secret db not found in app shop' })));
  });
});

describe('planSealedCopies', () => {
  const versions = new Map([['shop/db', 2], ['shop/api', 1]]);
  it('seals each secret the node uses at its version to its key, once, and removes the rest', () => {
    const plan = planSealedCopies({
      sealingKey: 'K',
      used: [{ app: 'shop', name: 'db' }, { app: 'shop', name: 'db' }, { app: 'shop', name: 'api' }, { app: 'shop', name: 'gone' }],
      versions,
      copies: [{ app: 'shop', name: 'api', version: 1, key: 'K' }, { app: 'old', name: 'x', version: 4, key: 'K' }],
    });
    assert.deepEqual(plan.seal, [{ app: 'shop', name: 'db', version: 2 }]);
    assert.deepEqual(plan.remove, [{ app: 'old', name: 'x' }]);
  });

  it('seals again for a new version or a new node key', () => {
    const plan = planSealedCopies({
      sealingKey: 'K2',
      used: [{ app: 'shop', name: 'db' }, { app: 'shop', name: 'api' }],
      versions,
      copies: [{ app: 'shop', name: 'db', version: 1, key: 'K2' }, { app: 'shop', name: 'api', version: 1, key: 'K1' }],
    });
    assert.deepEqual(plan.seal.map((s) => s.name).sort(), ['api', 'db']);
    assert.deepEqual(plan.remove, []);
  });

  it('removes every copy of a node that is gone (no key)', () => {
    const plan = planSealedCopies({ sealingKey: undefined, used: [{ app: 'shop', name: 'db' }], versions, copies: [{ app: 'shop', name: 'db', version: 2, key: 'K' }] });
    assert.deepEqual(plan, { seal: [], remove: [{ app: 'shop', name: 'db' }] });
  });
});

describe('SealingKey (an agent\'s own key)', () => {
  it('is made once, mode 0600, and opens what is sealed to its public half after a restart', () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'dokkaa-key-'));
    const first = new SealingKey({ node: 'n1', stateDir });
    const pub = first.publicKey();
    assert.equal(statSync(first.file).mode & 0o777, 0o600);
    const again = new SealingKey({ node: 'n1', stateDir });
    assert.equal(again.publicKey(), pub);
    assert.equal(again.open(seal(pub, 'hunter2')).toString(), 'hunter2');
    assert.notEqual(new SealingKey({ node: 'n2', stateDir }).publicKey(), pub);
  });
});

describe('SecretsReconciler (a fake etcd, real sealing)', () => {
  const keys = new Keys('/d');
  async function cluster() {
    const store = new FakeKvStore();
    const dir = mkdtempSync(join(tmpdir(), 'dokkaa-ck-'));
    const clusterPair = generateSealKeyPair();
    const keyFile = join(dir, 'cluster.key');
    writeFileSync(keyFile, clusterPair.privateKey);
    const nodes = { n1: generateSealKeyPair(), n2: generateSealKeyPair() };
    for (const [name, pair] of Object.entries(nodes)) {
      const record: NodeRecord = { name, address: name, labels: {}, capacity: { cpus: 1, memoryBytes: 1 }, version: 't', startedAt: 't', sealingKey: pair.publicKey };
      await store.put(keys.node(name), JSON.stringify(record));
    }
    const setSecret = (version: number, value: string) => store.put(keys.secret('app', 'db'), JSON.stringify({ version, size: value.length, sealed: seal(clusterPair.publicKey, value), updated: 't' } satisfies SecretRecord));
    const reconciler = new SecretsReconciler(store, keys, { clusterKeyFile: keyFile });
    const copy = async (node: string) => {
      const kv = await store.get(keys.sealedCopy(node, 'app', 'db'));
      return kv && (JSON.parse(kv.value) as SealedCopyRecord);
    };
    return { store, nodes, setSecret, reconciler, copy, log: memoryLogger([]) };
  }

  it('seals a secret to the nodes that run a user only, again for a new value, and removes it when the user leaves', async () => {
    const c = await cluster();
    await c.setSecret(1, 'pw-one');
    const p: PlacementRecord = placement(spec({ image: 'x', secrets: { db: '/db' } }), 0, 'n1');
    await c.store.put(keys.placement('n1', 'app', 'web', 0), JSON.stringify(p));
    await c.reconciler.reconcile('n1', c.log);
    await c.reconciler.reconcile('n2', c.log);
    const one = await c.copy('n1');
    assert.equal(one?.version, (await c.store.get(keys.secret('app', 'db')))!.modRevision, 'at the version placements name: the mod revision');
    assert.equal(open(c.nodes.n1.privateKey, one!.sealed).toString(), 'pw-one');
    assert.throws(() => open(c.nodes.n2.privateKey, one!.sealed), 'sealed to n1 only');
    assert.equal(await c.copy('n2'), undefined, 'n2 runs no user: no copy');

    await c.setSecret(2, 'pw-two');
    await c.reconciler.reconcile('n1', c.log);
    assert.equal(open(c.nodes.n1.privateKey, (await c.copy('n1'))!.sealed).toString(), 'pw-two');

    await c.store.delete(keys.placement('n1', 'app', 'web', 0));
    await c.reconciler.reconcile('n1', c.log);
    assert.equal(await c.copy('n1'), undefined);
  });

  it('without a cluster key file, removes but refuses to seal, saying why', async () => {
    const c = await cluster();
    await c.setSecret(1, 'pw');
    const p = placement(spec({ image: 'x', env: { DB: { secret: 'db' } } }), 0, 'n1');
    await c.store.put(keys.placement('n1', 'app', 'web', 0), JSON.stringify(p));
    await assert.rejects(new SecretsReconciler(c.store, keys, {}).reconcile('n1', c.log), /node n1 needs secrets, but this process has no --cluster-key-file/);
  });
});

describe('node runner: secret and config files', () => {
  const files = spec({ ...WITH_SECRETS, secrets: { 'db-password': '/run/secrets/db' } });

  it('plans 0400 secret files and 0444 config files, binds them read-only, and writes env secrets to a file of their own', () => {
    const held = { dir: '/t/app/web/0', secrets: { 'db-password': Buffer.from('pw'), 'api-key': Buffer.from("k3y'x") }, configs: { site: Buffer.from('conf') } };
    const plan = planFiles(files, held);
    assert.deepEqual(plan.missing, []);
    assert.deepEqual(plan.writes.map((w) => [w.name, w.data.toString(), w.mode.toString(8)]), [
      ['secret-db-password', 'pw', '400'],
      ['config-site', 'conf', '444'],
      ['secret-env', "DB='k3y'\\''x'\n", '444'],
    ]);
    assert.deepEqual(plan.template.binds, [{ source: '/t/app/web/0/secret-db-password', target: '/run/secrets/db' }, { source: '/t/app/web/0/config-site', target: '/etc/site.conf' }]);
    assert.equal(plan.template.secretEnv, '/t/app/web/0/secret-env');
    assert.equal(planFiles(spec({ image: 'x', secrets: { 'db-password': '/run/secrets/db' } }), held).template.secretEnv, undefined, 'no env secret, no file');
    assert.deepEqual(planFiles(files, { ...held, secrets: {} }).missing, ['secret api-key', 'secret db-password']);
  });

  it('keeps env secret values out of the container config and the hash: the container starts through the host\'s static shell', () => {
    const p = placement(files, 0, 'h1');
    const a = containerTemplate(p, {}, 'h1', undefined, undefined, { secretEnv: '/t/one/secret-env', binds: [] });
    const b = containerTemplate(p, {}, 'h1', undefined, undefined, { secretEnv: '/t/two/secret-env', binds: [] });
    assert.deepEqual(a.env.filter((e) => e.startsWith('DB')), [], 'no DB in the config');
    assert.ok(a.env.includes('PLAIN=a'));
    assert.equal(a.hash, b.hash);
    assert.equal(a.launchWithSecretEnv, true);
    assert.deepEqual(a.mounts, [
      { type: 'bind', source: '/t/one/secret-env', target: SECRET_ENV_TARGET, readOnly: true },
      { type: 'bind', source: HOST_STATIC_SHELL, target: SHELL_TARGET, readOnly: true },
    ]);
    const plain = containerTemplate(placement(spec({ image: 'x', env: { PLAIN: 'a' } }), 0, 'h1'), {}, 'h1');
    assert.equal(plain.launchWithSecretEnv, undefined);
    assert.equal(plain.mounts, undefined);
  });

  it('starts through the shell with what Docker would have run: the image\'s entrypoint, then the command', () => {
    const base = { name: 'c', image: 'img', env: [], labels: {}, ports: [] };
    const image = { entrypoint: ['/docker-entrypoint.sh'], cmd: ['nginx', '-g', 'daemon off;'] };
    const launched = launchThroughShell(base, image);
    assert.deepEqual(launched.entrypoint!.slice(0, 3), [SHELL_TARGET, 'sh', '-c']);
    assert.deepEqual(launched.cmd, ['/docker-entrypoint.sh', 'nginx', '-g', 'daemon off;']);
    assert.deepEqual(launchThroughShell({ ...base, cmd: ['sleep', '1'] }, image).cmd, ['/docker-entrypoint.sh', 'sleep', '1']);
    assert.throws(() => launchThroughShell(base, { entrypoint: [], cmd: [] }), /image img has no command/);
  });

  it('the start script exports the values and runs the program of the image\'s PATH, not a shell builtin of that name', () => {
    // The same script, run by the same busybox, outside a container: the bind targets replaced by temp files.
    const dir = mkdtempSync(join(tmpdir(), 'dokkaa-secret-env-'));
    try {
      writeFileSync(join(dir, 'env'), secretEnvFile({ TOKEN: "it's $HOME `x`", OTHER: 'two\nlines' }));
      const bin = join(dir, 'bin');
      mkdirSync(bin);
      // A program named like a busybox applet: the image's must run, not the applet.
      writeFileSync(join(bin, 'printenv'), '#!/bin/sh\necho "mine:$TOKEN|$OTHER|$1"\n', { mode: 0o755 });
      const launched = launchThroughShell({ name: 'c', image: 'img', env: [], labels: {}, ports: [], cmd: ['printenv', 'arg one'] }, { entrypoint: [], cmd: [] });
      const script = launched.entrypoint![3]!.replaceAll(SECRET_ENV_TARGET, join(dir, 'env'));
      const out = execFileSync(HOST_STATIC_SHELL, ['sh', '-c', script, 'dokkaa-secret-env', ...launched.cmd!], { env: { PATH: `${bin}:/usr/bin:/bin` } }).toString();
      assert.equal(out, "mine:it's $HOME `x`|two\nlines|arg one\n");
      const missing = spawnSync(HOST_STATIC_SHELL, ['sh', '-c', script, 'dokkaa-secret-env', 'no-such-program'], { env: { PATH: bin } });
      assert.equal(missing.status, 127);
      assert.match(missing.stderr.toString(), /no-such-program: not found in PATH/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('waits, pending and naming it, until the sealed copy is here; then creates with the files; removes them when unplaced', async () => {
    const w = await nodeRunnerWorld();
    const s = { ...spec({ image: 'x', secrets: { db: '/run/secrets/db' }, env: { DB: { secret: 'db' } } }), secretVersions: { db: 2 } };
    const p = placement(s, 0, 'h1');
    await w.store.put(w.keys.placement('h1', 'app', 'web', 0), JSON.stringify(p));
    const record = async () => JSON.parse((await w.store.get(w.keys.replica('h1', 'app', 'web', 0)))!.value) as ReplicaRecord;
    const putCopy = (version: number, value: string) =>
      w.store.put(w.keys.sealedCopy('h1', 'app', 'db'), JSON.stringify({ version, sealed: seal(w.sealingKey.publicKey(), value), key: w.sealingKey.publicKey() } satisfies SealedCopyRecord));

    await w.reconciler.reconcile('app/web/0', w.log);
    assert.equal((await record()).state, 'pending');
    assert.equal((await record()).message, 'waiting for secret db to reach this host');
    await putCopy(1, 'old');
    await w.reconciler.reconcile('app/web/0', w.log);
    assert.equal(w.engine.containers.size, 0, 'an older version than the spec names is not used');

    await putCopy(2, 's3cret');
    await w.reconciler.reconcile('app/web/0', w.log);
    const c = [...w.engine.containers.values()][0]!;
    assert.deepEqual(c.mounts, [
      { type: 'bind', source: '/tmpfs/app/web/0/secret-db', target: '/run/secrets/db', readOnly: true },
      { type: 'bind', source: '/tmpfs/app/web/0/secret-env', target: SECRET_ENV_TARGET, readOnly: true },
      { type: 'bind', source: HOST_STATIC_SHELL, target: SHELL_TARGET, readOnly: true },
    ]);
    assert.ok(!c.env.some((e) => e.includes('s3cret')), 'no secret value in the container config');
    assert.equal(c.entrypoint?.[0], SHELL_TARGET);
    assert.deepEqual(c.cmd, ['sh'], "the image's command (the fake engine's), run by the shell");
    assert.deepEqual([...w.files.dirs.get('/tmpfs/app/web/0')!].map(([n, f]) => [n, f.data, f.mode]), [['secret-db', 's3cret', 0o400], ['secret-env', "DB='s3cret'\n", 0o444]]);

    await w.store.delete(w.keys.placement('h1', 'app', 'web', 0));
    await w.reconciler.reconcile('app/web/0', w.log);
    assert.equal(w.engine.containers.size, 0);
    assert.equal(w.files.dirs.size, 0, 'the files went with the last container');
  });
});
