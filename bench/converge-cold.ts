import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { netnsPath } from '../lab/netns.js';
import { importRandomImage } from '../lab/random-image.js';
import { log, type BenchLab } from './lab-bench.js';
import { timeToRunning } from './converge-multi.js';
import { StageTracer, traceTable, type ConvergeTrace } from './converge-trace.js';
import { mdTable, secs, type PartResult, type Target } from './report.js';
import { summarize } from './stats.js';
import { waitGone, type System } from './systems.js';

const PORT = 5391;

/**
 * Cold converge: N replicas over the lab's hosts of an image none of them has, served by a
 * registry (Debian's docker-registry, no auth) on the lab bridge. Every host reaches it as
 * `127.0.0.1:PORT` (a forwarder in each host's netns, and in the bench's own namespace for
 * the scheduler), so that engines use it over plain HTTP as they do any loopback registry,
 * with the same image reference everywhere; the bytes still cross the bridge.
 */
class BridgeRegistry {
  private constructor(
    private readonly dir: string,
    private readonly child: ChildProcess,
    private readonly forwarders: ChildProcess[],
    private readonly local: Server,
  ) {}

  static async start(lab: BenchLab): Promise<BridgeRegistry> {
    const dir = mkdtempSync(join(tmpdir(), 'dokkaa-cold-registry-'));
    const bridge = lab.state.bridgeAddress;
    writeFileSync(join(dir, 'config.yml'), ['version: 0.1', 'log: {level: warn, formatter: text}', `storage: {filesystem: {rootdirectory: ${join(dir, 'data')}}}`, `http: {addr: "${bridge}:${PORT}"}`, ''].join('\n'));
    const child = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: 'ignore' });
    // 127.0.0.1:PORT in each host's netns -> the bridge address.
    const script = `require('net').createServer((c)=>{const u=require('net').connect(${PORT},'${bridge}');c.pipe(u);u.pipe(c);c.on('error',()=>u.destroy());u.on('error',()=>c.destroy());}).listen(${PORT},'127.0.0.1')`;
    const forwarders = lab.state.nodes.map((n) => spawn('nsenter', [`--net=${netnsPath(n.netns)}`, process.execPath, '-e', script], { stdio: 'ignore' }));
    const local = createServer((c) => {
      const u = connect(PORT, bridge);
      c.pipe(u).pipe(c);
      c.on('error', () => u.destroy());
      u.on('error', () => c.destroy());
    });
    await new Promise<void>((resolve) => local.listen(PORT, '127.0.0.1', resolve));
    const registry = new BridgeRegistry(dir, child, forwarders, local);
    for (let i = 0; ; i++) {
      const ok = await fetch(`http://127.0.0.1:${PORT}/v2/`).then((r) => r.status === 200, () => false);
      if (ok) break;
      if (i > 100) throw new Error('the cold-converge registry did not answer');
      await new Promise((r) => setTimeout(r, 100));
    }
    return registry;
  }

  get host(): string {
    return `127.0.0.1:${PORT}`;
  }

  async stop(): Promise<void> {
    for (const f of this.forwarders) f.kill('SIGTERM');
    this.child.kill('SIGTERM');
    await new Promise<void>((resolve) => this.local.close(() => resolve()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Removes every image of `repo` (by tag or digest) from every engine: the next run starts cold again. */
async function forget(lab: BenchLab, repo: string): Promise<void> {
  for (const n of lab.state.nodes) {
    const docker = lab.engines.engine(n.name);
    for (const img of await docker.listImages()) {
      const refs = [...(img.RepoTags ?? []), ...(img.RepoDigests ?? [])];
      if (refs.some((r) => r.startsWith(`${repo}:`) || r.startsWith(`${repo}@`))) await docker.getImage(img.Id).remove({ force: true });
    }
  }
}

export interface ColdResult {
  hosts: number;
  replicas: number;
  imageMB: number;
  runs: number;
  by: Record<string, { samples: number[]; median: number; min: number; max: number }>;
  /** One extra run each of Dokkaa and the floor, traced stage by stage (not in the medians). */
  traces: { system: string; ms: number; trace: ConvergeTrace }[];
}

export async function benchConvergeCold(lab: BenchLab, opts: { runs: number; replicas: number; imageMB: number }): Promise<ColdResult> {
  const registry = await BridgeRegistry.start(lab);
  const repo = `${registry.host}/cold`;
  const ref = `${repo}:1`;
  try {
    const first = lab.engines.engine(lab.state.nodes[0]!.name);
    await importRandomImage(first, ref, opts.imageMB);
    // The engine wants an X-Registry-Auth header even for a registry without authentication.
    const stream = (await first.getImage(ref).push({ authconfig: { serveraddress: registry.host } })) as NodeJS.ReadableStream;
    await new Promise((resolve, reject) => first.modem.followProgress(stream, (err: Error | null, out: { error?: string }[]) => (err ? reject(err) : out.find((l) => l.error) ? reject(new Error(out.find((l) => l.error)!.error)) : resolve(undefined))));
    log(`converge-cold: ${opts.imageMB} MB image pushed to ${ref}`);
    const systems: System[] = [lab.dokkaa.withImage(ref), lab.swarm.byTag(ref), lab.floorOf(ref)];
    const samples: Record<string, number[]> = Object.fromEntries(systems.map((s) => [s.name, []]));
    const tag = Date.now().toString(36).slice(-4);
    for (let run = 0; run < opts.runs; run++) {
      for (const sys of [...systems.slice(run % systems.length), ...systems.slice(0, run % systems.length)]) {
        await forget(lab, repo);
        const id = `k${tag}r${run}${sys.name[0]!.toLowerCase()}`;
        const ms = await timeToRunning(lab, sys, id, opts.replicas, () => sys.deploy(id, opts.replicas));
        samples[sys.name]!.push(ms);
        log(`converge-cold run ${run + 1}/${opts.runs}: ${sys.name} ${secs(ms)}`);
        await sys.remove(id);
        await waitGone(lab.engines, sys, id);
      }
    }
    const traces: ColdResult['traces'] = [];
    for (const sys of [systems[0]!, systems[2]!]) {
      await forget(lab, repo);
      const id = `k${tag}t${sys.name[0]!.toLowerCase()}`;
      const tracer = new StageTracer(lab.etcd, lab.state.prefix, lab.engines, id, opts.replicas, { floor: sys === systems[2] });
      await tracer.start();
      const t0 = Date.now();
      const ms = await timeToRunning(lab, sys, id, opts.replicas, () => sys.deploy(id, opts.replicas));
      await tracer.stop();
      traces.push({ system: sys.name, ms, trace: tracer.result(t0) });
      log(`converge-cold, traced: ${sys.name} ${secs(ms)}`);
      await sys.remove(id);
      await waitGone(lab.engines, sys, id);
    }
    await forget(lab, repo);
    const by = Object.fromEntries(Object.entries(samples).map(([k, v]) => {
      const s = summarize(v);
      return [k, { samples: v, median: s.median, min: s.min, max: s.max }];
    }));
    return { hosts: lab.state.nodes.length, replicas: opts.replicas, imageMB: opts.imageMB, runs: opts.runs, by, traces };
  } finally {
    await registry.stop();
  }
}

export function convergeColdReport(r: ColdResult): PartResult {
  const floor = r.by.floor;
  const cell = (name: string) => {
    const s = r.by[name];
    return s ? `${secs(s.median)} (${secs(s.min)} – ${secs(s.max)})${floor ? `, **${(s.median / floor.median).toFixed(2)}x**` : ''}` : '–';
  };
  const targets: Target[] = [];
  if (r.by.Dokkaa && floor) {
    const ratio = r.by.Dokkaa.median / floor.median;
    targets.push({ what: `Cold converge, ${r.replicas} replicas on ${r.hosts} hosts`, target: 'within 1.2x of the floor', measured: `${ratio.toFixed(2)}x (Dokkaa ${secs(r.by.Dokkaa.median)}, floor ${secs(floor.median)}, medians)`, met: ratio <= 1.2 });
  }
  if (r.by.Dokkaa && r.by.Swarm) {
    const x = r.by.Swarm.median / r.by.Dokkaa.median;
    targets.push({ what: `Cold converge, ${r.replicas} replicas on ${r.hosts} hosts`, target: 'ahead of Swarm', measured: `Swarm ${secs(r.by.Swarm.median)}: ${x.toFixed(2)}x Dokkaa's time`, met: x > 1 });
  }
  const section = [
    `## Cold converge: ${r.replicas} replicas on ${r.hosts} hosts of a ${r.imageMB} MB image no host has (${r.runs} runs each)`,
    '',
    'Median (min – max) from the request to the engine event that made the last replica run, and the ratio to the floor. ' +
      'The image is served by a registry (docker-registry, no auth) on the lab bridge, which every host reaches as 127.0.0.1 through a forwarder in its namespace; before each run every host forgets the image. ' +
      'Dokkaa: a manifest with the tag (the scheduler pins it to a digest; each host pulls once through its pull coordinator). ' +
      'Swarm: `docker service create` with the tag (the manager resolves it to a digest). ' +
      'Floor: each host pulls once through its engine\'s API, then creates and starts its share of the containers in parallel; the hosts side by side.',
    '',
    mdTable(['replicas', ...Object.keys(r.by)], [[String(r.replicas), ...Object.keys(r.by).map(cell)]]),
    '',
    ...(r.traces.length
      ? [
          '### Stage by stage (one extra traced run each of Dokkaa and the floor)',
          '',
          'From the request: when each replica\'s host finished pulling (engine `pull` event), its container was created and started (engine events), and for Dokkaa its placement written, its record `running` and the status counting all (etcd watches).',
          '',
          ...r.traces.flatMap((t) => [`${t.system} (${secs(t.ms)} to the last running):`, '', traceTable(t.trace), '']),
        ]
      : []),
  ].join('\n');
  return { section, json: r, targets };
}
