import { fork, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, mkdirSync, openSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3, type IKeyValue, type Watcher } from 'etcd3';
import { Keys } from '../api/keys.js';
import { etcdReachable } from '../src/etcd/local-etcd.js';
import { hotSpots, profilesIn, type HotSpot } from './cpu-profile.js';
import { log } from './lab-bench.js';
import { inChunks, procStats } from './procs.js';
import { mdTable, secs, type PartResult, type Target } from './report.js';
import { freePort } from '../src/net/free-port.js';
import { DAEMON_NODE_FLAGS } from '../src/daemon-node-flags.js';

/**
 * The whole control plane at scale: a real etcd of its own, the real scheduler, link
 * injector and status controller (each in a process of its own, bench/controller-worker.ts),
 * and H hollow hosts (bench/hollow-host.ts: the real agent on an in-memory engine) in a few
 * worker processes (bench/hollow-worker.ts). M manifests of S replicas are written, every
 * one with a service, every `linkEvery`-th linked to the previous one; then, in order:
 *
 * 1. convergence: from the first manifest put until every status is Running with all S
 *    replicas running and updated (read from a watch on `status/`, in the bench process);
 * 2. steady state: etcd writes over a window after convergence, by key kind;
 * 3. failover: the worker holding `killHosts` hosts is SIGKILLed (no lease revoked) until
 *    every manifest that had a replica there is Running again with none left there;
 * 4. a rolling update of `rollManifests` manifests (an env change), until each status
 *    describes the new revision and is Running on it.
 *
 * Each process's CPU and memory come from /proc; etcd's writes from its revision and its
 * /metrics counters; its database size from its status call.
 */

export interface ScaleOptions {
  hosts: number;
  manifests: number;
  /** If set, manifests per host instead of `manifests` (the same load per host at every size, for growth). */
  manifestsPerHost?: number;
  replicas: number;
  /** Every n-th manifest links to the service of the one before it (0: none). */
  linkEvery: number;
  /** Worker processes for the hosts that are not killed (one more holds those). */
  workers: number;
  ttlSeconds: number;
  killHosts: number;
  rollManifests: number;
  /** The manifests' `update.parallelism` (1, the default, switches one replica per monitor period of 3 s). */
  rollParallelism?: number;
  steadyMs: number;
  convergeTimeoutMs: number;
  /** From etcd's start until every host has registered. */
  setupTimeoutMs: number;
  /** Hollow hosts of one process share their cluster-wide informers (see hollow-host.ts). */
  sharedWatches: boolean;
  quotaBytes: number;
  /** Run every process with --cpu-prof and report the hot spots. */
  profile: boolean;
}

export interface ProcFigures {
  cpuSeconds: number;
  rssMB: number;
  peakRssMB: number;
  heapMB?: number;
}

export interface ScaleRow {
  hosts: number;
  manifests: number;
  replicas: number;
  workers: number;
  sharedWatches: boolean;
  setupMs: number;
  /** The machine's 1-minute load average when the manifests were written and at the end (it is shared). */
  load: { atStart: number; atEnd: number };
  converge: { ms: number; done: boolean; good: number; enginesRunning: number };
  etcd: { revisions: number; puts: number; deletes: number; txns: number; ranges: number; sentMB: number; dbSizeMB: number; peakRssMB: number; cpuSeconds: number };
  controllers: Record<string, ProcFigures>;
  agents: { rssMB: number; peakRssMB: number; cpuSeconds: number; perHostMB: number; baselineMB: number; heapMB: number };
  steady?: { windowMs: number; revisions: number; byKind: Record<string, number> };
  failover?: { killed: number; replicasOnKilled: number; ms: number; done: boolean; targetMs: number };
  rolling?: { manifests: number; ms: number; done: boolean; good: number };
  hotSpots?: Record<string, HotSpot[]>;
}

export interface ScaleResult {
  options: Omit<ScaleOptions, 'hosts'>;
  rows: ScaleRow[];
  /** Sizes asked for that did not finish, with why. */
  failed: { hosts: number; error: string }[];
}

/** Every cluster-wide controller the leader runs (CONTROLLER_MODULES but the election and the one-off layout migration). */
const CONTROLLERS = ['scheduler', 'link-injector', 'status', 'endpoint-index', 'dns-records', 'route-publisher', 'secrets'] as const;
const IMAGE = 'dokkaa/busybox';

function appName(m: number): string {
  return `s${String(m).padStart(5, '0')}`;
}

function manifestText(o: ScaleOptions, m: number, version: number): string {
  const linked = o.linkEvery > 0 && m > 0 && m % o.linkEvery === 0;
  return JSON.stringify({
    image: IMAGE,
    command: ['sleep', '3600'],
    scale: o.replicas,
    env: { VERSION: String(version) },
    services: { web: 80 },
    ...(o.rollParallelism && o.rollParallelism > 1 ? { update: { parallelism: o.rollParallelism } } : {}),
    ...(linked ? { links: [`${appName(m - 1)}/web`] } : {}),
  });
}


const sleepMs = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls an in-process condition (no etcd load) every 100 ms until true or the deadline. */
async function until(cond: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) return false;
    await sleepMs(100);
  }
  return true;
}

/**
 * etcd's own counters, from its Prometheus endpoint: writes, range reads (gets and
 * listings alike) and the bytes its gRPC server sent to clients (what listings cost).
 */
async function etcdCounters(url: string): Promise<{ puts: number; deletes: number; txns: number; ranges: number; sentBytes: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  return {
    puts: value('etcd_mvcc_put_total'),
    deletes: value('etcd_mvcc_delete_total'),
    txns: value('etcd_mvcc_txn_total'),
    ranges: value('etcd_mvcc_range_total'),
    sentBytes: value('etcd_network_client_grpc_sent_bytes_total'),
  };
}

interface StatusRow {
  good: boolean;
  nodes: string[];
  observed: number;
}

/**
 * Every manifest's status as the watch last delivered it, reduced to whether it is done:
 * Running, all replicas running and updated, describing at least `minRevision` (a rolling
 * update), and none on a host in `excluded` (killed).
 */
class StatusBoard {
  private readonly rows = new Map<string, StatusRow>();
  readonly minRevision = new Map<string, number>();
  excluded = new Set<string>();

  constructor(private readonly keys: Keys, private readonly replicas: number) {}

  put(kv: IKeyValue): void {
    const at = this.keys.parseStatus(kv.key.toString());
    if (!at) return;
    const s = JSON.parse(kv.value.toString()) as { phase: string; desired: number; running: number; updated?: number; observedRevision: number; replicas: { node: string }[] };
    const good = s.phase === 'Running' && s.desired === this.replicas && s.running === s.desired && (s.updated ?? s.running) === s.desired;
    this.rows.set(`${at.app}/${at.name}`, { good, nodes: [...new Set(s.replicas.map((r) => r.node))], observed: s.observedRevision });
  }

  done(id: string): boolean {
    const r = this.rows.get(id);
    return !!r && r.good && r.observed >= (this.minRevision.get(id) ?? 0) && !r.nodes.some((n) => this.excluded.has(n));
  }

  count(ids: Iterable<string>): number {
    let n = 0;
    for (const id of ids) if (this.done(id)) n++;
    return n;
  }

  /** Manifests with a replica on one of `nodes`, and how many such replicas at most (status rows list nodes, not counts). */
  on(nodes: Set<string>): string[] {
    return [...this.rows.entries()].filter(([, r]) => r.nodes.some((n) => nodes.has(n))).map(([id]) => id);
  }
}

interface Proc {
  name: string;
  child: ChildProcess;
  exited: Promise<unknown>;
}

function forkWorker(name: string, script: string, env: Record<string, string>, dir: string, profile: boolean): Proc {
  const logFd = openSync(join(dir, `${name}.log`), 'w');
  const child = fork(new URL(script, import.meta.url), [], {
    env: { ...process.env, ...env },
    stdio: ['ignore', logFd, logFd, 'ipc'],
    // The daemons' own flags: the hollow hosts and controllers run the product's code, as it runs.
    execArgv: [...DAEMON_NODE_FLAGS, ...(profile ? ['--cpu-prof', `--cpu-prof-dir=${join(dir, 'profiles', name)}`] : []), '--max-old-space-size=4096'],
  });
  closeSync(logFd);
  return { name, child, exited: once(child, 'exit') };
}

function message<T>(p: Proc, kind: string, timeoutMs = 600_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`${p.name}: no ${kind} reply in ${timeoutMs} ms`)), timeoutMs);
    const onMsg = (m: { kind: string; message?: string }) => {
      if (m.kind === kind) done(undefined, m as T);
      else if (m.kind === 'error') done(new Error(`${p.name}: ${m.message}`));
    };
    const onExit = (code: number | null) => done(new Error(`${p.name} exited (${code}) before ${kind}`));
    const done = (err?: Error, value?: T) => {
      clearTimeout(timer);
      p.child.off('message', onMsg);
      p.child.off('exit', onExit);
      if (err) reject(err);
      else resolve(value!);
    };
    p.child.on('message', onMsg);
    p.child.on('exit', onExit);
  });
}

/** Teardown: the process exits at once (etcd goes too, so nothing needs a graceful stop); a CPU profile is written as it exits. */
async function stopProc(p: Proc): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.send({ kind: 'exit' });
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 120_000);
  await p.exited;
  clearTimeout(timer);
}

const procFigures = (p: Proc): ProcFigures => procStats(p.child.pid!);

interface WorkerStats {
  hosts: number;
  running: number;
  memory: NodeJS.MemoryUsage;
}

async function startEtcd(dir: string, quotaBytes: number): Promise<{ url: string; child: ChildProcess }> {
  const [client, peer] = [await freePort(), await freePort()];
  const url = `http://127.0.0.1:${client}`;
  const peerUrl = `http://127.0.0.1:${peer}`;
  const logFd = openSync(join(dir, 'etcd.log'), 'w');
  const child = spawn(
    'etcd',
    ['--name', 'scale', '--data-dir', join(dir, 'etcd'), '--listen-client-urls', url, '--advertise-client-urls', url, '--listen-peer-urls', peerUrl,
      '--initial-advertise-peer-urls', peerUrl, '--initial-cluster', `scale=${peerUrl}`, '--quota-backend-bytes', String(quotaBytes)],
    { stdio: ['ignore', logFd, logFd] },
  );
  closeSync(logFd);
  for (let i = 0; i < 100 && !(await etcdReachable({ hosts: [url] }, 500)); i++) {
    if (child.exitCode !== null) throw new Error(`etcd exited (${child.exitCode}); see ${join(dir, 'etcd.log')}`);
    await sleepMs(100);
  }
  return { url, child };
}

/** One size: everything from a fresh etcd to teardown. */
async function benchScaleOnce(o: ScaleOptions, dir: string): Promise<ScaleRow> {
  const t00 = Date.now();
  const etcdProc = await startEtcd(dir, o.quotaBytes);
  const prefix = '/dokkaa';
  const keys = new Keys(prefix);
  const etcd = new Etcd3({ hosts: etcdProc.url, dialTimeout: 3_000, grpcOptions: { 'grpc.max_receive_message_length': -1 } });
  const common = { BENCH_ETCD: etcdProc.url, BENCH_PREFIX: prefix, BENCH_TTL: String(o.ttlSeconds), BENCH_LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn' };
  const procs: Proc[] = [];
  const watchers: Watcher[] = [];
  try {
    log(`scale ${o.hosts} hosts: etcd at ${etcdProc.url} (data and logs in ${dir}); starting controllers`);
    const controllers = CONTROLLERS.map((c) => forkWorker(c, './controller-worker.js', { ...common, BENCH_CONTROLLER: c }, dir, o.profile));
    procs.push(...controllers);
    await Promise.all(controllers.map((c) => message(c, 'started', 300_000)));

    // Hosts: the killed ones in a worker of their own, the rest spread over `workers`.
    const nodes = Array.from({ length: o.hosts }, (_, i) => ({ name: `h${String(i).padStart(5, '0')}`, address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` }));
    const victims = nodes.slice(0, o.killHosts);
    const rest = nodes.slice(o.killHosts);
    const groups = [victims, ...Array.from({ length: o.workers }, (_, w) => rest.filter((_, i) => i % o.workers === w))].filter((g) => g.length > 0);
    const workerEnv = { ...common, BENCH_DIR: join(dir, 'hosts'), BENCH_SHARED_WATCHES: o.sharedWatches ? '1' : '0' };
    const workers = groups.map((_, w) => forkWorker(`hosts-${w}`, './hollow-worker.js', workerEnv, dir, o.profile));
    procs.push(...workers);
    await Promise.all(workers.map((w) => message(w, 'ready', 300_000)));
    const baseline = workers.map((w) => procFigures(w).rssMB);
    log(`scale ${o.hosts} hosts: starting hosts in ${workers.length} worker processes (${o.sharedWatches ? 'cluster-wide watches shared per process' : 'every host its own watches'})`);
    const started = Promise.all(workers.map((w, i) => {
      w.child.send({ kind: 'start', nodes: groups[i] });
      return message(w, 'started', o.setupTimeoutMs);
    }));
    started.catch(() => undefined); // read below, once every host has registered
    const registered = async () => etcd.getAll().prefix(keys.nodes).count();
    const setupDeadline = Date.now() + o.setupTimeoutMs;
    for (let seen = await registered(); seen < o.hosts; seen = await registered()) {
      if (Date.now() > setupDeadline) throw new Error(`only ${seen} of ${o.hosts} hollow hosts registered after ${secs(Date.now() - t00, 0)} (load ${loadavg()[0]!.toFixed(0)})`);
      await sleepMs(500);
    }
    await started;
    const setupMs = Date.now() - t00;
    log(`scale ${o.hosts} hosts: all registered after ${secs(setupMs, 1)}; writing ${o.manifests} manifests x ${o.replicas}`);

    const board = new StatusBoard(keys, o.replicas);
    const rev0 = Number((await etcd.get('/').exec()).header.revision);
    const statusWatch = await etcd.watch().prefix(keys.statuses).startRevision(String(rev0 + 1)).create();
    watchers.push(statusWatch);
    statusWatch.on('put', (kv) => board.put(kv));
    const all = Array.from({ length: o.manifests }, (_, m) => m);
    const ids = all.map((m) => `${appName(m)}/web`);
    const counters0 = await etcdCounters(etcdProc.url);
    const cpu0 = new Map(procs.map((p) => [p.name, procFigures(p).cpuSeconds]));
    const etcdCpu0 = procStats(etcdProc.child.pid!).cpuSeconds;

    const loadAtStart = loadavg()[0]!;
    const t0 = Date.now();
    await inChunks(all, 50, (m) => etcd.put(keys.manifest(appName(m), 'web')).value(manifestText(o, m, 1)).exec());
    let lastLog = Date.now();
    const converged = await until(() => {
      const good = board.count(ids);
      if (Date.now() - lastLog > 10_000) {
        lastLog = Date.now();
        log(`scale ${o.hosts} hosts: ${good}/${o.manifests} manifests Running after ${secs(Date.now() - t0, 0)}`);
      }
      return good === o.manifests;
    }, o.convergeTimeoutMs);
    const convergeMs = Date.now() - t0;
    const stats = await Promise.all(workers.map((w) => {
      w.child.send({ kind: 'stats' });
      return message<WorkerStats>(w, 'stats');
    }));
    const enginesRunning = stats.reduce((a, s) => a + s.running, 0);
    const good = board.count(ids);
    log(`scale ${o.hosts} hosts: ${converged ? 'converged' : 'NOT converged'} in ${secs(convergeMs, 1)}: ${good}/${o.manifests} manifests Running, ${enginesRunning} containers running on the engines`);
    const rev1 = Number((await etcd.get('/').exec()).header.revision);
    const counters1 = await etcdCounters(etcdProc.url);
    const controllerFigures: Record<string, ProcFigures> = {};
    for (const c of controllers) {
      const f = procFigures(c);
      c.child.send({ kind: 'memory' });
      const mem = await message<{ usage: NodeJS.MemoryUsage }>(c, 'memory');
      controllerFigures[c.name] = { ...f, cpuSeconds: f.cpuSeconds - cpu0.get(c.name)!, heapMB: mem.usage.heapUsed / 2 ** 20 };
    }
    const agentFigures = workers.map(procFigures);
    const agentsRss = agentFigures.reduce((a, f) => a + f.rssMB, 0);
    const row: ScaleRow = {
      hosts: o.hosts,
      manifests: o.manifests,
      replicas: o.replicas,
      workers: workers.length,
      sharedWatches: o.sharedWatches,
      setupMs,
      load: { atStart: loadAtStart, atEnd: 0 },
      converge: { ms: convergeMs, done: converged, good, enginesRunning },
      etcd: {
        revisions: rev1 - rev0,
        puts: counters1.puts - counters0.puts,
        deletes: counters1.deletes - counters0.deletes,
        txns: counters1.txns - counters0.txns,
        ranges: counters1.ranges - counters0.ranges,
        sentMB: (counters1.sentBytes - counters0.sentBytes) / 2 ** 20,
        dbSizeMB: 0,
        peakRssMB: 0,
        cpuSeconds: procStats(etcdProc.child.pid!).cpuSeconds - etcdCpu0,
      },
      controllers: controllerFigures,
      agents: {
        rssMB: agentsRss,
        peakRssMB: agentFigures.reduce((a, f) => a + f.peakRssMB, 0),
        cpuSeconds: workers.reduce((a, w, i) => a + agentFigures[i]!.cpuSeconds - cpu0.get(w.name)!, 0),
        perHostMB: (agentsRss - baseline.reduce((a, b) => a + b, 0)) / o.hosts,
        baselineMB: baseline.reduce((a, b) => a + b, 0) / workers.length,
        heapMB: stats.reduce((a, s) => a + s.memory.heapUsed, 0) / 2 ** 20,
      },
    };

    if (converged) {
      // Steady state: what is written once nothing changes (leases' keepalives write nothing).
      await sleepMs(5_000);
      const byKind: Record<string, number> = {};
      const revS = Number((await etcd.get('/').exec()).header.revision);
      const all$ = await etcd.watch().prefix(keys.all).startRevision(String(revS + 1)).create();
      const tally = (kv: IKeyValue) => {
        const kind = kv.key.toString().slice(keys.all.length).split('/')[0] ?? '?';
        byKind[kind] = (byKind[kind] ?? 0) + 1;
      };
      all$.on('put', tally);
      all$.on('delete', tally);
      await sleepMs(o.steadyMs);
      const revE = Number((await etcd.get('/').exec()).header.revision);
      await all$.cancel();
      row.steady = { windowMs: o.steadyMs, revisions: revE - revS, byKind };
      log(`scale ${o.hosts} hosts: steady state ${revE - revS} writes in ${secs(o.steadyMs, 0)} ${JSON.stringify(byKind)}`);

      if (o.killHosts > 0) {
        const killed = new Set(victims.map((v) => v.name));
        const affected = board.on(killed);
        const replicasOnKilled = (await etcd.getAll().prefix(keys.placements).keys()).filter((k) => killed.has(keys.parsePlacement(k)?.node ?? '')).length;
        const tk = Date.now();
        workers[0]!.child.kill('SIGKILL');
        board.excluded = killed;
        const done = await until(() => board.count(affected) === affected.length, o.ttlSeconds * 1000 + 60_000);
        const ms = Date.now() - tk;
        row.failover = { killed: killed.size, replicasOnKilled, ms, done, targetMs: o.ttlSeconds * 1000 + 5_000 };
        log(`scale ${o.hosts} hosts: ${killed.size} hosts killed (${replicasOnKilled} replicas, ${affected.length} manifests): ${done ? 'all running elsewhere' : 'NOT all running elsewhere'} after ${secs(ms, 1)}`);
      }

      if (o.rollManifests > 0) {
        const rolled = ids.slice(-o.rollManifests);
        const tr = Date.now();
        await inChunks(all.slice(-o.rollManifests), 50, async (m) => {
          const r = await etcd.put(keys.manifest(appName(m), 'web')).value(manifestText(o, m, 2)).exec();
          board.minRevision.set(`${appName(m)}/web`, Number(r.header.revision));
        });
        const done = await until(() => board.count(rolled) === rolled.length, o.convergeTimeoutMs);
        const ms = Date.now() - tr;
        row.rolling = { manifests: rolled.length, ms, done, good: board.count(rolled) };
        log(`scale ${o.hosts} hosts: rolling update of ${rolled.length} manifests ${done ? 'done' : 'NOT done'} in ${secs(ms, 1)}`);
      }
    }
    row.etcd.dbSizeMB = Number((await etcd.maintenance.status()).dbSize) / 2 ** 20;
    row.etcd.peakRssMB = procStats(etcdProc.child.pid!).peakRssMB;
    row.load.atEnd = loadavg()[0]!;
    return row;
  } finally {
    for (const w of watchers) await w.cancel().catch(() => undefined);
    await Promise.all(procs.map(stopProc));
    etcd.close();
    etcdProc.child.kill('SIGTERM');
    await once(etcdProc.child, 'exit');
  }
}

/** Reads the hot spots of every profile a size wrote (after its processes exited). */
function withHotSpots(row: ScaleRow, dir: string): ScaleRow {
  const spots: Record<string, HotSpot[]> = {};
  for (const name of [...CONTROLLERS, 'hosts-1']) {
    const file = profilesIn(join(dir, 'profiles', name)).at(-1);
    if (file) spots[name] = hotSpots(file);
  }
  return { ...row, hotSpots: spots };
}

export async function benchScale(sizes: number[], o: Omit<ScaleOptions, 'hosts'>): Promise<ScaleResult> {
  const rows: ScaleRow[] = [];
  const failed: ScaleResult['failed'] = [];
  for (const hosts of sizes) {
    const dir = join(tmpdir(), `dokkaa-scale-${hosts}-${Date.now().toString(36)}`);
    mkdirSync(join(dir, 'profiles'), { recursive: true });
    try {
      const manifests = o.manifestsPerHost ? Math.max(1, Math.round(hosts * o.manifestsPerHost)) : o.manifests;
      const row = await benchScaleOnce({ ...o, hosts, manifests }, dir);
      // Profiles are written as the processes exit, at teardown.
      rows.push(o.profile ? withHotSpots(row, dir) : row);
    } catch (err) {
      log(`scale ${hosts} hosts: FAILED: ${(err as Error).stack ?? String(err)}`);
      failed.push({ hosts, error: (err as Error).message });
    }
    if (!o.profile && process.env.DOKKAA_BENCH_SCALE_KEEP !== '1') rmSync(dir, { recursive: true, force: true });
    else log(`scale ${hosts} hosts: kept ${dir}`);
  }
  return { options: o, rows, failed };
}

const mb = (x: number) => `${x.toFixed(0)} MB`;
const n = (x: number) => x.toLocaleString('en');

function targetsOf(r: ScaleResult): Target[] {
  const at = r.rows.find((x) => x.hosts === 1000) ?? r.rows.at(-1);
  if (!at) return [];
  const where = `${n(at.hosts)} hosts, ${n(at.manifests * at.replicas)} replicas`;
  const targets: Target[] = [];
  targets.push({
    what: `Whole control plane, ${where}: manifests written -> every status Running`,
    target: 'under 2 minutes',
    measured: at.converge.done ? secs(at.converge.ms, 1) : `not converged in ${secs(at.converge.ms, 0)} (${n(at.converge.good)} of ${n(at.manifests)} manifests Running; ${n(at.converge.enginesRunning)} containers running)`,
    met: at.converge.done && at.converge.ms < 120_000,
    ...(at.converge.done && at.converge.ms >= 120_000 ? { note: `${(at.converge.ms / 120_000).toFixed(1)}x the target` } : {}),
  });
  const worst = Object.entries(at.controllers).sort((a, b) => b[1].peakRssMB - a[1].peakRssMB)[0];
  if (worst) {
    targets.push({
      what: `Controller memory, ${where}`,
      target: 'under 1 GB each',
      measured: Object.entries(at.controllers).map(([c, f]) => `${c} ${mb(f.peakRssMB)} peak`).join(', '),
      met: worst[1].peakRssMB < 1024,
    });
  }
  if (at.steady) {
    const kinds = Object.entries(at.steady.byKind).map(([k, v]) => `${k}: ${v}`).join(', ');
    targets.push({
      what: `Steady-state etcd writes after convergence, ${where}`,
      target: '0 (keepalives write nothing)',
      measured: `${n(at.steady.revisions)} in ${secs(at.steady.windowMs, 0)}${kinds ? ` (${kinds})` : ''}`,
      met: at.steady.revisions === 0,
    });
  } else targets.push({ what: `Steady-state etcd writes, ${where}`, target: '0', measured: 'not measured: did not converge', met: undefined });
  if (at.failover) {
    targets.push({
      what: `Failover, ${where}: ${at.failover.killed} hosts killed at once (${n(at.failover.replicasOnKilled)} replicas) -> running elsewhere`,
      target: `within the lease TTL + 5 s (${secs(at.failover.targetMs, 0)})`,
      measured: at.failover.done ? secs(at.failover.ms, 1) : `not done in ${secs(at.failover.ms, 0)}`,
      met: at.failover.done && at.failover.ms <= at.failover.targetMs,
    });
  } else targets.push({ what: `Failover of 10 hosts, ${where}`, target: 'within the lease TTL + 5 s', measured: 'not measured: did not converge', met: undefined });
  const first = r.rows[0];
  const last = r.rows.at(-1);
  if (first && last && last.hosts > first.hosts) {
    const ratio = last.hosts / first.hosts;
    const growth = {
      'convergence time': last.converge.ms / first.converge.ms,
      'etcd writes': last.etcd.revisions / first.etcd.revisions,
      'largest controller peak memory': Math.max(...Object.values(last.controllers).map((f) => f.peakRssMB)) / Math.max(...Object.values(first.controllers).map((f) => f.peakRssMB)),
      'agents\' memory': last.agents.rssMB / first.agents.rssMB,
    };
    const worstGrowth = Math.max(...Object.values(growth));
    targets.push({
      what: `Growth, ${n(first.hosts)} -> ${n(last.hosts)} hosts (${ratio}x)`,
      target: 'no worse than linear',
      measured: Object.entries(growth).map(([k, v]) => `${k} ${v.toFixed(2)}x`).join(', '),
      met: first.converge.done && last.converge.done ? worstGrowth <= ratio : undefined,
      ...(!(first.converge.done && last.converge.done) ? { note: 'a size did not converge: its times are timeouts, not figures' } : {}),
    });
  }
  return targets;
}

export function scaleReport(r: ScaleResult): PartResult {
  const o = r.options;
  const cell = (x: ScaleRow, f: (x: ScaleRow) => string) => f(x);
  const rows = r.rows.map((x) => [
    `${n(x.hosts)} (load ${x.load.atStart.toFixed(0)} -> ${x.load.atEnd.toFixed(0)})`,
    `${n(x.manifests)} x ${x.replicas}`,
    x.converge.done ? secs(x.converge.ms, 1) : `**not converged** in ${secs(x.converge.ms, 0)} (${n(x.converge.good)} Running, ${n(x.converge.enginesRunning)} containers)`,
    `${n(x.etcd.revisions)} (puts ${n(x.etcd.puts)}, deletes ${n(x.etcd.deletes)}, txns ${n(x.etcd.txns)})`,
    `${n(x.etcd.ranges)} ranges, ${mb(x.etcd.sentMB)} sent to clients`,
    `${mb(x.etcd.dbSizeMB)}, peak RSS ${mb(x.etcd.peakRssMB)}, CPU ${x.etcd.cpuSeconds.toFixed(0)} s`,
    ...CONTROLLERS.map((c) => cell(x, (y) => (y.controllers[c] ? `${y.controllers[c]!.cpuSeconds.toFixed(0)} s CPU, peak ${mb(y.controllers[c]!.peakRssMB)} (heap ${mb(y.controllers[c]!.heapMB ?? 0)})` : '-'))),
    `${(x.agents.perHostMB).toFixed(1)} MB/host (${mb(x.agents.rssMB)} in ${x.workers} processes; ${x.agents.cpuSeconds.toFixed(0)} s CPU)`,
    x.steady ? `${n(x.steady.revisions)} in ${secs(x.steady.windowMs, 0)}` : '-',
    x.failover ? `${x.failover.done ? secs(x.failover.ms, 1) : `not done in ${secs(x.failover.ms, 0)}`} (${x.failover.killed} hosts, ${n(x.failover.replicasOnKilled)} replicas)` : '-',
    x.rolling ? `${x.rolling.done ? secs(x.rolling.ms, 1) : `not done in ${secs(x.rolling.ms, 0)} (${x.rolling.good} done)`} (${x.rolling.manifests} manifests)` : '-',
  ]);
  const spots = r.rows.filter((x) => x.hotSpots).flatMap((x) => [
    `### Where the CPU went, ${n(x.hosts)} hosts (\`node --cpu-prof\`, self time, whole run)`,
    '',
    ...Object.entries(x.hotSpots!).flatMap(([proc, list]) => [`**${proc}**`, '', mdTable(['function', 'self time', 'share'], list.map((h) => [`\`${h.where}\``, secs(h.selfMs, 1), `${(h.share * 100).toFixed(1)}%`])), '']),
  ]);
  const section = [
    `## The whole control plane at scale: hollow hosts`,
    '',
    `Real etcd 3.4 (a fresh one per size, \`--quota-backend-bytes ${n(o.quotaBytes)}\`), every cluster-wide controller (${CONTROLLERS.join(', ')}), each in a process of its own (started as the elected leader starts them; no election), ` +
      'and hollow hosts: the real agent (`AGENT_MODULES`: node lease, allocation reporter, node runner with its executor, prober and partition fence, volume keeper, prepull, service registrar, ambassador bookkeeping) on an in-memory engine with the lab\'s measured delays (create 15 ms, start 250 ms), ' +
      `several hosts per worker process. ${o.sharedWatches ? '**The hosts of one worker process share their cluster-wide informers** (replicas, endpoints, ports, links...): etcd serves one watch per process for those, not one per host (docs/scale.md says why and what that leaves out).' : 'Every host has its own watches.'} ` +
      `Manifests: ${o.manifestsPerHost ? `${o.manifestsPerHost} per host` : n(o.manifests)} x ${o.replicas} replicas of \`${IMAGE}\`, a service on every one, every ${o.linkEvery}th linked to the one before. ${o.rollParallelism && o.rollParallelism > 1 ? `Update parallelism ${o.rollParallelism}. ` : ''}Lease TTL ${o.ttlSeconds} s. The hosts' DNS servers, web routers and link-port listeners are not run.`,
    '',
    mdTable(['hosts', 'manifests', 'written -> all Running', 'etcd writes (revisions)', 'etcd reads', 'etcd db, memory, CPU', ...CONTROLLERS.map((c) => c), 'agents', 'steady-state writes', `failover (${o.killHosts} hosts killed)`, 'rolling update'], rows),
    '',
    'CPU figures are seconds of CPU over the convergence (from the first manifest put until all Running); memory is the resident set at its peak (VmHWM) and, for controllers, the heap after a full collection at convergence. ' +
      '"MB/host" is the worker processes\' resident memory at convergence less what they held before their first host started, divided by the hosts.',
    '',
    ...(r.failed.length ? ['**Sizes that failed:**', '', ...r.failed.map((f) => `- ${n(f.hosts)} hosts: \`${f.error}\``), ''] : []),
    ...spots,
  ].join('\n');
  return { section, json: r, targets: targetsOf(r) };
}
