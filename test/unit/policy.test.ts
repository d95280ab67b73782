import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { admit, imageUnder, NO_USAGE, qualified, type AdmissionInput, type PolicyView } from '../../api/admission.js';
import { Keys } from '../../api/keys.js';
import { quotaOf } from '../../api/policy.js';
import { checkRecord, PolicyRecord, type RolloutRecord } from '../../api/records.js';
import { DEFAULT_RESERVATION } from '../../api/reservation.js';
import { ClusterPolicy } from '../../src/policy/cluster-policy.js';
import { addUsage, placedUsage } from '../../controllers/scheduler/placed-usage.js';
import { summarize } from '../../controllers/status/status-summary.js';
import { InformerFactory } from '../../src/informer/informer-factory.js';
import { createLogger } from '../../src/logging.js';
import { node, placement, replica, spec } from './builders.js';
import { FakeClock } from './fake-clock.js';
import { FakeKvStore } from './fake-kv-store.js';

const policyOf = (json: object): PolicyView => {
  const r = checkRecord(PolicyRecord, JSON.stringify(json), '(policy)');
  if (!r.ok) throw new Error(r.error);
  return { kind: 'policy', policy: r.value };
};
const errorOf = (json: unknown): string => {
  const r = checkRecord(PolicyRecord, JSON.stringify(json), '(policy)');
  assert.equal(r.ok, false, `${JSON.stringify(json)} is refused`);
  return r.ok ? '' : r.error;
};
const input = (manifest: object, policy: PolicyView, extra: Partial<AdmissionInput> = {}): AdmissionInput => {
  const s = spec(manifest, 'shop');
  return { app: 'shop', spec: s, replicas: s.scale, others: NO_USAGE, policy, ...extra };
};
const rulesOf = (i: AdmissionInput) => admit(i).map((v) => v.rule);

describe('the policy record', () => {
  it('decodes every rule, memory to bytes, and nothing is required', () => {
    const p = policyOf({
      registries: ['registry.local:5000/', 'dokkaa/'],
      hostPaths: ['/srv/shared'],
      quotas: { shop: { maxReplicas: 10, cpus: 4, memory: '8Gi' }, '*': { maxReplicas: 3 } },
      privileged: ['monitoring'],
    });
    assert.equal(p.kind, 'policy');
    if (p.kind !== 'policy') return;
    assert.deepEqual(quotaOf(p.policy, 'shop'), { maxReplicas: 10, cpus: 4, memory: 8 * 2 ** 30 });
    assert.deepEqual(quotaOf(p.policy, 'blog'), { maxReplicas: 3 }, 'the default');
    assert.deepEqual(policyOf({}), { kind: 'policy', policy: {} });
    assert.equal(quotaOf({}, 'shop'), undefined);
  });

  it('says what is wrong as path: expected X, got Y', () => {
    assert.equal(errorOf({ registires: ['x/'] }), 'registires: expected no such field (known: registries, hostPaths, quotas, privileged), got ["x/"]');
    assert.match(errorOf({ registries: [''] }), /^registries\[0\]: expected an image prefix .*, got ""$/);
    assert.match(errorOf({ registries: ['registry.local:5000'] }), /^registries\[0\]: expected an image prefix .*with the "\/" after a registry host.*, got "registry.local:5000"$/);
    assert.match(errorOf({ hostPaths: ['srv'] }), /^hostPaths\[0\]: expected an absolute path .*, got "srv"$/);
    assert.equal(errorOf({ quotas: { shop: { maxReplicas: -1 } } }), 'quotas.shop.maxReplicas: expected an integer >= 0, got -1');
    assert.match(errorOf({ quotas: { shop: { memory: '8 gigs' } } }), /^quotas\.shop\.memory: expected a memory amount .*, got "8 gigs"$/);
    assert.match(errorOf({ quotas: { shop: { cpus: 0 } } }), /^quotas\.shop\.cpus: expected a positive number of CPUs/);
    assert.match(errorOf({ quotas: { Shop_1: {} } }), /^quotas\.Shop_1: expected an app name \(a DNS label\) or "\*" as the name/);
    assert.match(errorOf({ quotas: { shop: { replicas: 3 } } }), /^quotas\.shop\.replicas: expected no such field/);
    assert.match(errorOf({ privileged: ['Bad App'] }), /^privileged\[0\]: expected a DNS label .*, got "Bad App"$/);
    assert.equal(errorOf({ registries: 'dokkaa/' }), 'registries: expected an array of image prefixes, got "dokkaa/"');
    assert.equal(errorOf([]), '(policy): expected a JSON object, got []');
    assert.match(errorOf('{'), /^\(policy\): expected a JSON object, got "\{"$/);
  });
});

describe('image prefixes', () => {
  it('reads references as Docker does', () => {
    assert.equal(qualified('nginx:1'), 'docker.io/library/nginx:1');
    assert.equal(qualified('dokkaa/busybox:latest'), 'docker.io/dokkaa/busybox:latest');
    assert.equal(qualified('registry.local:5000/web:2'), 'registry.local:5000/web:2');
    assert.equal(qualified('dokkaa/'), 'docker.io/dokkaa/');
  });

  it('matches at a boundary, in either spelling', () => {
    assert.ok(imageUnder('dokkaa/busybox:latest', 'dokkaa/'));
    assert.ok(imageUnder('docker.io/dokkaa/busybox:latest', 'dokkaa/'));
    assert.ok(imageUnder('dokkaa/busybox:latest', 'docker.io/dokkaa/'));
    assert.ok(imageUnder('registry.local:5000/team/web:2', 'registry.local:5000/'));
    assert.ok(imageUnder('nginx:1.25', 'nginx'), 'a repository covers its tags');
    assert.ok(imageUnder('nginx:1.25', 'docker.io/library/'));
    assert.ok(!imageUnder('nginx-evil:1', 'nginx'), 'not a longer name');
    assert.ok(!imageUnder('dokkaa-evil/x:1', 'dokkaa'));
    assert.ok(!imageUnder('dokkaa:5000/x:1', 'dokkaa'), 'dokkaa:5000 is a registry host');
    assert.ok(!imageUnder('evil.io/dokkaa/x:1', 'dokkaa/'));
    assert.ok(!imageUnder('registry.local:50001/x:1', 'registry.local:5000/'));
  });
});

describe('admit', () => {
  it('admits anything without a policy, or with an empty one', () => {
    const m = { image: 'evil.io/x:1', capAdd: ['NET_ADMIN'], scale: 100, volumes: { d: { hostPath: '/etc', path: '/e' } } };
    assert.deepEqual(admit(input(m, { kind: 'none' })), []);
    assert.deepEqual(admit(input(m, policyOf({}))), []);
  });

  it('fails closed with only an invalid policy seen', () => {
    const [v] = admit(input({ image: 'dokkaa/x' }, { kind: 'broken', error: 'quotas: expected an object, got 1' }));
    assert.equal(v!.rule, 'policy');
    assert.match(v!.message, /invalid .*quotas: expected an object, got 1/);
  });

  it('registries: the image must be under one of them', () => {
    const p = policyOf({ registries: ['registry.local:5000/', 'dokkaa/'] });
    assert.deepEqual(admit(input({ image: 'evil.io/x:1' }, p)), [
      { rule: 'registries', message: 'image evil.io/x:1 is not under an allowed registry (registry.local:5000/, dokkaa/)' },
    ]);
    assert.deepEqual(admit(input({ image: 'dokkaa/busybox' }, p)), []);
    assert.deepEqual(admit(input({ image: 'registry.local:5000/web:2' }, p)), []);
    assert.equal(admit(input({ image: 'dokkaa/x' }, policyOf({ registries: [] })))[0]!.message, 'image dokkaa/x:latest is not under an allowed registry (none)');
  });

  it('privileged: capAdd and host paths only for the apps listed', () => {
    const p = policyOf({ privileged: ['monitoring'] });
    assert.deepEqual(admit(input({ image: 'x', capAdd: ['CAP_NET_ADMIN', 'SYS_TIME'] }, p)), [
      { rule: 'privileged', message: 'app shop may not use capAdd (NET_ADMIN, SYS_TIME): only the apps listed in privileged may (monitoring)' },
    ]);
    assert.deepEqual(rulesOf(input({ image: 'x', volumes: { logs: { hostPath: '/var/log', path: '/logs' } } }, p)), ['privileged']);
    assert.deepEqual(admit(input({ image: 'x', capAdd: ['NET_ADMIN'] }, p, { app: 'monitoring' })), [], 'a listed app');
    assert.deepEqual(admit(input({ image: 'x', capDrop: ['ALL'], user: '0', readOnlyRootfs: true, volumes: { d: '/data' } }, p)), [], 'not powerful');
    assert.deepEqual(rulesOf(input({ image: 'x', capAdd: ['NET_ADMIN'] }, policyOf({ privileged: [] }))), ['privileged'], 'an empty list: no app');
  });

  it('hostPaths: each bind mount under one of them', () => {
    const p = policyOf({ hostPaths: ['/srv/shared'] });
    const m = { image: 'x', volumes: { ok: { hostPath: '/srv/shared/a', path: '/a' }, bad: { hostPath: '/etc', path: '/e' }, sly: { hostPath: '/srv/shared-not', path: '/s' } } };
    assert.deepEqual(admit(input(m, p)), [
      { rule: 'hostPaths', message: 'volumes.bad: host path /etc is not under an allowed host path (/srv/shared)' },
      { rule: 'hostPaths', message: 'volumes.sly: host path /srv/shared-not is not under an allowed host path (/srv/shared)' },
    ]);
    assert.deepEqual(admit(input({ image: 'x', volumes: { data: '/data' } }, policyOf({ hostPaths: [] }))), [], 'named volumes are not host paths');
  });

  it('quotas.maxReplicas: this manifest and the app\'s others together', () => {
    const p = policyOf({ quotas: { shop: { maxReplicas: 10 } } });
    const others = { replicas: 7, cpus: 0, memoryBytes: 0 };
    assert.deepEqual(admit(input({ image: 'x', scale: 5 }, p, { others })), [
      { rule: 'quotas.maxReplicas', message: 'app shop would use 12 replicas, at most 10 replicas (this manifest 5, its other manifests 7)' },
    ]);
    assert.deepEqual(admit(input({ image: 'x', scale: 3 }, p, { others })), [], 'exactly at the quota');
    assert.deepEqual(admit(input({ image: 'x', scale: 5 }, p, { others, app: 'blog' })), [], 'another app has no quota');
    assert.deepEqual(rulesOf(input({ image: 'x', mode: 'global' }, p, { others, replicas: 4 })), ['quotas.maxReplicas'], 'global: the replicas it would run');
  });

  it('quotas.cpus and quotas.memory: reservations times replicas, defaults for a spec without resources', () => {
    const p = policyOf({ quotas: { '*': { cpus: 1, memory: '1Gi' } } });
    const others = { replicas: 2, cpus: 0.5, memoryBytes: 2 ** 29 };
    assert.deepEqual(admit(input({ image: 'x', scale: 3, resources: { cpus: 0.25, memory: '256Mi' } }, p, { others })), [
      { rule: 'quotas.cpus', message: 'app shop would use 1.25 CPUs, at most 1 CPUs (this manifest 0.75, its other manifests 0.5)' },
      { rule: 'quotas.memory', message: 'app shop would use 1.25Gi of memory, at most 1Gi of memory (this manifest 768Mi, its other manifests 512Mi)' },
    ]);
    assert.deepEqual(admit(input({ image: 'x', scale: 5, resources: { cpus: 0.1 } }, policyOf({ quotas: { shop: { cpus: 0.5 } } }))), [], 'float sums at the quota pass');
    const small = input({ image: 'x', scale: 2 }, policyOf({ quotas: { shop: { memory: DEFAULT_RESERVATION.memoryBytes * 2 - 1 } } }));
    assert.deepEqual(rulesOf(small), ['quotas.memory'], 'the default reservation counts');
    assert.deepEqual(admit(input({ image: 'x', scale: 0 }, policyOf({ quotas: { shop: { maxReplicas: 0 } } }))), [], 'scale 0 fits a zero quota');
  });

  it('never refuses for a quota a spec that asks for no more than the manifest has placed (scaling down under a tightened quota)', () => {
    const p = policyOf({ quotas: { shop: { maxReplicas: 3, cpus: 1 } } });
    const others = { replicas: 4, cpus: 2, memoryBytes: 0 };
    const current = { replicas: 2, cpus: 1, memoryBytes: 2 * DEFAULT_RESERVATION.memoryBytes };
    assert.deepEqual(admit(input({ image: 'x', scale: 1, resources: { cpus: 0.5 } }, p, { others, current })), [], 'smaller in every amount');
    assert.deepEqual(admit(input({ image: 'x', scale: 0 }, p, { others, current })), [], 'scaled to 0');
    assert.deepEqual(rulesOf(input({ image: 'x', scale: 2, resources: { cpus: 1 } }, p, { others, current })), ['quotas.cpus'], 'more CPUs than now: refused for that');
  });

  it('an app\'s own quota replaces the default entirely', () => {
    const p = policyOf({ quotas: { '*': { maxReplicas: 1 }, shop: { cpus: 100 } } });
    assert.deepEqual(admit(input({ image: 'x', scale: 5 }, p)), []);
    assert.deepEqual(rulesOf(input({ image: 'x', scale: 5 }, p, { app: 'blog' })), ['quotas.maxReplicas']);
  });

  it('reports every rule broken, in order', () => {
    const p = policyOf({ registries: ['dokkaa/'], privileged: [], hostPaths: ['/srv'], quotas: { shop: { maxReplicas: 1 } } });
    const m = { image: 'evil.io/x', scale: 2, capAdd: ['NET_ADMIN'], volumes: { e: { hostPath: '/etc', path: '/e' } } };
    assert.deepEqual(rulesOf(input(m, p)), ['registries', 'privileged', 'hostPaths', 'quotas.maxReplicas']);
  });
});

describe('usage of placements', () => {
  const s = spec({ image: 'x', resources: { cpus: 0.5, memory: '1Gi' } });
  it('counts what each standing placement reserves, not a move\'s surge, defaults for old records', () => {
    const reserved = { cpus: 0.5, memoryBytes: 2 ** 30 };
    const used = placedUsage([
      placement(s, 0, 'a', { reserved }),
      placement(s, 1, 'b', { reserved }),
      placement(s, 2, 'c', { reserved, replaces: 1 }),
      { ...placement(s, 3, 'a'), reserved: undefined },
    ]);
    assert.deepEqual(used, { replicas: 3, cpus: 1 + DEFAULT_RESERVATION.cpus, memoryBytes: 2 * 2 ** 30 + DEFAULT_RESERVATION.memoryBytes });
    assert.deepEqual(addUsage([used, NO_USAGE, { replicas: 1, cpus: 1, memoryBytes: 1 }]), { replicas: 4, cpus: 2 + DEFAULT_RESERVATION.cpus, memoryBytes: 2 * 2 ** 30 + DEFAULT_RESERVATION.memoryBytes + 1 });
    assert.deepEqual(placedUsage([]), NO_USAGE);
  });
});

describe('ClusterPolicy', () => {
  it('refresh: a policy the informer has not seen yet (written an instant before a manifest) is in force, until the informer moves on', async () => {
    const store = new FakeKvStore();
    const keys = new Keys('/d');
    const log = createLogger('error', true);
    const policy = new ClusterPolicy(new InformerFactory(store, new FakeClock(0), log), keys);
    policy.informer.acquire();
    await policy.informer.synced();
    try {
      // Written without a watch event: the informer still says no policy.
      store.setQuietly(keys.policy, JSON.stringify({ registries: ['dokkaa/'] }));
      assert.equal(policy.current(log).kind, 'none');
      await policy.refresh(store);
      assert.deepEqual(policy.current(log), policyOf({ registries: ['dokkaa/'] }));
      // Deleted behind the informer's back, then read again: no policy.
      store.deleteQuietly(keys.policy);
      await policy.refresh(store);
      assert.equal(policy.current(log).kind, 'none');
      // The informer sees a newer change: its state wins over what refresh read.
      store.setQuietly(keys.policy, JSON.stringify({ registries: ['a/'] }));
      await policy.refresh(store);
      await store.put(keys.policy, JSON.stringify({ registries: ['b/'] }));
      for (let i = 0; i < 200 && policy.informer.get(keys.policy)?.modRevision !== store.revision; i++) await new Promise((r) => setTimeout(r, 5));
      assert.deepEqual(policy.current(log), policyOf({ registries: ['b/'] }));
    } finally {
      await policy.informer.release();
    }
  });

  it('keeps the last valid state over an invalid record (a policy, or no key), fails closed with neither, and a deleted key is no policy', async () => {
    const store = new FakeKvStore();
    const keys = new Keys('/d');
    const log = createLogger('error', true);
    // A scheduler starting on a broken record has seen no valid state.
    await store.put(keys.policy, '{"quotas": 3}');
    const factory = new InformerFactory(store, new FakeClock(0), log);
    const policy = new ClusterPolicy(factory, keys);
    policy.informer.acquire();
    await policy.informer.synced();
    const settle = async (revision: number) => {
      for (let i = 0; i < 200 && (policy.informer.get(keys.policy)?.modRevision ?? 0) < revision; i++) await new Promise((r) => setTimeout(r, 5));
    };
    try {
      const broken = policy.current(log);
      assert.equal(broken.kind, 'broken', 'no valid state seen: fail closed');
      assert.match(broken.kind === 'broken' ? broken.error : '', /^quotas: expected an object, got 3$/);

      await store.put(keys.policy, JSON.stringify({ quotas: { shop: { maxReplicas: 2 } } }));
      await settle(store.revision);
      assert.deepEqual(policy.current(log), { kind: 'policy', policy: { quotas: { shop: { maxReplicas: 2 } } } });
      assert.equal(policy.quotaCovers('shop'), true);
      assert.equal(policy.quotaCovers('blog'), false);

      await store.put(keys.policy, '{"registries": "dokkaa/"}');
      await settle(store.revision);
      assert.deepEqual(policy.current(log), { kind: 'policy', policy: { quotas: { shop: { maxReplicas: 2 } } } }, 'the last valid one stays');

      await store.delete(keys.policy);
      for (let i = 0; i < 200 && policy.informer.get(keys.policy); i++) await new Promise((r) => setTimeout(r, 5));
      assert.deepEqual(policy.current(log), { kind: 'none' });

      // No key was the last valid state: a broken record written now changes nothing either.
      await store.put(keys.policy, '[[[');
      await settle(store.revision);
      assert.deepEqual(policy.current(log), { kind: 'none' }, 'no policy stays no policy');
    } finally {
      await policy.informer.release();
    }
  });

  it('runs the work of one app one at a time, other apps alongside', async () => {
    const policy = new ClusterPolicy(new InformerFactory(new FakeKvStore(), new FakeClock(0), createLogger('error', true)), new Keys('/d'));
    const log: string[] = [];
    const work = (tag: string, ms: number) => async () => {
      log.push(`${tag}+`);
      await new Promise((r) => setTimeout(r, ms));
      log.push(`${tag}-`);
      if (tag === 'a1') throw new Error('a1 fails');
      return tag;
    };
    const results = await Promise.allSettled([policy.serialized('a', work('a1', 20)), policy.serialized('a', work('a2', 1)), policy.serialized('b', work('b1', 1))]);
    assert.deepEqual(results.map((r) => r.status), ['rejected', 'fulfilled', 'fulfilled']);
    assert.ok(log.indexOf('a2+') > log.indexOf('a1-'), `a2 starts after a1 ends, even when a1 fails: ${log.join(' ')}`);
    assert.ok(log.indexOf('b1+') < log.indexOf('a1-'), 'b does not wait for a');
  });
});

describe('the Forbidden status', () => {
  const admitted = spec({ image: 'dokkaa/web', scale: 2 });
  const forbiddenSpec = spec({ image: 'evil.io/web', scale: 2 });
  const old0 = placement(admitted, 0, 'h1', { revision: 5 });
  const old1 = placement(admitted, 1, 'h2', { revision: 5 });
  const rollout = (revision: number): RolloutRecord => ({
    phase: 'Complete', targetHash: old0.templateHash, targetRevision: 5, message: '', updated: 2, ready: 2, total: 2, startedAt: 'then',
    forbidden: { revision, violations: [{ rule: 'registries', message: 'image evil.io/web:latest is not under an allowed registry (dokkaa/)' }, { rule: 'quotas.cpus', message: 'too many' }] },
  });
  const base = { decoded: { ok: true as const, spec: forbiddenSpec }, placements: [old0, old1], replicas: [replica(old0), replica(old1)], link: undefined, liveNodes: [node('h1'), node('h2')] };

  it('names the rule, keeps counting the admitted version that runs', () => {
    const st = summarize({ ...base, revision: 9, rollout: rollout(9) });
    assert.equal(st.phase, 'Forbidden');
    assert.equal(st.rule, 'registries');
    assert.equal(st.message, 'registries: image evil.io/web:latest is not under an allowed registry (dokkaa/) (and 1 more: see errors or dokkaa describe); still running revision 5');
    assert.deepEqual(st.errors, ['registries: image evil.io/web:latest is not under an allowed registry (dokkaa/)', 'quotas.cpus: too many']);
    assert.equal(st.running, 2);
    assert.equal(st.desired, 2);
    assert.equal(st.runningRevision, 5);
  });

  it('says nothing runs when nothing was admitted before', () => {
    const st = summarize({ ...base, placements: [], replicas: [], revision: 9, rollout: rollout(9) });
    assert.equal(st.phase, 'Forbidden');
    assert.equal(st.desired, 0);
    assert.match(st.message, /; nothing runs$/);
  });

  it('ignores a verdict on an older revision', () => {
    const st = summarize({ ...base, decoded: { ok: true, spec: admitted }, revision: 10, rollout: rollout(9) });
    assert.equal(st.phase, 'Running');
  });
});
