import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useDokkaa } from './support/dokkaa.js';
import { sleeperManifest, waitFor } from './support/world.js';

describe('bad input never crashes a controller nor stops what runs', () => {
  const { world } = useDokkaa();

  const invalid = async (app: string, name: string) =>
    waitFor(`${app}/${name} Invalid`, async () => {
      const s = await world.status(app, name);
      return s?.phase === 'Invalid' ? s : undefined;
    });

  const cases: [string, string, string | object, RegExp][] = [
    ['bad JSON', 'json', '{"image": "dokkaa/busybox",', /^\(manifest\): expected JSON, got /],
    ['a wrong type', 'types', { image: 'dokkaa/busybox', scale: '3' }, /^scale: expected an integer >= 0, got "3"$/],
    ['an unknown field', 'unknown', { image: 'dokkaa/busybox', comand: ['sleep', '1'] }, /^comand: expected no such field/],
    ['a bad service name', 'svc', { image: 'dokkaa/busybox', services: { Web_1: 80 } }, /^services\.Web_1: expected a DNS label/],
    ['a missing image', 'noimage', { scale: 1 }, /^image: expected a non-empty string, got nothing$/],
  ];
  for (const [what, name, manifest, error] of cases) {
    it(`reports ${what} in the status key and starts nothing`, async () => {
      const app = `bad-${world.id}`;
      await world.putManifest(app, name, manifest);
      const s = await invalid(app, name);
      assert.ok(s.errors?.some((e) => error.test(e)), `errors ${JSON.stringify(s.errors)} match ${error}`);
      assert.match(s.message, /^invalid manifest: /);
      assert.equal((await world.containers(app, name)).length, 0);
      assert.deepEqual(await world.keysUnder(`${world.prefix}/placements/${world.node}/${app}/${name}/`), []);
    });
  }

  it('reports a bad app name taken from the key', async () => {
    await world.putManifest('Bad_App', 'x', sleeperManifest());
    const s = await invalid('Bad_App', 'x');
    assert.match(s.errors![0]!, /^\(key\) app: expected a DNS label .*, got "Bad_App"$/);
  });

  it('keeps the last valid version running while an update is invalid, and applies the fix', async () => {
    const app = `keep-${world.id}`;
    await world.putManifest(app, 'svc', sleeperManifest({ scale: 2 }));
    await world.putManifest(app, 'other', sleeperManifest());
    await waitFor('Running', async () => (await world.status(app, 'svc'))?.phase === 'Running');
    const before = (await world.running(app, 'svc')).map((c) => c.Id).sort();
    assert.equal(before.length, 2);

    await world.putManifest(app, 'svc', { image: 'dokkaa/busybox', scale: -1, command: ['sleep', '1'] });
    const s = await invalid(app, 'svc');
    assert.equal(s.running, 2, 'status still counts the replicas of the last valid version');
    assert.match(s.message, /still running revision \d+/);
    // Give the controllers time to (wrongly) act, then check nothing moved.
    await new Promise((r) => setTimeout(r, 1500));
    assert.deepEqual((await world.running(app, 'svc')).map((c) => c.Id).sort(), before);

    // Other manifests are still served.
    await world.putManifest(app, 'other', sleeperManifest({ scale: 2 }));
    await waitFor('other scaled while svc is invalid', async () => (await world.running(app, 'other')).length === 2);

    await world.putManifest(app, 'svc', sleeperManifest({ scale: 1 }));
    await waitFor('fixed: Running with 1', async () => {
      const st = await world.status(app, 'svc');
      return st?.phase === 'Running' && st.desired === 1 && (await world.containers(app, 'svc')).length === 1;
    });
  });

  it('retries a missing image with backoff, reports it, and serves other manifests meanwhile', async () => {
    const app = `img-${world.id}`;
    // A registry that refuses at once (nothing listens on port 9 here): Docker Hub would be
    // tried through DNS, which on a machine without it fails only at the resolver's timeout.
    await world.putManifest(app, 'ghost', { image: '127.0.0.1:9/dokkaa/no-such-image:1', command: ['true'] });
    await world.putManifest(app, 'fine', sleeperManifest());
    const s = await waitFor('ghost Failed with the image error', async () => {
      const st = await world.status(app, 'ghost');
      return st?.phase === 'Failed' ? st : undefined;
    }, 60_000);
    assert.match(s.message, /127\.0\.0\.1:9\/dokkaa\/no-such-image:1/);
    await waitFor('fine Running', async () => (await world.status(app, 'fine'))?.phase === 'Running');
  });
});
