import { fork } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Etcd3 } from 'etcd3';
import { etcdClientOptions, type EtcdClientConfig } from '../src/etcd/etcd-tls.js';
import { Keys } from '../api/keys.js';
import { decodeManifest } from '../api/manifest.js';
import type { Amounts, NodeRecord } from '../api/records.js';
import { reservationOf } from '../api/reservation.js';
import { planPlacements } from '../controllers/scheduler/placement-plan.js';
import { log } from './lab-bench.js';
import { lineChart } from './svg.js';
import { mdTable, secs, type PartResult, type Target } from './report.js';
import { inChunks, procStats } from './procs.js';

/**
 * The scheduler at scale, simulated: H hosts registered in etcd (node records as agents
 * write them, no engines behind them), M manifests of S replicas each.
 *
 * - Algorithm alone: planPlacements for each manifest in a loop, the per-node allocation
 *   kept incrementally from each plan's additions, as the scheduler's cache keeps it.
 * - Packing efficiency (pure, no etcd): how much of the hosts' memory binpack and spread
 *   fill before the first replica fits nowhere, on a seeded random mix of sizes.
 * - End to end: the real scheduler (leader election + the scheduler controller and its
 *   SchedulerReconciler, bench/scheduler-worker.ts) in a process of its own against the
 *   lab's etcd; the manifests are put, and the clock runs until etcd holds M x S
 *   placements. Memory is that process's.
 *
 * Each size uses its own key prefix, deleted afterwards.
 */

export interface SchedulerRow {
  hosts: number;
  placements: number;
  algorithm: { ms: number; perSecond: number; heapMB: number };
  endToEnd: {
    ms: number;
    perSecond: number;
    /** Placements in etcd when the clock stopped (less than `placements` on a timeout). */
    placed: number;
    timedOut: boolean;
    /** Putting the manifests took this long (included in ms). */
    putManifestsMs: number;
    rssMB: number;
    peakRssMB: number;
    heapMB: number;
    cpuSeconds: number;
  };
}

export interface SchedulerResult {
  manifests: number;
  scale: number;
  rows: SchedulerRow[];
  packing: PackingRow[];
}

/** A deterministic random sequence (mulberry32): the same mix of sizes on every run. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const Mi = 2 ** 20;
const Gi = 2 ** 30;
const pickFrom = <T>(rand: () => number, items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;

/**
 * The throughput runs' sizes: small replicas (a fifth without `resources`, at the default
 * reservation) on hosts large enough that 100,000 of them fit on 100 hosts, so that every
 * size measures placing, not refusing.
 */
const THROUGHPUT_SIZES = [undefined, { cpus: 0.01, memory: '16Mi' }, { cpus: 0.05, memory: '32Mi' }, { cpus: 0.1, memory: '64Mi' }, { cpus: 0.25, memory: '128Mi' }] as const;
const THROUGHPUT_HOSTS = [{ cpus: 64, memoryBytes: 128 * Gi }, { cpus: 128, memoryBytes: 256 * Gi }, { cpus: 256, memoryBytes: 512 * Gi }] as const;

function manifestText(scale: number, resources: (typeof THROUGHPUT_SIZES)[number]): string {
  return JSON.stringify({ image: 'dokkaa/busybox', command: ['sleep', '3600'], scale, ...(resources ? { resources } : {}) });
}

/** Manifest m's size in the throughput runs (the same for the algorithm and end to end). */
function throughputSize(m: number): (typeof THROUGHPUT_SIZES)[number] {
  return THROUGHPUT_SIZES[Math.floor(seeded(7919 + m)() * THROUGHPUT_SIZES.length)];
}

function fakeNode(i: number, capacity: { cpus: number; memoryBytes: number } = pickFrom(seeded(104_729 + i), THROUGHPUT_HOSTS)): NodeRecord {
  const name = `h${String(i).padStart(5, '0')}`;
  return {
    name,
    address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
    labels: {},
    docker: 'unix:///var/run/docker.sock',
    capacity: { ...capacity },
    version: '0.1.0',
    startedAt: new Date().toISOString(),
  };
}

/** The reservation of one replica of a manifest text's spec. */
function needOf(text: string): Amounts {
  const d = decodeManifest(text, 'bench');
  if (!d.ok) throw new Error(`bench manifest invalid: ${d.errors.join('; ')}`);
  return reservationOf(d.spec);
}

/** planPlacements over M manifests of S replicas each on H nodes, allocation kept incrementally. */
setFlagsFromString('--expose_gc');
const gc = runInNewContext('gc') as () => void;

export function algorithmAlone(hosts: number, manifests: number, scale: number): { ms: number; heapMB: number } {
  const nodes = Array.from({ length: hosts }, (_, i) => fakeNode(i));
  const needs = Array.from({ length: manifests }, (_, m) => needOf(manifestText(scale, throughputSize(m))));
  gc();
  const heap0 = process.memoryUsage().heapUsed;
  const allocated = new Map<string, Amounts>();
  const placed: { app: string; replica: number; node: string }[] = [];
  const t0 = performance.now();
  for (let m = 0; m < manifests; m++) {
    const need = needs[m]!;
    const plan = planPlacements({ scale, templateHash: 'x', constraints: {}, need, placed: [], liveNodes: nodes, allocated });
    for (const a of plan.add) {
      const was = allocated.get(a.node);
      allocated.set(a.node, { cpus: (was?.cpus ?? 0) + need.cpus, memoryBytes: (was?.memoryBytes ?? 0) + need.memoryBytes });
      placed.push({ app: `a${m}`, replica: a.replica, node: a.node });
    }
  }
  const ms = performance.now() - t0;
  if (placed.length !== manifests * scale) throw new Error(`algorithm placed ${placed.length} of ${manifests * scale}`);
  // What the loop retains: the allocation map and the list of placements made.
  gc();
  const heapMB = (process.memoryUsage().heapUsed - heap0) / 2 ** 20;
  if (placed.length === 0 || allocated.size === 0) throw new Error('nothing placed');
  return { ms, heapMB };
}

/**
 * Host sizes and replica sizes of the packing runs, deliberately not powers of two of each
 * other (those pack perfectly by luck); memory binds first (replicas ask 1 CPU per 4Gi,
 * hosts have 1 per 2Gi).
 */
const PACKING_HOSTS = [4, 6, 8, 12, 16, 24, 32, 48, 64].map((g) => ({ cpus: g / 2, memoryBytes: g * Gi }));
const PACKING_SIZES = [96, 200, 384, 640, 1000, 1536, 2560, 3840].map((m) => ({ cpus: (m * Mi) / (4 * Gi), memoryBytes: m * Mi }));

const PACKING_RUNS: ['spread' | 'binpack', number][] = [['binpack', 100], ['spread', 100], ['binpack', 1000], ['spread', 1000]];

export interface PackingRow {
  strategy: 'spread' | 'binpack';
  hosts: number;
  /** Share of the hosts' total memory placed before the first replica was unschedulable. */
  memoryShare: number;
  replicas: number;
  firstUnschedulable: string;
}

/**
 * Packing efficiency: manifests of 1 to 4 replicas of a seeded random size from
 * PACKING_SIZES on hosts of seeded random sizes from PACKING_HOSTS, placed one manifest at
 * a time with one strategy until a replica fits nowhere.
 */
export function packing(strategy: 'spread' | 'binpack', hosts: number, seed = 42): PackingRow {
  const rand = seeded(seed);
  const nodes = Array.from({ length: hosts }, (_, i) => fakeNode(i, pickFrom(rand, PACKING_HOSTS)));
  const total = nodes.reduce((a, n) => a + n.capacity.memoryBytes, 0);
  const allocated = new Map<string, Amounts>();
  let memory = 0;
  let replicas = 0;
  for (let m = 0; m < 10_000_000; m++) {
    const need = pickFrom(rand, PACKING_SIZES);
    const scale = 1 + Math.floor(rand() * 4);
    const plan = planPlacements({ scale, templateHash: 'x', constraints: {}, strategy, need, placed: [], liveNodes: nodes, allocated });
    for (const a of plan.add) {
      const was = allocated.get(a.node);
      allocated.set(a.node, { cpus: (was?.cpus ?? 0) + need.cpus, memoryBytes: (was?.memoryBytes ?? 0) + need.memoryBytes });
      memory += need.memoryBytes;
      replicas++;
    }
    if (plan.unschedulable.length) return { strategy, hosts, memoryShare: memory / total, replicas, firstUnschedulable: plan.unschedulable[0]!.reason };
  }
  throw new Error('packing never filled the hosts');
}

async function endToEnd(etcdConfig: EtcdClientConfig, hosts: number, manifests: number, scale: number, timeoutMs: number): Promise<SchedulerRow['endToEnd']> {
  const prefix = `/bench-sched-${Date.now().toString(36)}-${hosts}`;
  const keys = new Keys(prefix);
  const etcd = new Etcd3(etcdClientOptions(etcdConfig, new Date(), { dialTimeout: 3_000 }));
  const logDir = join(tmpdir(), 'dokkaa-bench');
  mkdirSync(logDir, { recursive: true });
  const logFd = openSync(join(logDir, `scheduler-${hosts}.log`), 'w');
  const worker = fork(process.env.DOKKAA_BENCH_SCHED_WORKER ?? new URL('./scheduler-worker.js', import.meta.url), [], {
    env: { ...process.env, BENCH_ETCD_CONFIG: JSON.stringify(etcdConfig), BENCH_PREFIX: prefix },
    stdio: ['ignore', logFd, logFd, 'ipc'],
  });
  const exited = once(worker, 'exit');
  try {
    await inChunks(Array.from({ length: hosts }, (_, i) => fakeNode(i)), 200, (n) => etcd.put(keys.node(n.name)).value(JSON.stringify(n)).exec());
    await once(worker, 'message');
    for (let i = 0; !(await etcd.get(keys.leader).string()); i++) {
      if (i > 300) throw new Error('the scheduler worker never became leader');
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 500)); // its caches list nodes and placements
    const cpu0 = procStats(worker.pid!).cpuSeconds;
    const want = manifests * scale;
    const reached = once(worker, 'message') as Promise<[{ at: number; placed: number }]>;
    const t0 = Date.now();
    worker.send({ kind: 'until', count: want, timeoutMs });
    await inChunks(Array.from({ length: manifests }, (_, m) => m), 100, (m) => etcd.put(keys.manifest(`app${m}`, 'svc')).value(manifestText(scale, throughputSize(m))).exec());
    const putManifestsMs = Date.now() - t0;
    const [{ at, placed: committed }] = await reached;
    const ms = at - t0;
    const proc = procStats(worker.pid!);
    // What etcd holds, to check the scheduler's own count.
    const placed = await etcd.getAll().prefix(keys.placements).count();
    const timedOut = committed < want;
    if (!timedOut && placed !== want) throw new Error(`the scheduler committed ${committed} placements, but etcd holds ${placed}`);
    worker.send({ kind: 'memory' });
    const [reply] = (await once(worker, 'message')) as [{ usage: NodeJS.MemoryUsage }];
    return {
      ms,
      perSecond: (placed * 1000) / ms,
      placed,
      timedOut,
      putManifestsMs,
      rssMB: proc.rssMB,
      peakRssMB: proc.peakRssMB,
      heapMB: reply.usage.heapUsed / 2 ** 20,
      cpuSeconds: proc.cpuSeconds - cpu0,
    };
  } finally {
    if (worker.exitCode === null) {
      worker.send({ kind: 'stop' });
      const timer = setTimeout(() => worker.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    }
    closeSync(logFd);
    await etcd.delete().prefix(keys.all);
    etcd.close();
  }
}

/**
 * Compacts the etcd history to now and defragments, so that each size starts from a small
 * database: deleted placements otherwise stay in etcd's history (no auto-compaction).
 */
async function compactEtcd(etcdConfig: EtcdClientConfig): Promise<void> {
  const etcd = new Etcd3(etcdClientOptions(etcdConfig, new Date(), { dialTimeout: 3_000 }));
  try {
    const rev = (await etcd.get('/').exec()).header.revision;
    await etcd.kv.compact({ revision: rev, physical: true }).catch(() => undefined); // already compacted: fine
    await etcd.maintenance.defragment();
  } finally {
    etcd.close();
  }
}

export async function benchScheduler(opts: { etcd: EtcdClientConfig; hosts: number[]; manifests: number; scale: number; timeoutMs?: number }): Promise<SchedulerResult> {
  const rows: SchedulerRow[] = [];
  for (const hosts of opts.hosts) {
    await compactEtcd(opts.etcd);
    const runs = [0, 1, 2].map(() => algorithmAlone(hosts, opts.manifests, opts.scale)).sort((a, b) => a.ms - b.ms);
    const alg = runs[1]!;
    const placements = opts.manifests * opts.scale;
    log(`scheduler ${hosts} hosts: algorithm ${(alg.ms / 1000).toFixed(2)} s for ${placements} placements (${((placements * 1000) / alg.ms).toFixed(0)}/s)`);
    const e2e = await endToEnd(opts.etcd, hosts, opts.manifests, opts.scale, opts.timeoutMs ?? 300_000);
    log(`scheduler ${hosts} hosts: end to end ${(e2e.ms / 1000).toFixed(2)} s, ${e2e.placed} placed (${e2e.perSecond.toFixed(0)}/s), RSS ${e2e.rssMB.toFixed(0)} MB`);
    rows.push({ hosts, placements, algorithm: { ms: alg.ms, perSecond: (placements * 1000) / alg.ms, heapMB: alg.heapMB }, endToEnd: e2e });
  }
  await compactEtcd(opts.etcd);
  const packingRows = PACKING_RUNS.map(([strategy, hosts]) => packing(strategy, hosts));
  for (const p of packingRows) log(`scheduler packing ${p.strategy} on ${p.hosts} hosts: ${(p.memoryShare * 100).toFixed(1)}% of memory placed before the first unschedulable replica`);
  return { manifests: opts.manifests, scale: opts.scale, rows, packing: packingRows };
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

export function schedulerReport(r: SchedulerResult): PartResult {
  const at1000 = r.rows.find((x) => x.hosts === 1000);
  const targets: Target[] = [];
  if (at1000) {
    targets.push({
      what: 'Scheduler, algorithm alone, 1,000 hosts',
      target: 'at least 20,000 placements/s',
      measured: `${at1000.algorithm.perSecond.toFixed(0)}/s`,
      met: at1000.algorithm.perSecond >= 20_000,
      ...(at1000.algorithm.perSecond < 20_000 ? { note: `${((1 - at1000.algorithm.perSecond / 20_000) * 100).toFixed(0)}% short` } : {}),
    });
    const e = at1000.endToEnd;
    targets.push({
      what: 'Scheduler, end to end with etcd writes, 1,000 hosts',
      target: 'at least 5,000 placements/s',
      measured: `${e.perSecond.toFixed(0)}/s (${e.placed.toLocaleString('en')} placements in ${secs(e.ms, 1)}; scheduler RSS ${e.rssMB.toFixed(0)} MB)`,
      met: !e.timedOut && e.perSecond >= 5_000,
      ...(e.perSecond < 5_000 ? { note: `${((1 - e.perSecond / 5_000) * 100).toFixed(0)}% short` } : {}),
    });
  }
  const binpack = r.packing.filter((p) => p.strategy === 'binpack');
  const spread = r.packing.filter((p) => p.strategy === 'spread');
  if (binpack.length) {
    const worst = Math.min(...binpack.map((p) => p.memoryShare));
    targets.push({
      what: 'Scheduler packing efficiency, binpack (share of the hosts\' memory placed before the first replica is unschedulable)',
      target: 'at least 95%',
      measured: `${binpack.map((p) => `${pct(p.memoryShare)} on ${p.hosts} hosts`).join(', ')} (spread: ${spread.map((p) => `${pct(p.memoryShare)} on ${p.hosts}`).join(', ')})`,
      met: worst >= 0.95,
      ...(worst < 0.95 ? { note: `${pct(0.95 - worst)} short` } : {}),
    });
  }
  const first = r.rows[0];
  const last = r.rows.at(-1);
  if (first && last && last.hosts > first.hosts) {
    const hostRatio = last.hosts / first.hosts;
    const alg = last.algorithm.ms / first.algorithm.ms;
    const e2e = last.endToEnd.ms / first.endToEnd.ms;
    const worst = Math.max(alg, e2e);
    targets.push({
      what: `Scheduler time growth, ${first.hosts} -> ${last.hosts} hosts (${hostRatio}x)`,
      target: 'no worse than linear in hosts',
      measured: `algorithm ${alg.toFixed(2)}x, end to end ${e2e.toFixed(2)}x the time`,
      met: worst <= hostRatio,
      ...(worst > hostRatio ? { note: `${(worst / hostRatio).toFixed(1)}x worse than linear` } : {}),
    });
  }
  const rows = r.rows.map((x) => [
    x.hosts.toLocaleString('en'),
    `${x.algorithm.perSecond.toFixed(0)}/s (${secs(x.algorithm.ms)})`,
    `${x.endToEnd.perSecond.toFixed(0)}/s (${secs(x.endToEnd.ms)}${x.endToEnd.timedOut ? `, TIMED OUT at ${x.endToEnd.placed.toLocaleString('en')}` : ''})`,
    secs(x.endToEnd.putManifestsMs),
    `${x.endToEnd.rssMB.toFixed(0)} MB (peak ${x.endToEnd.peakRssMB.toFixed(0)} MB, heap ${x.endToEnd.heapMB.toFixed(0)} MB)`,
    `${x.endToEnd.cpuSeconds.toFixed(1)} s`,
    `${x.algorithm.heapMB.toFixed(0)} MB`,
  ]);
  const section = [
    `## Scheduler at scale, simulated: ${(r.manifests * r.scale).toLocaleString('en')} replicas (${r.manifests.toLocaleString('en')} manifests x ${r.scale})`,
    '',
    'Hosts are node records in etcd with no engine behind them. **Algorithm alone**: `planPlacements` for each manifest in a loop, the per-node allocation kept incrementally (median of 3). ' +
      '**End to end**: the real scheduler (leader election, the scheduler controller and its `SchedulerReconciler` with its node and placement cache, batched mod-revision transactions, events and rollout records) in a process of its own against the lab\'s etcd; ' +
      'the clock starts before the first manifest put and stops when the scheduler has committed every placement (its own count of committed transactions, read in-process every 20 ms, so that measuring adds no etcd load; etcd\'s count is checked to match afterwards). Memory and CPU are the scheduler process\'s (`/proc`).',
    '',
    mdTable(['hosts', 'algorithm alone', 'end to end', 'putting the manifests', 'scheduler memory (end)', 'scheduler CPU', 'algorithm heap'], rows),
    '',
    'Memory: resident set of the scheduler process when done (V8 keeps the heap it grew to), and its heap after a full collection (what it retains: the cache of nodes and placements). ' +
      '"Algorithm heap" is what the loop retains (load map and the list of placements made).',
    '',
    'For comparison, not measured in this run: the scheduler before its cache (reading every node and every placement from etcd on each reconcile, ' +
      'one transaction per placement, polling each manifest of a first deployment every second) placed about 150 replicas/s here at 1,000 hosts, and stalled at about 9,200 placements, ' +
      'when listing `placements/` outgrew gRPC\'s default 4 MB message limit (measured once on this machine, 2026-11-24).',
    '',
    '![scheduler](scheduler.svg)',
    '',
    'Every manifest has `resources` from a fixed seeded mix (a fifth at the default reservation, the rest 0.01 to 0.25 CPU and 16 to 128Mi) and the hosts a seeded mix of 64 to 256 CPUs and 128 to 512Gi, so that all replicas fit at every size and the figures measure placing with fit checks, not refusing.',
    '',
    '### Packing efficiency',
    '',
    'Manifests of 1 to 4 replicas, each of a seeded random size from 96Mi to 3.75Gi (memory binds before CPU), placed one manifest at a time on hosts of a seeded random size from 4 to 64Gi until a replica fits nowhere: the share of the hosts\' total memory placed by then.',
    '',
    mdTable(['strategy', 'hosts', 'memory placed', 'replicas placed', 'the first unschedulable replica'], r.packing.map((p) => [p.strategy, p.hosts.toLocaleString('en'), pct(p.memoryShare), p.replicas.toLocaleString('en'), p.firstUnschedulable])),
    '',
  ].join('\n');
  const chart = lineChart({
    title: `Placements per second, ${(r.manifests * r.scale).toLocaleString('en')} replicas`,
    xLabel: 'hosts (log scale)',
    yLabel: 'placements / s (log scale)',
    logX: true,
    logY: true,
    series: [
      { name: 'algorithm alone', points: r.rows.map((x) => ({ x: x.hosts, y: x.algorithm.perSecond })) },
      { name: 'end to end (etcd writes)', points: r.rows.map((x) => ({ x: x.hosts, y: x.endToEnd.perSecond })) },
    ],
    refLines: [
      { value: 20_000, label: 'target, algorithm: 20,000/s' },
      { value: 5_000, label: 'target, end to end: 5,000/s' },
    ],
  });
  return { section, json: r, targets, charts: [{ file: 'scheduler.svg', svg: chart, alt: 'scheduler' }] };
}
