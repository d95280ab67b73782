import { once } from 'node:events';
import { cpus, loadavg } from 'node:os';
import { Worker } from 'node:worker_threads';
import { EndpointPicker } from '../controllers/ambassador/endpoint-picker.js';
import { TcpForwarder } from '../controllers/ambassador/tcp-forwarder.js';
import type { PeerReply, PeerRequest } from './ambassador-peer.js';
import type { Target } from './report.js';
import { summarize, type Summary } from './stats.js';

export interface AmbassadorResult {
  transferMB: number;
  runs: number;
  /** MB/s per run, client -> endpoint (an upload to a sink). */
  directMBps: Summary;
  proxiedMBps: Summary;
  /** MB/s per run, endpoint -> client (a response from a source: most of a service's bytes). */
  directDownMBps: Summary;
  proxiedDownMBps: Summary;
  roundtrips: number;
  /** Milliseconds per round trip on an open connection. */
  directRtt: Summary;
  proxiedRtt: Summary;
  /** Milliseconds for connect + one round trip + close. */
  directConnect: Summary;
  proxiedConnect: Summary;
  /** The machine's 1-minute load average and CPU count at the end: the proxied path needs a third busy thread. */
  loadAverage: number;
  cpus: number;
}

const PEER = new URL('./ambassador-peer.js', import.meta.url);

/**
 * The ambassador's TCP forwarder (the code the agent runs) against a direct connection to
 * the same loopback endpoint, side by side in one run: throughput of a `transferMB` upload
 * to a sink, round-trip time of small messages on an open connection, and connect + round
 * trip + close. The endpoint and the client run in worker threads, the forwarder in the
 * main thread, as in the agent. Direct and proxied runs alternate.
 */
export async function benchAmbassador(opts: { transferMB?: number; runs?: number; roundtrips?: number } = {}): Promise<AmbassadorResult> {
  const transferMB = opts.transferMB ?? 200;
  const runs = opts.runs ?? 5;
  const count = opts.roundtrips ?? 5_000;
  const endpoint = new Worker(PEER, { workerData: { role: 'endpoint' } });
  const client = new Worker(PEER, { workerData: { role: 'client' } });
  const forwarders: TcpForwarder[] = [];
  try {
    const [ports] = (await once(endpoint, 'message')) as [{ sink: number; echo: number; source: number }];
    const proxy = async (port: number) => {
      const picker = new EndpointPicker();
      picker.set([{ host: '127.0.0.1', port }]);
      const f = new TcpForwarder(picker);
      forwarders.push(f);
      return f.listen(0, '127.0.0.1');
    };
    const proxied = { sink: await proxy(ports.sink), echo: await proxy(ports.echo), source: await proxy(ports.source) };
    const ask = async (req: PeerRequest): Promise<PeerReply> => {
      client.postMessage(req);
      const [reply] = (await once(client, 'message')) as [PeerReply];
      if ('error' in reply) throw new Error(`bench client: ${reply.error}`);
      return reply;
    };
    const bytes = transferMB * 1024 * 1024;
    const mbps = async (port: number) => {
      const r = (await ask({ kind: 'transfer', port, bytes })) as { ms: number; bytes: number };
      if (r.bytes !== bytes) throw new Error(`sink got ${r.bytes} of ${bytes} bytes`);
      return transferMB / (r.ms / 1000);
    };
    const downMBps = async (port: number) => {
      const r = (await ask({ kind: 'download', port, bytes })) as { ms: number; bytes: number };
      if (r.bytes !== bytes) throw new Error(`client got ${r.bytes} of ${bytes} bytes`);
      return transferMB / (r.ms / 1000);
    };
    const samples = async (kind: 'roundtrips' | 'connects', port: number, n: number) => ((await ask({ kind, port, count: n, size: 64 })) as { samples: number[] }).samples;

    // Warm up both paths (JIT, socket buffers) before measuring.
    await mbps(ports.sink);
    await mbps(proxied.sink);
    await downMBps(ports.source);
    await downMBps(proxied.source);
    await samples('roundtrips', ports.echo, 500);
    await samples('roundtrips', proxied.echo, 500);

    const direct: number[] = [];
    const viaProxy: number[] = [];
    const down = { direct: [] as number[], proxied: [] as number[] };
    for (let i = 0; i < runs; i++) {
      direct.push(await mbps(ports.sink));
      viaProxy.push(await mbps(proxied.sink));
      down.direct.push(await downMBps(ports.source));
      down.proxied.push(await downMBps(proxied.source));
    }
    const rtt = { direct: [] as number[], proxied: [] as number[] };
    const conn = { direct: [] as number[], proxied: [] as number[] };
    const slices = 10;
    for (let i = 0; i < slices; i++) {
      rtt.direct.push(...(await samples('roundtrips', ports.echo, count / slices)));
      rtt.proxied.push(...(await samples('roundtrips', proxied.echo, count / slices)));
      conn.direct.push(...(await samples('connects', ports.echo, count / slices / 10)));
      conn.proxied.push(...(await samples('connects', proxied.echo, count / slices / 10)));
    }
    return {
      transferMB,
      runs,
      directMBps: summarize(direct),
      proxiedMBps: summarize(viaProxy),
      directDownMBps: summarize(down.direct),
      proxiedDownMBps: summarize(down.proxied),
      roundtrips: rtt.direct.length,
      directRtt: summarize(rtt.direct),
      proxiedRtt: summarize(rtt.proxied),
      directConnect: summarize(conn.direct),
      proxiedConnect: summarize(conn.proxied),
      loadAverage: loadavg()[0]!,
      cpus: cpus().length,
    };
  } finally {
    for (const f of forwarders) await f.close();
    await endpoint.terminate();
    await client.terminate();
  }
}

function mbRow(what: string, direct: Summary, proxied: Summary): string {
  const mb = (x: Summary) => `${x.median.toFixed(0)} MB/s (${x.p10.toFixed(0)} – ${x.p90.toFixed(0)})`;
  return `| ${what}, median (p10 – p90) | ${mb(direct)} | ${mb(proxied)} | ${((proxied.median / direct.median) * 100).toFixed(0)}% of direct (target >= 50%) |`;
}

export function ambassadorReport(r: AmbassadorResult): string {
  const us = (ms: number) => `${(ms * 1000).toFixed(0)} µs`;
  const up = r.proxiedMBps.median / r.directMBps.median;
  const down = r.proxiedDownMBps.median / r.directDownMBps.median;
  const addedRtt = r.proxiedRtt.median - r.directRtt.median;
  const addedConnect = r.proxiedConnect.median - r.directConnect.median;
  const verdict = (ok: boolean) => (ok ? 'met' : 'MISSED');
  return [
    `## Ambassador: forwarded vs direct, loopback (${r.runs} × ${r.transferMB} MB each way, ${r.roundtrips} round trips, alternating)`,
    '',
    '| measure | direct | through the ambassador | ratio / added |',
    '| --- | --- | --- | --- |',
    mbRow('throughput endpoint -> client (a response)', r.directDownMBps, r.proxiedDownMBps),
    mbRow('throughput client -> endpoint (an upload)', r.directMBps, r.proxiedMBps),
    `| round trip, 64 B on an open connection, p50 (p90) | ${us(r.directRtt.median)} (${us(r.directRtt.p90)}) | ${us(r.proxiedRtt.median)} (${us(r.proxiedRtt.p90)}) | +${us(addedRtt)} p50 (target < 500 µs) |`,
    `| connect + round trip + close, p50 (p90) | ${us(r.directConnect.median)} (${us(r.directConnect.p90)}) | ${us(r.proxiedConnect.median)} (${us(r.proxiedConnect.p90)}) | +${us(addedConnect)} p50 |`,
    '',
    `Targets: ${verdict(down >= 0.5)} (throughput, responses), ${verdict(up >= 0.5)} (throughput, uploads), ${verdict(addedRtt < 0.5)} (added p50 latency). ` +
      `Client, proxy and endpoint share this machine's ${r.cpus} CPUs (load average ${r.loadAverage.toFixed(1)} at the end of the run). ` +
      'A copying proxy reads and writes every byte: as much kernel work as the client and the endpoint together, so on loopback half of direct is the ceiling of any user-space proxy, ' +
      "reached only with a CPU to each of the three threads. The forwarder runs in the bench's main thread, in a process that has loaded etcd3, dockerode and the rest, as the agent's has. " +
      'Reads from the endpoint land in recycled buffers; reads from the client cannot (Node gives an accepted socket no `onread`), so each of those allocates a fresh 64 KiB buffer, which costs page faults and garbage collection: hence the gap between the two directions.',
    '',
  ].join('\n');
}

/** The targets for the ambassador (throughput each way, latency), for the report's target table. */
export function ambassadorTargets(r: AmbassadorResult): Target[] {
  const addedUs = (r.proxiedRtt.median - r.directRtt.median) * 1000;
  const throughput = (what: string, direct: Summary, proxied: Summary, note: string): Target => {
    const share = proxied.median / direct.median;
    return {
      what: `ambassador throughput, ${what}`,
      target: '>= 50% of direct',
      measured: `${(share * 100).toFixed(0)}% (${proxied.median.toFixed(0)} of ${direct.median.toFixed(0)} MB/s)`,
      met: share >= 0.5,
      note,
    };
  };
  return [
    throughput('endpoint -> client', r.directDownMBps, r.proxiedDownMBps, 'a copying proxy does the kernel work of both ends: 50% is its ceiling on loopback'),
    throughput('client -> endpoint', r.directMBps, r.proxiedMBps, 'as above, and each read from an accepted socket allocates a fresh buffer (see the ambassador section)'),
    {
      what: 'ambassador added latency',
      target: '< 0.5 ms p50',
      measured: `+${addedUs.toFixed(0)} µs p50 per round trip`,
      met: addedUs < 500,
    },
  ];
}
