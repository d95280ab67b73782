import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer as createTcpServer } from 'node:net';
import { join } from 'node:path';
import { request, Agent } from 'node:http';
import { backendSlots, haproxyConfig, type RoutedService, type Slots, type Upstream } from '../../controllers/router/haproxy-config.js';
import { cliCommand, HaproxyRuntime, slotChanges } from '../../controllers/router/haproxy-runtime.js';
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

/** SIGKILLs the master `pid`; resolves with the first 200's page once haproxy serves again. */
async function killedAndServedAgain(pid: number, port: number): Promise<string> {
  process.kill(pid, 'SIGKILL');
  await eventually('the old master gone', async () => (processGone(pid) ? true : undefined));
  return eventually('served again', async () => {
    const r = await get(port, 'app.dokkaa.local');
    return r.status === 200 ? r.body : undefined;
  });
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

  it('reloads hitlessly with another endpoint (same master), and answers 503 without one', async () => {
    const pid = proc.pid;
    const b = await backends.start('B');
    await proc.apply(files([{ host: '127.0.0.1', port: b }]));
    assert.equal(proc.pid, pid, 'a reload keeps the master');
    assert.match((await get(port, 'app.dokkaa.local')).body, /^B /);
    await proc.apply(files([]));
    const none = await get(port, 'app.dokkaa.local');
    assert.equal(none.status, 503);
    assert.match(none.body, /no ready endpoint for service web of app\/m/);
  });

  it('lets a request in flight finish across a reload (the old worker serves it)', async () => {
    const slow = await backends.start('SLOW', 1_500);
    await proc.apply(files([{ host: '127.0.0.1', port: slow }]));
    const inFlight = get(port, 'app.dokkaa.local');
    await new Promise((r) => setTimeout(r, 300));
    await proc.apply(files([{ host: '127.0.0.1', port: await backends.start('D') }]));
    assert.match((await get(port, 'app.dokkaa.local')).body, /^D /, 'new requests see the new config');
    const r = await inFlight;
    assert.equal(r.status, 200);
    assert.match(r.body, /^SLOW /);
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
    const body = await killedAndServedAgain(pid, port);
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

/** The pids of the master's current workers (`show proc` on the master CLI). */
async function workerPids(paths: HaproxyPaths): Promise<number[]> {
  const text = await cliCommand(paths.masterSocket, 'show proc');
  const current = text.split('# workers')[1]?.split('#')[0] ?? '';
  return [...current.matchAll(/^(\d+)\s+worker\s/gm)].map((m) => Number(m[1]));
}

describe('HaproxyProcess: endpoints through the runtime API, without a reload', () => {
  let dir = '';
  let port = 0;
  let paths: HaproxyPaths;
  let proc: HaproxyProcess;
  let slots: ReadonlyMap<string, Slots> = new Map();
  const BACKEND = 'web:app:m:web';
  const route = (endpoints: readonly Upstream[]): RoutedService => ({ host: 'app.dokkaa.local', app: 'app', name: 'm', service: 'web', httpsRedirect: false, proxyProtocol: false, endpoints });
  const render = (endpoints: readonly Upstream[]) => {
    const next = backendSlots([route(endpoints)], slots);
    const config = haproxyConfig({ routes: [route(endpoints)], slots: next, certs: [], crtListFile: paths.crtList, statsSocket: paths.statsSocket, address: '127.0.0.1', httpPort: port, httpsPort: 0 });
    return { config, next };
  };
  /** Applies `endpoints` as the router does when only they changed: the runtime API. */
  const setEndpoints = async (endpoints: readonly Upstream[]) => {
    const { config, next } = render(endpoints);
    const changes = slotChanges(slots, next);
    assert.ok(changes.length > 0 && next.get(BACKEND)!.length === slots.get(BACKEND)!.length, 'the same slots: no reload needed');
    slots = next;
    await proc.setSlots(config, changes);
  };
  const at = (p: number) => ({ host: '127.0.0.1', port: p });
  const bodyOf = async () => (await get(port, 'app.dokkaa.local')).body.split(' ')[0];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'haproxy-runtime-'));
    paths = new HaproxyPaths(join(dir, 'n1'));
    port = await freePort();
    proc = new HaproxyProcess({ paths, clock: new SystemClock(), log: createLogger('error', true) });
    const { config, next } = render([at(await backends.start('R0'))]);
    slots = next;
    await proc.apply({ config, certs: [] });
  });
  after(async () => {
    await proc.stop();
    backends.closeAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it('adds, changes and removes an endpoint in the same worker, reaching traffic within 200 ms', async () => {
    const workers = await workerPids(paths);
    assert.equal(workers.length, 1);
    const r0 = slots.get(BACKEND)![0]!;
    const r1 = at(await backends.start('R1'));
    const r2 = at(await backends.start('R2'));
    const steps: [string, Upstream[], string[]][] = [
      ['added', [r0, r1], ['R0', 'R1']],
      ['changed', [r0, r2], ['R0', 'R2']],
      ['removed', [r2], ['R2']],
    ];
    for (const [what, endpoints, want] of steps) {
      const started = Date.now();
      await setEndpoints(endpoints);
      const seen = new Set<string>();
      while (want.some((w) => !seen.has(w)) && Date.now() - started < 200) seen.add((await bodyOf())!);
      const ms = Date.now() - started;
      assert.deepEqual([...seen].sort(), want, `${what}: traffic reaches exactly ${want.join(',')}`);
      assert.ok(ms < 200, `${what}: ${ms} ms`);
      for (let i = 0; i < 4; i++) assert.ok(want.includes((await bodyOf())!), `${what}: only ${want.join(',')}`);
      assert.deepEqual(await workerPids(paths), workers, `${what}: no reload (the same worker)`);
    }
    const running = await new HaproxyRuntime(paths.statsSocket).servers(BACKEND);
    assert.deepEqual(running.filter((s) => s.up).map((s) => `${s.host}:${s.port}`), [`127.0.0.1:${r2.port}`]);
    assert.equal(running.length, 8);
  });

  it('lets a slow request to a removed endpoint finish', async () => {
    const slow = at(await backends.start('SLOW', 1_000));
    const keep = slots.get(BACKEND)!.filter((u) => u !== undefined);
    await setEndpoints([slow]);
    const inFlight = get(port, 'app.dokkaa.local');
    await new Promise((r) => setTimeout(r, 200));
    await setEndpoints(keep);
    assert.equal(await bodyOf(), 'R2', 'new requests go to the endpoints left');
    const r = await inFlight;
    assert.equal(r.status, 200);
    assert.match(r.body, /^SLOW /);
  });

  it('gives a keep-alive client no error while the endpoints are replaced one by one', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 2 });
    const old = [at(await backends.start('OLD1')), at(await backends.start('OLD2'))];
    await setEndpoints(old);
    let running = true;
    let sent = 0;
    let reused = 0;
    const failed: string[] = [];
    const seen = new Set<string>();
    const one = () =>
      new Promise<void>((resolve) => {
        const req = request({ host: '127.0.0.1', port, path: '/', headers: { host: 'app.dokkaa.local' }, agent }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (body += d));
          res.on('end', () => {
            if (res.statusCode !== 200) failed.push(`${res.statusCode} ${body}`);
            seen.add(body.split(' ')[0]!);
            resolve();
          });
        });
        if (req.reusedSocket) reused++;
        req.on('error', (err) => (failed.push(err.message), resolve()));
        req.end();
      });
    const loops = [0, 1].map(async () => {
      while (running) (await one(), sent++);
    });
    try {
      // A rolling update: one new endpoint in, then one old out, and again.
      const current = [...old];
      for (const name of ['NEW1', 'NEW2']) {
        await new Promise((r) => setTimeout(r, 150));
        current.push(at(await backends.start(name)));
        await setEndpoints(current);
        await new Promise((r) => setTimeout(r, 150));
        current.shift();
        await setEndpoints(current);
      }
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      running = false;
      await Promise.all(loops);
      agent.destroy();
    }
    assert.deepEqual(failed, []);
    assert.ok(sent > 50, `a steady load (${sent} requests)`);
    assert.ok(reused > sent / 2, `the connections were kept alive (${reused} of ${sent} reused)`);
    for (const name of ['OLD1', 'OLD2', 'NEW1', 'NEW2']) assert.ok(seen.has(name), `${name} served some`);
    assert.equal(await bodyOf().then((b) => b!.startsWith('NEW')), true);
  });

  it('a killed haproxy comes back with the current endpoints, not those of its last reload', async () => {
    const latest = at(await backends.start('LATEST'));
    await setEndpoints([latest]);
    const pid = proc.pid!;
    const body = await killedAndServedAgain(pid, port);
    assert.match(body, /^LATEST /);
    for (let i = 0; i < 4; i++) assert.equal(await bodyOf(), 'LATEST');
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
