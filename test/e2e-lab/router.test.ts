import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ROUTER_RUN_DIR } from '../../controllers/router/router.js';
import { eventually as waitFor } from '../unit/local-http.js';
import { makeCa, serverCert, type Pem } from '../unit/router-certs.js';
import { seconds, useLab } from './support/lab-world.js';

const run = promisify(execFile);
const LAB = 'router';
const APP = 'shop';
const HOST = `${APP}.dokkaa.local`;

/** A web service whose page is its container's hostname, and whose /cgi-bin/env echoes the X-Forwarded-* it got. */
const whoami = (extra: Record<string, unknown> = {}) => ({
  image: 'dokkaa/busybox',
  command: [
    'sh',
    '-c',
    [
      'hostname > /www/index.html',
      'mkdir -p /www/cgi-bin',
      `printf '%s\\n' '#!/bin/sh' 'echo Content-Type: text/plain' 'echo' 'echo "xff=$HTTP_X_FORWARDED_FOR proto=$HTTP_X_FORWARDED_PROTO host=$HTTP_X_FORWARDED_HOST"' > /www/cgi-bin/env`,
      'chmod +x /www/cgi-bin/env',
      'exec httpd -f -p 80 -h /www',
    ].join('; '),
  ],
  services: { web: { port: 80, role: 'web' } },
  ...extra,
});

interface Answer {
  status: number;
  body: string;
  httpVersion: string;
}

/** curl from the machine's namespace (a client outside every host), one request. */
async function curl(args: string[]): Promise<Answer> {
  const { stdout } = await run('curl', ['-sS', '--max-time', '5', '-w', '\n%{http_code} %{http_version}', ...args]);
  const nl = stdout.lastIndexOf('\n');
  const [status, httpVersion] = stdout.slice(nl + 1).split(' ');
  return { status: Number(status), body: stdout.slice(0, nl), httpVersion: httpVersion! };
}

const http = (address: string, host: string, path = '/') => curl(['-H', `Host: ${host}`, `http://${address}${path}`]);

/**
 * The web router across 3 hosts (issue 13): each host's haproxy, on its own address in its
 * netns (ports 80 and 443, the defaults), routes host names to the service's ready
 * endpoints wherever they run.
 */
describe('the web router on each host', () => {
  const lab = useLab({ name: LAB, nodes: 3, ttlSeconds: 4 });
  const dir = mkdtempSync(join(tmpdir(), 'router-lab-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  let ca: Pem & { certFile: string; keyFile: string };
  const addresses = () => lab().nodeNames.map((n) => lab().node(n).address);

  it('routes <app>.dokkaa.local to the service from every host', async () => {
    const w = lab();
    await w.putManifest(APP, 'front', whoami({ constraints: { 'node.name': 'n1' } }));
    const [ep] = await waitFor('one endpoint', async () => {
      const e = await w.endpoints(APP, 'web');
      return e.length === 1 ? e : undefined;
    }, 60_000);
    for (const address of addresses()) {
      const r = await waitFor(`${address} routes ${HOST}`, async () => {
        const a = await http(address, HOST).catch(() => undefined);
        return a?.status === 200 ? a : undefined;
      }, 20_000);
      assert.equal(r.body.trim(), ep!.containerId.slice(0, 12), `${address} answered with the replica's page`);
    }
  });

  it('spreads requests over all 3 replicas once scaled to 3', async () => {
    const w = lab();
    await w.putManifest(APP, 'front', whoami({ scale: 3 }));
    const eps = await waitFor('3 endpoints', async () => {
      const e = await w.endpoints(APP, 'web');
      return e.length === 3 ? e : undefined;
    }, 60_000);
    const want = eps.map((e) => e.containerId.slice(0, 12)).sort();
    const seen = await waitFor('pages from all 3 replicas through n2', async () => {
      const pages = new Set<string>();
      for (let i = 0; i < 9; i++) pages.add((await http(w.node('n2').address, HOST)).body.trim());
      return want.every((id) => pages.has(id)) ? [...pages].sort() : undefined;
    }, 20_000);
    assert.deepEqual(seen, want);
  });

  it('passes the client\'s address in X-Forwarded-For, with the scheme and the host asked for', async () => {
    const w = lab();
    const r = await http(w.node('n3').address, `${HOST}:80`, '/cgi-bin/env');
    assert.equal(r.status, 200, r.body);
    // The client is this namespace: the hosts see it at the lab bridge's address.
    assert.equal(r.body.trim(), `xff=${w.state.bridgeAddress} proto=http host=${HOST}:80`);
  });

  it('answers 404 for an unknown host and 503 for a route without a ready endpoint', async () => {
    const w = lab();
    const unknown = await http(w.node('n1').address, 'nobody.dokkaa.local');
    assert.equal(unknown.status, 404);
    await w.putManifest('empty', 'site', whoami({ scale: 0 }));
    const none = await waitFor('503 for empty.dokkaa.local', async () => {
      const a = await http(w.node('n1').address, 'empty.dokkaa.local');
      return a.status === 503 ? a : undefined;
    }, 20_000);
    assert.match(none.body, /no ready endpoint for service web of empty\/site/);
  });

  it('serves HTTPS with a certificate from etcd, by SNI, over HTTP/2', async () => {
    const w = lab();
    ca = await makeCa(dir);
    const cert = await serverCert(dir, ca, HOST);
    await w.etcd.put(w.keys.cert(HOST)).value(JSON.stringify(cert));
    for (const address of addresses()) {
      const r = await waitFor(`HTTPS on ${address}`, async () => {
        const a = await curl(['--http2', '--resolve', `${HOST}:443:${address}`, '--cacert', ca.certFile, `https://${HOST}/cgi-bin/env`]).catch(() => undefined);
        return a?.status === 200 ? a : undefined;
      }, 20_000);
      assert.equal(r.httpVersion, '2', 'HTTP/2 negotiated');
      assert.match(r.body, /proto=https /);
    }
  });

  it('brings a host\'s router back within seconds when its haproxy is killed', async () => {
    const w = lab();
    const address = w.node('n2').address;
    const pid = Number(readFileSync(join(ROUTER_RUN_DIR, 'n2', 'haproxy.pid'), 'utf8'));
    process.kill(pid, 'SIGKILL');
    const killedAt = Date.now();
    await waitFor('n2 routes again', async () => {
      const a = await http(address, HOST).catch(() => undefined);
      return a?.status === 200 ? a : undefined;
    }, 10_000);
    const ms = Date.now() - killedAt;
    console.log(`router back ${seconds(ms)} s after its haproxy was killed`);
    assert.ok(ms < 5_000, `served again after ${ms} ms`);
    assert.notEqual(Number(readFileSync(join(ROUTER_RUN_DIR, 'n2', 'haproxy.pid'), 'utf8')), pid, 'a new haproxy');
  });

  it('reports a certificate whose key does not match, and keeps serving the others', async () => {
    const w = lab();
    const host = `web.${HOST}`;
    const other = await serverCert(dir, ca, host);
    const good = JSON.parse((await w.etcd.get(w.keys.cert(HOST)).string())!) as Pem;
    await w.etcd.put(w.keys.cert(host)).value(JSON.stringify({ cert: other.cert, key: good.key }));
    const event = await waitFor('a BadCertificate event', async () => {
      const all = Object.values(await w.etcd.getAll().prefix(w.keys.manifestEvents(APP, 'front')).strings()).map((v) => JSON.parse(v) as { type: string; reason: string; message: string });
      return all.find((e) => e.reason === 'BadCertificate');
    }, 20_000);
    assert.equal(event.type, 'Warning');
    assert.match(event.message, /key does not match/);
    for (const n of w.nodeNames) assert.match(readFileSync(w.node(n).agentLog, 'utf8'), /"message":"certificate not served"/, `${n} logged it`);
    for (const address of addresses()) {
      const r = await curl(['--http2', '--resolve', `${HOST}:443:${address}`, '--cacert', ca.certFile, `https://${HOST}/`]);
      assert.equal(r.status, 200, `${address} still serves ${HOST}`);
    }
  });
});
