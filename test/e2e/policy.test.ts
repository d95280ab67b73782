import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StatusRecord } from '../../api/records.js';
import { UsageError } from '../../cli/client-commands.js';
import { policySet, policyShow } from '../../cli/policy-commands.js';
import { useDokkaa } from './support/dokkaa.js';
import { sleeperManifest, sleepMs, waitFor } from './support/world.js';

describe('the admission policy', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dokkaa-policy-'));
  const shared = mkdtempSync(join(tmpdir(), 'dokkaa-policy-shared-'));
  // The agent allows both; the policy only `shared`: a bind mount needs both to allow it.
  const { world } = useDokkaa({ allowHostPaths: [shared, '/etc'] });
  const quotaApp = `quota-${world.id}`;
  const privApp = `priv-${world.id}`;
  const policy = (extra: object = {}) => ({
    registries: ['dokkaa/'],
    hostPaths: [shared],
    quotas: { [quotaApp]: { maxReplicas: 3, memory: '256Mi' } },
    privileged: [privApp],
    ...extra,
  });
  const setPolicy = async (p: object) => {
    const file = join(dir, 'policy.json');
    writeFileSync(file, JSON.stringify(p));
    return policySet({ file }, world.config());
  };

  before(async () => {
    assert.match(await setPolicy(policy()), /^policy set: rules registries, hostPaths, quotas, privileged;/);
  });

  const forbidden = async (app: string, name: string, revisionAtLeast = 0) =>
    waitFor(`${app}/${name} Forbidden`, async () => {
      const s = await world.status(app, name);
      return s?.phase === 'Forbidden' && s.observedRevision >= revisionAtLeast ? s : undefined;
    }, 60_000);
  /** Waits for Running; a timeout shows the last status. */
  const running = async (app: string, name: string) =>
    waitFor(`${app}/${name} Running`, async () => {
      const s = await world.status(app, name);
      if (s?.phase !== 'Running') throw new Error(`status ${s?.phase}: ${s?.message}`);
      return s;
    }, 60_000);
  const startsNothing = async (app: string, name: string) => {
    // Give the scheduler and the agent time to (wrongly) act.
    await sleepMs(1000);
    assert.deepEqual(await world.containers(app, name), []);
    assert.deepEqual(await world.keysUnder(`${world.keys.placements}${world.node}/${app}/${name}/`), []);
  };
  const rejects = async (app: string, name: string, manifest: object, rule: string, message: RegExp): Promise<StatusRecord> => {
    await world.putManifest(app, name, manifest);
    const s = await forbidden(app, name);
    assert.equal(s.rule, rule);
    assert.match(s.message, message);
    assert.match(s.message, /; nothing runs$/);
    await startsNothing(app, name);
    return s;
  };

  it('registries: an image from elsewhere is Forbidden and starts nothing', async () => {
    await rejects(`reg-${world.id}`, 'evil', { image: 'evil.io/x:1', command: ['sleep', '3600'] }, 'registries',
      /^registries: image evil\.io\/x:1 is not under an allowed registry \(dokkaa\/\)/);
  });

  it('hostPaths: a bind mount the agent allows but the policy does not is Forbidden', async () => {
    await rejects(privApp, 'etc', sleeperManifest({ volumes: { e: { hostPath: '/etc', path: '/host-etc', readOnly: true } } }), 'hostPaths',
      new RegExp(`^hostPaths: volumes\\.e: host path /etc is not under an allowed host path \\(${shared}\\)`));
  });

  it('quotas.maxReplicas: more replicas than the app may run is Forbidden', async () => {
    await rejects(quotaApp, 'many', sleeperManifest({ scale: 4 }), 'quotas.maxReplicas',
      new RegExp(`^quotas\\.maxReplicas: app ${quotaApp} would use 4 replicas, at most 3 replicas`));
  });

  it('quotas.memory: counting the app\'s other manifests, and admitting once they make room', async () => {
    await world.putManifest(quotaApp, 'small', sleeperManifest({ resources: { memory: '128Mi' } }));
    await running(quotaApp, 'small');
    await rejects(quotaApp, 'big', sleeperManifest({ resources: { memory: '192Mi' } }), 'quotas.memory',
      new RegExp(`^quotas\\.memory: app ${quotaApp} would use 320Mi of memory, at most 256Mi of memory \\(this manifest 192Mi, its other manifests 128Mi\\)`));
    // The other manifest going frees the room: the refused one is admitted without a change of its own.
    await world.deleteManifest(quotaApp, 'small');
    await running(quotaApp, 'big');
    assert.equal((await world.running(quotaApp, 'big')).length, 1);
  });

  it('privileged: capAdd without the permission is Forbidden', async () => {
    await rejects(`plain-${world.id}`, 'netadmin', sleeperManifest({ capAdd: ['NET_ADMIN'] }), 'privileged',
      new RegExp(`^privileged: app plain-${world.id} may not use capAdd \\(NET_ADMIN\\): only the apps listed in privileged may \\(${privApp}\\)`));
  });

  it('runs an app the policy lets use capAdd and an allowed host path, with what it asked for', async () => {
    await world.putManifest(privApp, 'netadmin', sleeperManifest({ capAdd: ['NET_ADMIN'], volumes: { s: { hostPath: shared, path: '/shared' } } }));
    await running(privApp, 'netadmin');
    const [c] = await world.running(privApp, 'netadmin');
    const info = await world.docker.getContainer(c!.Id).inspect();
    assert.deepEqual(info.HostConfig.CapAdd, ['NET_ADMIN']);
    assert.ok(info.Mounts.some((m) => m.Type === 'bind' && m.Source === shared && m.Destination === '/shared'), JSON.stringify(info.Mounts));
  });

  it('keeps the running version (same containers) while an update is Forbidden, and admits the fix', async () => {
    const app = `upd-${world.id}`;
    await world.putManifest(app, 'svc', sleeperManifest({ scale: 2 }));
    await running(app, 'svc');
    const before = (await world.running(app, 'svc')).map((c) => c.Id).sort();
    assert.equal(before.length, 2);
    const runningRevision = (await world.status(app, 'svc'))!.runningRevision!;

    await world.putManifest(app, 'svc', sleeperManifest({ scale: 3, capAdd: ['SYS_TIME'] }));
    const s = await forbidden(app, 'svc', runningRevision + 1);
    assert.equal(s.rule, 'privileged');
    assert.match(s.message, new RegExp(`still running revision ${runningRevision}$`));
    assert.equal(s.running, 2, 'the admitted version still counts');
    await sleepMs(1500);
    assert.deepEqual((await world.running(app, 'svc')).map((c) => c.Id).sort(), before, 'nothing replaced, nothing added');

    await world.putManifest(app, 'svc', sleeperManifest({ scale: 3 }));
    await waitFor('fixed: Running with 3', async () => {
      const st = await world.status(app, 'svc');
      return st?.phase === 'Running' && st.desired === 3 && (await world.running(app, 'svc')).length === 3;
    });
    const after = (await world.running(app, 'svc')).map((c) => c.Id);
    assert.ok(before.every((id) => after.includes(id)), 'the fix only added a replica');
  });

  it('a Forbidden update changes neither the links nor the web routes of the version that runs', async () => {
    const app = `lr-${world.id}`;
    await world.putManifest(app, 'db', sleeperManifest({ services: { db: 5432 } }));
    await world.putManifest(app, 'cache', sleeperManifest({ services: { cache: 6379 } }));
    const v1 = sleeperManifest({ services: { www: { port: 80, role: 'web', hosts: [`v1.${app}.example.com`] } }, links: ['db'] });
    await world.putManifest(app, 'front', v1);
    await running(app, 'front');
    const read = async (key: string) => (await world.etcd.get(key).string()) ?? undefined;
    const routes = await waitFor('routes/ published', () => read(world.keys.route(app, 'front')));
    assert.equal(JSON.parse(routes).manifest, JSON.stringify(v1), 'the routers serve the admitted version');
    const links = (await read(world.keys.link(app, 'front')))!;
    assert.deepEqual(Object.keys(JSON.parse(links).links), ['DB']);
    const before = (await world.running(app, 'front')).map((c) => c.Id);
    const runningRevision = (await world.status(app, 'front'))!.runningRevision!;

    // Another host name and another link, with an option the policy does not give this app.
    await world.putManifest(app, 'front', sleeperManifest({ services: { www: { port: 80, role: 'web', hosts: [`v2.${app}.example.com`] } }, links: ['db', 'cache'], capAdd: ['SYS_TIME'] }));
    assert.equal((await forbidden(app, 'front', runningRevision + 1)).rule, 'privileged');
    await sleepMs(1500);
    assert.equal(await read(world.keys.route(app, 'front')), routes, 'no route of the forbidden revision');
    assert.equal(await read(world.keys.link(app, 'front')), links, 'no link of the forbidden revision');
    assert.deepEqual((await world.running(app, 'front')).map((c) => c.Id), before, 'the running container keeps its environment');

    // Deleted, the manifest's routes go with it.
    await world.deleteManifest(app, 'front');
    await waitFor('routes/ withdrawn', async () => ((await read(world.keys.route(app, 'front'))) === undefined ? true : undefined));
  });

  it('refuses a bad policy file with path: expected X, got Y and writes nothing', async () => {
    const stored = (await world.etcd.get(world.keys.policy).string())!;
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ registries: 'dokkaa/', quotas: { shop: { maxReplicas: -1 } } }));
    await assert.rejects(policySet({ file }, world.config()), (err: Error) => {
      assert.ok(err instanceof UsageError);
      assert.match(err.message, /nothing written/);
      assert.match(err.message, /\n  registries: expected an array of image prefixes, got "dokkaa\/"\n/);
      assert.match(err.message, /quotas\.shop\.maxReplicas: expected an integer >= 0, got -1/);
      return true;
    });
    assert.equal(await world.etcd.get(world.keys.policy).string(), stored);
  });

  it('keeps the last valid policy when the record is broken behind the CLI\'s back; policy show says so', async () => {
    await world.etcd.put(world.keys.policy).value('{"registries": 7}');
    assert.match(await policyShow(world.config()), /^the stored policy \(revision \d+\) is INVALID: registries: expected an array of image prefixes, got 7\n/);
    await rejects(`reg-${world.id}`, 'evil2', { image: 'evil.io/y:1', command: ['sleep', '3600'] }, 'registries', /^registries: image evil\.io\/y:1/);
  });

  it('admits again on a policy change: a manifest refused for its quota runs once the quota allows it', async () => {
    await forbidden(quotaApp, 'many');
    await setPolicy(policy({ quotas: { [quotaApp]: { maxReplicas: 5 } } }));
    assert.match(await policyShow(world.config()), /"maxReplicas": 5/);
    await waitFor('many Running with 4', async () => {
      const st = await world.status(quotaApp, 'many');
      return st?.phase === 'Running' && (await world.running(quotaApp, 'many')).length === 4;
    }, 60_000);
  });
});
