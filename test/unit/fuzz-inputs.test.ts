import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Keys } from '../../api/keys.js';
import { decodeManifest } from '../../api/manifest.js';
import { checkRecord, StatusRecord } from '../../api/records.js';
import { Resources } from '../../src/informer/resources.js';
import { keyLayout } from '../fuzz/key-sections.js';
import { manifestCase, manifestShape, RICH_MANIFEST } from '../fuzz/manifest-inputs.js';
import { recordCases } from '../fuzz/record-inputs.js';

/** The inputs test/e2e/fuzz-boundary.test.ts writes, and the decoders' answers to them, without etcd. */
describe('fuzz inputs', () => {
  const keys = new Keys('/fz');

  it('reaches every prefix of Keys, and every prefix an informer reads', () => {
    const layout = keyLayout(keys);
    const informed = Object.values(Resources).map((make) => keys.parseSection((make as (k: Keys, n: string) => { prefix: string })(keys, 'n').prefix)!);
    assert.deepEqual(informed.filter((s) => !layout.sections.has(s)), []);
    // Those known when this was written; a new one joins the layout by itself.
    for (const s of ['apps', 'nodes', 'maintenance', 'moves', 'placements', 'volumes', 'node-replicas', 'node-endpoints', 'node-events', 'node-prepulled', 'replicas', 'services', 'links', 'ports', 'portalloc', 'router', 'certs', 'status', 'events', 'rollouts', 'registries', 'secrets', 'configs', 'sealed', 'sealed-registries', 'cluster-key', 'restarts', 'prepull', 'prepulled', 'election']) {
      assert.ok(layout.sections.has(s), `section ${s}`);
    }
    // Every member is a prefix, a single key, a builder, or (by name or result) no key: nothing is skipped unseen.
    const classified = new Set([...layout.builders.map((b) => b.name), ...layout.others]);
    const getters = Object.entries(Object.getOwnPropertyDescriptors(Keys.prototype)).filter(([n, d]) => n !== 'constructor' && !classified.has(n) && !d.get);
    assert.deepEqual(getters.map(([n]) => n), []);
    assert.deepEqual(layout.others.filter((n) => !n.startsWith('parse') && !['all', 'endpointId', 'eventId'].includes(n)), []);
  });

  it('mutates a manifest that is valid to begin with', () => {
    const r = decodeManifest(JSON.stringify(RICH_MANIFEST), 'fz', 'rich');
    assert.ok(r.ok, JSON.stringify(r));
  });

  it('decodes every generated manifest without throwing: valid at scale 0, or errors that each name a path', () => {
    fc.assert(
      fc.property(manifestShape, fc.nat(5000), (shape, index) => {
        const c = manifestCase(shape, index, 'fz');
        const again = decodeManifest(c.bytes.toString(), c.app, c.name);
        assert.deepEqual(again, c.expected);
        if (c.expected.ok) assert.equal(c.expected.spec.scale, 0);
        else for (const e of c.expected.errors) assert.match(e, /^[^\n]*?: expected /s);
      }),
      { numRuns: 300, seed: 16 },
    );
  });

  it('makes malformed records under every section, none of which decodes', () => {
    const cases = recordCases(keys, 'node-1', 8, 16, (k) => k === keys.node('node-1'));
    const sections = new Set(cases.map((c) => c.section));
    assert.deepEqual([...keyLayout(keys).sections].filter((s) => !sections.has(s)), []);
    assert.ok(!cases.some((c) => c.key.toString() === keys.node('node-1')), 'protected keys are not written');
    for (const c of cases) assert.doesNotThrow(() => checkRecord(StatusRecord, c.value.toString()), c.key.toString());
  });
});
