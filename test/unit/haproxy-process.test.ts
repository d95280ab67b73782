import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect, createServer as createTcpServer } from 'node:net';
import { join } from 'node:path';
import { haproxyConfig, type RoutedService } from '../../controllers/router/haproxy-config.js';
import { HaproxyPaths, HaproxyProcess } from '../../controllers/router/haproxy-process.js';
import { SystemClock } from '../../src/clock.js';
import { createLogger } from '../../src/logging.js';
import { eventually, freePort, getWithHost, LocalBackends } from './local-http.js';

const backends = new LocalBackends();
const get = (port: number, host: string) => getWithHost(port, host);

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
  // `more`: other routes (a change of routes, not only of endpoints, takes a reload).
  const files = (endpoints: RoutedService['endpoints'], more: RoutedService[] = []) => ({
    config: haproxyConfig({ routes: [route(endpoints), ...more], certs: [], crtListFile: paths.crtList, statsSocket: paths.statsSocket, address: '127.0.0.1', httpPort: port, httpsPort: 0 }),
    certs: [{ host: '*.example.com', pem: 'not used by this config' }],
  });
  const other = (endpoints: RoutedService['endpoints']): RoutedService => ({ ...route(endpoints), host: 'other.dokkaa.local', service: 'other' });
  /** The servers the running worker has, as `name state` (2: ready, 0: maintenance... see `show servers state`). */
  const servers = async () => {
    const text = await new Promise<string>((resolve, reject) => {
      let out = '';
      const s = connect(paths.statsSocket, () => s.end('show servers state web:app:m:web\n'));
      s.setEncoding('utf8').on('data', (d: string) => (out += d)).on('end', () => resolve(out)).on('error', reject);
    });
    return text.split('\n').filter((l) => /^\d+ web:app:m:web /.test(l)).map((l) => l.split(' ')[3]!).sort();
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'haproxy-process-'));
    paths = new HaproxyPaths(join(dir, 'n1'));
    port = await freePort();
    proc = new HaproxyProcess({ paths, clock: new SystemClock(), log: createLogger('error', true) });
  });
  after(async () => {
    await proc.stop();
    backends.closeAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts and routes by Host, with X-Forwarded-* set; an unknown host gets 404', async () => {
    const a = await backends.start('A');
    await proc.apply(files([{ host: '127.0.0.1', port: a }]));
    const r = await get(port, 'APP.dokkaa.local:8080');
    assert.equal(r.status, 200);
    assert.equal(r.body, 'A xff=127.0.0.1 proto=http host=APP.dokkaa.local:8080');
    const unknown = await get(port, 'other.dokkaa.local');
    assert.equal(unknown.status, 404);
    assert.match(unknown.body, /no route/);
    assert.equal(statSync(paths.cert('*.example.com')).mode & 0o777, 0o600, 'certificates are readable by their owner only');
  });

  it('changes endpoints through the runtime API (no reload), and answers 503 without one', async () => {
    const pid = proc.pid;
    const b = await backends.start('B');
    assert.equal(await proc.apply(files([{ host: '127.0.0.1', port: b }])), 'servers');
    assert.equal(proc.pid, pid);
    assert.match((await get(port, 'app.dokkaa.local')).body, /^B /);
    assert.equal(await proc.apply(files([])), 'servers');
    const none = await get(port, 'app.dokkaa.local');
    assert.equal(none.status, 503);
    assert.match(none.body, /no ready endpoint for service web of app\/m/);
    assert.match(readFileSync(paths.config, 'utf8'), /^backend web:app:m:web\n.*\n\n/m, 'the file says what runs: no server');
  });

  it('reloads hitlessly (same master) when routes change', async () => {
    const pid = proc.pid;
    const b = await backends.start('B2');
    assert.equal(await proc.apply(files([{ host: '127.0.0.1', port: b }], [other([{ host: '127.0.0.1', port: b }])])), 'reloaded');
    assert.equal(proc.pid, pid, 'a reload keeps the master');
    assert.match((await get(port, 'other.dokkaa.local')).body, /^B2 /);
  });

  it('lets a request in flight finish across a reload (the old worker serves it)', async () => {
    const slow = await backends.start('SLOW', 1_500);
    await proc.apply(files([{ host: '127.0.0.1', port: slow }]));
    const inFlight = get(port, 'app.dokkaa.local');
    await new Promise((r) => setTimeout(r, 300));
    // Another route too: not a change of servers alone.
    assert.equal(await proc.apply(files([{ host: '127.0.0.1', port: await backends.start('D') }], [other([])])), 'reloaded');
    assert.match((await get(port, 'app.dokkaa.local')).body, /^D /, 'new requests see the new config');
    const r = await inFlight;
    assert.equal(r.status, 200);
    assert.match(r.body, /^SLOW /);
  });

  it('lets a request in flight to a removed endpoint finish, then deletes its server', async () => {
    const slow = await backends.start('SLOW2', 1_500);
    await proc.apply(files([{ host: '127.0.0.1', port: slow }]));
    const inFlight = get(port, 'app.dokkaa.local');
    await new Promise((r) => setTimeout(r, 300));
    const e = await backends.start('E');
    assert.equal(await proc.apply(files([{ host: '127.0.0.1', port: e }])), 'servers');
    assert.match((await get(port, 'app.dokkaa.local')).body, /^E /, 'new requests go to the new endpoint only');
    assert.ok((await servers()).includes(`e-127.0.0.1-${slow}`), 'the old one kept (in maintenance) while its request runs');
    const r = await inFlight;
    assert.equal(r.status, 200);
    assert.match(r.body, /^SLOW2 /);
    await eventually('the old server deleted', async () => ((await servers()).length === 1 ? true : undefined), 10_000);
    assert.deepEqual(await servers(), [`e-127.0.0.1-${e}`]);
  });

  it('sends PROXY protocol v2 to a service that asks for it', async () => {
    // A backend that reads the connection's first bytes and answers whether they are a PROXY v2 header.
    const signature = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');
    const seen: Buffer[] = [];
    const raw = createTcpServer((c) => {
      let got = Buffer.alloc(0);
      let answered = false;
      c.on('error', () => undefined);
      c.on('data', (d: Buffer) => {
        got = Buffer.concat([got, d]);
        // Answer once the whole request is in (the PROXY signature has a blank line of its own).
        const request = got.indexOf('GET ');
        if (answered || request < 0 || got.indexOf('\r\n\r\n', request) < 0) return;
        answered = true;
        seen.push(got);
        c.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok');
      });
    });
    await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
    try {
      const rawPort = (raw.address() as { port: number }).port;
      const f = files([]);
      const config = haproxyConfig({
        routes: [{ ...route([{ host: '127.0.0.1', port: rawPort }]), proxyProtocol: true }],
        certs: [],
        crtListFile: paths.crtList,
        statsSocket: paths.statsSocket,
        address: '127.0.0.1',
        httpPort: port,
        httpsPort: 0,
      });
      await proc.apply({ ...f, config });
      assert.equal((await get(port, 'app.dokkaa.local')).status, 200);
      assert.ok(seen[0]!.subarray(0, 12).equals(signature), `PROXY v2 signature first, got ${seen[0]!.subarray(0, 16).toString('hex')}`);
    } finally {
      raw.close();
    }
  });

  it('retries a refused connection on another endpoint', async () => {
    const c = await backends.start('C');
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

  it('stops: nothing listens any more, the master is gone, and so are the files (keys included)', async () => {
    const pid = proc.pid!;
    await proc.stop();
    assert.ok(processGone(pid));
    assert.ok(!existsSync(paths.dir));
    await assert.rejects(get(port, 'app.dokkaa.local'));
  });
});

describe('HaproxyProcess without a haproxy to run', () => {
  it('fails the apply at once, saying why', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'haproxy-missing-'));
    const proc = new HaproxyProcess({ paths: new HaproxyPaths(join(dir, 'n1')), clock: new SystemClock(), log: createLogger('error', true), binary: join(dir, 'no-such-haproxy') });
    try {
      await assert.rejects(proc.apply({ config: 'global\n', certs: [] }), /haproxy -c could not run: .*ENOENT/);
    } finally {
      await proc.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
