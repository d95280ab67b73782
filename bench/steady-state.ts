import { readFileSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { Keys } from '../api/keys.js';
import { decodeRecord, StatusRecord } from '../api/records.js';
import { isOurs } from '../lab/processes.js';
import { labClientConfig, type LabState } from '../lab/index.js';
import type { BenchLab } from './lab-bench.js';
import { log } from './lab-bench.js';
import { timeToRunning } from './converge-multi.js';
import { waitGone } from './systems.js';
import { mdTable, secs, type PartResult, type Target } from './report.js';

/**
 * Steady state: N replicas running on the lab, nothing changing. Over a window: every etcd
 * event under the cluster's prefix (a watch from the revision at the start), the etcd
 * revision (every write transaction of any kind bumps it), etcd's own counters from
 * /metrics (puts, deletes, lease renewals), and CPU time and resident memory of the
 * controller and each agent from /proc.
 */

export interface ProcSample {
  role: string;
  pid: number;
  cpuSeconds: number;
  /** CPU over the window as a share of one core (%). */
  cpuPercent: number;
  rssMB: number;
  peakRssMB: number;
}

export interface SteadyResult {
  replicas: number;
  windowMs: number;
  settleMs: number;
  ttlSeconds: number;
  resyncSeconds: number;
  revisionDelta: number;
  watchEvents: number;
  watchEventsByKind: Record<string, number>;
  metrics: Record<string, number>;
  writesPerMinute: number;
  keepalivesPerMinute: number;
  procs: ProcSample[];
}

const CLK_TCK = 100;
const PAGE_MB = 4096 / (1024 * 1024);

function procTimes(pid: number): { cpu: number; rssMB: number; peakRssMB: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields after the command: state is [0], utime [11], stime [12], rss (pages) [21].
  const cpu = (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) / 1024;
  return { cpu, rssMB: kb('VmRSS') || Number(fields[21]) * PAGE_MB, peakRssMB: kb('VmHWM') };
}

/** etcd's /metrics, over TLS with the admin's certificate when the lab has it (etcd asks every client for one). */
async function metrics(state: LabState): Promise<Record<string, number>> {
  const c = labClientConfig(state);
  const url = `${c.etcd[0]}/metrics`;
  const text = c.etcdCa
    ? await new Promise<string>((resolve, reject) => {
        const req = httpsGet(url, { ca: readFileSync(c.etcdCa!), cert: readFileSync(c.etcdCert!), key: readFileSync(c.etcdKey!) }, (res) => {
          let body = '';
          res.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () => resolve(body)).on('error', reject);
        });
        req.on('error', reject);
      })
    : await (await fetch(url)).text();
  const want = ['etcd_mvcc_put_total', 'etcd_mvcc_delete_total', 'etcd_mvcc_txn_total', 'etcd_mvcc_range_total', 'etcd_debugging_lease_renewed_total', 'etcd_debugging_lease_granted_total', 'etcd_server_proposals_committed_total'];
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const [name, value] = line.split(' ');
    if (name && want.includes(name)) out[name] = Number(value);
  }
  return out;
}

export async function benchSteadyState(lab: BenchLab, opts: { replicas: number; windowMs: number; settleMs: number }): Promise<SteadyResult> {
  const keys = new Keys(lab.state.prefix);
  const app = `steady${Date.now().toString(36).slice(-4)}`;
  const sys = lab.dokkaa;
  log(`steady state: deploying ${opts.replicas} replicas`);
  const ms = await timeToRunning(lab, sys, app, opts.replicas, () => sys.deploy(app, opts.replicas));
  log(`steady state: ${opts.replicas} running after ${secs(ms)}; waiting for status Running`);
  const deadline = Date.now() + 120_000;
  for (;;) {
    const s = decodeRecord(StatusRecord, (await lab.etcd.get(keys.status(app, 'svc')).string()) ?? undefined);
    if (s?.phase === 'Running' && s.running === opts.replicas) break;
    if (Date.now() > deadline) throw new Error(`status of ${app}/svc not Running with ${opts.replicas} ready: ${JSON.stringify(s?.message)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  log(`steady state: settling ${secs(opts.settleMs, 0)}, then measuring ${secs(opts.windowMs, 0)}`);
  await new Promise((r) => setTimeout(r, opts.settleMs));

  const state = lab.current();
  const procs: { role: string; pid: number }[] = [
    ...state.controllers.filter((c) => isOurs(c)).map((c, i) => ({ role: `controller${state.controllers.length > 1 ? ` ${i + 1}` : ''}`, pid: c!.pid })),
    ...state.nodes.filter((n) => isOurs(n.agent)).map((n) => ({ role: `agent ${n.name}`, pid: n.agent!.pid })),
  ];
  const rev0 = Number((await lab.etcd.get(keys.root).exec()).header.revision);
  const byKind: Record<string, number> = {};
  let events = 0;
  const watcher = await lab.etcd.watch().prefix(keys.all).startRevision(String(rev0 + 1)).create();
  watcher.on('data', (res) => {
    for (const ev of res.events) {
      events++;
      const kind = `${ev.type} ${keys.parseSection(ev.kv.key.toString())}/`;
      byKind[kind] = (byKind[kind] ?? 0) + 1;
    }
  });
  const m0 = await metrics(lab.state);
  const p0 = procs.map((p) => procTimes(p.pid));
  const t0 = Date.now();
  await new Promise((r) => setTimeout(r, opts.windowMs));
  const elapsed = Date.now() - t0;
  const p1 = procs.map((p) => procTimes(p.pid));
  const m1 = await metrics(lab.state);
  const rev1 = Number((await lab.etcd.get(keys.root).exec()).header.revision);
  await new Promise((r) => setTimeout(r, 300)); // the last events
  await watcher.cancel();

  const delta: Record<string, number> = {};
  for (const k of Object.keys(m1)) delta[k] = (m1[k] ?? 0) - (m0[k] ?? 0);
  const perMin = (n: number) => (n * 60_000) / elapsed;
  const result: SteadyResult = {
    replicas: opts.replicas,
    windowMs: elapsed,
    settleMs: opts.settleMs,
    ttlSeconds: state.ttlSeconds,
    resyncSeconds: 30,
    revisionDelta: rev1 - rev0,
    watchEvents: events,
    watchEventsByKind: byKind,
    metrics: delta,
    writesPerMinute: perMin(rev1 - rev0),
    keepalivesPerMinute: perMin(delta.etcd_debugging_lease_renewed_total ?? 0),
    procs: procs.map((p, i) => ({
      role: p.role,
      pid: p.pid,
      cpuSeconds: p1[i]!.cpu - p0[i]!.cpu,
      cpuPercent: ((p1[i]!.cpu - p0[i]!.cpu) * 1000 * 100) / elapsed,
      rssMB: p1[i]!.rssMB,
      peakRssMB: p1[i]!.peakRssMB,
    })),
  };
  log(`steady state: ${result.revisionDelta} etcd revisions, ${events} events, ${result.keepalivesPerMinute.toFixed(0)} keepalives/min`);
  await sys.remove(app);
  await waitGone(lab.engines, sys, app);
  return result;
}

export function steadyReport(r: SteadyResult): PartResult {
  const agents = r.procs.filter((p) => p.role.startsWith('agent'));
  const maxAgentRss = Math.max(...agents.map((a) => a.rssMB));
  const targets: Target[] = [
    {
      what: `Steady state, ${r.replicas} replicas`,
      target: 'no etcd writes beyond lease keepalives',
      measured: `${r.writesPerMinute.toFixed(1)} key writes/min (${r.revisionDelta} revisions in ${secs(r.windowMs, 0)}); ${r.keepalivesPerMinute.toFixed(0)} keepalives/min`,
      met: r.revisionDelta === 0,
      ...(r.revisionDelta > 0 ? { note: `writes seen: ${Object.entries(r.watchEventsByKind).map(([k, v]) => `${v}x ${k}`).join(', ') || 'outside the prefix'}` } : {}),
    },
    {
      what: `Agent resident memory, ${r.replicas} replicas`,
      target: 'under 100 MB',
      measured: `${maxAgentRss.toFixed(0)} MB (largest of ${agents.length} agents)`,
      met: maxAgentRss < 100,
      ...(maxAgentRss >= 100 ? { note: `${(maxAgentRss - 100).toFixed(0)} MB over` } : {}),
    },
  ];
  const section = [
    `## Steady state: ${r.replicas} replicas running, nothing changing (${secs(r.windowMs, 0)} window)`,
    '',
    `After the replicas ran and their status said Running, ${secs(r.settleMs, 0)} to settle, then a window of ${secs(r.windowMs, 0)} ` +
      `(node lease TTL ${r.ttlSeconds} s, resync every ${r.resyncSeconds} s, so the window spans resyncs). ` +
      'Key writes: the etcd revision (it counts every write transaction in the lab\'s etcd) and a watch on the whole cluster prefix; ' +
      'keepalives: etcd\'s `etcd_debugging_lease_renewed_total`. CPU and memory: `/proc/<pid>/stat` and `status` of the lab\'s processes.',
    '',
    mdTable(['what', 'in the window', 'per minute'], [
      ['etcd revisions (write transactions)', r.revisionDelta, r.writesPerMinute.toFixed(1)],
      ['watch events under the prefix', r.watchEvents, ((r.watchEvents * 60_000) / r.windowMs).toFixed(1)],
      ['etcd_mvcc_put_total', r.metrics.etcd_mvcc_put_total ?? '–', (((r.metrics.etcd_mvcc_put_total ?? 0) * 60_000) / r.windowMs).toFixed(1)],
      ['etcd_mvcc_delete_total', r.metrics.etcd_mvcc_delete_total ?? '–', (((r.metrics.etcd_mvcc_delete_total ?? 0) * 60_000) / r.windowMs).toFixed(1)],
      ['lease keepalives (etcd_debugging_lease_renewed_total)', r.metrics.etcd_debugging_lease_renewed_total ?? '–', r.keepalivesPerMinute.toFixed(1)],
      ['reads (etcd_mvcc_range_total)', r.metrics.etcd_mvcc_range_total ?? '–', (((r.metrics.etcd_mvcc_range_total ?? 0) * 60_000) / r.windowMs).toFixed(1)],
    ]),
    '',
    Object.keys(r.watchEventsByKind).length ? `Events by kind: ${Object.entries(r.watchEventsByKind).map(([k, v]) => `${k} ${v}`).join(', ')}.` : 'No event under the prefix in the window.',
    '',
    mdTable(['process', 'CPU (% of one core)', 'CPU seconds', 'resident memory', 'peak resident'],
      r.procs.map((p) => [p.role, p.cpuPercent.toFixed(2), p.cpuSeconds.toFixed(2), `${p.rssMB.toFixed(0)} MB`, `${p.peakRssMB.toFixed(0)} MB`])),
    '',
  ].join('\n');
  return { section, json: r, targets };
}
