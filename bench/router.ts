import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Keys } from '../api/keys.js';
import { decodeRecord, EndpointRecord, StatusRecord } from '../api/records.js';
import { log, type BenchLab } from './lab-bench.js';
import { mdTable, targetTable, type PartResult, type Target } from './report.js';

const run = promisify(execFile);

/** One load run's figures, from wrk or h2load. */
export interface LoadFigures {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  failed: number;
}

export interface RouterResult {
  host: string;
  backends: number;
  /** HTTP/1.1 keep-alive, small responses (wrk): median of the runs, per path. */
  http: Record<string, LoadFigures>;
  /** HTTPS, HTTP/2 (h2load): median of the runs, per path. */
  https: Record<string, LoadFigures>;
  /** New TLS connections per second (openssl s_time), per path. */
  handshakes: Record<string, number>;
  rolling: { requests: number; failed: number; replicas: number };
  /** ms from a new endpoint's key in etcd to the first response from it through the router. */
  endpointChangeMs: number[];
}

const APP = 'rbench';
const SERVICE = 'web';

/**
 * nginx (scripts/lib/build-nginx-image.sh) answering its container's hostname (which
 * replica answered), with keep-alive: a backend fast enough not to be what is measured
 * (busybox httpd forks per request: ~400 requests/s here, whatever the proxy).
 */
const BACKEND_IMAGE = 'dokkaa/nginx:bench';
const manifest = (scale: number, revision = '1') => ({
  image: BACKEND_IMAGE,
  services: { [SERVICE]: { port: 80, role: 'web' } },
  env: { REVISION: revision },
  scale,
  update: { parallelism: 1, order: 'start-first' },
});

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)]! : NaN;
}

function ms(value: string, unit: string): number {
  return Number(value) * ({ us: 0.001, ms: 1, s: 1000 } as Record<string, number>)[unit]!;
}

/** wrk's text output -> figures. Failed: non-2xx/3xx responses plus socket errors. */
export function parseWrk(out: string): LoadFigures {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const lat = (p: string) => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm').exec(out);
    return m ? ms(m[1]!, m[2]!) : NaN;
  };
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const socketErrors = sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  return { rps, p50Ms: lat('50'), p99Ms: lat('99'), failed: non2xx + socketErrors };
}

/** h2load's text output -> figures. */
export function parseH2load(out: string): LoadFigures {
  const rps = Number(/finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(out)?.[1]);
  const failed = Number(/requests: \d+ total, \d+ started, \d+ done, \d+ succeeded, (\d+) failed/.exec(out)?.[1] ?? NaN);
  const m = /time for request:\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)/.exec(out);
  // h2load gives min, max, mean (no percentiles): mean stands for p50, max for p99 (a bound).
  return { rps, p50Ms: m ? ms(m[5]!, m[6]!) : NaN, p99Ms: m ? ms(m[3]!, m[4]!) : NaN, failed };
}

async function wrk(url: string, host: string, seconds: number): Promise<LoadFigures> {
  const { stdout } = await run('wrk', ['-t2', '-c32', `-d${seconds}s`, '--latency', '-H', `Host: ${host}`, url], { timeout: (seconds + 30) * 1000 });
  return parseWrk(stdout);
}

async function h2load(url: string, host: string, requests: number): Promise<LoadFigures> {
  const { stdout } = await run('h2load', ['-n', String(requests), '-c', '16', '-m', '8', '-H', `:authority: ${host}`, url], { timeout: 120_000 });
  return parseH2load(stdout);
}

/** New TLS connections per second over `seconds` (each a full handshake). */
async function handshakes(addr: string, seconds: number): Promise<number> {
  const { stdout } = await run('openssl', ['s_time', '-connect', addr, '-new', '-time', String(seconds)], { timeout: (seconds + 30) * 1000 });
  return Number(/([\d.]+) connections\/user sec/.exec(stdout)?.[1] ?? NaN);
}

/** A GET with a Host header, resolving to the body (never rejects: errors are bodies starting with "!"). */
function getPage(addr: string, port: number, host: string): Promise<string> {
  return new Promise((resolve) => {
    const req = get({ host: addr, port, path: '/', headers: { host }, agent: false, timeout: 2000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(res.statusCode === 200 ? body.trim() : `!${res.statusCode}`));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve(`!${e.message}`));
  });
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 120_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined && v !== null && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A CA and a server certificate for `host`, made with openssl in `dir`. */
async function makeCert(dir: string, host: string): Promise<{ cert: string; key: string; certFile: string; keyFile: string }> {
  const f = (n: string) => join(dir, n);
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=bench CA', '-keyout', f('ca.key'), '-out', f('ca.pem')]);
  await run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${host}`, '-keyout', f('server.key'), '-out', f('server.csr')]);
  writeFileSync(f('ext.cnf'), `subjectAltName=DNS:${host}\nextendedKeyUsage=serverAuth\n`);
  await run('openssl', ['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', f('ext.cnf'), '-out', f('server.pem')]);
  return { cert: readFileSync(f('server.pem'), 'utf8'), key: readFileSync(f('server.key'), 'utf8'), certFile: f('server.pem'), keyFile: f('server.key') };
}

/** nginx as Dokku and CapRover run it: a static reverse proxy to the same backends, keepalive upstream. */
function nginxConfig(dir: string, listen: string, backends: string[], certFile: string, keyFile: string): string {
  return `worker_processes auto;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log;
daemon off;
events { worker_connections 4096; }
http {
  access_log off;
  # Like haproxy's: no cap on requests per client connection (nginx's default 1000 ends an
  # HTTP/2 connection with GOAWAY mid-run, which h2load counts as failures).
  keepalive_requests 1000000;
  upstream backend {
${backends.map((b) => `    server ${b};`).join('\n')}
    keepalive 64;
  }
  server {
    listen ${listen}:8080;
    listen ${listen}:8443 ssl http2;
    ssl_certificate ${certFile};
    ssl_certificate_key ${keyFile};
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_next_upstream error timeout;
    }
  }
}
`;
}

/**
 * The web router (each agent's HAProxy) against a straight connection to one backend and a
 * static nginx reverse proxy configured by hand for the same backends, side by side in one
 * run, from the machine's namespace (outside every host) to host n1's address. Then a
 * rolling update of 4 replicas under steady load through the router, and how long a new
 * endpoint takes to receive traffic.
 */
export async function benchRouter(lab: BenchLab, opts: { runs: number; seconds: number }): Promise<RouterResult> {
  const n1 = lab.state.nodes[0]!;
  const keys = new Keys(lab.state.prefix);
  // The service's endpoints, from every host's node-endpoints/<node>/.
  const serviceEndpoints = async () =>
    Object.fromEntries(Object.entries(await lab.etcd.getAll().prefix(keys.endpoints).strings()).filter(([k]) => {
      const at = keys.parseEndpoint(k);
      return at?.app === APP && at.service === SERVICE;
    }));
  const host = `${APP}.dokkaa.local`;
  const dir = mkdtempSync(join(tmpdir(), 'dokkaa-router-bench-'));
  const put = (scale: number, revision?: string) => lab.etcd.put(keys.manifest(APP, SERVICE)).value(JSON.stringify(manifest(scale, revision)));
  let nginx: ChildProcess | undefined;
  try {
    for (const n of lab.state.nodes) await run('bash', [join(lab.state.repoRoot, 'scripts', 'lib', 'build-nginx-image.sh'), `unix://${n.dockerSocket}`], { timeout: 120_000 });
    const cert = await makeCert(dir, host);
    await lab.etcd.put(keys.cert(host)).value(JSON.stringify({ cert: cert.cert, key: cert.key }));
    await put(3);
    const endpoints = await until('3 endpoints', async () => {
      const all = Object.values(await serviceEndpoints()).map((v) => decodeRecord(EndpointRecord, v)).filter((e): e is EndpointRecord => !!e);
      return all.length === 3 ? all : undefined;
    });
    const backends = endpoints.map((e) => `${e.host}:${e.port}`);
    await until('the router serves the route', async () => !(await getPage(n1.address, 80, host)).startsWith('!'));
    await until('the router serves HTTPS', async () => (await run('curl', ['-sk', '--resolve', `${host}:443:${n1.address}`, `https://${host}/`])).stdout.trim() !== '' || undefined);

    writeFileSync(join(dir, 'nginx.conf'), nginxConfig(dir, n1.address, backends, cert.certFile, cert.keyFile));
    nginx = spawn('nsenter', [`--net=/run/netns/${n1.netns}`, 'nginx', '-c', join(dir, 'nginx.conf')], { stdio: 'ignore' });
    await until('nginx answers', async () => !(await getPage(n1.address, 8080, host)).startsWith('!'), 20_000);

    const paths = {
      direct: () => wrk(`http://${backends[0]}/`, host, opts.seconds),
      router: () => wrk(`http://${n1.address}/`, host, opts.seconds),
      nginx: () => wrk(`http://${n1.address}:8080/`, host, opts.seconds),
    };
    const tlsPaths = {
      router: () => h2load(`https://${n1.address}:443/`, host, 20_000),
      nginx: () => h2load(`https://${n1.address}:8443/`, host, 20_000),
    };
    const samples: Record<string, LoadFigures[]> = {};
    const tlsSamples: Record<string, LoadFigures[]> = {};
    const hs: Record<string, number[]> = {};
    for (let i = 0; i < opts.runs; i++) {
      // Alternate the order, so that neither path always runs first on a warming machine.
      for (const [name, go] of i % 2 ? Object.entries(paths).reverse() : Object.entries(paths)) (samples[name] ??= []).push(await go());
      for (const [name, go] of i % 2 ? Object.entries(tlsPaths).reverse() : Object.entries(tlsPaths)) (tlsSamples[name] ??= []).push(await go());
      for (const [name, port] of i % 2 ? ([['nginx', 8443], ['router', 443]] as const) : ([['router', 443], ['nginx', 8443]] as const)) (hs[name] ??= []).push(await handshakes(`${n1.address}:${port}`, 3));
      log(`router run ${i + 1}/${opts.runs}: ${Object.entries(samples).map(([k, v]) => `${k} ${Math.round(v.at(-1)!.rps)}/s`).join(', ')}`);
    }
    const med = (xs: LoadFigures[]): LoadFigures => ({ rps: median(xs.map((x) => x.rps)), p50Ms: median(xs.map((x) => x.p50Ms)), p99Ms: median(xs.map((x) => x.p99Ms)), failed: xs.reduce((a, x) => a + x.failed, 0) });

    // A rolling update of 4 replicas under steady load through the router.
    await put(4);
    await until('4 replicas running', async () => decodeRecord(StatusRecord, await lab.etcd.get(keys.status(APP, SERVICE)).string())?.replicas.filter((r) => r.ready).length === 4 || undefined);
    const load = wrk(`http://${n1.address}/`, host, 25);
    await new Promise((r) => setTimeout(r, 3000));
    await put(4, '2');
    const rolled = await load;
    const status = decodeRecord(StatusRecord, await lab.etcd.get(keys.status(APP, SERVICE)).string());

    // A new endpoint: from its key in etcd to its first response through the router.
    const changeMs: number[] = [];
    for (const scale of [5, 6]) {
      const before = new Set(Object.keys(await serviceEndpoints()));
      await put(scale, '2');
      const { at, page } = await until('a new endpoint', async () => {
        const now = await serviceEndpoints();
        const fresh = Object.entries(now).find(([k]) => !before.has(k));
        const e = fresh && decodeRecord(EndpointRecord, fresh[1]);
        return e ? { at: Date.now(), page: e.containerId.slice(0, 12) } : undefined;
      }, 120_000, 10);
      // Round robin over every endpoint: as many requests as there are endpoints reach each once.
      await until('the new replica answers through the router', async () => {
        for (let i = 0; i < scale; i++) if ((await getPage(n1.address, 80, host)) === page) return true;
        return undefined;
      }, 10_000, 10);
      changeMs.push(Date.now() - at);
    }
    return {
      host,
      backends: backends.length,
      http: Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, med(v)])),
      https: Object.fromEntries(Object.entries(tlsSamples).map(([k, v]) => [k, med(v)])),
      handshakes: Object.fromEntries(Object.entries(hs).map(([k, v]) => [k, median(v)])),
      rolling: { requests: Math.round(rolled.rps * 25), failed: rolled.failed, replicas: status?.replicas.length ?? 0 },
      endpointChangeMs: changeMs,
    };
  } finally {
    nginx?.kill('SIGTERM');
    await lab.etcd.delete().key(keys.manifest(APP, SERVICE)).catch(() => undefined);
    await lab.etcd.delete().key(keys.cert(host)).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

export function routerTargets(r: RouterResult): Target[] {
  const { router, nginx } = r.http;
  const ratio = router!.rps / nginx!.rps;
  const p99 = router!.p99Ms / nginx!.p99Ms;
  const worstChange = Math.max(...r.endpointChangeMs);
  return [
    { what: 'router requests/s', target: '>= 90% of static nginx', measured: `${(ratio * 100).toFixed(0)}% (${Math.round(router!.rps)} vs ${Math.round(nginx!.rps)}/s)`, met: ratio >= 0.9 },
    { what: 'router p99 latency', target: '<= 1.2x static nginx', measured: `${p99.toFixed(2)}x (${router!.p99Ms.toFixed(2)} vs ${nginx!.p99Ms.toFixed(2)} ms)`, met: p99 <= 1.2 },
    { what: 'rolling update of 4 replicas at steady load', target: '0 failed requests', measured: `${r.rolling.failed} failed of ~${r.rolling.requests}`, met: r.rolling.failed === 0 },
    { what: 'endpoint change reaching traffic', target: '< 1 s', measured: `${r.endpointChangeMs.map((m) => `${m} ms`).join(', ')}`, met: worstChange < 1000 },
  ];
}

export function routerReport(r: RouterResult): PartResult {
  const row = (name: string, f: LoadFigures | undefined, base: LoadFigures | undefined) =>
    f ? [name, Math.round(f.rps), base ? `${((f.rps / base.rps) * 100).toFixed(0)}%` : '-', f.p50Ms.toFixed(2), f.p99Ms.toFixed(2), f.failed] : [name, '-', '-', '-', '-', '-'];
  const section = [
    `## Web router: HAProxy per agent vs straight to a backend vs static nginx`,
    '',
    `${r.backends} replicas of nginx answering their hostname (\`${BACKEND_IMAGE}\`, keep-alive), route \`${r.host}\`, requests from the machine's namespace to host n1's address. HTTP/1.1 keep-alive with \`wrk -t2 -c32\` (median of the runs); HTTPS and HTTP/2 with \`h2load -c16 -m8\` (latency columns there: mean and max, h2load gives no percentiles); new TLS connections with \`openssl s_time -new\`. "direct" is one backend's published port (one replica only).`,
    '',
    mdTable(['HTTP/1.1', 'requests/s', 'of nginx', 'p50 ms', 'p99 ms', 'failed'], [row('router', r.http.router, r.http.nginx), row('nginx (static)', r.http.nginx, r.http.nginx), row('direct (1 backend)', r.http.direct, r.http.nginx)]),
    '',
    mdTable(['HTTPS, HTTP/2', 'requests/s', 'of nginx', 'mean ms', 'max ms', 'failed'], [row('router', r.https.router, r.https.nginx), row('nginx (static)', r.https.nginx, r.https.nginx)]),
    '',
    mdTable(['TLS handshakes', 'per second'], Object.entries(r.handshakes).map(([k, v]) => [k, v.toFixed(0)])),
    '',
    targetTable(routerTargets(r)),
    '',
  ].join('\n');
  return { section, json: r, targets: routerTargets(r) };
}
