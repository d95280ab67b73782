import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { eventually as waitFor } from '../unit/local-http.js';
import { makeCa, serverCert, type Pem } from '../unit/router-certs.js';
import { killNode } from '../../lab/index.js';
import { seconds, useLab } from './support/lab-world.js';
import { steadyLoad } from './support/http-load.js';

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
      // /cgi-bin/upload: counts the bytes of the request body it was handed.
      `printf '%s\\n' '#!/bin/sh' 'echo Content-Type: text/plain' 'echo' 'busybox wc -c' > /www/cgi-bin/upload`,
      'chmod +x /www/cgi-bin/upload',
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

/** A server that answers an Upgrade with 101 and then echoes the raw bytes (busybox nc + sh). */
const upgradeEcho = () => ({
  image: 'dokkaa/busybox',
  command: [
    'sh',
    '-c',
    [
      // The request's lines up to the blank one ("\r" alone), then 101, then the tunnel.
      `printf '%s\n' '#!/bin/sh' 'while read -r line; do [ \${#line} -le 1 ] && break; done' 'printf "HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: echo\\r\\nConnection: Upgrade\\r\\n\\r\\n"' 'exec cat' > /up.sh`,
      'chmod +x /up.sh',
      'exec nc -ll -p 80 -e /up.sh',
    ].join('; '),
  ],
  services: { ws: { port: 80, role: 'web' } },
});

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

  it('streams a long upload through to the backend, whole', async () => {
    const w = lab();
    const file = join(dir, 'upload.bin');
    await run('head', ['-c', String(32 * 1024 * 1024), '/dev/urandom'], { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 }).then(({ stdout }) => writeFileSync(file, stdout));
    const r = await curl(['--max-time', '60', '-H', `Host: ${HOST}`, '-H', 'Content-Type: application/octet-stream', '--data-binary', `@${file}`, `http://${w.node('n1').address}/cgi-bin/upload`]);
    assert.equal(r.status, 200, r.body);
    assert.equal(r.body.trim(), String(32 * 1024 * 1024), 'the backend got every byte');
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
    // The lab's agents keep their routers' files under their hosts' dirs (--router-dir).
    const pidFile = join(w.node('n2').dir, 'router', 'n2', 'haproxy.pid');
    const pid = Number(readFileSync(pidFile, 'utf8'));
    process.kill(pid, 'SIGKILL');
    const killedAt = Date.now();
    await waitFor('n2 routes again', async () => {
      const a = await http(address, HOST).catch(() => undefined);
      return a?.status === 200 ? a : undefined;
    }, 10_000);
    const ms = Date.now() - killedAt;
    console.log(`router back ${seconds(ms)} s after its haproxy was killed`);
    assert.ok(ms < 5_000, `served again after ${ms} ms`);
    assert.notEqual(Number(readFileSync(pidFile, 'utf8')), pid, 'a new haproxy');
  });

  it('reports a certificate whose key does not match, and keeps serving the others', async () => {
    const w = lab();
    const host = `web.${HOST}`;
    const other = await serverCert(dir, ca, host);
    const good = JSON.parse((await w.etcd.get(w.keys.cert(HOST)).string())!) as Pem;
    await w.etcd.put(w.keys.cert(host)).value(JSON.stringify({ cert: other.cert, key: good.key }));
    const event = await waitFor('a BadCertificate event', async () => {
      const all = (await w.eventValues(APP, 'front')).map((v) => JSON.parse(v) as { type: string; reason: string; message: string });
      return all.find((e) => e.reason === 'BadCertificate');
    }, 20_000);
    assert.equal(event.type, 'Warning');
    assert.match(event.message, /key does not match/);
    // One host's report makes the event; each host logs what it leaves out when its router applies the change.
    for (const n of w.nodeNames) {
      await waitFor(`${n} logs the certificate it leaves out`, async () => (/"message":"certificate not served"/.test(readFileSync(w.node(n).agentLog, 'utf8')) ? true : undefined), 10_000);
    }
    for (const address of addresses()) {
      const r = await curl(['--http2', '--resolve', `${HOST}:443:${address}`, '--cacert', ca.certFile, `https://${HOST}/`]);
      assert.equal(r.status, 200, `${address} still serves ${HOST}`);
    }
  });

  it('carries an upgraded connection (as WebSockets use) both ways, and keeps it open', async () => {
    const w = lab();
    await w.putManifest('echo', 'ws', upgradeEcho());
    await waitFor('an endpoint for echo/ws', async () => ((await w.endpoints('echo', 'ws')).length === 1 ? true : undefined), 60_000);
    const address = w.node('n2').address;
    const echoed = await waitFor('the upgrade through n2', async () => {
      const socket = connect(80, address);
      try {
        const got: string[] = [];
        socket.on('data', (d: Buffer) => got.push(d.toString()));
        await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
        socket.write('GET / HTTP/1.1\r\nHost: echo.dokkaa.local\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n');
        const until = async (text: string) => {
          for (let i = 0; i < 50 && !got.join('').includes(text); i++) await new Promise((r) => setTimeout(r, 100));
          return got.join('').includes(text);
        };
        if (!(await until('\r\n\r\n')) || !got.join('').startsWith('HTTP/1.1 101')) return undefined;
        socket.write('ping-1\n');
        const first = await until('ping-1\n');
        // Still open a while later: no request timeout cuts a tunnel.
        await new Promise((r) => setTimeout(r, 2_000));
        socket.write('ping-2\n');
        const second = await until('ping-2\n');
        return first && second ? got.join('') : undefined;
      } finally {
        socket.destroy();
      }
    }, 30_000);
    assert.match(echoed, /^HTTP\/1\.1 101 /);
    assert.match(echoed, /ping-1\nping-2\n$/);
  });

  it('loses no request through the router while 4 replicas roll to a new version', async () => {
    const w = lab();
    const roll = (version: string) => w.putManifest(APP, 'front', whoami({ scale: 4, env: { VERSION: version }, update: { parallelism: 1, order: 'start-first' } }));
    await roll('1');
    await waitFor('4 replicas ready', async () => ((await w.status(APP, 'front'))?.replicas.filter((r) => r.ready).length === 4 ? true : undefined), 90_000);
    const before = new Set((await w.endpoints(APP, 'web')).map((e) => e.containerId));
    const load = steadyLoad(w.node('n1').address, HOST);
    await new Promise((r) => setTimeout(r, 1_000));
    await roll('2');
    await waitFor('the update done: 4 new replicas ready and serving', async () => {
      const st = await w.status(APP, 'front');
      const eps = await w.endpoints(APP, 'web');
      return st?.phase === 'Running' && eps.length === 4 && eps.every((e) => !before.has(e.containerId)) ? true : undefined;
    }, 120_000);
    await new Promise((r) => setTimeout(r, 1_000));
    const { sent, failed } = await load.stop();
    console.log(`rolling update through the router: ${sent} requests, ${failed.length} failed`);
    assert.ok(sent > 100, `a steady load (${sent} requests)`);
    assert.deepEqual(failed, []);
  });

  it('routes to the replacement within the lease TTL + 5 s when the backend\'s host dies', async () => {
    const w = lab();
    await w.putManifest(APP, 'front', whoami({ scale: 1 }));
    // Scaled down from 4: wait until one replica is left, not for a moment of the way there.
    const [ep] = await waitFor('one replica left, and its endpoint', async () => {
      const st = await w.status(APP, 'front');
      const e = await w.endpoints(APP, 'web');
      return st?.phase === 'Running' && st.replicas.length === 1 && e.length === 1 && e[0]!.containerId === st.replicas[0]!.containerId ? e : undefined;
    }, 60_000);
    const victim = ep!.node;
    const via = w.nodeNames.find((n) => n !== victim)!;
    await waitFor(`${via} serves the replica on ${victim}`, async () => ((await http(w.node(via).address, HOST)).body.trim() === ep!.containerId.slice(0, 12) ? true : undefined), 20_000);
    const killedAt = Date.now();
    await killNode(victim, { name: w.name, say: w.say });
    await waitFor('a replica elsewhere answers through the router', async () => {
      // A short client timeout: a request sent to the dead endpoint before the router learnt
      // of its death hangs (its address is black-holed), and must not delay the next probe.
      const a = await curl(['--max-time', '1', '-H', `Host: ${HOST}`, `http://${w.node(via).address}/`]).catch(() => undefined);
      return a?.status === 200 && a.body.trim() !== ep!.containerId.slice(0, 12) ? true : undefined;
    }, 60_000);
    const ms = Date.now() - killedAt;
    console.log(`router: served again ${seconds(ms)} s after ${victim} died (TTL ${w.state.ttlSeconds} s)`);
    assert.ok(ms <= (w.state.ttlSeconds + 5) * 1000, `served again after ${ms} ms`);
  });
});
