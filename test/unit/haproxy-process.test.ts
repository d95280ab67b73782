import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { haproxyConfig, type RoutedService } from '../../controllers/router/haproxy-config.js';
import { HaproxyPaths, HaproxyProcess } from '../../controllers/router/haproxy-process.js';
import { SystemClock } from '../../src/clock.js';
import { createLogger } from '../../src/logging.js';

const servers: Server[] = [];

/** A local backend whose page is its name and the X-Forwarded-* headers it got. */
async function backend(name: string): Promise<number> {
  const s = createServer((req, res) => res.end(`${name} xff=${req.headers['x-forwarded-for']} proto=${req.headers['x-forwarded-proto']} host=${req.headers['x-forwarded-host']}`));
  servers.push(s);
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return (s.address() as { port: number }).port;
}

async function freePort(): Promise<number> {
  const s = createTcpServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** GET / with this Host header (fetch would put the URL's own), on a fresh connection. */
function get(port: number, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', headers: { host }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what} (${String(last)})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function processGone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return /\) [ZX] /.test(stat);
  } catch {
    return true;
  }
}

describe('HaproxyProcess (the real haproxy on 127.0.0.1)', () => {
  let dir = '';
  let port = 0;
  let paths: HaproxyPaths;
  let proc: HaproxyProcess;
  const route = (endpoints: RoutedService['endpoints']): RoutedService => ({ host: 'app.dokkaa.local', app: 'app', name: 'm', service: 'web', httpsRedirect: false, proxyProtocol: false, endpoints });
  const files = (endpoints: RoutedService['endpoints']) => ({
    config: haproxyConfig({ routes: [route(endpoints)], certs: [], crtListFile: paths.crtList, statsSocket: paths.statsSocket, address: '127.0.0.1', httpPort: port, httpsPort: 0 }),
    certs: [{ host: '*.example.com', pem: 'not used by this config' }],
  });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'haproxy-process-'));
    paths = new HaproxyPaths(join(dir, 'n1'));
    port = await freePort();
    proc = new HaproxyProcess({ paths, clock: new SystemClock(), log: createLogger('error', true) });
  });
  after(async () => {
    await proc.stop();
    servers.forEach((s) => s.close());
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts and routes by Host, with X-Forwarded-* set; an unknown host gets 404', async () => {
    const a = await backend('A');
    await proc.apply(files([{ host: '127.0.0.1', port: a }]));
    const r = await get(port, 'APP.dokkaa.local:8080');
    assert.equal(r.status, 200);
    assert.equal(r.body, 'A xff=127.0.0.1 proto=http host=APP.dokkaa.local:8080');
    const unknown = await get(port, 'other.dokkaa.local');
    assert.equal(unknown.status, 404);
    assert.match(unknown.body, /no route/);
    assert.equal(statSync(paths.cert('*.example.com')).mode & 0o777, 0o600, 'certificates are readable by their owner only');
  });

  it('reloads hitlessly with another endpoint (same master), and answers 503 without one', async () => {
    const pid = proc.pid;
    const b = await backend('B');
    await proc.apply(files([{ host: '127.0.0.1', port: b }]));
    assert.equal(proc.pid, pid, 'a reload keeps the master');
    assert.match((await get(port, 'app.dokkaa.local')).body, /^B /);
    await proc.apply(files([]));
    const none = await get(port, 'app.dokkaa.local');
    assert.equal(none.status, 503);
    assert.match(none.body, /no ready endpoint for service web of app\/m/);
  });

  it('retries a refused connection on another endpoint', async () => {
    const c = await backend('C');
    const dead = await freePort();
    await proc.apply(files([{ host: '127.0.0.1', port: dead }, { host: '127.0.0.1', port: c }]));
    for (let i = 0; i < 6; i++) assert.match((await get(port, 'app.dokkaa.local')).body, /^C /);
  });

  it('keeps the running config when haproxy refuses a new one', async () => {
    await assert.rejects(proc.apply({ config: 'global\n  no-such-keyword\n', certs: [] }), /refused the config/);
    assert.match((await get(port, 'app.dokkaa.local')).body, /^C /);
  });

  it('restarts a killed master from the last applied state, not the file on disk', async () => {
    const pid = proc.pid!;
    // What the refused apply left on disk is not what runs: the restart rewrites it.
    assert.match(readFileSync(paths.config, 'utf8'), /no-such-keyword/);
    process.kill(pid, 'SIGKILL');
    await eventually('the old master gone', async () => (processGone(pid) ? true : undefined));
    const body = await eventually('served again', async () => {
      const r = await get(port, 'app.dokkaa.local');
      return r.status === 200 ? r.body : undefined;
    });
    assert.match(body, /^C /);
    assert.notEqual(proc.pid, pid);
    assert.doesNotMatch(readFileSync(paths.config, 'utf8'), /no-such-keyword/);
  });

  it('stops: nothing listens any more, and the master is gone', async () => {
    const pid = proc.pid!;
    await proc.stop();
    assert.ok(processGone(pid));
    await assert.rejects(get(port, 'app.dokkaa.local'));
  });
});
