import type { BenchLab } from './lab-bench.js';
import { log } from './lab-bench.js';
import { mdTable, secs, type PartResult } from './report.js';
import { summarize } from './stats.js';
import { CMD, IMAGE } from './systems.js';

/**
 * How fast the lab's engines create + start containers at a given number of requests in
 * flight per engine: the measurement behind the node runner's worker limit (docs/design.md,
 * "Node runner parallelism"). Every engine at once, as in a converge: `perHost` containers
 * each, at most `parallelism` create+start in flight per engine; then all removed, untimed.
 */
export interface ParallelismResult {
  hosts: number;
  perHost: number;
  runs: number;
  rows: { parallelism: number; samples: number[]; medianMs: number; perSecond: number }[];
}

const LABEL = 'bench.parallelism';

async function createStart(lab: BenchLab, node: string, id: string, i: number): Promise<void> {
  const c = await lab.engines.engine(node).createContainer({
    name: `${id}-${i}`,
    Image: IMAGE,
    Cmd: CMD,
    Labels: { [LABEL]: id },
    HostConfig: { Init: true, RestartPolicy: { Name: 'no' } },
  });
  await c.start();
}

/** Runs `n` tasks, at most `limit` at once. */
async function bounded(n: number, limit: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < n) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, worker));
}

async function removeAll(lab: BenchLab, id: string): Promise<void> {
  await Promise.all(lab.state.nodes.map(async (n) => {
    const docker = lab.engines.engine(n.name);
    const list = await docker.listContainers({ all: true, filters: { label: [`${LABEL}=${id}`] } });
    await bounded(list.length, 8, (i) => docker.getContainer(list[i]!.Id).remove({ force: true, v: true }));
  }));
}

export async function benchParallelism(lab: BenchLab, opts: { levels: number[]; perHost: number; runs: number }): Promise<ParallelismResult> {
  const tag = Date.now().toString(36).slice(-4);
  const rows: ParallelismResult['rows'] = [];
  const samples = new Map<number, number[]>(opts.levels.map((p) => [p, []]));
  for (let run = 0; run < opts.runs; run++) {
    // Levels in a different order each run, so that drift of the machine's load is spread.
    const order = run % 2 === 0 ? opts.levels : [...opts.levels].reverse();
    for (const p of order) {
      const id = `p${tag}r${run}p${p}`;
      const t0 = Date.now();
      await Promise.all(lab.state.nodes.map((n) => bounded(opts.perHost, p, (i) => createStart(lab, n.name, id, i))));
      const ms = Date.now() - t0;
      samples.get(p)!.push(ms);
      log(`parallelism ${p} run ${run + 1}/${opts.runs}: ${opts.perHost} per host in ${secs(ms)}`);
      await removeAll(lab, id);
    }
  }
  for (const p of opts.levels) {
    const s = samples.get(p)!;
    const medianMs = summarize(s).median;
    rows.push({ parallelism: p, samples: s, medianMs, perSecond: (opts.perHost * lab.state.nodes.length * 1000) / medianMs });
  }
  return { hosts: lab.state.nodes.length, perHost: opts.perHost, runs: opts.runs, rows };
}

export function parallelismReport(r: ParallelismResult): PartResult {
  const best = Math.min(...r.rows.map((x) => x.medianMs));
  const section = [
    `## Engine create + start throughput by requests in flight per engine (${r.hosts} hosts at once, ${r.perHost} containers each, ${r.runs} runs)`,
    '',
    'Each engine is given its containers through its API with at most N create + start in flight; all engines at once. ' +
      'This is what the node runner\'s worker limit is chosen from (docs/design.md).',
    '',
    mdTable(['in flight per engine', 'median', 'containers/s (all hosts)', 'vs best'], r.rows.map((x) => [x.parallelism, secs(x.medianMs), x.perSecond.toFixed(1), `${(x.medianMs / best).toFixed(2)}x`])),
    '',
  ].join('\n');
  return { section, json: r };
}
