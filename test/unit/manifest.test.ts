import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeManifest, parseLink, templateHash, withDefaultTag, type DecodeResult, type ManifestSpec } from '../../api/manifest.js';

function ok(text: string, app = 'myapp'): ManifestSpec {
  const r = decodeManifest(text, app);
  assert.ok(r.ok, `expected ${text} to decode, got ${JSON.stringify(r)}`);
  return r.spec;
}

function errors(value: unknown, app = 'myapp'): string[] {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  const r: DecodeResult = decodeManifest(text, app);
  assert.equal(r.ok, false, `expected ${text} to be rejected`);
  return r.ok ? [] : r.errors;
}

/** Every error line must have the documented shape. */
function assertShape(lines: string[]): void {
  assert.ok(lines.length > 0);
  for (const line of lines) assert.match(line, /^\S+: expected .+, got .+$/, line);
}

describe('decodeManifest: the article\'s manifests', () => {
  it('decodes the nginx manifest with every default applied', () => {
    const spec = ok('{"image":"dockerfile/nginx","scale":1,"services":{"nginx":80}}');
    assert.deepEqual(spec, {
      image: 'dockerfile/nginx:latest',
      scale: 1,
      env: {},
      services: { nginx: { port: 80, protocol: 'tcp' } },
      links: [],
      restart: 'always',
      constraints: {},
      update: { parallelism: 1, order: 'stop-first', delayMs: 0, deadlineMs: 120_000 },
      stopGracePeriodMs: 10_000,
    });
  });

  it('decodes the crawler manifest with a command and a link', () => {
    const crawler = {
      image: 'dockerfile/ubuntu',
      scale: 1,
      command: ['/bin/bash', '-c', 'while true; do curl http://$SERVICE_NGINX_ADDR:$SERVICE_NGINX_PORT; sleep 2; done'],
      links: ['nginx'],
    };
    assert.deepEqual(ok(JSON.stringify(crawler)), {
      image: 'dockerfile/ubuntu:latest',
      scale: 1,
      command: crawler.command,
      env: {},
      services: {},
      links: [{ app: 'myapp', service: 'nginx' }],
      restart: 'always',
      constraints: {},
      update: { parallelism: 1, order: 'stop-first', delayMs: 0, deadlineMs: 120_000 },
      stopGracePeriodMs: 10_000,
    });
  });

  it('decodes a crawler linking to nginx in its own and in another app', () => {
    const spec = ok('{"image":"dokkaa/crawler","scale":2,"command":["/crawl.sh","--interval","60"],"links":["nginx","otherapp/nginx"]}');
    assert.equal(spec.scale, 2);
    assert.deepEqual(spec.command, ['/crawl.sh', '--interval', '60']);
    assert.deepEqual(spec.links, [
      { app: 'myapp', service: 'nginx' },
      { app: 'otherapp', service: 'nginx' },
    ]);
  });
});

describe('decodeManifest: defaults', () => {
  it('takes scale 1 when it is absent', () => {
    assert.equal(ok('{"image":"x"}').scale, 1);
  });

  it('keeps an explicit scale 0 (the original turned it into 1)', () => {
    assert.equal(ok('{"image":"x","scale":0}').scale, 0);
  });

  it('restarts "always" by default and honours the other policies', () => {
    assert.equal(ok('{"image":"x"}').restart, 'always');
    assert.equal(ok('{"image":"x","restart":"on-failure"}').restart, 'on-failure');
    assert.equal(ok('{"image":"x","restart":"never"}').restart, 'never');
  });

  it('has no command unless one is given', () => {
    assert.equal('command' in ok('{"image":"x"}'), false);
    assert.deepEqual(ok('{"image":"x","command":[]}').command, []);
  });

  it('adds :latest to an untagged image only', () => {
    assert.equal(ok('{"image":"nginx"}').image, 'nginx:latest');
    assert.equal(ok('{"image":"dockerfile/nginx"}').image, 'dockerfile/nginx:latest');
    assert.equal(ok('{"image":"reg:5000/img"}').image, 'reg:5000/img:latest');
    assert.equal(ok('{"image":"img:tag"}').image, 'img:tag');
    assert.equal(ok('{"image":"reg:5000/img:1.2"}').image, 'reg:5000/img:1.2');
    const digest = 'img@sha256:' + 'a'.repeat(64);
    assert.equal(ok(JSON.stringify({ image: digest })).image, digest);
  });

  it('withDefaultTag leaves a registry port alone when the last segment is tagged', () => {
    assert.equal(withDefaultTag('reg:5000/team/img'), 'reg:5000/team/img:latest');
    assert.equal(withDefaultTag('reg:5000/team/img:v1'), 'reg:5000/team/img:v1');
  });
});

describe('decodeManifest: services, links, env, constraints', () => {
  it('accepts the short service form {"nginx":80} as tcp', () => {
    assert.deepEqual(ok('{"image":"x","services":{"nginx":80}}').services, { nginx: { port: 80, protocol: 'tcp' } });
  });

  it('accepts the object service form with role and protocol', () => {
    const spec = ok('{"image":"x","services":{"nginx":{"port":80,"role":"web","protocol":"udp"},"admin":{"port":8080}}}');
    assert.deepEqual(spec.services, {
      nginx: { port: 80, protocol: 'udp', role: 'web' },
      admin: { port: 8080, protocol: 'tcp' },
    });
  });

  it('accepts the ends of the port range', () => {
    assert.deepEqual(ok('{"image":"x","services":{"a":1,"b":65535}}').services, {
      a: { port: 1, protocol: 'tcp' },
      b: { port: 65535, protocol: 'tcp' },
    });
  });

  it('parses links to {app, service}, the own app when none is named', () => {
    assert.deepEqual(ok('{"image":"x","links":["nginx","otherapp/nginx"]}', 'web').links, [
      { app: 'web', service: 'nginx' },
      { app: 'otherapp', service: 'nginx' },
    ]);
    assert.deepEqual(parseLink('db', 'shop'), { app: 'shop', service: 'db' });
    assert.deepEqual(parseLink('infra/db', 'shop'), { app: 'infra', service: 'db' });
  });

  it('honours env and constraints', () => {
    const spec = ok('{"image":"x","env":{"FOO":"bar","_x1":""},"constraints":{"node.labels.zone":"east"}}');
    assert.deepEqual(spec.env, { FOO: 'bar', _x1: '' });
    assert.deepEqual(spec.constraints, { 'node.labels.zone': 'east' });
  });

  it('copies env, so changing the spec does not change a later decode', () => {
    const text = '{"image":"x","env":{"A":"1"}}';
    ok(text).env.A = 'changed';
    assert.equal(ok(text).env.A, '1');
  });
});

describe('decodeManifest: errors read `path: expected X, got Y`', () => {
  it('reports bad JSON', () => {
    const [line, ...rest] = errors('{"image": "x",');
    assert.deepEqual(rest, []);
    assert.match(line!, /^\(manifest\): expected JSON, got .+/);
  });

  it('reports a manifest that is not an object', () => {
    assert.deepEqual(errors('[]'), ['(manifest): expected a JSON object, got []']);
    assert.deepEqual(errors('null'), ['(manifest): expected a JSON object, got null']);
    assert.deepEqual(errors('"nginx"'), ['(manifest): expected a JSON object, got "nginx"']);
  });

  it('reports a missing or empty image', () => {
    assert.deepEqual(errors({ scale: 1 }), ['image: expected a non-empty string, got nothing']);
    assert.deepEqual(errors({ image: '' }), ['image: expected a non-empty string, got ""']);
    assert.deepEqual(errors({ image: '   ' }), ['image: expected a non-empty string, got "   "']);
    assert.deepEqual(errors({ image: 3 }), ['image: expected a non-empty string, got 3']);
  });

  it('reports a scale that is not an integer >= 0', () => {
    assert.deepEqual(errors({ image: 'x', scale: '3' }), ['scale: expected an integer >= 0, got "3"']);
    assert.deepEqual(errors({ image: 'x', scale: -1 }), ['scale: expected an integer >= 0, got -1']);
    assert.deepEqual(errors({ image: 'x', scale: 1.5 }), ['scale: expected an integer >= 0, got 1.5']);
    assert.deepEqual(errors({ image: 'x', scale: null }), ['scale: expected an integer >= 0, got null']);
  });

  it('reports a command that is not an array of strings, at the element', () => {
    assert.deepEqual(errors({ image: 'x', command: 'ls -l' }), ['command: expected an array of strings, got "ls -l"']);
    assert.deepEqual(errors({ image: 'x', command: ['ls', 3] }), ['command[1]: expected a string, got 3']);
  });

  it('reports a non-string env value at its name', () => {
    assert.deepEqual(errors({ image: 'x', env: { PORT: 80 } }), ['env.PORT: expected a string or {"secret": NAME}, got 80']);
  });

  it('reports a bad env var name instead of dropping it', () => {
    const lines = errors({ image: 'x', env: { '1A': 'x' } });
    assertShape(lines);
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /^env\.1A: expected an env var name .*, got "1A"$/);
  });

  it('reports an unknown field ("comand") and lists the known ones', () => {
    const lines = errors({ image: 'x', comand: ['sleep', '1'] });
    assertShape(lines);
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /^comand: expected no such field \(known: image, scale, command, env, secrets, configs, services, links, restart, constraints, health, update, stopGracePeriod, resources, mode, placement, volumes, volumeLoss, user, readOnlyRootfs, capAdd, capDrop\), got \["sleep","1"\]$/);
  });

  it('reports an unknown field inside a service object at its own path, once', () => {
    const lines = errors({ image: 'x', services: { nginx: { port: 80, rol: 'web' } } });
    assert.equal(lines.length, 1, JSON.stringify(lines));
    assert.match(lines[0]!, /^services\.nginx\.rol: expected no such field \(known: port, protocol, role, hosts, httpsRedirect, proxyProtocol\), got "web"$/);
  });

  for (const bad of ['Nginx', 'my_svc', '-web', 'a'.repeat(64)]) {
    it(`reports the bad service name ${JSON.stringify(bad.slice(0, 10))} instead of dropping it`, () => {
      const lines = errors({ image: 'x', services: { [bad]: 80 } });
      assert.equal(lines.length, 1, JSON.stringify(lines));
      assert.equal(
        lines[0],
        `services.${bad}: expected a DNS label (a-z, 0-9 and "-", at most 63 characters) as the name, got ${JSON.stringify(bad).length > 60 ? JSON.stringify(bad).slice(0, 57) + '...' : JSON.stringify(bad)}`,
      );
    });
  }

  it('reports a bad port once, at the service', () => {
    for (const port of [0, 70000, 80.5, '80']) {
      assert.deepEqual(errors({ image: 'x', services: { nginx: port } }), [
        `services.nginx: expected a port number or {port, protocol?, role?, hosts?, httpsRedirect?, proxyProtocol?}, got ${JSON.stringify(port)}`,
      ]);
    }
  });

  it('reports a bad port, protocol or missing port in the object form once, at the service', () => {
    for (const svc of [{ port: 70000 }, { port: 0, role: 'web' }, { port: 80, protocol: 'sctp' }, { role: 'web' }]) {
      assert.deepEqual(errors({ image: 'x', services: { nginx: svc } }), [
        `services.nginx: expected a port number or {port, protocol?, role?, hosts?, httpsRedirect?, proxyProtocol?}, got ${JSON.stringify(svc)}`,
      ]);
    }
  });

  it('reports services that are not an object', () => {
    assert.deepEqual(errors({ image: 'x', services: 80 }), ['services: expected an object, got 80']);
  });

  it('reports a bad restart value', () => {
    assert.deepEqual(errors({ image: 'x', restart: 'sometimes' }), [
      'restart: expected "always", "on-failure" or "never", got "sometimes"',
    ]);
  });

  it('reports a bad link at its index', () => {
    for (const link of ['a/b/c', 'Bad', 'app/', '/svc', 3]) {
      assert.deepEqual(errors({ image: 'x', links: ['ok', link] }), [
        `links[1]: expected a service name "svc" or "app/svc" made of DNS labels, got ${JSON.stringify(link)}`,
      ]);
    }
  });

  it('reports links that are not an array in words, not codec names', () => {
    const lines = errors({ image: 'x', links: 'nginx' });
    assert.equal(lines.length, 1);
    assert.equal(lines[0], 'links: expected an array of service names ("svc" or "app/svc"), got "nginx"');
  });

  it('reports a non-string constraint', () => {
    assert.deepEqual(errors({ image: 'x', constraints: { 'node.name': 1 } }), ['constraints.node.name: expected a string, got 1']);
  });

  it('reports every problem, one line each', () => {
    const lines = errors({ scale: -1, restart: 'x', command: [1] });
    assert.deepEqual(
      [...lines].sort(),
      [
        'command[0]: expected a string, got 1',
        'image: expected a non-empty string, got nothing',
        'restart: expected "always", "on-failure" or "never", got "x"',
        'scale: expected an integer >= 0, got -1',
      ],
    );
  });

  it('shortens a long bad value', () => {
    const [line] = errors({ image: 'x', scale: 'y'.repeat(100) });
    assert.equal(line, `scale: expected an integer >= 0, got "${'y'.repeat(56)}...`);
  });

  it('checks the app and name from the key', () => {
    const r = decodeManifest('{"image":"x"}', 'Bad_App', 'web');
    assert.deepEqual(r, {
      ok: false,
      errors: ['(key) app: expected a DNS label (a-z, 0-9 and "-", at most 63 characters), got "Bad_App"'],
    });
    const n = decodeManifest('{"image":"x"}', 'app', 'we.b');
    assert.equal(n.ok, false);
    assert.match(n.ok ? '' : n.errors[0]!, /^\(key\) name: expected a DNS label .*, got "we\.b"$/);
    assert.equal(decodeManifest('{"image":"x"}', 'app', 'web').ok, true);
  });
});

describe('templateHash', () => {
  const base = { image: 'x', scale: 1, command: ['a'], env: { A: '1' }, services: { web: 80 } };
  const hash = (m: object) => templateHash(ok(JSON.stringify(m)));

  it('is stable and 12 hex characters', () => {
    assert.match(hash(base), /^[0-9a-f]{12}$/);
    assert.equal(hash(base), hash({ ...base }));
  });

  it('ignores scale and constraints', () => {
    assert.equal(hash(base), hash({ ...base, scale: 5 }));
    assert.equal(hash(base), hash({ ...base, scale: 0, constraints: { 'node.name': 'a' } }));
  });

  it('ignores the order of fields and env names', () => {
    const reordered = { services: { web: 80 }, env: { A: '1' }, command: ['a'], image: 'x' };
    assert.equal(hash(base), hash(reordered));
    assert.equal(hash({ ...base, env: { A: '1', B: '2' } }), hash({ ...base, env: { B: '2', A: '1' } }));
  });

  it('changes with the image, command, env, secrets, configs, services, links or restart policy', () => {
    const h = hash(base);
    const variants = [
      { ...base, image: 'y' },
      { ...base, image: 'x:2' },
      { ...base, command: ['b'] },
      { ...base, command: ['a', 'b'] },
      { ...base, env: { A: '2' } },
      { ...base, env: {} },
      { ...base, services: { web: 81 } },
      { ...base, links: ['db'] },
      { ...base, restart: 'never' },
    ];
    const hashes = variants.map(hash);
    for (const [i, v] of hashes.entries()) assert.notEqual(v, h, JSON.stringify(variants[i]));
    assert.equal(new Set(hashes).size, hashes.length);
  });

  it('treats "x" and "x:latest" alike (the default tag is applied first)', () => {
    assert.equal(hash(base), hash({ ...base, image: 'x:latest' }));
  });
});

describe('decodeManifest: mode and placement', () => {
  it('takes mode global without scale, and refuses scale with it', () => {
    const ok = decodeManifest(JSON.stringify({ image: 'a', mode: 'global' }), 'app', 'x');
    assert.ok(ok.ok && ok.spec.mode === 'global');
    const bad = decodeManifest(JSON.stringify({ image: 'a', mode: 'global', scale: 3 }), 'app', 'x');
    assert.deepEqual(bad.ok ? [] : bad.errors, ['scale: expected no scale with mode "global" (one replica per matching node), got 3']);
  });
  it('leaves replicated manifests without a mode field (their hash is unchanged)', () => {
    const r = decodeManifest(JSON.stringify({ image: 'a', mode: 'replicated', scale: 2 }), 'app', 'x');
    assert.ok(r.ok && r.spec.mode === undefined && r.spec.scale === 2);
  });
  it('takes a placement and reports bad fields at their path', () => {
    const ok = decodeManifest(JSON.stringify({ image: 'a', placement: { strategy: 'binpack', spreadBy: 'zone', maxPerNode: 1 } }), 'app', 'x');
    assert.ok(ok.ok);
    assert.deepEqual(ok.spec.placement, { strategy: 'binpack', spreadBy: 'zone', maxPerNode: 1 });
    const bad = decodeManifest(JSON.stringify({ image: 'a', placement: { strategy: 'random', maxPerNode: 0 } }), 'app', 'x');
    assert.ok(!bad.ok);
    assert.ok(bad.errors.some((e) => /^placement\.strategy: expected "spread" or "binpack", got "random"$/.test(e)), bad.errors.join('\n'));
    assert.ok(bad.errors.some((e) => /^placement\.maxPerNode: expected a positive integer, got 0$/.test(e)), bad.errors.join('\n'));
  });
  it('does not change the template hash when mode or placement change', () => {
    const a = decodeManifest(JSON.stringify({ image: 'a' }), 'app', 'x');
    const b = decodeManifest(JSON.stringify({ image: 'a', placement: { strategy: 'binpack' } }), 'app', 'x');
    assert.ok(a.ok && b.ok);
    assert.equal(templateHash(a.spec), templateHash(b.spec));
  });
});

describe('decodeManifest: input nested deeper than JSON.stringify recurses', () => {
  // JSON.parse takes any depth; the error message's rendering of the bad value threw a RangeError (found by fuzzing).
  it('names the first error of a value nested 200,000 deep instead of throwing', () => {
    const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
    assert.deepEqual(errors(`{"image":"dokkaa/busybox","command":${deep(200_000)}}`), ['command[0]: expected a string, got [[[... (an array nested too deep to show)']);
    const obj = '{"a":'.repeat(200_000) + '1' + '}'.repeat(200_000);
    assert.deepEqual(errors(`{"image":"dokkaa/busybox","constraints":{"zone":${obj}}}`), ['constraints.zone: expected a string, got {{{... (an object nested too deep to show)']);
  });
});
