import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { nameCovers } from '../../api/certificates.js';
import { crtList, haproxyConfig, listens, type HaproxyConfigInput, type RoutedService } from '../../controllers/router/haproxy-config.js';
import { selfSignedCert } from './router-certs.js';

const run = promisify(execFile);

const route = (host: string, extra: Partial<RoutedService> = {}): RoutedService => ({
  host,
  app: 'shop',
  name: 'front',
  service: 'www',
  httpsRedirect: false,
  proxyProtocol: false,
  endpoints: [{ host: '10.0.0.2', port: 32768 }],
  ...extra,
});

let dir = '';
const input = (extra: Partial<HaproxyConfigInput> = {}): HaproxyConfigInput => ({
  routes: [route('shop.dokkaa.local'), route('www.shop.dokkaa.local')],
  certs: [],
  crtListFile: join(dir, 'crt-list'),
  statsSocket: join(dir, 'stats.sock'),
  address: '127.0.0.1',
  httpPort: 8080,
  httpsPort: 8443,
  ...extra,
});

/** `haproxy -c`: the real parser's verdict on a generated file. */
async function check(cfg: string, certs: HaproxyConfigInput['certs'] = []): Promise<void> {
  const file = join(dir, 'haproxy.cfg');
  writeFileSync(file, cfg);
  writeFileSync(join(dir, 'crt-list'), crtList(certs));
  try {
    await run('haproxy', ['-c', '-q', '-f', file]);
  } catch (err) {
    assert.fail(`haproxy -c rejected the config: ${(err as { stderr?: string }).stderr}\n${cfg}`);
  }
}

describe('haproxyConfig (checked by haproxy -c)', () => {
  let certFile = '';
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'haproxy-config-'));
    const c = await selfSignedCert(dir, 'example.com');
    certFile = join(dir, 'example.com.pem');
    writeFileSync(certFile, c.cert + c.key);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const cases: { name: string; input: () => HaproxyConfigInput; has: (string | RegExp)[]; hasNot?: (string | RegExp)[] }[] = [
    {
      name: 'routes exact names of one service to one backend, round-robin with retries on another endpoint',
      input: () => input({ routes: [route('shop.dokkaa.local', { endpoints: [{ host: '10.0.0.3', port: 40000 }, { host: '10.0.0.2', port: 32768 }] }), route('www.shop.dokkaa.local')] }),
      has: [
        '  bind 127.0.0.1:8080',
        '  use_backend web:shop:front:www if { var(txn.host) -m str shop.dokkaa.local www.shop.dokkaa.local }',
        'backend web:shop:front:www\n  http-request return status 503 content-type text/plain string "no ready endpoint for service www of shop/front\\n" if { nbsrv() eq 0 }\n  server e-10.0.0.2-32768 10.0.0.2:32768\n  server e-10.0.0.3-40000 10.0.0.3:40000\n',
        '  balance roundrobin',
        '  retry-on conn-failure empty-response response-timeout',
        '  retries 3',
        '  option redispatch 1',
        '  option forwardfor',
        'http-request set-var(txn.host) req.hdr(host),field(1,:),lower',
        'X-Forwarded-Proto https if { ssl_fc }',
        'X-Forwarded-Host %[req.hdr(host)]',
        '  timeout tunnel 1h',
        'master-worker',
        /stats socket \S+stats\.sock mode 600 level admin expose-fd listeners/,
        'hard-stop-after 5m',
        'default_backend unknown-host',
        'http-request return status 404',
      ],
      hasNot: [' check', ':8443', 'ssl crt-list', 'redirect'],
    },
    {
      name: 'a route without ready endpoints answers 503 saying so (whenever its servers, changed at runtime, are none)',
      input: () => input({ routes: [route('shop.dokkaa.local', { endpoints: [] })] }),
      has: ['backend web:shop:front:www\n  http-request return status 503 content-type text/plain string "no ready endpoint for service www of shop/front\\n" if { nbsrv() eq 0 }\n\n'],
      hasNot: ['  server '],
    },
    {
      name: 'wildcards match one label, after every exact name',
      input: () => input({ routes: [route('*.example.org', { service: 'any' }), route('a.example.org', { service: 'a' })] }),
      has: [/use_backend web:shop:front:a if \{ var\(txn.host\) -m str a.example.org \}\n {2}use_backend web:shop:front:any if \{ var\(txn.host\) -m reg \^\[\^.\]\+\\.example\\.org\$ \}/],
    },
    {
      name: 'proxyProtocol sends PROXY v2 to that service\'s servers only',
      input: () => input({ routes: [route('p.example.com', { service: 'p', proxyProtocol: true }), route('q.example.com', { service: 'q', endpoints: [{ host: '10.0.0.4', port: 1 }] })] }),
      has: ['server e-10.0.0.2-32768 10.0.0.2:32768 send-proxy-v2', 'server e-10.0.0.4-1 10.0.0.4:1\n'],
    },
    {
      name: 'certificates: an HTTPS bind with the crt-list and h2, and a redirect for the redirecting hosts a certificate covers',
      input: () =>
        input({
          certs: [{ host: 'example.com', file: certFile }],
          routes: [route('example.com', { httpsRedirect: true }), route('other.example.net', { httpsRedirect: true, service: 'o' }), route('plain.example.com', { service: 'p' })],
        }),
      has: [/bind 127\.0\.0\.1:8443 ssl crt-list \S+crt-list alpn h2,http\/1\.1/, '  http-request redirect scheme https code 308 if !{ ssl_fc } { var(txn.host) -m str example.com }\n'],
      hasNot: ['other.example.net }\n  http-request redirect', /redirect.*plain/],
    },
    {
      name: 'no HTTPS bind on port 0, even with certificates; no redirect then',
      input: () => input({ httpsPort: 0, certs: [{ host: 'example.com', file: certFile }], routes: [route('example.com', { httpsRedirect: true })] }),
      has: ['bind 127.0.0.1:8080'],
      hasNot: ['ssl crt-list', 'redirect'],
    },
    {
      name: 'HTTP off, HTTPS on',
      input: () => input({ httpPort: 0, certs: [{ host: 'example.com', file: certFile }] }),
      has: [':8443 ssl'],
      hasNot: [':8080'],
    },
    {
      name: 'no routes: every host is unknown',
      input: () => input({ routes: [] }),
      has: ['default_backend unknown-host'],
      hasNot: ['use_backend', 'backend web:'],
    },
  ];

  for (const c of cases) {
    it(c.name, async () => {
      const i = c.input();
      const cfg = haproxyConfig(i);
      for (const h of c.has) typeof h === 'string' ? assert.ok(cfg.includes(h), `missing ${JSON.stringify(h)} in:\n${cfg}`) : assert.match(cfg, h);
      for (const h of c.hasNot ?? []) typeof h === 'string' ? assert.ok(!cfg.includes(h), `unexpected ${JSON.stringify(h)} in:\n${cfg}`) : assert.doesNotMatch(cfg, h);
      assert.equal(haproxyConfig(i), cfg, 'the same input gives the same text');
      await check(cfg, i.certs);
    });
  }

  it('does not depend on the order of routes or endpoints', () => {
    const a = input({ routes: [route('a.example.com', { endpoints: [{ host: '10.0.0.1', port: 2 }, { host: '10.0.0.1', port: 10 }] }), route('b.example.com')] });
    const b = { ...a, routes: [...a.routes].reverse().map((r) => ({ ...r, endpoints: [...r.endpoints].reverse() })) };
    assert.equal(haproxyConfig(a), haproxyConfig(b));
  });

  it('refuses names and addresses that could not be written safely', () => {
    assert.throws(() => haproxyConfig(input({ routes: [route('a.example.com }\n  use_backend x')] })), /not a host name/);
    assert.throws(() => haproxyConfig(input({ address: '0.0.0.0:80 ssl' })), /not an IP address/);
    assert.throws(() => haproxyConfig(input({ routes: [route('a.example.com', { endpoints: [{ host: 'evil host', port: 1 }] })] })), /not an IP address/);
  });

  it('listens only with an HTTP port or a certificate to serve', () => {
    assert.equal(listens({ httpPort: 0, httpsPort: 443, certs: [] }), false);
    assert.equal(listens({ httpPort: 0, httpsPort: 0, certs: [{ host: 'a.b', file: '/x' }] }), false);
    assert.equal(listens({ httpPort: 0, httpsPort: 443, certs: [{ host: 'a.b', file: '/x' }] }), true);
    assert.equal(listens({ httpPort: 80, httpsPort: 0, certs: [] }), true);
  });

  it('a wildcard certificate covers one label', () => {
    assert.ok(nameCovers('*.example.com', 'a.example.com'));
    assert.ok(nameCovers('*.example.com', '*.example.com'));
    assert.ok(!nameCovers('*.example.com', 'a.b.example.com'));
    assert.ok(!nameCovers('*.example.com', 'example.com'));
    assert.ok(!nameCovers('a.example.com', '*.example.com'));
  });

  it('lists each certificate with its host as the SNI filter', () => {
    assert.equal(crtList([{ host: 'b.example.com', file: '/r/b.pem' }, { host: '*.a.example.com', file: '/r/a.pem' }]), '/r/a.pem *.a.example.com\n/r/b.pem b.example.com\n');
  });
});
