import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeManifest, templateHash } from '../../api/manifest.js';
import { parseMemory } from '../../api/quantities.js';
import { containerTemplate } from '../../controllers/node-runner/container-template.js';
import { placement, spec } from './builders.js';

describe('resources: memory quantities', () => {
  it('reads bytes and binary or decimal suffixes', () => {
    assert.equal(parseMemory(1024), 1024);
    assert.equal(parseMemory('256Mi'), 256 * 2 ** 20);
    assert.equal(parseMemory('1.5Gi'), 1.5 * 2 ** 30);
    assert.equal(parseMemory('500M'), 500e6);
    assert.equal(parseMemory('2G'), 2e9);
    assert.equal(parseMemory('64Ki'), 65536);
  });

  it('refuses nonsense: negative, zero, fractional bytes, unknown units, other types', () => {
    for (const bad of [-1, 0, 1.5, '-5Mi', '0', '12Mb', 'lots', '', true, null, {}]) assert.equal(parseMemory(bad), undefined, JSON.stringify(bad));
  });
});

describe('resources in the manifest', () => {
  const decode = (resources: unknown) => decodeManifest(JSON.stringify({ image: 'x', resources }), 'a');

  it('decodes cpus and memory into the spec', () => {
    const r = decode({ cpus: 0.5, memory: '256Mi' });
    assert.ok(r.ok);
    assert.deepEqual(r.spec.resources, { cpus: 0.5, memoryBytes: 256 * 2 ** 20 });
  });

  it('reports bad amounts as `path: expected X, got Y`', () => {
    const cpus = decode({ cpus: -1 });
    assert.ok(!cpus.ok);
    assert.deepEqual(cpus.errors, ['resources.cpus: expected a positive number of CPUs (e.g. 0.5), got -1']);
    const memory = decode({ memory: '12Mb' });
    assert.ok(!memory.ok);
    assert.deepEqual(memory.errors, ['resources.memory: expected a memory amount (bytes, or a number with Ki, Mi, Gi, K, M or G), got "12Mb"']);
    const unknown = decode({ gpus: 1 });
    assert.ok(!unknown.ok);
    assert.match(unknown.errors[0]!, /^resources\.gpus: expected no such field \(known: cpus, memory\)/);
  });

  it('leaves a manifest without resources hashing as before, and a change of limits is a spec change', () => {
    const none = spec({ image: 'x' });
    assert.equal(none.resources, undefined);
    const limited = spec({ image: 'x', resources: { memory: '64Mi' } });
    const more = spec({ image: 'x', resources: { memory: '128Mi' } });
    assert.notEqual(templateHash(limited), templateHash(none));
    assert.notEqual(templateHash(limited), templateHash(more));
  });

  it('reaches Docker as NanoCpus and Memory through the container template', () => {
    const t = containerTemplate(placement(spec({ image: 'x', resources: { cpus: 0.25, memory: '64Mi' } }), 0, 'h1'), {}, 'h1');
    assert.equal(t.nanoCpus, 250_000_000);
    assert.equal(t.memoryBytes, 64 * 2 ** 20);
    const free = containerTemplate(placement(spec({ image: 'x' }), 0, 'h1'), {}, 'h1');
    assert.equal(free.nanoCpus, undefined);
    assert.equal(free.memoryBytes, undefined);
  });
});
