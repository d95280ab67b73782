import { once } from 'node:events';
import { cpus, loadavg } from 'node:os';
import { Worker } from 'node:worker_threads';
import { EndpointPicker } from '../controllers/ambassador/endpoint-picker.js';
import { CongestionControl, hostCongestion } from '../controllers/ambassador/congestion.js';
import { loadSplicePump, SplicePump } from '../controllers/ambassador/splice-pump.js';
import { TcpForwarder, type ForwarderOptions } from '../controllers/ambassador/tcp-forwarder.js';
import { DEFAULT_TCP_CONGESTION } from '../src/config.js';
import type { PeerReply, PeerRequest } from './ambassador-peer.js';
import type { Target } from './report.js';
import { summarize, type Summary } from './stats.js';

/**
 * How a measured connection travels: straight to the endpoint, or through the ambassador's
 * forwarder as the agent runs it (its sockets on CUBIC), splicing (the agent's data path) or
 * copying (its fallback), and splicing with its sockets left on the host's default
 * congestion control (`--tcp-congestion system`).
 */
export type Path = 'direct' | 'splice' | 'copy' | 'spliceHostCc';
const PATHS: readonly Path[] = ['direct', 'splice', 'copy', 'spliceHostCc'];

export interface PathFigures {
  /** MB/s per run, client -> endpoint (an upload to a sink). */
  upMBps: Summary;
  /** MB/s per run, endpoint -> client (a response from a source: most of a service's bytes). */
  downMBps: Summary;
  /** Milliseconds per round trip of 64 B on an open connection. */
  rtt: Summary;
  /** Milliseconds for connect + one round trip + close. */
  connect: Summary;
}

export interface AmbassadorResult {
  transferMB: number;
  runs: number;
  roundtrips: number;
  paths: Record<Path, PathFigures>;
  /** The host's default TCP congestion control (the direct path's, the client's and the endpoint's). */
  hostCongestion: string;
  /** The machine's 1-minute load average and CPU count at the end: a proxied path needs a third busy thread. */
  loadAverage: number;
  cpus: number;
}

const PEER = new URL('./ambassador-peer.js', import.meta.url);

/**
 * The ambassador's TCP forwarder (the code the agent runs), splicing and copying, against a
 * direct connection to the same loopback endpoint, side by side in one run: throughput of a
 * `transferMB` upload to a sink and download from a source, round-trip time of small
 * messages on an open connection, and connect + round trip + close. The endpoint and the
 * client run in worker threads, the forwarder in the main thread (and the splice pump's
 * own thread), as in the agent. The three paths take turns within each run.
 */
export async function benchAmbassador(opts: { transferMB?: number; runs?: number; roundtrips?: number } = {}): Promise<AmbassadorResult> {
  const transferMB = opts.transferMB ?? 200;
  const runs = opts.runs ?? 9;
  const count = opts.roundtrips ?? 5_000;
  const native = loadSplicePump();
  if (native instanceof Error) throw native;
  const pump = new SplicePump(native);
  const refused: string[] = [];
  const congestion = new CongestionControl(native, DEFAULT_TCP_CONGESTION, (e) => refused.push(e));
  const endpoint = new Worker(PEER, { workerData: { role: 'endpoint' } });
  const client = new Worker(PEER, { workerData: { role: 'client' } });
  const forwarders: TcpForwarder[] = [];
  try {
    const [direct] = (await once(endpoint, 'message')) as [Ports];
    const proxy = async (port: number, options: ForwarderOptions) => {
      const picker = new EndpointPicker();
      picker.set([{ host: '127.0.0.1', port }]);
      const f = new TcpForwarder(picker, options);
      forwarders.push(f);
      return f.listen(0, '127.0.0.1');
    };
    const through = async (options: ForwarderOptions): Promise<Ports> => ({ sink: await proxy(direct.sink, options), echo: await proxy(direct.echo, options), source: await proxy(direct.source, options) });
    const ports: Record<Path, Ports> = {
      direct,
      splice: await through({ pump, tuneSocket: congestion.apply }),
      copy: await through({ tuneSocket: congestion.apply }),
      spliceHostCc: await through({ pump }),
    };
    const ask = async (req: PeerRequest): Promise<PeerReply> => {
      client.postMessage(req);
      const [reply] = (await once(client, 'message')) as [PeerReply];
      if ('error' in reply) throw new Error(`bench client: ${reply.error}`);
      return reply;
    };
    const bytes = transferMB * 1024 * 1024;
    const mbps = async (kind: 'transfer' | 'download', port: number) => {
      const r = (await ask({ kind, port, bytes })) as { ms: number; bytes: number };
      if (r.bytes !== bytes) throw new Error(`${kind}: ${r.bytes} of ${bytes} bytes arrived`);
      return transferMB / (r.ms / 1000);
    };
    const samples = async (kind: 'roundtrips' | 'connects', port: number, n: number) => ((await ask({ kind, port, count: n, size: 64 })) as { samples: number[] }).samples;

    // Warm up every path (JIT, socket buffers) before measuring.
    for (const path of PATHS) {
      await mbps('transfer', ports[path].sink);
      await mbps('download', ports[path].source);
      await samples('roundtrips', ports[path].echo, 500);
    }
    // The forwarder's sockets must carry what the agent's would, or the figures mean little.
    if (refused.length > 0) throw new Error(`the kernel refused ${DEFAULT_TCP_CONGESTION} for the forwarder's sockets: ${refused[0]}`);
    const raw = Object.fromEntries(PATHS.map((p) => [p, { up: [] as number[], down: [] as number[], rtt: [] as number[], connect: [] as number[] }])) as Record<Path, { up: number[]; down: number[]; rtt: number[]; connect: number[] }>;
    for (let i = 0; i < runs; i++) {
      for (const path of PATHS) raw[path].up.push(await mbps('transfer', ports[path].sink));
      for (const path of PATHS) raw[path].down.push(await mbps('download', ports[path].source));
    }
    const slices = 10;
    for (let i = 0; i < slices; i++) {
      for (const path of PATHS) raw[path].rtt.push(...(await samples('roundtrips', ports[path].echo, count / slices)));
      for (const path of PATHS) raw[path].connect.push(...(await samples('connects', ports[path].echo, count / slices / 10)));
    }
    const figures = (p: Path): PathFigures => ({ upMBps: summarize(raw[p].up), downMBps: summarize(raw[p].down), rtt: summarize(raw[p].rtt), connect: summarize(raw[p].connect) });
    return {
      transferMB,
      runs,
      roundtrips: raw.direct.rtt.length,
      paths: { direct: figures('direct'), splice: figures('splice'), copy: figures('copy'), spliceHostCc: figures('spliceHostCc') },
      hostCongestion: hostCongestion(),
      loadAverage: loadavg()[0]!,
      cpus: cpus().length,
    };
  } finally {
    for (const f of forwarders) await f.close();
    pump.close();
    await endpoint.terminate();
    await client.terminate();
  }
}

interface Ports {
  sink: number;
  echo: number;
  source: number;
}

const share = (proxied: Summary, direct: Summary) => proxied.median / direct.median;
const pct = (x: number) => `${(x * 100).toFixed(0)}%`;
const mb = (x: Summary) => `${x.median.toFixed(0)} MB/s (${x.p10.toFixed(0)} – ${x.p90.toFixed(0)})`;
const us = (ms: number) => `${(ms * 1000).toFixed(0)} µs`;

/** The forwarded paths, in the report's column order. */
const FORWARDED: readonly Path[] = ['splice', 'copy', 'spliceHostCc'];

function mbRow(what: string, pick: (f: PathFigures) => Summary, r: AmbassadorResult): string {
  const d = pick(r.paths.direct);
  const cell = (p: Path) => `${mb(pick(r.paths[p]))}: ${p === 'splice' ? `**${pct(share(pick(r.paths[p]), d))}**` : pct(share(pick(r.paths[p]), d))}`;
  return `| ${what}, median (p10 – p90) | ${mb(d)} | ${FORWARDED.map(cell).join(' | ')} |`;
}

function timeRow(what: string, pick: (f: PathFigures) => Summary, r: AmbassadorResult): string {
  const d = pick(r.paths.direct);
  const cell = (p: Path) => `${us(pick(r.paths[p]).median)} (${us(pick(r.paths[p]).p90)}): +${us(pick(r.paths[p]).median - d.median)}`;
  return `| ${what}, p50 (p90) | ${us(d.median)} (${us(d.p90)}) | ${FORWARDED.map(cell).join(' | ')} |`;
}

export function ambassadorReport(r: AmbassadorResult): string {
  const { direct, splice } = r.paths;
  const down = share(splice.downMBps, direct.downMBps);
  const up = share(splice.upMBps, direct.upMBps);
  const addedRtt = splice.rtt.median - direct.rtt.median;
  const verdict = (ok: boolean) => (ok ? 'met' : 'MISSED');
  const cc = DEFAULT_TCP_CONGESTION;
  return [
    `## Ambassador: forwarded vs direct, loopback (${r.runs} × ${r.transferMB} MB each way, ${r.roundtrips} round trips, the ${PATHS.length} paths taking turns)`,
    '',
    `| measure | direct (${r.hostCongestion}, the host's default) | ambassador, splicing, its sockets on ${cc} (the agent's data path) | ambassador, copying (\`--splice off\`), ${cc} | ambassador, splicing, its sockets on ${r.hostCongestion} (\`--tcp-congestion system\`) |`,
    '| --- | --- | --- | --- | --- |',
    mbRow('throughput endpoint -> client (a response)', (f) => f.downMBps, r),
    mbRow('throughput client -> endpoint (an upload)', (f) => f.upMBps, r),
    timeRow('round trip, 64 B on an open connection', (f) => f.rtt, r),
    timeRow('connect + round trip + close', (f) => f.connect, r),
    '',
    `Targets (splicing, as the agent runs): ${verdict(down >= 0.5)} (throughput, responses), ${verdict(up >= 0.5)} (throughput, uploads), ${verdict(addedRtt < 0.5)} (added p50 latency, target < 500 µs). ` +
      `Client, forwarder and endpoint share this machine's ${r.cpus} CPUs (load average ${r.loadAverage.toFixed(1)} at the end of the run); the client and the endpoint keep the host's ${r.hostCongestion}. ` +
      'Splicing, the bytes of an established connection go socket -> pipe -> socket inside the kernel (native/splice_pump.c, on a thread of its own); ' +
      'copying, Node reads each byte into memory and writes it out again. ' +
      `The last column is why the ambassador sets its own sockets' congestion control: a pacing algorithm (BBR) on both connections in series leaves the CPUs idle between paced bursts. ` +
      "The forwarder runs in the bench's main thread, in a process that has loaded etcd3, dockerode and the rest, as the agent's has.",
    '',
  ].join('\n');
}

/** The issue's targets for the ambassador (throughput each way, latency), for the report's target table. */
export function ambassadorTargets(r: AmbassadorResult): Target[] {
  const { direct, splice, copy, spliceHostCc } = r.paths;
  const addedUs = (splice.rtt.median - direct.rtt.median) * 1000;
  const throughput = (what: string, pick: (f: PathFigures) => Summary): Target => {
    const s = share(pick(splice), pick(direct));
    return {
      what: `ambassador throughput, ${what}`,
      target: '>= 50% of direct',
      measured: `${pct(s)} (${pick(splice).median.toFixed(0)} of ${pick(direct).median.toFixed(0)} MB/s), splicing, ${DEFAULT_TCP_CONGESTION}`,
      met: s >= 0.5,
      note: `copying (--splice off): ${pct(share(pick(copy), pick(direct)))}; splicing on the host's ${r.hostCongestion} (--tcp-congestion system): ${pct(share(pick(spliceHostCc), pick(direct)))}`,
    };
  };
  return [
    throughput('endpoint -> client', (f) => f.downMBps),
    throughput('client -> endpoint', (f) => f.upMBps),
    {
      what: 'ambassador added latency',
      target: '< 0.5 ms p50',
      measured: `+${addedUs.toFixed(0)} µs p50 per round trip, splicing`,
      met: addedUs < 500,
    },
  ];
}
